"""What an ONNX file says about itself, read as protobuf: no session is built, no kernel runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._external import problems
from ._proto import ModelSummary, Value, read_model_and_external

DOC_LIMIT = 300


def describe_graph(path: Path) -> dict[str, Any]:
    """Producer, opsets, inputs and outputs with element types and shapes, and a classifier's labels.

    Read by modelpack's own protobuf reader (:mod:`._proto`): no ``onnx`` package needed, and a
    model's weights are stepped over, never loaded.
    """
    model, external = read_model_and_external(path)
    files: dict[str, int] = {}
    for tensor in external:
        for key, value in tensor.entries:
            if key == "location":
                files[value] = files.get(value, 0) + 1
    return {
        "producer": f"{model.producer_name or 'unknown'} {model.producer_version}".strip(),
        "ir_version": model.ir_version,
        "opsets": {(domain or "ai.onnx"): version for domain, version in model.opsets},
        "graph": model.graph_name,
        "doc_string": (model.doc_string or model.graph_doc_string)[:DOC_LIMIT] or None,
        "inputs": [_value(v) for v in model.inputs if v.name not in model.initializers],
        "outputs": [_value(v) for v in model.outputs],
        "operators": _operator_counts(model),
        "classes": model.labels(),
        "metadata_props": sorted(model.metadata_props),
        "external_data": files,  # location: how many tensors read from it
        "refused by load": [str(problem) for problem in problems(path, external)],
    }


def _operator_counts(model: ModelSummary) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.nodes:
        key = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:20])


def _value(info: Value) -> dict[str, Any]:
    d: dict[str, Any] = {"name": info.name, "type": info.type}
    if info.doc:
        d["doc"] = info.doc[:DOC_LIMIT]
    return d
