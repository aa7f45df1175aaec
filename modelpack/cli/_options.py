"""Options several subcommands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

#: A data file, or a folder of images for a model saved with an image recipe (preprocess=).
DATA_PATH = click.Path(exists=True)


def tolerances(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--min-agreement", type=click.FloatRange(0, 1), default=1.0, show_default=True,
                     help="Share of rows whose labels must be equal.")(f)
    f = click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance (default: what the formats hold).")(f)
    f = click.option("--rtol", type=click.FloatRange(min=0), help="Relative tolerance (default: what the formats hold).")(f)
    return f


def accept_missing(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--accept-missing", "accept_missing", multiple=True, type=click.Choice(["predict", "predict_proba", "transform"]),
        help="Pass although the second model lacks this method of the first (repeatable); otherwise a dropped "
             "output fails the check.",
    )(f)


def as_json(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the report as JSON for scripts.")(f)


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    from ..safety import parse_size

    try:
        return None if value is None else parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def trust(f: Callable[..., Any]) -> Callable[..., Any]:
    """--trust and --max-memory: what loading an untrusted file may do."""
    f = click.option(
        "--max-memory", metavar="SIZE", callback=_size,
        help="Most a pickle, joblib or skops file may make modelpack allocate while loading, e.g. 2GiB "
             "(default: 100 times its size, at least 256 MiB).",
    )(f)
    return click.option(
        "--trust", is_flag=True,
        help="Load pickles that name code outside the allowlist. Only for files you made or checked.",
    )(f)


class FormatChoice(click.Choice):
    """The registered formats, looked up when an option is checked or its help shown: scanning the
    entry points (20 ms) is not for every command's start, ``--help`` included."""

    def __init__(self) -> None:
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> list[str]:
        from ..registry import format_names

        return format_names()

    @choices.setter
    def choices(self, value: object) -> None:  # click's __init__ assigns it
        pass
