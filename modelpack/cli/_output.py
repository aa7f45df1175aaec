"""Printing for people (rich tables) and for programs (--json)."""

from __future__ import annotations

import json
from typing import Any

import click


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console() -> Any:
    from rich.console import Console

    return Console()


def table(title: str | None, columns: list[str] | int, rows: list[list[Any]]) -> None:
    """A table; ``columns`` names them, or counts them for a table without a header (key, value).

    Long values (a sha256, a list of layers) are folded onto the next line, never cut short.
    """
    from rich.table import Table

    headed = not isinstance(columns, int)
    t = Table(title=title, show_header=headed, header_style="bold")
    for c in columns if not isinstance(columns, int) else [""] * columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[str(v) for v in r])
    console().print(t)


def print_report(report: Any, as_json: bool) -> None:
    """An EquivalenceReport as a table (terminal) or JSON (--json)."""
    if as_json:
        print_json(report.to_dict())
        return
    out = console()
    out.print(f"[bold]{report.a}[/bold]  vs  [bold]{report.b}[/bold]")
    why = f", because {report.tolerance_reason}" if report.tolerance_reason else ""
    out.print(f"rows compared: {report.rows} ({report.data_source})")
    out.print(f"tolerance: rtol={report.rtol:g} of each output's scale, atol={report.atol:g}{why}")
    rows = []
    for c in report.comparisons:
        if c.missing:
            rows.append([c.method, c.missing, "accepted" if c.passed else "MISSING"])
            continue
        if c.kind == "labels":
            detail = f"{c.agreement:.2%} equal labels" if c.agreement is not None else "-"
        else:
            detail = (
                f"max abs diff {c.max_abs_diff:.3g}, max rel diff {c.max_rel_diff:.3g}"
                if c.max_abs_diff is not None
                else "-"
            )
        rows.append([c.method, detail, "ok" if c.passed else "DIFFERS"])
    if rows:
        table(None, ["method", "comparison", "result"], rows)
    worst = [(c.method, r) for c in report.comparisons for r in c.worst_rows]
    if worst:
        table(
            "rows that differ (worst first)",
            ["method", "row", "input", "a", "b"],
            [[m, r.get("row"), _short(r.get("input", r.get("problem"))), _short(r.get("a")), _short(r.get("b"))] for m, r in worst],
        )
    for note in report.notes:
        out.print(f"note: {note}")
    style = "green" if report.passed else "bold red"
    out.print(f"[{style}]{report.verdict}[/{style}]")


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
