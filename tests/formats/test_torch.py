"""PyTorch: torch.export programs saved and loaded safely, converted to ONNX with the same check."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

import modelpack
from modelpack.errors import UnsupportedModelError, UntrustedContentError

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
Y3 = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)


def _fit(net, y, loss):
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(net.parameters(), 0.05)
    for _ in range(60):
        optimizer.zero_grad()
        loss(net(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        optimizer.step()
    return net.eval()


@pytest.fixture(scope="module")
def networks():
    torch.manual_seed(0)
    logits = _fit(torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)), Y3,
                  torch.nn.functional.cross_entropy)
    binary = _fit(torch.nn.Sequential(torch.nn.Linear(4, 1)), (X[:, :1] > 0).astype("float32"),
                  torch.nn.functional.binary_cross_entropy_with_logits)
    regressor = _fit(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)),
                     (X[:, :1] * 2 + X[:, 3:]).astype("float32"), torch.nn.functional.mse_loss)
    return {"logits": logits, "binary": binary, "regressor": regressor}


def _native(net, rows):
    with torch.no_grad():
        return net(torch.from_numpy(rows)).numpy()


def test_a_classifier_saved_as_a_program_keeps_its_labels(tmp_path, networks):
    path = tmp_path / "m.pt2"
    metadata = modelpack.save(networks["logits"], path, sample=X[:20], classes=["low", "mid", "high"])
    assert metadata.task == "classifier" and metadata.versions["torch"] == torch.__version__.split("+")[0]
    loaded = modelpack.load(path)
    logits = _native(networks["logits"], X)
    assert list(loaded.predict(X)) == list(np.array(["low", "mid", "high"])[logits.argmax(1)])
    np.testing.assert_allclose(loaded.predict_proba(X), torch.softmax(torch.from_numpy(logits), 1).numpy(),
                               rtol=1e-5, atol=1e-7)
    assert modelpack.verify(loaded).passed
    assert any(n.endswith("/extra/modelpack.json") for n in zipfile.ZipFile(path).namelist())
    program = torch.export.load(str(path))  # torch's own loader opens it unchanged
    np.testing.assert_allclose(_native(program.module(), X[:5]), logits[:5], rtol=1e-6)


@pytest.mark.parametrize("kind", ["logits", "binary", "regressor"])
def test_conversion_to_onnx_is_checked(tmp_path, networks, kind):
    import onnxruntime as ort

    classes = {"logits": ["low", "mid", "high"], "binary": ["no", "yes"], "regressor": None}[kind]
    modelpack.save(networks[kind], tmp_path / "m.pt2", sample=X[:20], classes=classes)
    result = modelpack.convert(tmp_path / "m.pt2", tmp_path / "m.onnx", data=X)
    assert result.passed, result.report.to_dict()
    assert {c.method for c in result.report.comparisons} == ({"predict"} if kind == "regressor"
                                                             else {"predict", "predict_proba"})
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    outputs = session.run(None, {session.get_inputs()[0].name: X[:10]})
    source = modelpack.load(tmp_path / "m.pt2")
    if classes is not None:  # any runtime gets labels and probabilities, not logits
        assert list(outputs[0]) == list(source.predict(X[:10]))
        np.testing.assert_allclose(outputs[1], source.predict_proba(X[:10]), atol=1e-6)
    assert session.get_inputs()[0].shape[0] != 1  # a dynamic batch dimension


def test_a_state_dict_is_refused_with_the_way_to_save_properly(tmp_path, networks):
    torch.save(networks["logits"].state_dict(), tmp_path / "weights.pt")
    with pytest.raises(UntrustedContentError) as err:
        modelpack.load(tmp_path / "weights.pt")
    assert "the architecture is Python code" in str(err.value) and "modelpack.save(module, 'model.pt2'" in str(err.value)
    with pytest.raises(UnsupportedModelError, match="holds an OrderedDict"):
        modelpack.load(tmp_path / "weights.pt", trust=True)


def test_pickled_modules_and_torchscript_load_only_when_trusted(tmp_path, networks):
    torch.save(networks["logits"], tmp_path / "whole.pt")
    torch.jit.trace(networks["logits"], torch.from_numpy(X[:2])).save(str(tmp_path / "script.pt"))
    for name in ("whole.pt", "script.pt"):
        with pytest.raises(UntrustedContentError):
            modelpack.load(tmp_path / name)
        trusted = modelpack.load(tmp_path / name, trust=True)
        np.testing.assert_allclose(trusted.predict(X[:5]), _native(networks["logits"], X[:5]), rtol=1e-5)


def test_info_reads_a_program_without_importing_torch(tmp_path, networks):
    modelpack.save(networks["logits"], tmp_path / "m.pt2", sample=X[:5])
    code = ("import sys, modelpack; i = modelpack.describe(sys.argv[1]); print(i.details['operators']); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.pt2")], capture_output=True, text=True)
    operators, imported = done.stdout.strip().splitlines()
    assert operators == "{'linear.default': 2, 'relu.default': 1}" and imported == "False"


def test_a_module_torch_export_cannot_trace_is_one_line(tmp_path):
    class Branchy(torch.nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x - 1  # data-dependent control flow

    with pytest.raises(UnsupportedModelError, match="torch.export cannot trace this module"):
        modelpack.save(Branchy(), tmp_path / "b.pt2", sample=X[:4])
    assert not (tmp_path / "b.pt2").exists()
    with pytest.raises(modelpack.errors.InvalidInputError, match="needs sample=X"):
        modelpack.save(torch.nn.Linear(4, 1), tmp_path / "s.pt2")


class _Marker:
    """Unpickling this creates a file: proof that code from the file ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _rewrite(source, target, change):
    """Copy a .pt2 archive member by member, letting ``change(name, data)`` alter or add members."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        extra = change(None, None)
        if extra:
            zout.writestr(*extra)


@pytest.mark.parametrize("attack", ["opaque constant", "pickled weights", "sample inputs"])
def test_a_hostile_program_archive_is_refused_before_torch_unpickles_it(tmp_path, networks, attack):
    import io
    import json
    import pickle

    good = tmp_path / "m.pt2"
    modelpack.save(networks["logits"], good, sample=X[:5], classes=["low", "mid", "high"])
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Marker(str(marker)))
    prefix = zipfile.ZipFile(good).namelist()[0].split("/")[0]

    def change(name, data):
        if name is None:
            return (f"{prefix}/data/constants/opaque_obj_0", payload) if attack == "opaque constant" else None
        if attack == "pickled weights" and name.endswith("model_weights_config.json"):
            config = json.loads(data)
            next(iter(config["config"].values()))["use_pickle"] = True
            return json.dumps(config).encode()
        if attack == "sample inputs" and "/sample_inputs/" in name:
            buffer = io.BytesIO()
            torch.save({"x": _Marker(str(marker))}, buffer)
            return buffer.getvalue()
        return data

    hostile = tmp_path / "hostile.pt2"
    _rewrite(good, hostile, change)
    with pytest.raises(UntrustedContentError) as err:
        modelpack.load(hostile)
    assert "trust=True" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_an_operator_onnx_cannot_express_is_one_line_and_writes_nothing(tmp_path):
    class RunningMax(torch.nn.Module):
        def forward(self, x):
            return torch.cummax(x, dim=1)[0]  # no ONNX translation in torch.onnx

    modelpack.save(RunningMax(), tmp_path / "m.pt2", sample=X[:8])
    with pytest.raises(modelpack.errors.ConversionError) as err:
        modelpack.convert(tmp_path / "m.pt2", tmp_path / "m.onnx", data=X[:20])
    message = str(err.value)
    assert message.startswith("PyTorch could not export this network to ONNX:")
    assert "\n" not in message and "\x1b" not in message  # torch.onnx's colours are gone
    assert not (tmp_path / "m.onnx").exists()


def test_a_member_inflating_past_the_budget_is_refused_before_torch_reads_it(tmp_path, networks):
    from safety.hostile import add_zip_bomb

    path = tmp_path / "bomb.pt2"
    modelpack.save(networks["regressor"], path, sample=X[:5])
    prefix = zipfile.ZipFile(path).namelist()[0].split("/")[0]
    add_zip_bomb(path, f"{prefix}/extra/bomb")  # a member name torch.export programs may hold
    with pytest.raises(modelpack.errors.ResourceLimitError, match=f"zip member {prefix}/extra/bomb: 320 MiB"):
        modelpack.load(path)


class _Bag(torch.nn.Module):
    """Token ids in, one value out: an Embedding takes integers (torch refuses floats for it)."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(100, 4)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, ids):
        return self.head(self.embedding(ids).mean(dim=1))


def test_a_network_taking_token_ids_is_fed_integers(tmp_path):
    """Rows were always fed as float32: saving an Embedding network failed ("Expected tensor for
    argument #1 'indices' to have one of the following scalar types: Long, Int")."""
    torch.manual_seed(0)
    bag = _Bag().eval()
    ids = np.arange(40).reshape(-1, 2).astype(np.int64)
    with torch.no_grad():
        expected = bag(torch.as_tensor(ids)).numpy().ravel()
    modelpack.save(bag, tmp_path / "bag.pt2", sample=ids)
    loaded = modelpack.load(tmp_path / "bag.pt2")
    assert [f.dtype for f in loaded.metadata.input_schema.features] == ["int64", "int64"]
    np.testing.assert_allclose(loaded.predict(ids), expected, rtol=1e-6)
    assert modelpack.convert(tmp_path / "bag.pt2", tmp_path / "bag.onnx", data=ids).report.passed
    # a program torch.export wrote itself, without modelpack's metadata: the input type is read from its graph
    program = torch.export.export(bag, (torch.as_tensor(ids[:4]),), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    torch.export.save(program, tmp_path / "plain.pt2")
    np.testing.assert_allclose(modelpack.load(tmp_path / "plain.pt2").predict(ids), expected, rtol=1e-6)
