"""`modelpack predict` on large CSVs: throughput beside the raw runtime in memory, and peak memory.

    python benchmarks/bench_predict.py [--rows 1000000]

Writes CSVs of 100k and N rows (10 numeric features), scores each with
`modelpack predict model.onnx --data X.csv -o out.csv` in a child process, and reads
the child's peak resident memory. The raw figure is onnxruntime on the same rows
already in memory (no parsing, no writing): the ceiling a streaming scorer can approach.
Also times `modelpack convert` (with its check) beside the raw skl2onnx call.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, str(Path(__file__).parent))
from _bench import best_of, fmt_seconds, print_table, save_results  # noqa: E402

import modelpack  # noqa: E402

FEATURES = 10


def measure(cmd: list[str]) -> tuple[float, float]:
    code = (
        "import resource, subprocess, sys, time, json;"
        f"t = time.perf_counter(); subprocess.run({cmd!r}, check=True, stdout=subprocess.DEVNULL);"
        "print(json.dumps([time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import json

    seconds, mib = json.loads(out)
    return seconds, mib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(20_000, FEATURES))
    y = (X_train[:, 0] + X_train[:, 1] > 0).astype(np.int64)
    forest = RandomForestClassifier(50, max_depth=10, random_state=0, n_jobs=1).fit(X_train, y)
    command = str(Path(sys.executable).parent / "modelpack")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        model_path = tmpdir / "forest.onnx"
        modelpack.save(forest, model_path, sample=X_train[:100])
        rows = []
        for n in sorted({100_000, args.rows}):
            X = rng.normal(size=(n, FEATURES))
            csv = tmpdir / f"data_{n}.csv"
            pd.DataFrame(X, columns=[f"x{i + 1}" for i in range(FEATURES)]).to_csv(csv, index=False)
            out = tmpdir / f"pred_{n}.csv"
            seconds, peak = measure([command, "predict", str(model_path), "--data", str(csv), "-o", str(out), "--force"])
            session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
            X32 = X.astype(np.float32)
            raw = best_of(lambda: session.run(["label"], {"input": X32}), repeat=3)
            from modelpack.batch import predict_file
            from modelpack.core import load_cooperative

            expected = session.run(["label"], {"input": X32})[0]
            session = None  # free its thread pool: it must not compete with the runs below
            loaded = load_cooperative(model_path)  # as `modelpack predict` loads it
            in_process = best_of(lambda: predict_file(loaded, csv, tmpdir / "inproc.csv", overwrite=True), repeat=3)
            predicted = pd.read_csv(out)["prediction"].to_numpy()
            assert (predicted == expected).all()
            results[f"rows_{n}"] = {"modelpack_seconds": seconds, "peak_mib": peak, "raw_in_memory_seconds": raw,
                                    "in_process_seconds": in_process, "csv_mib": csv.stat().st_size / 2**20}
            rows.append([f"{n:,}", f"{csv.stat().st_size / 2**20:.0f} MiB", f"{n / raw:,.0f}",
                         f"{n / seconds:,.0f} ({raw / seconds:.2f}×)", f"{n / in_process:,.0f} ({raw / in_process:.2f}×)",
                         f"{peak:.0f} MiB"])
        print_table(
            "modelpack predict (CSV in, CSV out, batches of 10k) vs raw onnxruntime on the rows in memory",
            ["rows", "CSV", "raw rows/s (in memory)", "CLI rows/s (whole process)", "predict_file rows/s (in process)",
             "CLI peak RSS"],
            rows,
        )
        src = tmpdir / "forest.joblib"
        modelpack.save(forest, src, sample=X_train[:100])

        def raw_convert() -> None:
            from skl2onnx import to_onnx

            to_onnx(forest, X_train[:1].astype(np.float32), options={id(forest): {"zipmap": False}}).SerializeToString()

        raw_seconds = best_of(raw_convert, repeat=5)
        mp_seconds = best_of(lambda: modelpack.convert(src, tmpdir / "c.onnx", overwrite=True), repeat=5)
        results["convert"] = {"raw_skl2onnx": raw_seconds, "modelpack_convert_with_check": mp_seconds}
        print_table(
            "convert forest.joblib → ONNX",
            ["raw to_onnx", "modelpack convert (load, export, validate, check)", "ratio"],
            [[fmt_seconds(raw_seconds), fmt_seconds(mp_seconds), f"{mp_seconds / raw_seconds:.2f}×"]],
        )
    save_results("predict", results)


if __name__ == "__main__":
    main()
