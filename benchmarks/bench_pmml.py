"""PMML: modelpack's batch predict beside jpmml_evaluator's own evaluateAll, and what speeds it up.

    python benchmarks/bench_pmml.py

A 100-tree random forest on 20 features, 10k rows, one process (the JVM starts once).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, str(Path(__file__).parent))
from _bench import best_of, fmt_seconds, print_table, save_results  # noqa: E402

import modelpack  # noqa: E402


def jvm_start_seconds(path: Path) -> float:
    code = f"import time, modelpack; t = time.perf_counter(); modelpack.load({str(path)!r}); print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    X, y = make_classification(20_000, 20, random_state=0)
    forest = RandomForestClassifier(100, max_depth=12, random_state=0, n_jobs=1).fit(X, y)
    frame = pd.DataFrame(X[:10_000], columns=[f"x{i + 1}" for i in range(20)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forest.pmml"
        start = time.perf_counter()
        modelpack.save(forest, path, sample=X[:100])
        export = time.perf_counter() - start
        onnx_path = Path(tmp) / "forest.onnx"
        modelpack.save(forest, onnx_path, sample=X[:100], precision="double")
        first_load = jvm_start_seconds(path)

        model = modelpack.load(path)
        raw = model.native  # the jpmml_evaluator Evaluator modelpack built
        transpiled = modelpack.load(path, transpile=True)
        onnx_model = modelpack.load(onnx_path)
        results = {
            "export_seconds": export,
            "first_load_in_fresh_process": first_load,
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
    print(f"\nexport with sklearn2pmml: {fmt_seconds(r['export_seconds'])}; "
          f"first PMML load in a fresh process (JVM start included): {fmt_seconds(r['first_load_in_fresh_process'])}")
    save_results("pmml", results)


if __name__ == "__main__":
    main()
