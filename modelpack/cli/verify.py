"""modelpack verify: does this file still predict what it did when it was made?"""

from __future__ import annotations

import click

from ._options import as_json, trust
from ._output import print_report


@click.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@trust
@as_json
def command(file: str, trust: bool, max_memory: int | None, as_json: bool) -> None:
    """Re-run the sample rows recorded in FILE and compare with the outputs recorded with them.

    The way to check a file after an upgrade or on another machine. Exit 1 when it differs.

    \b
    Example:
      modelpack verify model.onnx
    """
    from ..check import verify
    from ..core import load

    report = verify(load(file, trust=trust, max_memory=max_memory))
    if report.nothing_recorded and not as_json:  # not a failure: say so in one line and how to prove it
        click.echo(report.notes[0], err=True)
        return
    print_report(report, as_json)
    if report.nothing_recorded:
        return
    if not report.passed:
        raise click.exceptions.Exit(1)
