"""Scoring a large Parquet input here, on Spark and on Dask, beside a hand-written pandas UDF.

    python benchmarks/bench_scale.py --rows 10000000

A 20-feature gradient-boosting classifier exported to ONNX scores N rows of Parquet (split
into files of 500,000 rows). Measured, each writing Parquet to a fresh folder:

- ``modelpack predict`` on one machine (one process, batches of 100,000);
- ``modelpack predict --engine spark`` with ``local[1]`` and ``local[2]``;
- ``modelpack predict --engine dask`` with 1 and 2 worker processes;
- the ceiling: a hand-written Spark pandas UDF calling onnxruntime directly on ``local[2]``,
  the code a user would write without modelpack (no typing, no checks).

Rows per second over the whole command (start-up included, which is what a nightly job
pays), and the peak resident memory of the busiest worker process (psutil, sampled).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402

import modelpack  # noqa: E402

FEATURES = [f"f{i}" for i in range(20)]
HAND_WRITTEN = r"""
import sys, numpy as np, onnxruntime as ort, pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql.functions import pandas_udf
model, data, out = sys.argv[1:4]
spark = SparkSession.builder.master("local[2]").config("spark.log.level", "OFF").getOrCreate()
raw = open(model, "rb").read()
session = None
@pandas_udf("string")
def score(*columns: pd.Series) -> pd.Series:
    global session
    if session is None:
        session = ort.InferenceSession(raw, providers=["CPUExecutionProvider"])
    X = np.column_stack([c.to_numpy(np.float32) for c in columns])
    return pd.Series(session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: X})[0]).astype(str)
frame = spark.read.parquet(data)
frame.select("*", score(*[frame[c] for c in frame.columns]).alias("prediction")).write.parquet(out)
spark.stop()
"""


def make_data(folder: Path, rows: int) -> tuple[Path, Path]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(20_000, 20)).astype(np.float32), columns=FEATURES)
    y = np.where(X.f0 + X.f1 * X.f2 > 0, "yes", "no")
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X, y)
    modelpack.save(model, folder / "m.joblib", sample=X[:50])
    assert modelpack.convert(folder / "m.joblib", folder / "m.onnx", data=X).passed
    data = folder / "data"
    data.mkdir()
    for start in range(0, rows, 500_000):
        n = min(500_000, rows - start)
        chunk = pd.DataFrame(rng.normal(size=(n, 20)).astype(np.float32), columns=FEATURES)
        chunk.to_parquet(data / f"part-{start // 500_000:04d}.parquet", index=False)
    return folder / "m.onnx", data


def run(command: list[str]) -> tuple[float, float]:
    """Seconds, and the peak RSS (MB) of the biggest process in the command's tree."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                rss = [p.memory_info().rss for p in [parent, *parent.children(recursive=True)]]
                peak[0] = max(peak[0], max(rss) / 1e6)
            except psutil.Error:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, err = process.communicate()
    done.set()
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} failed: {err[-2000:]}")
    return elapsed, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, data = make_data(folder, args.rows)
        one_file = folder / "all.parquet"
        pd.concat(pd.read_parquet(p) for p in sorted(data.iterdir())).to_parquet(one_file, index=False)
        cli = [sys.executable, "-m", "modelpack", "predict", str(model)]
        runs = {
            "local predict": cli + ["--data", str(one_file), "-o", str(folder / "local.parquet"),
                                    "--batch-size", "100000"],
            "spark local[1]": cli + ["--data", str(data), "-o", str(folder / "s1"), "--engine", "spark",
                                     "--master", "local[1]"],
            "spark local[2]": cli + ["--data", str(data), "-o", str(folder / "s2"), "--engine", "spark",
                                     "--master", "local[2]"],
            "dask 1 worker": cli + ["--data", str(data / "*.parquet"), "-o", str(folder / "d1"), "--engine", "dask",
                                    "--workers", "1"],
            "dask 2 workers": cli + ["--data", str(data / "*.parquet"), "-o", str(folder / "d2"), "--engine", "dask",
                                     "--workers", "2"],
            "hand-written pandas UDF, spark local[2]": [sys.executable, "-c", HAND_WRITTEN, str(model), str(data),
                                                        str(folder / "h2")],
        }
        results = {}
        for name, command in runs.items():
            seconds, peak = run(command)
            results[name] = {"seconds": seconds, "rows_per_s": args.rows / seconds, "peak_mb": peak}
            print(f"{name}: {seconds:.1f} s", flush=True)
    ceiling = results["hand-written pandas UDF, spark local[2]"]["rows_per_s"]
    rows = [[name, f"{r['seconds']:.1f} s", f"{r['rows_per_s'] / 1e3:,.0f} k", f"{r['rows_per_s'] / ceiling:.2f}×",
             f"{r['peak_mb']:,.0f} MB"] for name, r in results.items()]
    print_table(f"{args.rows:,} rows, 20 features, ONNX gradient boosting; whole command, start-up included",
                ["run", "time", "rows/s", "÷ hand-written UDF", "peak RSS of one process"], rows)
    save_results("scale", {"rows": args.rows, "results": results})


if __name__ == "__main__":
    main()
