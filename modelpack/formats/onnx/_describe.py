"""What an ONNX file says about itself, read as protobuf: no session is built, no kernel runs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ...errors import CorruptFileError, first_line

DOC_LIMIT = 300


def read_proto(path: Path) -> Any | None:
    """The ModelProto, parsed by the ``onnx`` package (no kernels built); None without the package."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise CorruptFileError(f"{path.name} is not a valid ONNX file: {first_line(exc)}") from exc


def describe_graph(path: Path) -> dict[str, Any] | None:
    """Producer, opsets, inputs and outputs with element types and shapes, and a classifier's labels.

    Needs the ``onnx`` package (it comes with the ``[onnx]`` extra); without it, None.
    """
    proto = read_proto(path)
    if proto is None:
        return None
    graph = proto.graph
    initializers = {i.name for i in graph.initializer}
    return {
        "producer": f"{proto.producer_name or 'unknown'} {proto.producer_version}".strip(),
        "ir_version": proto.ir_version,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in proto.opset_import},
        "graph": graph.name,
        "doc_string": (proto.doc_string or graph.doc_string)[:DOC_LIMIT] or None,
        "inputs": [_value(v) for v in graph.input if v.name not in initializers],
        "outputs": [_value(v) for v in graph.output],
        "operators": _operator_counts(graph),
        "classes": labels_in(graph),
        "metadata_props": sorted(p.key for p in proto.metadata_props),
    }


def labels_in(graph: Any) -> list[Any] | None:
    """A classifier's labels as its graph stores them (ZipMap's, else the classifier node's)."""
    for node in sorted(graph.node, key=lambda n: n.op_type != "ZipMap"):
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [v.decode("utf-8") for v in attribute.strings]
            if attribute.name in ("classlabels_int64s", "classlabels_ints") and attribute.ints:
                return list(attribute.ints)
    return None


def _operator_counts(graph: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in graph.node:
        key = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:20])


def _value(info: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"name": info.name, "type": type_text(info.type)}
    if info.doc_string:
        d["doc"] = info.doc_string[:DOC_LIMIT]
    return d


def type_text(t: Any) -> str:
    """``tensor(float)[N, 4]``, ``map(string, tensor(float))``, ``seq(map(int64, tensor(float)))``."""
    import onnx

    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        element = onnx.helper.tensor_dtype_to_string(t.tensor_type.elem_type).replace("TensorProto.", "").lower()
        shape = ""
        if t.tensor_type.HasField("shape"):
            dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in t.tensor_type.shape.dim]
            shape = "[" + ", ".join(dims) + "]"
        return f"tensor({element}){shape}"
    if kind == "sequence_type":
        return f"seq({type_text(t.sequence_type.elem_type)})"
    if kind == "map_type":
        key = onnx.helper.tensor_dtype_to_string(t.map_type.key_type).replace("TensorProto.", "").lower()
        return f"map({key}, {type_text(t.map_type.value_type)})"
    return kind or "unknown"
