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


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[str(v) for v in r])
    console().print(t)
