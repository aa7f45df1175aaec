"""Save time, load time and file size of modelpack beside the raw library, per format.

    python benchmarks/bench_formats.py

Same models, same files, same run. modelpack's save is measured twice: without a sample
(the format's work plus a sidecar) and with sample rows (which also runs the model on
20 rows to record expected outputs, the price of being able to verify every export).
"""

from __future__ import annotations

import pickle
import sys
import tempfile
from pathlib import Path

import joblib
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
from _bench import best_of, fmt_seconds, print_table, save_results  # noqa: E402

import modelpack  # noqa: E402

X, y = make_classification(5000, 20, random_state=0)
MODELS = {
    "logistic": LogisticRegression(max_iter=1000).fit(X, y),
    "forest-100": RandomForestClassifier(100, random_state=0, n_jobs=1).fit(X, y),
}


def raw_pickle(model, path):
    with open(path, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)


def raw_pickle_load(path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


RAW = {
    "pickle": (raw_pickle, raw_pickle_load),
    "joblib": (lambda m, p: joblib.dump(m, p), joblib.load),
    "skops": (lambda m, p: sio.dump(m, p), lambda p: sio.load(p, trusted=sio.get_untrusted_types(file=p))),
}


def main() -> None:
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for model_name, model in MODELS.items():
            for fmt, (raw_save, raw_load) in RAW.items():
                ext = modelpack.get_format(fmt).extensions[0]
                raw_path, mp_path = Path(tmp) / f"raw{ext}", Path(tmp) / f"mp{ext}"
                t_raw_save = best_of(lambda: raw_save(model, raw_path))
                t_mp_save = best_of(lambda: modelpack.save(model, mp_path, overwrite=True))
                t_mp_save_sample = best_of(lambda: modelpack.save(model, mp_path, sample=X, overwrite=True))
                t_raw_load = best_of(lambda: raw_load(raw_path))
                t_mp_load = best_of(lambda: modelpack.load(mp_path))
                size_raw, size_mp = raw_path.stat().st_size, mp_path.stat().st_size
                r = {
                    "model": model_name, "format": fmt,
                    "raw_save": t_raw_save, "modelpack_save": t_mp_save, "modelpack_save_sample": t_mp_save_sample,
                    "raw_load": t_raw_load, "modelpack_load": t_mp_load, "raw_size": size_raw, "modelpack_size": size_mp,
                }
                results.append(r)
                rows.append([
                    model_name, fmt,
                    fmt_seconds(t_raw_save), f"{t_mp_save / t_raw_save:.2f}×", f"{t_mp_save_sample / t_raw_save:.2f}×",
                    fmt_seconds(t_raw_load), f"{t_mp_load / t_raw_load:.2f}×",
                    f"{size_raw:,}", f"{size_mp / size_raw:.3f}×",
                ])
    print_table(
        "modelpack vs raw library (ratios: modelpack / raw; load includes the restricted unpickler)",
        ["model", "format", "raw save", "save", "save+sample", "raw load", "load", "raw bytes", "size"],
        rows,
    )
    save_results("formats", results)


if __name__ == "__main__":
    main()
