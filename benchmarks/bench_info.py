"""What `modelpack info` costs per format, in a fresh process as a user runs it, beside the raw readers.

    python benchmarks/bench_info.py

For one file of each format from tests/data/foreign (a pickle and a joblib file from
scikit-learn 1.2, a skops file, an ONNX graph, a PMML document), a 13 MB PMML forest written by
sklearn2pmml when it is installed, a TF Lite network written by TensorFlow's converter and an ONNX
network carrying 200 MB of weights, three commands run
in new interpreters, interleaved round by round: ``modelpack info FILE --json``; the raw library's
own reader of the same file (``pickletools.dis`` for pickles, which like info runs nothing;
``onnx.load``; ``xml.etree`` parsing the PMML; skops' ``get_untrusted_types``; a LiteRT interpreter
reading the TF Lite file's inputs and signatures); and the
``python -c pass`` floor. Each run also reports its peak RSS and which model libraries it imported.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _bench import compile_modelpack, print_table, save_results  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "foreign"
FILES = {
    "pickle": CORPUS / "pickles" / "gbm-mixed-sklearn1.2.2.pkl",
    "joblib (.sav)": CORPUS / "pickles" / "gbm-mixed-sklearn1.2.2.sav",
    "skops": CORPUS / "pickles" / "forest-reg-sklearn1.3.2.skops",
    "onnx": CORPUS / "onnx" / "lightgbm-zipmap-onnxmltools1.16.0.onnx",
    "pmml": CORPUS / "pmml" / "jpmml-sklearn-housing-gbt-classifier.xml",
}
RAW = {
    "pickle": "import pickletools,io; pickletools.dis(open({p!r},'rb'), out=io.StringIO())",
    "joblib (.sav)": "import pickletools,io; pickletools.dis(open({p!r},'rb'), out=io.StringIO())",
    "skops": "import skops.io as s; s.get_untrusted_types(file={p!r})",
    "onnx": "import onnx; onnx.load({p!r})",
    "pmml": "import xml.etree.ElementTree as E; E.parse({p!r})",
    "tflite (Keras network)": "from ai_edge_litert.interpreter import Interpreter as I; "
                              "i = I(model_path={p!r}); i.get_input_details(); i.get_signature_list()",
}
LIBRARIES = "('sklearn','onnxruntime','jpype','skops','xgboost','lightgbm','joblib','scipy','ai_edge_litert','onnx')"
REPORT = f";import sys; print([m for m in {LIBRARIES} if m in sys.modules], file=sys.stderr)"
HWM = "\nimport sys; print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr)"
INFO = "import sys; from modelpack.cli import main; sys.argv=['modelpack','info',{p!r},'--json']; main()"


def run(code: str) -> tuple[float, str, int]:
    """Seconds, the last line of stderr before the memory report, and the peak RSS (bytes) of
    ``python -c code``: VmHWM, which exec resets (``ru_maxrss`` would count the forked parent)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + HWM], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    if not (lines and lines[-1].isdigit()):  # the code raised before the report (pickletools on joblib's arrays)
        return elapsed, lines[-1] if lines else "", 0
    return elapsed, lines[-2] if len(lines) > 1 else "", int(lines[-1]) * 1024


def tflite_file(folder: Path) -> Path | None:
    """A small Keras network converted by TensorFlow's own TF Lite converter, when TensorFlow is here."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("ai_edge_litert") is None:
        return None
    import tensorflow as tf

    inputs = tf.keras.Input((20,))
    hidden = tf.keras.layers.Dense(64, activation="relu")(tf.keras.layers.Dense(64, activation="relu")(inputs))
    network = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax")(hidden))
    path = folder / "net.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(network).convert())
    return path


def big_onnx(folder: Path) -> Path | None:
    """A network whose weights weigh 200 MB (one initializer), as exporters write large models."""
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        return None
    from onnx import TensorProto, helper, save

    n = 50 << 20
    weights = helper.make_tensor("w", TensorProto.FLOAT, [n], b"\0" * (4 * n), raw=True)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "net",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])], initializer=[weights])
    path = folder / "net.onnx"
    save(helper.make_model(graph, producer_name="bench"), str(path))
    return path


def big_pmml(folder: Path) -> Path | None:
    """bench_pmml's forest (100 trees, depth 12) as sklearn2pmml writes it: 13 MB, when sklearn2pmml is here."""
    import importlib.util

    if importlib.util.find_spec("sklearn2pmml") is None:
        return None
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    import modelpack

    X, y = make_classification(20_000, 20, random_state=0)
    path = folder / "forest.pmml"
    modelpack.save(RandomForestClassifier(100, max_depth=12, random_state=0).fit(X, y), path, sample=X[:100])
    return path


def main(rounds: int = 7) -> None:
    compile_modelpack()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        files = dict(FILES)
        big = big_pmml(Path(tmp))
        if big is not None:
            files["pmml (sklearn2pmml forest)"] = big
            RAW["pmml (sklearn2pmml forest)"] = RAW["pmml"]
        lite = tflite_file(Path(tmp))
        if lite is not None:
            files["tflite (Keras network)"] = lite
        network = big_onnx(Path(tmp))
        if network is not None:
            files["onnx (200 MB of weights)"] = network
            RAW["onnx (200 MB of weights)"] = RAW["onnx"]
        measure(files, rounds)


def measure(files: dict[str, Path], rounds: int) -> None:
    rows, results = [], {}
    for name, path in files.items():
        p = str(path)
        timings: dict[str, list[float]] = {"info": [], "raw": [], "floor": []}
        imported, peak = {}, {}
        for _ in range(rounds):  # interleaved: every ratio compares runs under the same machine load
            t, imported["info"], peak["info"] = run("import atexit\natexit.register(lambda: None)\n" + INFO.format(p=p).replace(
                "main()", "\ntry:\n    main()\nexcept SystemExit:\n    pass\n" + REPORT[1:]))
            timings["info"].append(t)
            t, imported["raw"], peak["raw"] = run(RAW[name].format(p=p) + REPORT)
            timings["raw"].append(t)
            timings["floor"].append(run("pass")[0])
        best = {k: min(v) for k, v in timings.items()}
        results[name] = {"best": best, "imported": imported, "size": path.stat().st_size, "peak_rss": peak}
        rows.append([name, f"{path.stat().st_size / 1e3:.0f} kB", f"{best['info']:.2f} s", f"{best['raw']:.2f} s",
                     f"{best['info'] / best['raw']:.2f}×", f"{best['floor']:.2f} s",
                     f"{peak['info'] >> 20} / {peak['raw'] >> 20} MiB", imported["info"] or "[]"])
    print_table(f"modelpack info in a fresh process, fastest of {rounds} (interleaved)",
                ["format", "size", "modelpack info", "raw reader", "÷ raw", "python floor",
                 "peak RSS info / raw", "model libraries imported by info"], rows)
    save_results("info", results)


if __name__ == "__main__":
    main()
