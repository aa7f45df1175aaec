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
    rows += _detail_rows(info.details)
    table(None, 2, rows)
    if meta is not None and meta.input_schema is not None:
        table(
            f"input schema ({meta.input_schema.kind})",
            ["feature", "dtype"],
            [[f.name, f.dtype] for f in meta.input_schema.features],
        )
    _print_fields(info.details)
    if info.tree is not None:
        table("estimators (as recorded in the file)", ["estimator", "at", "facts"], list(_tree_rows(info.tree)))


_SCALARS = ("producer", "pmml_version", "model_element", "function", "model_name", "algorithm", "segments",
            "derived_fields", "ir_version", "opsets", "graph", "doc_string", "skops_protocol", "skops_version",
            "description", "timestamp", "model_class")


def _detail_rows(details: dict[str, Any]) -> list[list[Any]]:
    rows = [[key.replace("_", " "), details[key]] for key in _SCALARS if details.get(key) not in (None, "", {}, 0)]
    if details.get("classes"):
        rows.append(["classes in the file", ", ".join(map(str, details["classes"][:30]))])
    verification = details.get("verification")
    if verification:
        rows.append(["embedded verification", f"{verification['rows']} rows (modelpack verify runs them)"])
    for key in ("operators", "layers"):
        if details.get(key):
            rows.append([key, ", ".join(f"{k}×{v}" for k, v in details[key].items())])
    if details.get("external_data"):
        rows.append(["external data", ", ".join(f"{k} ({v} tensor{'s' if v > 1 else ''})" for k, v in details["external_data"].items())])
    refused = details.get("refused without trust") or details.get("refused by load")
    if refused:
        rows.append(["refused by load", "; ".join(refused)])
    return rows


def _print_fields(details: dict[str, Any]) -> None:
    for title in ("inputs", "targets", "outputs"):
        fields = details.get(title)
        if not fields:
            continue
        columns = sorted({k for f in fields for k in f if k != "name"}, key=_COLUMN_ORDER.index)
        table(f"{title} (as the file declares them)", ["name", *columns],
              [[f["name"], *(_cell(f.get(c)) for c in columns)] for f in fields])


_COLUMN_ORDER = ["type", "optype", "dataType", "feature", "value", "targetField", "values", "intervals", "doc"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = ", ".join(map(str, value[:12])) + (f", … ({len(value)})" if len(value) > 12 else "")
        return text
    return str(value)


def _tree_rows(node: dict[str, Any], depth: int = 0) -> Any:
    facts = {k: v for k, v in node.items() if k not in ("class", "at", "children")}
    yield ["  " * depth + node["class"].rsplit(".", 1)[-1], node.get("at", ""),
           "; ".join(f"{k}={_cell(v)}" for k, v in facts.items())]
    for child in node.get("children", []):
        yield from _tree_rows(child, depth + 1)
