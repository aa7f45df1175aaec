"""ONNX: modelpack's Model.predict beside raw onnxruntime, and beside scikit-learn.

    python benchmarks/bench_onnx.py

A 100-tree random forest on 20 features. Same model file, same rows, same run. Also one row of a
mixed DataFrame through bench_serve.py's ColumnTransformer + forest, a cold `modelpack predict`, and a
cold `modelpack.load` of a file modelpack did not write (plain skl2onnx) beside onnxruntime opening it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, str(Path(__file__).parent))
from _bench import best_of, compile_modelpack, fmt_seconds, paired, print_table, save_results  # noqa: E402
from bench_serve import served_model  # noqa: E402

import modelpack  # noqa: E402


def cold_pair(a: list[str], b: list[str], runs: int = 9) -> tuple[float, float]:
    """Median wall time of each command in a fresh process, the two alternating."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for cmd, out in ((a, times[0]), (b, times[1])):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    compile_modelpack()  # fresh processes start as from an install, not recompiling edited modules
    X, y = make_classification(20_000, 20, random_state=0)
    forest = RandomForestClassifier(100, max_depth=12, random_state=0, n_jobs=1).fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forest.onnx"
        modelpack.save(forest, path, sample=X[:100])
        model = modelpack.load(path)
        raw = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = raw.get_inputs()[0].name
        one64, one32 = X[:1], X[:1].astype(np.float32)
        batch64, batch32 = X[:10_000], X[:10_000].astype(np.float32)
        results: dict[str, float] = {}
        results["raw_single"], results["modelpack_single_f32"] = paired(
            lambda: raw.run(["label"], {name: one32}), lambda: model.predict(one32), number=1000)
        results["raw_single_with_cast"], results["modelpack_single_f64"] = paired(
            lambda: raw.run(["label"], {name: one64.astype(np.float32)}), lambda: model.predict(one64), number=1000)
        results["raw_batch"], results["modelpack_batch_f32"] = paired(
            lambda: raw.run(["label"], {name: batch32}), lambda: model.predict(batch32), repeat=15)
        results["raw_batch_with_cast"], results["modelpack_batch_f64"] = paired(
            lambda: raw.run(["label"], {name: batch64.astype(np.float32)}), lambda: model.predict(batch64), repeat=15)
        # One row of a mixed DataFrame (bench_serve's ColumnTransformer + forest): raw onnxruntime fed
        # from the same DataFrame, one array per input, beside Model.predict(DataFrame).
        X_mixed, pipeline, _ = served_model()
        mixed_path = Path(tmp) / "mixed.onnx"
        modelpack.save(pipeline, mixed_path, sample=X_mixed.head(100))
        mixed, mixed_raw = modelpack.load(mixed_path), ort.InferenceSession(str(mixed_path), providers=["CPUExecutionProvider"])
        kinds = {"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(string)": object}
        inputs = [(i.name, kinds[i.type]) for i in mixed_raw.get_inputs()]
        row = X_mixed.iloc[:1]
        results["raw_frame_row"], results["modelpack_frame_row"] = paired(
            lambda: mixed_raw.run(["label"], {n: row[n].to_numpy().astype(d).reshape(-1, 1) for n, d in inputs}),
            lambda: mixed.predict(row), number=500)
        # Opening the file in a warm process: modelpack.load (sniffing, metadata, the external-data
        # check of every tensor location, the session) beside onnxruntime's session alone.
        results["raw_open"], results["modelpack_load"] = paired(
            lambda: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), lambda: modelpack.load(path),
            number=1, repeat=9)
        from modelpack.formats.onnx._external import check_external_data

        results["external_data_check"] = best_of(lambda: check_external_data(path), number=1, repeat=9)
        results["sklearn_single"] = best_of(lambda: forest.predict(one64), number=20)
        results["sklearn_batch"] = best_of(lambda: forest.predict(batch64), number=1, repeat=5)
        one_csv = Path(tmp) / "one.csv"
        one_csv.write_text(",".join(f"x{i + 1}" for i in range(20)) + "\n" + ",".join(map(str, X[0])) + "\n")
        bare = (
            "import numpy as np, onnxruntime as ort;"
            f"s = ort.InferenceSession({str(path)!r}, providers=['CPUExecutionProvider']);"
            f"print(s.run(['label'], {{s.get_inputs()[0].name: np.loadtxt({str(one_csv)!r}, delimiter=',', skiprows=1, dtype=np.float32).reshape(1, -1)}})[0])"
        )
        results["cold_bare_onnxruntime"], results["cold_modelpack_predict"] = cold_pair(
            [sys.executable, "-c", bare],
            [str(Path(sys.executable).parent / "modelpack"), "predict", str(path), "--data", str(one_csv)])
        # A file modelpack did not write (plain skl2onnx, no metadata): loading it reads the graph's
        # labels and inputs from the protobuf, beside onnxruntime opening the same file.
        from skl2onnx import to_onnx

        plain = Path(tmp) / "plain.onnx"
        plain.write_bytes(to_onnx(forest, X[:1].astype(np.float32)).SerializeToString())
        results["cold_raw_session"], results["cold_modelpack_load"] = cold_pair(
            [sys.executable, "-c", f"import onnxruntime as ort; ort.InferenceSession({str(plain)!r}, "
                                   "providers=['CPUExecutionProvider'])"],
            [sys.executable, "-c", f"import modelpack; modelpack.load({str(plain)!r})"])
    r = results
    rows = [
        ["1 row, float32 in", fmt_seconds(r["raw_single"]), fmt_seconds(r["modelpack_single_f32"]), f"{r['modelpack_single_f32'] / r['raw_single']:.2f}×"],
        ["1 row, float64 in (cast)", fmt_seconds(r["raw_single_with_cast"]), fmt_seconds(r["modelpack_single_f64"]), f"{r['modelpack_single_f64'] / r['raw_single_with_cast']:.2f}×"],
        ["10k rows, float32 in", fmt_seconds(r["raw_batch"]), fmt_seconds(r["modelpack_batch_f32"]), f"{r['modelpack_batch_f32'] / r['raw_batch']:.3f}×"],
        ["10k rows, float64 in (cast)", fmt_seconds(r["raw_batch_with_cast"]), fmt_seconds(r["modelpack_batch_f64"]), f"{r['modelpack_batch_f64'] / r['raw_batch_with_cast']:.3f}×"],
        ["1 row of a mixed DataFrame", fmt_seconds(r["raw_frame_row"]), fmt_seconds(r["modelpack_frame_row"]), f"{r['modelpack_frame_row'] / r['raw_frame_row']:.2f}×"],
        ["open the file (warm process)", fmt_seconds(r["raw_open"]), fmt_seconds(r["modelpack_load"]), f"{r['modelpack_load'] / r['raw_open']:.2f}×"],
        [" of which the external-data check", "", fmt_seconds(r["external_data_check"]), f"{r['external_data_check'] / r['raw_open']:.3f}×"],
        ["cold process, 1 row from CSV", fmt_seconds(r["cold_bare_onnxruntime"]), fmt_seconds(r["cold_modelpack_predict"]), f"{r['cold_modelpack_predict'] / r['cold_bare_onnxruntime']:.2f}×"],
        ["cold process, load a plain skl2onnx file", fmt_seconds(r["cold_raw_session"]), fmt_seconds(r["cold_modelpack_load"]), f"{r['cold_modelpack_load'] / r['cold_raw_session']:.2f}×"],
    ]
    print_table("Model.predict vs raw InferenceSession.run (100-tree forest)", ["case", "raw onnxruntime", "modelpack", "ratio"], rows)
    print_table(
        "beside scikit-learn's own predict",
        ["case", "scikit-learn", "modelpack (onnx)", "speed-up"],
        [
            ["1 row", fmt_seconds(r["sklearn_single"]), fmt_seconds(r["modelpack_single_f64"]), f"{r['sklearn_single'] / r['modelpack_single_f64']:.0f}×"],
            ["10k rows", fmt_seconds(r["sklearn_batch"]), fmt_seconds(r["modelpack_batch_f64"]), f"{r['sklearn_batch'] / r['modelpack_batch_f64']:.1f}×"],
        ],
    )
    save_results("onnx", results)


if __name__ == "__main__":
    main()
