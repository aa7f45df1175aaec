"""The ``modelpack`` command: thin — it parses, calls the library, prints."""

from __future__ import annotations

import warnings
from typing import Any

import click

from .. import __version__
from ..errors import ModelpackError, first_line


class _Group(click.Group):
    """Turns every error a user can cause into one line on stderr and exit 1 (``--debug``: traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (ModelpackError, OSError, ValueError) as exc:  # OSError: missing file, no space, no permission
            if ctx.meta.get("modelpack.debug"):
                raise
            raise click.ClickException(first_line(exc, limit=2000, cli=True)) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's whole first sentence, wrapped: Click would cut it at the terminal's width."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelpack")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Save, convert, check and serve trained models in any format.

    \b
    Example:
      modelpack convert model.joblib -o model.onnx
      modelpack info model.onnx
    """
    ctx.meta["modelpack.debug"] = debug
    if not debug:
        warnings.showwarning = _one_line_warning


def _one_line_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A warning the user should read is one line, like an error: no source line of ours under it."""
    text = first_line(message if isinstance(message, Warning) else Exception(message), limit=2000, cli=True)
    click.echo(f"Warning: {text}", err=True)


def main() -> None:
    cli(prog_name="modelpack")


def _register() -> None:
    from . import check, convert, doctor, formats, info, predict, serve, verify

    for module in (formats, info, convert, check, verify, predict, serve, doctor):
        cli.add_command(module.command)


_register()

