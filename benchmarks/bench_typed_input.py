"""What typing inputs by the model costs `modelpack predict`: this checkout beside another revision.

    python benchmarks/bench_typed_input.py --base bdcb313 [--rows 1000000]

Writes a CSV of N rows with two string columns (a city, and a route whose values look like numbers)
and two numeric ones, saves a ColumnTransformer + logistic regression pipeline as ONNX, and times
`modelpack predict model.onnx --data rows.csv -o out.csv` as a whole process, alternating between
this checkout and the revision ``--base`` (checked out with `git worktree` into a temporary folder
and put first on PYTHONPATH), fastest of five rounds each. Also reports the share of predictions
equal to scikit-learn's on the same rows (how much a mis-typed column costs depends on the model).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402

import modelpack  # noqa: E402


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"city": rng.choice(["Paris", "Lagos", "Zürich"], n).astype(object),
                         "route": rng.choice(["501", "502", "007", "12"], n).astype(object),
                         "age": rng.integers(18, 80, n), "income": rng.normal(5e4, 1.5e4, n).round(2)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the revision to compare with")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = frame(2000)
    labels = np.where(train.route.isin(["501", "007"]) | (train.age > 70), "late", "ok")
    pipe = make_pipeline(ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["city", "route"]),
                                            ("n", StandardScaler(), ["age", "income"])]), LogisticRegression()).fit(train, labels)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "model.onnx"
        modelpack.save(pipe, model, sample=train, precision="double")
        rows = frame(args.rows, seed=1)
        csv = folder / "rows.csv"
        rows.to_csv(csv, index=False)
        truth = pipe.predict(rows)
        base = folder / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True,
                       capture_output=True)
        try:
            sides = {"this checkout": {}, f"base {args.base}": {"PYTHONPATH": str(base)}}
            best = dict.fromkeys(sides, float("inf"))
            right = {}
            for _ in range(5):
                for name, env in sides.items():
                    out = folder / "out.csv"
                    start = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "modelpack", "predict", str(model), "--data", str(csv), "-o",
                                    str(out), "--force"], check=True, env={**os.environ, **env}, capture_output=True)
                    best[name] = min(best[name], time.perf_counter() - start)
                    right[name] = float(np.mean(pd.read_csv(out).iloc[:, 0].to_numpy() == truth))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=True)
    mine = best["this checkout"]
    print_table(f"modelpack predict, {args.rows:,} mixed rows (2 string, 2 numeric columns), ONNX; fastest of 5",
                ["code", "seconds", "rows/s", "÷ this checkout", "equal to scikit-learn"],
                [[name, f"{t:.2f}", f"{args.rows / t:,.0f}", f"{t / mine:.2f}×", f"{right[name]:.1%}"] for name, t in best.items()])
    save_results("typed_input", {"rows": args.rows, "seconds": best, "right": right})


if __name__ == "__main__":
    main()
