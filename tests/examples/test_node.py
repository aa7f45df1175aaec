"""examples/node: onnxruntime-node gives Python's predictions, read from the file alone."""

from __future__ import annotations

import json
import subprocess

import onnx
import pytest

import modelpack
from conftest import models
from examples.conftest import EXAMPLES, npm_ci

NODE = EXAMPLES / "node"


@pytest.fixture(scope="module")
def installed(node):
    npm_ci(NODE)
    return node


def run(node: str, path) -> subprocess.CompletedProcess:
    return subprocess.run([node, str(NODE / "run.js"), str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name,precision", [
    ("forest_strings", "float"), ("logistic", "float"), ("linear_regression", "float"),
    ("pipeline_frame", "float"), ("pipeline_frame", "double"),
])
def test_node_reproduces_the_recorded_outputs(tmp_path, installed, name, precision):
    trained = models()[name]
    path = tmp_path / "model.onnx"
    modelpack.save(trained.model, path, sample=trained.X, precision=precision)
    proc = run(installed, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["problems"] == [] and out["rows"] == 20
    expected = trained.model.predict(trained.X[:20] if not hasattr(trained.X, "iloc") else trained.X.iloc[:20])
    if trained.task == "classifier":
        assert out["predictions"] == list(expected)
    if name == "pipeline_frame":
        assert out["inputs"] == ["age", "income", "city", "plan"]


def test_node_fails_when_the_model_does_not_match_its_record(tmp_path, installed):
    trained = models()["pipeline_frame"]
    path = tmp_path / "model.onnx"
    modelpack.save(trained.model, path, sample=trained.X)
    proto = onnx.load(str(path))
    meta = json.loads(proto.metadata_props[0].value)
    meta["sample"]["outputs"]["predict"][0] = "maybe"  # a label the model never gives
    proto.metadata_props[0].value = json.dumps(meta)
    onnx.save(proto, str(path))
    proc = run(installed, path)
    assert proc.returncode == 1
    assert "row 0: predict" in json.loads(proc.stdout)["problems"][0]


def test_node_refuses_a_file_without_metadata(tmp_path, installed):
    from skl2onnx import to_onnx

    trained = models()["logistic"]
    path = tmp_path / "plain.onnx"
    path.write_bytes(to_onnx(trained.model, trained.X[:1].astype("float32")).SerializeToString())
    proc = run(installed, path)
    assert proc.returncode == 2 and "no modelpack metadata" in proc.stderr
