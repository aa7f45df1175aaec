"""Options several subcommands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

DATA_PATH = click.Path(exists=True, dir_okay=False)


def tolerances(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--min-agreement", type=click.FloatRange(0, 1), default=1.0, show_default=True,
                     help="Share of rows whose labels must be equal.")(f)
    f = click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance (default: what the formats hold).")(f)
    f = click.option("--rtol", type=click.FloatRange(min=0), help="Relative tolerance (default: what the formats hold).")(f)
    return f


def as_json(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the report as JSON for scripts.")(f)


def trust(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--trust", is_flag=True,
        help="Load pickles that name code outside the allowlist. Only for files you made or checked.",
    )(f)
