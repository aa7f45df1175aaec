"""PMML: modelpack's batch predict beside jpmml_evaluator's own evaluateAll, and what speeds it up.

    python benchmarks/bench_pmml.py

A 100-tree random forest on 20 features, 10k rows, one process (the JVM starts once). Then, in fresh
processes, the first load and first predict: modelpack reading the XML (its cache off, as for a
document never loaded before), modelpack with the document's cache entry in place (loaded before, in
any process), and a bare jpmml_evaluator script; for the forest and for a small logistic regression.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
from _bench import best_of, compile_modelpack, fmt_seconds, print_table, save_results  # noqa: E402

import modelpack  # noqa: E402

FRESH_MODELPACK = """
import sys, time
import modelpack
t = time.perf_counter(); model = modelpack.load(sys.argv[1]); load = time.perf_counter() - t
import numpy as np
row = np.zeros((1, 20))
t = time.perf_counter(); model.predict(row); print(load, time.perf_counter() - t)
"""

FRESH_JPMML = """
import sys, time
from jpmml_evaluator import make_evaluator
t = time.perf_counter(); evaluator = make_evaluator(sys.argv[1]).verify(); load = time.perf_counter() - t
t = time.perf_counter(); evaluator.evaluate({f"x{i + 1}": 0.0 for i in range(20)}); print(load, time.perf_counter() - t)
"""


def first_use(path: Path, cache: Path, rounds: int = 5) -> dict[str, tuple[float, float]]:
    """Fastest (first load, first one-row predict) in a fresh process: modelpack from the XML, modelpack
    from its cache entry, and raw jpmml_evaluator, alternating."""
    env = {**os.environ, "MODELPACK_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-c", FRESH_MODELPACK, str(path)], env=env, capture_output=True, check=True)  # the entry
    runs = (("modelpack, from the XML (cache off)", FRESH_MODELPACK, {**env, "MODELPACK_NO_CACHE": "1"}),
            ("modelpack, document loaded before (cache entry)", FRESH_MODELPACK, env),
            ("jpmml_evaluator alone", FRESH_JPMML, env))
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for name, code, variables in runs:
            out = subprocess.run([sys.executable, "-c", code, str(path)], env=variables, capture_output=True, text=True,
                                 check=True).stdout
            load, predict = map(float, out.strip().splitlines()[-1].split())
            if name not in best or load + predict < sum(best[name]):
                best[name] = (load, predict)
    return best


def main() -> None:
    compile_modelpack()  # fresh processes start as from an install, not recompiling edited modules
    X, y = make_classification(20_000, 20, random_state=0)
    forest = RandomForestClassifier(100, max_depth=12, random_state=0, n_jobs=1).fit(X, y)
    frame = pd.DataFrame(X[:10_000], columns=[f"x{i + 1}" for i in range(20)])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MODELPACK_CACHE_DIR"] = str(Path(tmp) / "cache")  # nothing left in the user's cache
        path = Path(tmp) / "forest.pmml"
        start = time.perf_counter()
        modelpack.save(forest, path, sample=X[:100])
        export = time.perf_counter() - start
        onnx_path = Path(tmp) / "forest.onnx"
        modelpack.save(forest, onnx_path, sample=X[:100], precision="double")
        logistic = Path(tmp) / "logistic.pmml"
        modelpack.save(LogisticRegression(max_iter=1000).fit(X, y), logistic, sample=X[:100])
        first = {"forest (13 MB)": first_use(path, Path(tmp) / "cache"),
                 "logistic regression": first_use(logistic, Path(tmp) / "cache")}

        model = modelpack.load(path)
        raw = model.native  # the jpmml_evaluator Evaluator modelpack built
        transpiled = modelpack.load(path, transpile=True)
        onnx_model = modelpack.load(onnx_path)
        results = {
            "export_seconds": export,
            "first_use_in_fresh_process": first,
            "raw_evaluateAll": best_of(lambda: raw.evaluateAll(frame), repeat=5),
            "raw_evaluateAll_parallelism_1": best_of(lambda: raw.evaluateAll(frame, parallelism=1), repeat=5),
            "modelpack_predict": best_of(lambda: model.predict(frame), repeat=5),
            "modelpack_predict_array": best_of(lambda: model.predict(X[:10_000]), repeat=5),
            "modelpack_predict_transpiled": best_of(lambda: transpiled.predict(frame), repeat=5),
            "onnx_double_predict": best_of(lambda: onnx_model.predict(X[:10_000]), repeat=5),
        }
        assert (model.predict(frame) == forest.predict(X[:10_000])).all()
        assert (transpiled.predict(frame) == forest.predict(X[:10_000])).all()
    r = results
    base = r["raw_evaluateAll"]
    rows = [
        ["jpmml evaluateAll (default parallelism)", fmt_seconds(base), "1.00×"],
        ["jpmml evaluateAll (parallelism=1)", fmt_seconds(r["raw_evaluateAll_parallelism_1"]), f"{r['raw_evaluateAll_parallelism_1'] / base:.2f}×"],
        ["modelpack predict (DataFrame)", fmt_seconds(r["modelpack_predict"]), f"{r['modelpack_predict'] / base:.2f}×"],
        ["modelpack predict (array)", fmt_seconds(r["modelpack_predict_array"]), f"{r['modelpack_predict_array'] / base:.2f}×"],
        ["modelpack predict (transpile=True)", fmt_seconds(r["modelpack_predict_transpiled"]), f"{r['modelpack_predict_transpiled'] / base:.2f}×"],
        ["same forest as double ONNX", fmt_seconds(r["onnx_double_predict"]), f"{r['onnx_double_predict'] / base:.3f}×"],
    ]
    print_table("10k rows, 100-tree forest", ["scorer", "time", "vs evaluateAll"], rows)
    print(f"\nexport with sklearn2pmml: {fmt_seconds(r['export_seconds'])}")
    print_table("a fresh process: the first load (JVM start included) and the first one-row predict, best of 5 alternating",
                ["document", "", "first load", "first predict"],
                [[document, name, fmt_seconds(load), fmt_seconds(predict)]
                 for document, runs in r["first_use_in_fresh_process"].items() for name, (load, predict) in runs.items()])
    save_results("pmml", results)


if __name__ == "__main__":
    main()
