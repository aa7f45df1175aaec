"""Scoring an H2O MOJO on 100k rows: modelpack in-process beside H2O's own two ways.

    python benchmarks/bench_h2o.py [--rows 100000] [--rounds 3]

A GBM (50 trees, depth 5) on two numeric and two categorical columns, trained on a local
cluster (h2o.init), exported as a MOJO with modelpack.save. Interleaved rounds, same rows:

- modelpack: ``model.predict_proba(df)`` on the loaded MOJO (genmodel in this process's JVM);
- ``h2o.mojo_predict_pandas``: H2O's helper, which writes a CSV, starts ``java ... PredictCsv``
  with the genmodel classes and reads the result back;
- the cluster: ``H2OFrame(df)`` upload, ``model.predict``, ``as_data_frame`` download.

All three are checked to give the same probabilities before timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(18, 80, n).astype(float), "income": rng.normal(50, 10, n),
                         "region": rng.choice(["501", "502", "610", "733"], n), "plan": rng.choice(["a", "b", "c"], n)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import h2o
    from h2o.estimators import H2OGradientBoostingEstimator

    import modelpack
    from modelpack.formats.pmml._java import genmodel_classpath

    h2o.init(nthreads=2, max_mem_size="2G", verbose=False)
    h2o.no_progress()
    train = table(5000, 0)
    train["y"] = np.where((train.age > 40) & (train.plan != "a") | train.region.isin(["501"]), "yes", "no")
    frame = h2o.H2OFrame(train, column_types={"region": "enum", "plan": "enum", "y": "enum"})
    gbm = H2OGradientBoostingEstimator(ntrees=50, max_depth=5, seed=1)
    gbm.train(x=["age", "income", "region", "plan"], y="y", training_frame=frame)
    rows = table(args.rows, 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gbm.zip"
        modelpack.save(gbm, path, sample=train.drop(columns="y")[:100])
        start = time.perf_counter()
        model = modelpack.load(path)
        first_load = time.perf_counter() - start
        jar = genmodel_classpath()[-1]

        def ours() -> np.ndarray:
            return model.predict_proba(rows)

        def helper() -> np.ndarray:
            out = h2o.mojo_predict_pandas(rows, str(path), genmodel_jar_path=jar)
            return out[["no", "yes"]].to_numpy(float)

        def cluster() -> np.ndarray:
            up = h2o.H2OFrame(rows, column_types={"region": "enum", "plan": "enum"})
            out = gbm.predict(up).as_data_frame(use_pandas=True)
            h2o.remove(up)
            return out[["no", "yes"]].to_numpy(float)

        runs = {"modelpack (in-process genmodel)": ours, "h2o.mojo_predict_pandas": helper, "H2O cluster predict": cluster}
        reference = ours()
        for name, fn in runs.items():
            np.testing.assert_allclose(fn(), reference, rtol=1e-6, atol=1e-9, err_msg=name)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    h2o.cluster().shutdown()
    base = statistics.median(times["modelpack (in-process genmodel)"])
    results = [[name, f"{statistics.median(t):.2f} s", f"{args.rows / statistics.median(t):,.0f}",
                f"{statistics.median(t) / base:.2f}×"] for name, t in times.items()]
    print_table(f"{args.rows:,} rows, median of {args.rounds} interleaved rounds ({os.cpu_count()} cores)",
                ["scorer", "time", "rows/s", "time vs modelpack"], results)
    print(f"modelpack.load of the MOJO, first in the process (JVM start included): {first_load:.2f} s")
    save_results("h2o", {"rows": args.rows, "results": results, "first_load_s": first_load})


if __name__ == "__main__":
    main()
