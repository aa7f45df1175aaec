"""modelpack formats: what formats are installed and usable here."""

from __future__ import annotations

from typing import Any

import click

from ..registry import all_formats
from ._output import print_json, table


@click.command("formats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def command(as_json: bool) -> None:
    """List the installed formats, their extensions, what each needs, and whether it is usable.

    \b
    Example:
      modelpack formats --json
    """
    rows: list[dict[str, Any]] = []
    for fmt in all_formats():
        missing = fmt.missing_dependencies()
        status = "yes" if not missing else f"no: pip install 'modelpack-ml[{fmt.requires}]'"
        notes = fmt.environment_notes() if not missing else ""
        rows.append(
            {
                "name": fmt.name,
                "extensions": list(fmt.extensions),
                "extra": fmt.requires,
                "needs": list(fmt.dependencies),
                "usable": not missing,
                "status": status,
                "module": type(fmt).__module__,
                "notes": notes,
            }
        )
    if as_json:
        print_json(rows)
        return
    table(
        "modelpack formats",
        ["format", "extensions", "needs", "usable", "notes"],
        [[r["name"], " ".join(r["extensions"]), ", ".join(r["needs"]) or "-", r["status"], r["notes"]] for r in rows],
    )
