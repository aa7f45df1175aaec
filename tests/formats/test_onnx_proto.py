"""modelpack's own ONNX protobuf reader (what `info` and `load` read besides the session), against
the ``onnx`` package's parser on every ONNX file in the test data, and against malformed bytes."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelpack
from modelpack.errors import CorruptFileError
from modelpack.formats.onnx._proto import MAX_NESTING, parse_model, read_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
#: the onnx project's own test models, installed with the package: PyTorch's, Caffe2's, hand-built graphs
BACKEND = Path(onnx.__file__).parent / "backend" / "test" / "data"
FILES = sorted(DATA.rglob("*.onnx")) + sorted(BACKEND.rglob("*.onnx"))


def _reference_type(t: Any) -> str:
    """What the reader must say for a TypeProto, spelled from the onnx package's own parse."""
    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        text = f"tensor({helper.tensor_dtype_to_string(t.tensor_type.elem_type).split('.')[-1].lower()})"
        if t.tensor_type.HasField("shape"):
            dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in t.tensor_type.shape.dim]
            text += "[" + ", ".join(dims) + "]"
        return text
    if kind == "sequence_type":
        return f"seq({_reference_type(t.sequence_type.elem_type)})"
    if kind == "map_type":
        key = helper.tensor_dtype_to_string(t.map_type.key_type).split(".")[-1].lower()
        return f"map({key}, {_reference_type(t.map_type.value_type)})"
    return kind or "unknown"


def _reference_labels(graph: Any) -> list[Any] | None:
    for node in sorted(graph.node, key=lambda n: n.op_type != "ZipMap"):
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [v.decode("utf-8") for v in attribute.strings]
            if attribute.name in ("classlabels_int64s", "classlabels_ints") and attribute.ints:
                return list(attribute.ints)
    return None


def _summaries(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    ref = onnx.load(str(path), load_external_data=False)
    got = read_model(path)
    g = ref.graph
    expected = {
        "header": (ref.ir_version, ref.producer_name, ref.producer_version, ref.doc_string),
        "opsets": [(o.domain, o.version) for o in ref.opset_import],
        "graph": (g.name, g.doc_string),
        "inputs": [(v.name, _reference_type(v.type), v.doc_string) for v in g.input],
        "outputs": [(v.name, _reference_type(v.type), v.doc_string) for v in g.output],
        "initializers": {i.name for i in g.initializer},
        "nodes": [(n.domain, n.op_type) for n in g.node],
        "labels": _reference_labels(g),
        "metadata_props": {p.key: p.value for p in ref.metadata_props},
    }
    found = {
        "header": (got.ir_version, got.producer_name, got.producer_version, got.doc_string),
        "opsets": got.opsets,
        "graph": (got.graph_name, got.graph_doc_string),
        "inputs": [(v.name, v.type, v.doc) for v in got.inputs],
        "outputs": [(v.name, v.type, v.doc) for v in got.outputs],
        "initializers": got.initializers,
        "nodes": [(n.domain, n.op_type) for n in got.nodes],
        "labels": got.labels(),
        "metadata_props": got.metadata_props,
    }
    return expected, found


def test_the_test_data_holds_onnx_files_of_several_producers():
    producers = {read_model(p).producer_name for p in FILES}
    assert len(FILES) >= 100 and {"skl2onnx", "OnnxMLTools", "pytorch", "onnx-caffe2"} <= producers, producers


@pytest.mark.parametrize("path", FILES, ids=[p.parent.name if p.name == "model.onnx" else p.name for p in FILES])
def test_reads_what_the_onnx_package_reads(path):
    expected, found = _summaries(path)
    assert found == expected


def test_networks_with_symbolic_dimensions_and_a_float16_input(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 3, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["batch", 3, None])
    seq = helper.make_value_info("s", helper.make_sequence_type_proto(
        helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
    weights = helper.make_tensor("w", TensorProto.FLOAT16, [3], np.ones(3, dtype=np.float16).view(np.uint16).tolist())
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"], name="mul")], "g", [x], [y, seq],
                              initializer=[weights], doc_string="a graph")
    model = helper.make_model(graph, producer_name="hand", producer_version="1", doc_string="")
    onnx.helper.set_model_props(model, {"note": "ünïcode ✓"})
    path = tmp_path / "net.onnx"
    onnx.save(model, str(path))
    expected, found = _summaries(path)
    assert found == expected
    assert found["inputs"][0][1] == "tensor(float16)[batch, 3, ?]"
    assert found["outputs"][1][1] == "seq(map(int64, tensor(float)[]))"


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_labels_in_packed_and_unpacked_encodings_and_negative_ints():
    """onnx.proto is proto2: its writers send repeated ints one tag each; a parser must take packed ones too."""
    unpacked = _field(1, b"classlabels_int64s") + b"".join(_varint(8 << 3) + _varint(v) for v in (-1, 7))
    packed = _field(1, b"classlabels_int64s") + _field(8, b"".join(_varint(v) for v in (-1, 7)))
    for attribute in (unpacked, packed):
        node = _field(4, b"TreeEnsembleClassifier") + _field(5, attribute)
        assert parse_model(_field(7, _field(1, node))).labels() == [-1, 7]


def test_an_unknown_element_type_is_named_not_fatal(tmp_path):
    """A newer writer's element type: the onnx package's own name table raises KeyError on it."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    x.type.tensor_type.elem_type = 99
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "new.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    info = modelpack.describe(path)
    assert info.details["inputs"] == [{"name": "x", "type": "tensor(type99)[1]"}]


def test_weights_are_stepped_over_not_read(tmp_path):
    """A 32 MB initializer costs the reader nothing: it is mapped, never copied."""
    big = helper.make_tensor("w", TensorProto.FLOAT, [8 << 20], b"\0" * (32 << 20), raw=True)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8 << 20])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8 << 20])], initializer=[big])
    path = tmp_path / "big.onnx"
    onnx.save(helper.make_model(graph), str(path))
    tracemalloc.start()
    try:
        model = read_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert model.initializers == {"w"} and [v.name for v in model.inputs] == ["x"]
    assert peak < 1 << 20, peak


def test_every_truncation_is_refused_or_read_never_a_crash():
    data = (DATA / "foreign" / "onnx" / "logreg-zipmap-skl2onnx1.20.0.onnx").read_bytes()
    refused = 0
    for end in range(0, len(data), max(1, len(data) // 400)):
        try:
            parse_model(data[:end])
        except CorruptFileError:
            refused += 1
    assert refused > 100  # most cuts land inside a field


def test_deep_nesting_is_refused_without_recursion():
    inner = _field(1, _field(1, b""))  # tensor_type { elem_type ... }
    for _ in range(5000):  # sequence_type { elem_type { ... } }
        inner = _field(4, _field(1, inner))
    data = _field(7, _field(11, _field(1, b"x") + _field(2, inner)))
    with pytest.raises(CorruptFileError, match=f"nested more than {MAX_NESTING} deep"):
        parse_model(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.data())
def test_arbitrary_bytes_are_refused_or_read(noise, data):
    base = (DATA / "foreign" / "onnx" / "forest-zipmap-skl2onnx1.20.0.onnx").read_bytes()
    at = data.draw(st.integers(0, len(base)))
    for candidate in (noise, base[:at] + noise + base[at + len(noise):]):
        try:
            parse_model(candidate)
        except CorruptFileError:
            pass


def test_info_on_onnx_imports_neither_onnx_nor_numpy():
    path = DATA / "foreign" / "onnx" / "lightgbm-zipmap-onnxmltools1.16.0.onnx"
    code = ("import json, sys; from modelpack.cli import main; sys.argv = ['modelpack', 'info', sys.argv[1], '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps([m for m in ('onnx', 'numpy', 'onnxruntime', 'google.protobuf') if m in sys.modules]), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    info = json.loads(done.stdout)
    assert info["details"]["classes"] == _reference_labels(onnx.load(str(path)).graph) == [0, 1, 2]
    assert info["details"]["producer"].startswith("OnnxMLTools")


def test_info_on_a_truncated_file_is_one_line(tmp_path):
    data = (DATA / "foreign" / "onnx" / "logreg-zipmap-skl2onnx1.20.0.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    done = subprocess.run([sys.executable, "-m", "modelpack", "info", str(cut)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [f"Error: {cut.name} is not a valid ONNX file: a field's length runs past "
                                        "the end of its message (the file is truncated)"]
