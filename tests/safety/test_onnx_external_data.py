"""ONNX files whose tensors name external data: weights in another file, which onnxruntime reads at load.

Before onnxruntime 1.24 a location such as ``../../etc/passwd``, an absolute path or a symlink was read
as it was, into weights a graph can return; and a sparse tensor located at ``*/_ORT_MEM_ADDR_/*`` was
read from the process's memory at the address its offset names (both shown with onnxruntime 1.23.2,
which modelpack's ``onnxruntime>=1.17`` admits). modelpack refuses them itself, before onnxruntime
opens the file, so these tests hold with any onnxruntime: each asserts modelpack's own refusal, which
an onnxruntime that refuses by itself words differently. Files are written by the onnx package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelpack
from modelpack.errors import CorruptFileError, UntrustedContentError
from modelpack.formats.onnx._proto import external_tensors

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

N = 16
SECRET = b"TOP-SECRET-BYTES"


def _external(name: str, location: str, offset: int = 0, length: int = N) -> Any:
    """A uint8 tensor of N values whose data, it says, is at ``location``."""
    tensor = TensorProto(name=name, data_type=TensorProto.UINT8, dims=[N], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def _model(graph: Any, **extra: Any) -> Any:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], **extra)
    model.ir_version = 8
    return model


def _adds(nodes: list[Any], **graph: Any) -> Any:
    """y = x + W, with whatever makes W."""
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, [N])
    y = helper.make_tensor_value_info("y", TensorProto.UINT8, [N])
    return helper.make_graph([*nodes, helper.make_node("Add", ["x", "W"], ["y"])], "g", [x], [y], **graph)


def initializer(location: str) -> Any:
    return _model(_adds([], initializer=[_external("W", location)]))


def sparse_initializer(location: str) -> Any:
    sparse = onnx.SparseTensorProto(dims=[N])
    sparse.values.CopyFrom(_external("W", location))
    sparse.indices.CopyFrom(helper.make_tensor("W_idx", TensorProto.INT64, [N], list(range(N))))
    return _model(_adds([], sparse_initializer=[sparse]))


def constant_node(location: str) -> Any:
    return _model(_adds([helper.make_node("Constant", [], ["W"], value=_external("c", location))]))


def inside_a_subgraph(location: str) -> Any:
    branch = helper.make_graph([helper.make_node("Constant", [], ["W_branch"], value=_external("c", location))], "branch",
                               [], [helper.make_tensor_value_info("W_branch", TensorProto.UINT8, [N])])
    condition = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["W"], then_branch=branch, else_branch=branch)
    return _model(_adds([node], initializer=[condition]))


def inside_a_function(location: str) -> Any:
    body = helper.make_node("Constant", [], ["out"], value=_external("c", location))
    function = helper.make_function("local", "weights", [], ["out"], [body], [helper.make_opsetid("", 17)])
    model = _model(_adds([helper.make_node("weights", [], ["W"], domain="local")]), functions=[function])
    model.opset_import.append(helper.make_opsetid("local", 1))
    return model


PLACES = [initializer, sparse_initializer, constant_node, inside_a_subgraph, inside_a_function]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "secret.bin").write_bytes(SECRET)
    model = tmp_path / "model"
    model.mkdir()
    (model / "link").symlink_to(tmp_path / "secret.bin")
    return model


HOSTILE = {
    "../secret.bin": "a path through a parent folder",
    "..\\secret.bin": "a path through a parent folder",
    "sub/../../secret.bin": "a path through a parent folder",
    "/etc/passwd": "an absolute path",
    "link": "a link to .*secret.bin, outside the model's folder",
    "*/_ORT_MEM_ADDR_/*": "onnxruntime's tag for data at a memory address",
}


@pytest.mark.parametrize("place", PLACES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("location", sorted(HOSTILE))
def test_a_location_outside_the_models_folder_is_refused_wherever_the_tensor_is(folder, place, location):
    path = folder / "hostile.onnx"
    onnx.save(place(location), str(path))
    with pytest.raises(UntrustedContentError, match=f"tensor '.*' reads its data from .*{HOSTILE[location]}"):
        modelpack.load(path)
    details = modelpack.describe(path).details
    assert list(details["external_data"]) == [location]
    assert HOSTILE[location].split(" ")[0] in details["refused by load"][0]


def test_the_refusal_is_one_line_and_nothing_of_the_secret_comes_out(folder):
    path = folder / "hostile.onnx"
    onnx.save(initializer("link"), str(path))
    (folder / "rows.csv").write_text("x\n" + "\n".join(["0"] * 3) + "\n")
    for command in (["predict", str(path), "--data", str(folder / "rows.csv"), "-o", str(folder / "out.csv")],
                    ["check", str(path), str(path)]):
        done = subprocess.run([sys.executable, "-m", "modelpack", *command], capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert done.stderr.strip().count("\n") == 0 and "outside the model's folder" in done.stderr, done.stderr
        assert "TOP-SECRET" not in done.stdout + done.stderr
    assert not (folder / "out.csv").exists()
    info = subprocess.run([sys.executable, "-m", "modelpack", "info", str(path)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "refused by load" in info.stdout


def test_a_location_that_is_not_utf8_names_no_file(folder):
    path = folder / "hostile.onnx"
    model = initializer("placeholder")
    onnx.save(model, str(path))
    hostile = b"\xff\xfe/../link"
    hostile += b"x" * (len("placeholder") - len(hostile))  # the same length: the protobuf stays valid
    data = path.read_bytes().replace(b"placeholder", hostile)
    path.write_bytes(data)
    with pytest.raises(UntrustedContentError, match="which is no file name"):
        modelpack.load(path)


def _weights() -> np.ndarray:
    return np.arange(N, dtype=np.uint8) * 3


def _with_external_data(folder: Path, name: str = "model.onnx") -> Path:
    """The graph y = x + W saved by the onnx package with W in a file beside it, as big models are."""
    model = _model(_adds([], initializer=[numpy_helper.from_array(_weights(), "W")]))
    onnx.save(model, str(folder / name), save_as_external_data=True, all_tensors_to_one_file=True,
              location=f"{name}.data", size_threshold=0)
    return folder / name


def test_external_data_in_the_models_folder_loads_and_scores(tmp_path):
    path = _with_external_data(tmp_path)
    assert [t.name for t in external_tensors(path)] == ["W"]
    model = modelpack.load(path)
    x = np.arange(N, dtype=np.uint8)
    assert model.predict(x).ravel().tolist() == (x + _weights()).tolist()
    assert modelpack.describe(path).details["external_data"] == {"model.onnx.data": 1}
    assert modelpack.describe(path).details["refused by load"] == []


def test_a_model_linked_from_a_cache_reads_its_data_beside_the_linked_file(tmp_path):
    """Hugging Face's cache: snapshots/<rev>/model.onnx and its data are links into blobs/."""
    (tmp_path / "blobs").mkdir()
    path = _with_external_data(tmp_path / "blobs")
    os.replace(path, tmp_path / "blobs" / "a")
    os.replace(tmp_path / "blobs" / "model.onnx.data", tmp_path / "blobs" / "b")
    snapshot = tmp_path / "snapshots" / "rev"
    snapshot.mkdir(parents=True)
    (snapshot / "model.onnx").symlink_to("../../blobs/a")
    (snapshot / "model.onnx.data").symlink_to("../../blobs/b")
    model = modelpack.load(snapshot / "model.onnx")
    assert model.predict(np.zeros(N, dtype=np.uint8)).ravel().tolist() == _weights().tolist()


def test_a_missing_data_file_says_which_and_where(tmp_path):
    path = _with_external_data(tmp_path)
    (tmp_path / "model.onnx.data").unlink()
    with pytest.raises(CorruptFileError, match="'model.onnx.data', which is not in .*; copy that file beside the model"):
        modelpack.load(path)


def test_an_offset_past_the_end_of_the_data_file_is_refused(folder):
    (folder / "weights.bin").write_bytes(bytes(N))
    path = folder / "model.onnx"
    model = _model(_adds([], initializer=[_external("W", "weights.bin", offset=N)]))
    onnx.save(model, str(path))
    with pytest.raises(CorruptFileError, match=f"reads bytes {N} to {2 * N} of 'weights.bin', which holds {N}"):
        modelpack.load(path)


def test_files_without_external_data_are_not_parsed_past_their_attributes(tmp_path):
    """A tree ensemble's attributes hold millions of numbers: searched for "location", not parsed."""
    pytest.importorskip("skl2onnx")
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(2000, 8, random_state=0)
    path = tmp_path / "forest.onnx"
    modelpack.save(RandomForestClassifier(30, random_state=0).fit(X, y), path, sample=X[:20])
    import modelpack.formats.onnx._proto as proto

    parsed: list[tuple[int, int]] = []
    original = proto._Tensors.tensor

    def counting(self: Any, span: tuple[int, int], depth: int) -> None:
        parsed.append(span)
        original(self, span, depth)

    proto._Tensors.tensor = counting  # type: ignore[method-assign]
    try:
        assert external_tensors(path) == []
    finally:
        proto._Tensors.tensor = original  # type: ignore[method-assign]
    assert parsed == []  # the forest's graph has no initializer, and no attribute mentions a location
