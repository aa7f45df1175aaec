"""Keras networks: saved natively, loaded safely, converted to ONNX and TF Lite with the same check."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import modelpack
from modelpack.errors import InvalidInputError, UntrustedContentError

keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(400, 4)).astype("float32")
Y3 = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)


def _fit(model, y, loss):
    model.compile("adam", loss)
    model.fit(X, y, epochs=4, verbose=0, batch_size=64)
    return model


@pytest.fixture(scope="module")
def networks():
    keras.utils.set_random_seed(0)
    softmax = _fit(keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                                     keras.layers.Dense(3, activation="softmax")]), Y3, "sparse_categorical_crossentropy")
    sigmoid = _fit(keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                     keras.layers.Dense(1, activation="sigmoid")]), (X[:, 0] > 0).astype(int),
                   "binary_crossentropy")
    inputs = keras.Input((4,))
    regressor = _fit(keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8, activation="tanh")(inputs))),
                     X[:, 0] * 2 + X[:, 3], "mse")
    return {"softmax": softmax, "sigmoid": sigmoid, "regressor": regressor}


def test_a_classifier_keeps_its_labels_through_save_load_and_verify(tmp_path, networks):
    path = tmp_path / "m.keras"
    metadata = modelpack.save(networks["softmax"], path, sample=X[:50], classes=["low", "mid", "high"])
    assert metadata.task == "classifier" and metadata.classes == ["low", "mid", "high"]
    assert metadata.versions["keras"] == keras.__version__ and "tensorflow" in metadata.versions
    loaded = modelpack.load(path)
    expected = np.array(["low", "mid", "high"], dtype=object)[np.argmax(networks["softmax"].predict(X, verbose=0), 1)]
    assert list(loaded.predict(X)) == list(expected)
    np.testing.assert_allclose(loaded.predict_proba(X), networks["softmax"].predict(X, verbose=0), rtol=1e-6)
    assert list(loaded.classes_) == ["low", "mid", "high"]
    assert modelpack.verify(loaded).passed
    with zipfile.ZipFile(path) as zf:  # Keras' own members are untouched; modelpack's rides along
        assert {"config.json", "model.weights.h5", "metadata.json", "modelpack.json"} <= set(zf.namelist())
    assert keras.saving.load_model(path).count_params() == networks["softmax"].count_params()


@pytest.mark.parametrize("kind", ["softmax", "sigmoid", "regressor"])
@pytest.mark.parametrize("target", ["onnx", "tflite"])
def test_conversions_are_checked_like_every_other(tmp_path, networks, kind, target):
    src = tmp_path / "m.keras"
    classes = {"softmax": ["a", "b", "c"], "sigmoid": [False, True], "regressor": None}[kind]
    modelpack.save(networks[kind], src, sample=X[:20], classes=classes)
    result = modelpack.convert(src, tmp_path / f"m.{target}", data=X)
    assert result.passed, result.report.to_dict()
    assert result.report.rows == len(X) and result.report.tolerance_reason.endswith("float32")
    methods = {c.method for c in result.report.comparisons}
    assert methods == ({"predict"} if kind == "regressor" else {"predict", "predict_proba"})
    converted = modelpack.load(tmp_path / f"m.{target}")
    assert modelpack.verify(converted).passed  # the checked rows travel in the converted file
    if kind == "sigmoid":
        assert converted.predict_proba(X[:3]).shape == (3, 2)
        assert set(converted.predict(X)) <= {False, True}


def test_the_onnx_export_answers_with_labels_in_any_runtime(tmp_path, networks):
    import onnxruntime as ort

    modelpack.save(networks["softmax"], tmp_path / "m.keras", sample=X[:20], classes=["low", "mid", "high"])
    modelpack.convert(tmp_path / "m.keras", tmp_path / "m.onnx", data=X)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    label, probabilities = session.run(None, {session.get_inputs()[0].name: X[:10]})
    assert [o.name for o in session.get_outputs()][0] == "label"
    assert list(label) == list(modelpack.load(tmp_path / "m.keras").predict(X[:10]))
    np.testing.assert_allclose(probabilities, networks["softmax"].predict(X[:10], verbose=0), atol=1e-6)


def test_cli_converts_to_tflite_and_predicts_with_litert_alone(tmp_path, networks):
    modelpack.save(networks["softmax"], tmp_path / "m.keras", sample=X[:20], classes=["low", "mid", "high"])
    np.save(tmp_path / "rows.npy", X[:30])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "modelpack", "convert", str(tmp_path / "m.keras"), "-o",
                           str(tmp_path / "m.tflite"), "--data", str(tmp_path / "rows.npy")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "passed" in done.stdout, done.stdout + done.stderr
    code = ("import sys, modelpack; m = modelpack.load(sys.argv[1]); import numpy as np; "
            "print(list(m.predict(np.load(sys.argv[2])))); "
            "print(sorted(x for x in ('tensorflow', 'keras') if x in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.tflite"), str(tmp_path / "rows.npy")],
                          capture_output=True, text=True)
    labels, imported = done.stdout.strip().splitlines()
    assert eval(labels) == list(modelpack.load(tmp_path / "m.keras").predict(X[:30]))
    assert imported == "[]"  # LiteRT runs it: TensorFlow is for writing only
    assert "XNNPACK" not in done.stderr  # LiteRT's INFO chatter is not passed on


def test_info_reads_a_keras_file_without_importing_keras(tmp_path, networks):
    modelpack.save(networks["softmax"], tmp_path / "m.keras", sample=X[:20])
    code = ("import sys, modelpack; i = modelpack.describe(sys.argv[1]); "
            "print(i.model_type, i.details['layers'], i.details['inputs'][0]['type']); "
            "print(sorted(x for x in ('tensorflow', 'keras', 'jax', 'torch') if x in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.keras")], capture_output=True, text=True)
    described, imported = done.stdout.strip().splitlines()
    assert described == "keras.Sequential {'Dense': 2} tensor(float32)[N, 4]"
    assert imported == "[]"


def _lambda_network():
    inputs = keras.Input((4,))
    doubled = keras.layers.Lambda(lambda t: t * 2, name="doubling")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(doubled))


def test_a_lambda_layer_is_refused_unless_trusted(tmp_path):
    path = tmp_path / "lambda.keras"
    network = _lambda_network()
    network.save(path)  # a file as a stranger would send it: Python bytecode inside
    with pytest.raises(UntrustedContentError) as err:
        modelpack.load(path)
    assert "Lambda layer (Python code: doubling)" in str(err.value) and "trust=True" in str(err.value)
    assert "Lambda" in str(modelpack.describe(path).details["refused without trust"])
    trusted = modelpack.load(path, trust=True)
    np.testing.assert_allclose(trusted.predict(X[:5]), network.predict(X[:5], verbose=0).ravel(), rtol=1e-6)


def test_a_legacy_h5_lambda_layer_is_refused_before_keras_reads_it(tmp_path):
    path = tmp_path / "lambda.h5"
    _lambda_network().save(path)
    with pytest.raises(UntrustedContentError) as err:
        modelpack.load(path)
    assert "Lambda layer" in str(err.value)


def test_a_class_from_outside_keras_is_refused_naming_it(tmp_path):
    @keras.saving.register_keras_serializable(package="Strangers")
    class Shout(keras.layers.Layer):
        def call(self, x):
            return x * 3

    inputs = keras.Input((4,))
    network = keras.Model(inputs, keras.layers.Dense(1)(Shout()(inputs)))
    network.save(tmp_path / "custom.keras")
    with pytest.raises(UntrustedContentError) as err:
        modelpack.load(tmp_path / "custom.keras")
    assert "Shout" in str(err.value)
    assert modelpack.load(tmp_path / "custom.keras", trust=True).predict(X[:2]).shape == (2,)


def test_bad_input_is_one_line(tmp_path, networks):
    with pytest.raises(InvalidInputError, match="classes names 2 labels, but the network's last layer has 3"):
        modelpack.save(networks["softmax"], tmp_path / "m.keras", classes=["a", "b"])
    assert not (tmp_path / "m.keras").exists()
    modelpack.save(networks["softmax"], tmp_path / "m.keras", sample=X[:10])
    modelpack.convert(tmp_path / "m.keras", tmp_path / "m.tflite", data=X[:50])
    with pytest.raises(InvalidInputError, match=r"expects 4 features per row, got an input of shape \(3, 5\)"):
        modelpack.load(tmp_path / "m.tflite").predict(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(modelpack.UnsupportedModelError, match="TF Lite files are written from Keras networks"):
        from sklearn.linear_model import LinearRegression

        modelpack.save(LinearRegression().fit(X, X[:, 0]), tmp_path / "lr.tflite")
    assert not (tmp_path / "lr.tflite").exists()


@pytest.mark.parametrize("target", ["keras", "tflite"])
def test_serve_a_tabular_network_with_its_form(tmp_path, networks, target):
    import httpx
    from serve.test_serve import running

    modelpack.save(networks["softmax"], tmp_path / "m.keras", sample=X[:20], classes=["low", "mid", "high"])
    path = tmp_path / f"m.{target}"
    if target != "keras":
        assert modelpack.convert(tmp_path / "m.keras", path, data=X).passed
    expected = modelpack.load(tmp_path / "m.keras").predict(X[:5])
    with running(path) as url:
        assert 'name="x1"' in httpx.get(url + "/").text  # the form: one field per feature
        rows = [dict(zip(["x1", "x2", "x3", "x4"], map(float, row))) for row in X[:5]]
        answer = httpx.post(url + "/predict?proba=true", json=rows)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == list(expected) and answer.json()["classes"] == ["low", "mid", "high"]
        bad = httpx.post(url + "/predict", json=[{"x1": "a lot", "x2": 0, "x3": 0, "x4": 0}])
        assert bad.status_code == 422 and bad.json()["field"] == "x1"


def test_a_file_from_a_newer_keras_is_one_line(tmp_path, networks):
    """A layer this Keras does not know (as a newer Keras would write): refused by name, nothing loaded."""
    modelpack.save(networks["softmax"], tmp_path / "m.keras", sample=X[:5])
    with zipfile.ZipFile(tmp_path / "m.keras") as zin, zipfile.ZipFile(tmp_path / "newer.keras", "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                data = data.replace(b'"class_name": "Dense"', b'"class_name": "DenseFromTheFuture"', 1)
            elif info.filename == "metadata.json":
                data = data.replace(keras.__version__.encode(), b"9.0.0")
            zout.writestr(info, data)
    with pytest.raises(modelpack.errors.CorruptFileError) as err:
        modelpack.load(tmp_path / "newer.keras")
    assert "Keras cannot load newer.keras" in str(err.value) and "DenseFromTheFuture" in str(err.value)
    assert "\n" not in str(err.value)


def _edited(source, target, edit):
    """``source`` (a .keras zip) written to ``target`` with its config.json passed through ``edit``."""
    import json

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(info, data)
    return target


def _layers(config):
    return config["config"]["layers"]


def test_a_lookup_layer_reading_its_vocabulary_from_a_path_is_refused(tmp_path):
    """Keras 3.11 read the path (any file; a URL through TensorFlow) into the vocabulary, and an
    inverted lookup predicted its lines: /etc/passwd's, measured with Keras 3.11.3."""
    inputs = keras.Input((1,), dtype="int64")
    network = keras.Model(inputs, keras.layers.StringLookup(vocabulary=["a", "b", "c"], invert=True)(inputs))
    network.save(tmp_path / "lookup.keras")
    assert modelpack.load(tmp_path / "lookup.keras").predict(np.array([[1], [2]])).ravel().tolist() in (
        [b"a", b"b"], ["a", "b"])  # a vocabulary in the config itself is data

    def to_passwd(config):
        lookup = next(layer for layer in _layers(config) if layer["class_name"] == "StringLookup")
        lookup["config"]["vocabulary"] = "/etc/passwd"

    path = _edited(tmp_path / "lookup.keras", tmp_path / "hostile.keras", to_passwd)
    with pytest.raises(UntrustedContentError, match="a StringLookup layer reading its vocabulary from '/etc/passwd'"):
        modelpack.load(path)
    assert "StringLookup" in str(modelpack.describe(path).details["refused without trust"])


@pytest.mark.parametrize(("module", "name", "refused"), [
    ("keras.utils", "get_file", True),  # a download to any folder (Keras < 3.11 resolved it)
    ("keras.config", "enable_unsafe_deserialization", True),  # then a Lambda would run (Keras < 3.11)
    ("keras.src.saving.saving_api", "load_model", True),
    ("builtins", "exec", True),  # Keras 3.8 looked builtins functions up in Python's builtins last
    ("keras.activations", "relu", False),
    ("keras.ops", "tanh", False),
    ("builtins", "relu", False),  # how Keras writes its own functions: looked up among them
])
def test_functions_named_in_a_config_are_keras_modeling_functions_only(tmp_path, networks, module, name, refused):
    modelpack.save(networks["regressor"], tmp_path / "m.keras", sample=X[:5])

    def activation(config):
        dense = next(layer for layer in _layers(config) if layer["class_name"] == "Dense")
        dense["config"]["activation"] = {"module": module, "class_name": "function", "config": name,
                                         "registered_name": "function"}

    path = _edited(tmp_path / "m.keras", tmp_path / "edited.keras", activation)
    if refused:
        with pytest.raises(UntrustedContentError, match=f"the function {module}.{name}"):
            modelpack.load(path)
    else:
        assert modelpack.load(path).predict(X[:3]).shape == (3,)


@pytest.mark.parametrize(("layer", "what"), [("TorchModuleWrapper", "a pickled torch module"),
                                              ("TFSMLayer", "a SavedModel loaded from a path")])
def test_layers_that_unpickle_or_load_saved_models_are_refused(tmp_path, networks, layer, what):
    modelpack.save(networks["regressor"], tmp_path / "m.keras", sample=X[:5])

    def swap(config):
        dense = next(item for item in _layers(config) if item["class_name"] == "Dense")
        dense["class_name"] = layer

    with pytest.raises(UntrustedContentError, match=f"{layer} layer \\({what}: "):
        modelpack.load(_edited(tmp_path / "m.keras", tmp_path / "edited.keras", swap))


def test_a_loss_given_as_a_function_does_not_need_trust(tmp_path):
    """compile() with keras.losses functions writes them as builtins functions in compile_config, which
    modelpack's load (compile=False) never rebuilds: they were refused as ``builtins.function``."""
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    network.compile(loss=keras.losses.sparse_categorical_crossentropy, metrics=[keras.metrics.sparse_categorical_accuracy])
    network.save(tmp_path / "compiled.keras")
    loaded = modelpack.load(tmp_path / "compiled.keras")
    np.testing.assert_allclose(loaded.predict_proba(X[:5]), network.predict(X[:5], verbose=0), rtol=1e-6)
    assert modelpack.describe(tmp_path / "compiled.keras").details["refused without trust"] == []


def test_a_member_inflating_past_the_budget_is_refused_before_keras_reads_it(tmp_path, networks):
    """Keras 3.11 reads model.weights.h5 into memory, and extracts every member to a temporary
    folder, whatever they inflated to: the members' declared sizes are charged first, as for skops."""
    from safety.hostile import add_zip_bomb

    path = tmp_path / "bomb.keras"
    modelpack.save(networks["regressor"], path, sample=X[:5])
    add_zip_bomb(path, "assets/bomb.bin")
    with pytest.raises(modelpack.errors.ResourceLimitError, match="zip member assets/bomb.bin: 320 MiB.*max_memory="):
        modelpack.load(path)


def test_a_network_taking_integers_is_fed_integers_and_its_text_output_is_text(tmp_path):
    """A one-input network whose input is int64 (token ids, lookup indices) was fed float32, which
    rounds ids past 2**24, and its schema said float; TensorFlow's string outputs came out as bytes,
    and serve answered with their repr ("b'a'")."""
    ids = keras.Input((1,), dtype="int64")
    big = 2**24 + 1  # float32(big) == 2**24: another id
    lookup = keras.Model(ids, keras.layers.IntegerLookup(vocabulary=[big, 7], output_mode="int")(ids))
    modelpack.save(lookup, tmp_path / "ids.keras", sample=np.array([[big], [7]]))
    loaded = modelpack.load(tmp_path / "ids.keras")
    assert [f.dtype for f in loaded.metadata.input_schema.features] == ["int64"]
    assert loaded.predict(np.array([[big], [7], [2**24]])).ravel().tolist() == [1, 2, 0]

    words = keras.Model(ids, keras.layers.StringLookup(vocabulary=["low", "high"], invert=True)(ids))
    words.save(tmp_path / "words.keras")  # as Keras writes it: no modelpack metadata
    loaded = modelpack.load(tmp_path / "words.keras")
    assert loaded.predict(np.array([[1], [2]])).ravel().tolist() == ["low", "high"]

    from starlette.testclient import TestClient

    from modelpack.serve import ServeConfig, create_app

    client = TestClient(create_app(loaded, ServeConfig(path=str(tmp_path / "words.keras"))))
    assert client.post("/predict", json=[{"x1": 2}, {"x1": 1}]).json() == {"predictions": ["high", "low"]}
    refused = client.post("/predict", json={"x1": 1.5})
    assert refused.status_code == 422 and "whole number" in refused.json()["error"]
