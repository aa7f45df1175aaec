"""The bytes the ONNX and TF Lite readers read a file through: whole for a small file, by pages for a
big one, and a file that something shortens while it is read is a one-line error, not a SIGBUS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.formats import _filebytes
from modelpack.formats._filebytes import PAGE, PAGES_KEPT, PagedFile, file_bytes
from modelpack.formats.onnx._proto import read_model
from modelpack.formats.tflite._flatbuffer import describe_file

DATA = Path(__file__).resolve().parents[1] / "data"
CONTENT = bytes(range(256)) * (PAGE * (PAGES_KEPT + 3) // 256) + b"tail"  # more pages than are kept


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    path = tmp_path_factory.mktemp("paged") / "file.bin"
    path.write_bytes(CONTENT)
    with open(path, "rb") as fh:
        yield PagedFile(fh.fileno(), len(CONTENT), path.name)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-len(CONTENT) - 5, len(CONTENT) + 5), st.integers(-5, 3 * PAGE)), max_size=20))
def test_pages_read_what_the_bytes_hold(paged, reads):
    """Any index and any slice, across page boundaries and after pages were dropped, as bytes answer."""
    assert len(paged) == len(CONTENT)
    for at, length in reads:
        assert paged[at:at + length] == CONTENT[at:at + length]
        if -len(CONTENT) <= at < len(CONTENT):
            assert paged[at] == CONTENT[at]
        else:
            with pytest.raises(IndexError):
                paged[at]
    assert len(paged.pages) <= PAGES_KEPT


def _big_onnx(path: Path) -> Path:
    """An ONNX file whose graph inputs and outputs come after 1 MB of weights, as onnx writes them."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [1 << 18], b"\1" * (1 << 20), raw=True)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1 << 18])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1 << 18])], initializer=[weights])
    onnx.save(helper.make_model(graph, producer_name="test"), str(path))
    return path


def _wide_tflite(path: Path, width: int = 3000) -> Path:
    """A TF Lite file of ``width`` named inputs (about 100 kB), written by the FlatBuffers builder from
    LiteRT's own schema classes."""
    flatbuffers = pytest.importorskip("flatbuffers")
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

    graph = schema.SubGraphT()
    graph.tensors = []
    for i in range(width + 1):
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.name, tensor.buffer = [1, i % 7 + 1], schema.TensorType.FLOAT32, f"input{i}", 0
        graph.tensors.append(tensor)
    graph.inputs, graph.outputs, graph.operators = list(range(width)), [width], []
    model = schema.ModelT()
    model.version, model.subgraphs, model.buffers, model.operatorCodes = 3, [graph], [schema.BufferT()], []
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    return path


@pytest.mark.parametrize("path", sorted((DATA / "foreign" / "onnx").glob("*.onnx")), ids=lambda p: p.name)
def test_the_onnx_reader_reads_the_same_by_pages(path, monkeypatch):
    whole = read_model(path)
    monkeypatch.setattr(_filebytes, "WHOLE", 0)
    with file_bytes(path) as buf:
        assert isinstance(buf, PagedFile)
    assert read_model(path) == whole


def test_inputs_after_a_megabyte_of_weights_are_read_by_pages(tmp_path, monkeypatch):
    onnx = pytest.importorskip("onnx")
    big = _big_onnx(tmp_path / "big.onnx")
    reference = onnx.load(str(big))
    monkeypatch.setattr(_filebytes, "WHOLE", 0)
    found = read_model(big)
    assert [v.name for v in found.inputs] == [v.name for v in reference.graph.input] == ["x"]
    assert found.inputs[0].type == "tensor(float)[N, 262144]" and found.initializers == {"w"}
    assert found.producer_name == reference.producer_name == "test"


def test_a_graph_of_many_nodes_reads_the_same_by_pages(tmp_path, monkeypatch):
    """Nodes and small tensors straddle pages; each is read as its own bytes, then decoded."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes, weights, previous = [], [], "x"
    for i in range(400):
        weights.append(helper.make_tensor(f"w{i}", TensorProto.FLOAT, [700 + i], b"\0" * 4 * (700 + i), raw=True))
        nodes.append(helper.make_node("Add", [previous, f"w{i}"], [f"h{i}"], name=f"add{i}", doc_string="d" * i))
        previous = f"h{i}"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 700])],
                              [helper.make_tensor_value_info(previous, TensorProto.FLOAT, ["N", 1099])],
                              initializer=weights)
    path = tmp_path / "many.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert path.stat().st_size > 8 * PAGE
    whole = read_model(path)
    assert len(whole.nodes) == 400 and len(whole.initializers) == 400
    monkeypatch.setattr(_filebytes, "WHOLE", 0)
    assert read_model(path) == whole


def test_the_tflite_reader_reads_the_same_by_pages(tmp_path, monkeypatch):
    path = _wide_tflite(tmp_path / "wide.tflite")
    assert path.stat().st_size > 2 * PAGE
    whole = describe_file(path)
    assert whole["inputs"][999] == {"name": "input999", "type": "tensor(float32)[1, 6]"} and whole["inputs_total"] == 3000
    monkeypatch.setattr(_filebytes, "WHOLE", 0)
    assert describe_file(path) == whole


SHORTENED = """
import contextlib, os, pathlib, sys
from modelpack.errors import CorruptFileError
from modelpack.formats import _filebytes
import modelpack.formats.{module} as reader
path = pathlib.Path(sys.argv[1])

@contextlib.contextmanager
def shortened_after_opening(p):  # what an exporter rewriting the file in place does to a reader
    with _filebytes.file_bytes(p) as buf:
        os.truncate(path, 16)
        yield buf

_filebytes.WHOLE = 0  # by pages, as a file over the limit is read
reader.file_bytes = shortened_after_opening
try:
    reader.{function}(path)
except CorruptFileError as exc:
    print(exc)
"""


@pytest.mark.parametrize(("module", "function", "make"), [("onnx._proto", "read_model", _big_onnx),
                                                          ("tflite._flatbuffer", "describe_file", _wide_tflite)])
def test_a_file_shortened_while_it_is_read_is_an_error_not_a_crash(tmp_path, module, function, make):
    """Read through a memory map, as it was, this process died of SIGBUS (-7) with no message."""
    path = make(tmp_path / f"model.{'onnx' if 'onnx' in module else 'tflite'}")
    done = subprocess.run([sys.executable, "-c", SHORTENED.format(module=module, function=function), str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert done.stdout.strip() == (f"{path.name} became shorter while it was read (something is writing it); "
                                   "read it again once it is written")
