"""`modelpack predict` on large files beside the raw runtime and the scripts a user would write by hand.

    python benchmarks/bench_predict.py [--rows 1000000] [--rounds 3]

A 50-tree forest (depth 10) on 10 numeric features, exported to ONNX. The same N rows as CSV and as
Parquet. Each of these runs in its own process, rounds interleaved, and its wall time and peak
resident memory are recorded:

* ``modelpack predict model.onnx --data X.csv -o out.csv`` (and Parquet in, Parquet out);
* the hand-written pandas script: ``pd.read_csv`` → ``session.run`` → ``to_csv``;
* the hand-written pyarrow script: ``pyarrow.csv.read_csv`` → ``session.run`` → ``pyarrow.csv.write_csv``
  (and ``pyarrow.parquet`` for Parquet).

The ceiling is onnxruntime on the same rows already in memory, in this process (no parsing, no writing,
no start-up). Also times `modelpack convert` (with its check) beside the raw skl2onnx call.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, str(Path(__file__).parent))
from _bench import best_of, compile_modelpack, fmt_seconds, print_table, save_results  # noqa: E402

import modelpack  # noqa: E402

FEATURES = 10

PANDAS_SCRIPT = """
import sys, numpy as np, onnxruntime as ort, pandas as pd
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
X = pd.read_csv(sys.argv[2]).to_numpy(dtype=np.float32)
pd.DataFrame({"prediction": session.run(["label"], {"input": X})[0]}).to_csv(sys.argv[3], index=False)
"""

PYARROW_SCRIPT = """
import sys, numpy as np, onnxruntime as ort, pyarrow as pa
import pyarrow.csv as pacsv, pyarrow.parquet as pq
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
parquet = sys.argv[2].endswith(".parquet")
table = pq.read_table(sys.argv[2]) if parquet else pacsv.read_csv(sys.argv[2])
X = np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32)
out = pa.table({"prediction": session.run(["label"], {"input": X})[0]})
pq.write_table(out, sys.argv[3]) if parquet else pacsv.write_csv(out, sys.argv[3])
"""


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``cmd`` in a child process."""
    code = (
        "import resource, subprocess, sys, time, json;"
        f"t = time.perf_counter(); subprocess.run({cmd!r}, check=True, stdout=subprocess.DEVNULL);"
        "print(json.dumps([time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seconds, mib = json.loads(out)
    return seconds, mib


def main() -> None:
    compile_modelpack()  # fresh processes start as from an install, not recompiling edited modules
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(20_000, FEATURES))
    y = (X_train[:, 0] + X_train[:, 1] > 0).astype(np.int64)
    forest = RandomForestClassifier(50, max_depth=10, random_state=0, n_jobs=1).fit(X_train, y)
    command = str(Path(sys.executable).parent / "modelpack")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "forest.onnx"
        modelpack.save(forest, model, sample=X_train[:100])
        X = rng.normal(size=(args.rows, FEATURES))
        frame = pd.DataFrame(X, columns=[f"x{i + 1}" for i in range(FEATURES)])
        csv, parquet = folder / "data.csv", folder / "data.parquet"
        frame.to_csv(csv, index=False)
        frame.to_parquet(parquet, index=False)
        (folder / "by_pandas.py").write_text(PANDAS_SCRIPT)
        (folder / "by_pyarrow.py").write_text(PYARROW_SCRIPT)
        runs = {
            "modelpack predict, CSV": [command, "predict", str(model), "--data", str(csv), "-o", str(folder / "mp.csv"), "--force"],
            "pandas script, CSV": [sys.executable, str(folder / "by_pandas.py"), str(model), str(csv), str(folder / "pd.csv")],
            "pyarrow script, CSV": [sys.executable, str(folder / "by_pyarrow.py"), str(model), str(csv), str(folder / "pa.csv")],
            "modelpack predict, Parquet": [command, "predict", str(model), "--data", str(parquet), "-o",
                                           str(folder / "mp.parquet"), "--force"],
            "pyarrow script, Parquet": [sys.executable, str(folder / "by_pyarrow.py"), str(model), str(parquet),
                                        str(folder / "pa.parquet")],
        }
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        X32 = X.astype(np.float32)
        session.run(["label"], {"input": X32[:100]})
        times: dict[str, list[float]] = {name: [] for name in [*runs, "raw"]}
        peaks: dict[str, float] = {}
        for _ in range(args.rounds):
            times["raw"].append(best_of(lambda: session.run(["label"], {"input": X32}), repeat=1))
            for name, cmd in runs.items():
                seconds, peak = measure(cmd)
                times[name].append(seconds)
                peaks[name] = max(peaks.get(name, 0.0), peak)
        expected = session.run(["label"], {"input": X32})[0]
        assert (pd.read_csv(folder / "mp.csv")["prediction"].to_numpy() == expected).all()
        assert (pd.read_parquet(folder / "mp.parquet")["prediction"].to_numpy() == expected).all()
        assert (folder / "mp.csv").read_text() == (folder / "pd.csv").read_text()  # the same bytes as pandas writes
        session = None
        raw = min(times["raw"])
        rows = [["onnxruntime, rows in memory (ceiling)", f"{args.rows / raw:,.0f}", "1.00×", "", ""]]
        for name in runs:
            best = min(times[name])
            vs = {"CSV": "pyarrow script, CSV", "Parquet": "pyarrow script, Parquet"}[name.rsplit(", ", 1)[1]]
            rows.append([name, f"{args.rows / best:,.0f}", f"{raw / best:.2f}×", f"{min(times[vs]) / best:.2f}×",
                         f"{peaks[name]:.0f} MiB"])
        print_table(f"{args.rows:,} rows, whole processes (start-up included), best of {args.rounds} interleaved rounds",
                    ["run", "rows/s", "÷ ceiling", "÷ pyarrow script (speed)", "peak RSS"], rows)
        results["predict"] = {"rows": args.rows, "seconds": times, "peak_mib": peaks}

        src = folder / "forest.joblib"
        modelpack.save(forest, src, sample=X_train[:100])

        def raw_convert() -> None:
            from skl2onnx import to_onnx

            to_onnx(forest, X_train[:1].astype(np.float32), options={id(forest): {"zipmap": False}}).SerializeToString()

        raw_seconds = best_of(raw_convert, repeat=5)
        mp_seconds = best_of(lambda: modelpack.convert(src, folder / "c.onnx", overwrite=True), repeat=5)
        results["convert"] = {"raw_skl2onnx": raw_seconds, "modelpack_convert_with_check": mp_seconds}
        print_table(
            "convert forest.joblib → ONNX",
            ["raw to_onnx", "modelpack convert (load, export, validate, check)", "ratio"],
            [[fmt_seconds(raw_seconds), fmt_seconds(mp_seconds), f"{mp_seconds / raw_seconds:.2f}×"]],
        )
    save_results("predict", results)


if __name__ == "__main__":
    main()
