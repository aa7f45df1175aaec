"""modelpack info: what a model file holds, read without running it."""

from __future__ import annotations

from typing import Any

import click

from ..info import describe
from ._output import print_json, table


@click.command("info")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "format_name", help="Read as this format instead of detecting it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def command(file: str, format_name: str | None, as_json: bool) -> None:
    """Show a model file's format, model type, input schema, classes, versions, size and sha256.

    Nothing in the file is executed.

    \b
    Example:
      modelpack info model.onnx --json
    """
    info = describe(file, format_name)
    if as_json:
        print_json(info.to_dict())
        return
    meta = info.metadata
    rows: list[list[Any]] = [
        ["file", info.path],
        ["format", info.format],
        ["model type", info.model_type],
        ["size", f"{info.size:,} bytes"],
        ["sha256", info.sha256],
        ["metadata", info.metadata_source],
    ]
    if meta is not None:
        rows += [["task", meta.task], ["created", meta.created or "-"]]
        if meta.classes is not None:
            rows.append(["classes", ", ".join(map(str, meta.classes))])
        rows += [[f"version: {k}", v] for k, v in sorted(meta.versions.items())]
        if meta.sample:
            rows.append(["sample rows", len(meta.sample.inputs)])
        rows += [[f"extra: {k}", v] for k, v in sorted(meta.extra.items())]
    if info.recorded_versions:
        rows += [[f"recorded: {k}", v] for k, v in sorted(info.recorded_versions.items())]
    if info.untrusted:
        rows.append(["refused by load", "; ".join(info.untrusted)])
    if not info.audited:
        rows.append(["read to the end", "no: treat this file as suspect"])
    table(None, ["", ""], rows)
    if meta is not None and meta.input_schema is not None:
        table(
            f"input schema ({meta.input_schema.kind})",
            ["feature", "dtype"],
            [[f.name, f.dtype] for f in meta.input_schema.features],
        )
