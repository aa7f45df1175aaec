"""What safe loading costs: modelpack.load beside raw pickle/joblib and beside skops, its nearest peer.

    python benchmarks/bench_safe_load.py

A 100-tree forest, a 100-stage GradientBoosting model, a 100-iteration HistGradientBoosting model and
a logistic regression, each saved as a pickle (protocol 5), an uncompressed and a zlib joblib file,
and a skops file. For each: the raw library's load (which runs whatever the file names), modelpack's
default load (the restricted machine, guards, memory budget, graph check, sidecar checksum),
modelpack with trust=True (the raw library plus modelpack's own overhead), and skops' load of the
same model. Rounds are interleaved so that every ratio compares timings taken under the same machine
load.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
import time
from pathlib import Path

import joblib
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
from _bench import fmt_seconds, print_table, save_results  # noqa: E402

import modelpack  # noqa: E402

X, y = make_classification(5000, 20, random_state=0)
MODELS = {
    "forest-100": RandomForestClassifier(100, random_state=0, n_jobs=1).fit(X, y),
    "gb-100": GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y),
    "hist-gb-100": HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0).fit(X, y),
    "logistic": LogisticRegression(max_iter=1000).fit(X, y),
}


def raw_pickle_load(path: Path) -> object:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def interleaved(fns: dict[str, object], repeat: int = 15) -> dict[str, float]:
    """Fastest seconds per call of each function, one call of each per round."""
    best = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():
        fn()  # type: ignore[operator]
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for model_name, model in MODELS.items():
            skops_path = folder / f"{model_name}.skops"
            sio.dump(model, skops_path)
            trusted_types = sio.get_untrusted_types(file=skops_path)
            for kind, suffix, raw_load in (("pickle", ".pkl", raw_pickle_load), ("joblib", ".joblib", joblib.load),
                                           ("joblib zlib-3", ".joblib", joblib.load)):
                path = folder / f"{model_name}-{kind.replace(' ', '_')}{suffix}"
                modelpack.save(model, path, overwrite=True, **({"compress": 3} if "zlib" in kind else {}))
                t = interleaved({
                    "raw": lambda: raw_load(path),
                    "modelpack": lambda: modelpack.load(path),
                    "trusted": lambda: modelpack.load(path, trust=True),
                    "skops": lambda: sio.load(skops_path, trusted=trusted_types),
                    "info": lambda: modelpack.describe(path),
                })
                size = path.stat().st_size
                rows.append([model_name, kind, f"{size / 1e6:.2f} MB", fmt_seconds(t["raw"]), fmt_seconds(t["modelpack"]),
                             f"{t['modelpack'] / t['raw']:.2f}×", f"{t['trusted'] / t['raw']:.2f}×",
                             f"{t['skops'] / t['raw']:.2f}×", f"{t['modelpack'] / t['skops']:.2f}×",
                             fmt_seconds(t["info"])])
                results.append({"model": model_name, "file": kind, "bytes": size, **t})
    print_table("load: modelpack (safe) beside the raw library and skops, fastest of 15 interleaved rounds",
                ["model", "file", "size", "raw load", "modelpack", "÷ raw", "trusted ÷ raw", "skops ÷ raw",
                 "modelpack ÷ skops", "info"], rows)
    save_results("safe_load", results)


if __name__ == "__main__":
    main()
