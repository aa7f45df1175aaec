"""A Keras network and its exports: predict on 1 row and on 256, load time, file size.

    python benchmarks/bench_keras.py

A tabular classifier (20 features, two hidden layers of 64, softmax over 3 classes) saved as
.keras and converted by modelpack to ONNX and TF Lite. For each file: the raw runtime (the
Keras network called directly, an onnxruntime session, a LiteRT interpreter) beside
modelpack's ``predict_proba`` on the same file, all rounds interleaved; and what the whole
Keras ``predict`` (what tutorials call) costs. Load time is measured in fresh processes,
since importing TensorFlow is most of it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _bench import fmt_seconds, paired, report_network_files  # noqa: E402

import modelpack  # noqa: E402


def network() -> keras.Model:
    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(2000, 20)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X, y, epochs=3, verbose=0)
    return model


def raw_runner(path: Path):
    if path.suffix == ".onnx":
        session = ort.InferenceSession(str(path))
        name = session.get_inputs()[0].name
        return lambda X: session.run(None, {name: X})[1]  # [label, probabilities]
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]

    def run(X):
        if tuple(interpreter.get_input_details()[0]["shape"]) != X.shape:
            interpreter.resize_tensor_input(detail["index"], list(X.shape))
            interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], X)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return run


def main() -> None:
    net = network()
    X = np.random.default_rng(1).normal(size=(256, 20)).astype("float32")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        modelpack.save(net, folder / "m.keras", sample=X[:50], classes=["low", "mid", "high"])
        for target in ("onnx", "tflite"):
            assert modelpack.convert(folder / "m.keras", folder / f"m.{target}", data=X).passed
        for batch in (1, 256):
            data = X[:batch]
            keras_model = modelpack.load(folder / "m.keras")
            raw, ours = paired(lambda: net(data, training=False), lambda: keras_model.predict_proba(data))
            tutorial = paired(lambda: net.predict(data, verbose=0), lambda: None, repeat=10)[0]
            rows.append([f"keras ({batch} rows)", fmt_seconds(raw), fmt_seconds(ours), f"{ours / raw:.2f}×",
                         f"Keras predict(): {fmt_seconds(tutorial)}"])
            results[f"keras-{batch}"] = {"raw": raw, "modelpack": ours, "keras_predict": tutorial}
            for target in ("onnx", "tflite"):
                path = folder / f"m.{target}"
                run, model = raw_runner(path), modelpack.load(path)
                raw, ours = paired(lambda: run(data), lambda: model.predict_proba(data))
                rows.append([f"{target} ({batch} rows)", fmt_seconds(raw), fmt_seconds(ours), f"{ours / raw:.2f}×",
                             f"÷ Keras called directly: {raw / results[f'keras-{batch}']['raw']:.2f}×"])
                results[f"{target}-{batch}"] = {"raw": raw, "modelpack": ours}
        report_network_files("keras", folder, (".keras", ".onnx", ".tflite"), rows, results,
                             env={"TF_CPP_MIN_LOG_LEVEL": "2"})


if __name__ == "__main__":
    main()
