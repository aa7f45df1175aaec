"""The conformance matrix: every estimator scikit-learn ships (plus XGBoost's and LightGBM's), fitted on
small generated data, through save, load, convert to every format, and the check.

    python tools/conformance.py                # the full matrix: writes docs/conformance.md
    python tools/conformance.py --only LogisticRegression RandomForestClassifier --formats onnx pmml

Each cell is one of:

* ``ok``: converted, loaded back, and the check passed;
* ``refused``: modelpack said no, in one line (no converter for it, a format that cannot hold it);
* ``check failed``: written, but it does not predict the same (the check caught it: the reason is its
  largest difference); for a conversion that is right, this would be a false failure;
* ``error``: anything else, a traceback: a defect of modelpack's, always.

Estimators that cannot be fitted on the generated data with default parameters (they need a
particular target, a parameter grid, a kernel) are listed apart, with the reason.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modelpack  # noqa: E402
from modelpack.errors import first_line  # noqa: E402

FORMATS = ("pickle", "joblib", "skops", "onnx", "pmml")
EXTENSIONS = {"pickle": ".pkl", "joblib": ".joblib", "skops": ".skops", "onnx": ".onnx", "pmml": ".pmml"}


@dataclass
class Case:
    name: str  # the estimator's class name, with " (pipeline)" for the ColumnTransformer variant
    model: Any
    X: Any


def _data(n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(size=(n, 4)))  # non-negative: chi2-based and multinomial models take it
    y = (X[:, 0] > X[:, 1]).astype(int) + (X[:, 2] > 1)
    y_reg = X @ np.array([1.5, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=n)
    frame = pd.DataFrame({"age": rng.integers(18, 80, n), "income": rng.normal(5e4, 1.5e4, n).round(2),
                          "city": rng.choice(["Paris", "Lagos", "Zürich"], n).astype(object),
                          "route": rng.choice(["501", "502", "007"], n).astype(object)})
    return X, y, y_reg, frame


def _construct(cls: Any) -> Any:
    """The estimator with default parameters, or with a base estimator where it needs one."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    for kwargs in ({}, {"estimator": LogisticRegression()}, {"estimators": [("a", LogisticRegression()),
                                                                            ("b", LogisticRegression(C=0.5))]},
                   {"estimator": LinearRegression()}, {"estimators": [("a", LinearRegression())]},
                   {"estimator": LogisticRegression(), "param_grid": {"C": [0.5, 1.0]}, "cv": 3},
                   {"estimator": LogisticRegression(), "param_distributions": {"C": [0.5, 1.0]}, "n_iter": 2, "cv": 3}):
        try:
            return cls(**kwargs)
        except TypeError:
            continue
    raise TypeError("needs constructor arguments")


def cases(only: list[str] | None = None, pipelines: bool = True) -> tuple[list[Case], dict[str, str]]:
    """Fitted cases, and the estimators that could not be fitted with why."""
    from sklearn.base import is_classifier, is_regressor
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.utils import all_estimators

    X, y, y_reg, frame = _data()
    y_frame = np.where((frame["age"] > 45) ^ (frame["route"] == "501"), "yes", "no").astype(object)
    found, skipped = [], {}
    estimators = list(all_estimators())
    import lightgbm
    import xgboost

    estimators += [("XGBClassifier", xgboost.XGBClassifier), ("XGBRegressor", xgboost.XGBRegressor),
                   ("LGBMClassifier", lightgbm.LGBMClassifier), ("LGBMRegressor", lightgbm.LGBMRegressor)]
    for name, cls in estimators:
        if only and name not in only:
            continue
        try:
            model = _construct(cls)
            if "LGBM" in name:
                model.set_params(verbose=-1)
            target = y if is_classifier(model) else y_reg if is_regressor(model) else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, target) if target is not None else model.fit(X)
        except Exception as exc:  # an estimator that needs particular data: listed, not a cell
            skipped[name] = first_line(exc, 160)
            continue
        found.append(Case(name, model, X))
        if pipelines and (is_classifier(model) or is_regressor(model)):
            try:
                pipe = make_pipeline(ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "route"]),
                                                        ("num", StandardScaler(), ["age", "income"])]),
                                     _construct(cls).set_params(**({"verbose": -1} if "LGBM" in name else {})))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    labels = (y_frame == "yes").astype(int) if "XGB" in name else y_frame  # XGBoost wants 0..n-1
                    pipe.fit(frame, labels if is_classifier(model) else frame["income"] / 1e4)
                found.append(Case(f"{name} (pipeline)", pipe, frame))
            except Exception as exc:
                skipped[f"{name} (pipeline)"] = first_line(exc, 160)
    return found, skipped


def run_cell(case: Case, fmt: str, folder: Path) -> tuple[str, str]:
    """(status, one-line reason) of one estimator through one format; file names without the temporary folder."""
    status, reason = _run_cell(case, fmt, folder)
    return status, reason.replace(f"{folder}/", "")


def _run_cell(case: Case, fmt: str, folder: Path) -> tuple[str, str]:
    src = folder / f"src-{case.name.replace(' ', '_')}.joblib"
    dst = folder / f"dst-{case.name.replace(' ', '_')}{EXTENSIONS[fmt]}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not src.exists():
                modelpack.save(case.model, src, sample=case.X)
            result = modelpack.convert(src, dst, overwrite=True)
            if not result.passed:
                worst = [c for c in result.report.comparisons if not c.passed]
                detail = ", ".join(_why(c) for c in worst)
                return "check failed", detail
            modelpack.load(dst)
            return "ok", ""
    except modelpack.ModelpackError as exc:
        return "refused", first_line(exc, 200)
    except Exception as exc:  # a traceback where a one-line error belongs: a defect
        return "error", f"{type(exc).__name__}: {first_line(exc, 200)}"


def _why(c: Any) -> str:
    if c.missing:
        return f"{c.method}: {c.missing}"
    if c.agreement is not None:
        return f"{c.method}: {c.agreement:.0%} equal labels"
    if c.max_abs_diff is not None:
        return f"{c.method}: max diff {c.max_abs_diff:.2g}"
    problems = [r.get("problem") for r in c.worst_rows if r.get("problem")]
    return f"{c.method}: {problems[0] if problems else 'differs'}"


def matrix(found: list[Case], formats: tuple[str, ...]) -> dict[str, dict[str, tuple[str, str]]]:
    results: dict[str, dict[str, tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in found:
            results[case.name] = {fmt: run_cell(case, fmt, Path(tmp)) for fmt in formats}
    return results


def _versions() -> str:
    import lightgbm
    import onnxruntime
    import skl2onnx
    import sklearn
    import xgboost

    return (f"scikit-learn {sklearn.__version__}, XGBoost {xgboost.__version__}, LightGBM {lightgbm.__version__}, "
            f"skl2onnx {skl2onnx.__version__}, onnxruntime {onnxruntime.__version__}, modelpack {modelpack.__version__}")


def write_markdown(results: dict[str, dict[str, tuple[str, str]]], skipped: dict[str, str], formats: tuple[str, ...],
                   seconds: float, path: Path) -> None:
    symbol = {"ok": "ok", "refused": "refused", "check failed": "**check failed**", "error": "**ERROR**"}
    counts = {fmt: {s: sum(1 for r in results.values() if r[fmt][0] == s) for s in symbol} for fmt in formats}
    lines = [
        "# Conformance matrix",
        "",
        "Generated by `python tools/conformance.py` (`nox -s conformance`); do not edit by hand. Every estimator",
        "in `sklearn.utils.all_estimators()` that fits on small generated data with default parameters (a",
        "base estimator where it needs one), each classifier and regressor also inside a pipeline with a",
        "ColumnTransformer on a mixed frame (string columns such as a route `\"501\"` included), plus XGBoost and",
        "LightGBM: saved as joblib with sample rows, then `modelpack.convert` to each format with its check on",
        "the recorded rows, and the result loaded back.",
        "",
        f"Versions: {_versions()}. Ran in {seconds / 60:.0f} minutes on the project's 2-core machine.",
        "",
        "| format | ok | refused (one line, why) | check failed | error (traceback) |",
        "|---|---|---|---|---|",
        *[f"| {fmt} | {c['ok']} | {c['refused']} | {c['check failed']} | {c['error']} |" for fmt, c in counts.items()],
        "",
        f"{len(results)} cases; {len(skipped)} estimators not fitted with defaults (listed at the end).",
        "",
        "| estimator | " + " | ".join(formats) + " |",
        "|---|" + "---|" * len(formats),
    ]
    for name, row in results.items():
        lines.append(f"| {name} | " + " | ".join(symbol[row[f][0]] for f in formats) + " |")
    lines += ["", "## Why, for every cell that is not ok", ""]
    for name, row in results.items():
        for fmt in formats:
            status, reason = row[fmt]
            if status != "ok":
                lines.append(f"- {name} → {fmt}: {status}: {reason.replace('|', '/')}")
    lines += ["", "## Not fitted with default parameters on the generated data", ""]
    lines += [f"- {name}: {reason.replace('|', '/')}" for name, reason in sorted(skipped.items())]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="estimator class names")
    parser.add_argument("--formats", nargs="*", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "conformance.md")
    args = parser.parse_args()
    start = time.monotonic()
    found, skipped = cases(args.only)
    formats = tuple(args.formats)
    results = matrix(found, formats)
    write_markdown(results, skipped, formats, time.monotonic() - start, args.output)
    errors = [(n, f, r[f][1]) for n, r in results.items() for f in formats if r[f][0] == "error"]
    print(f"{len(results)} cases × {len(formats)} formats written to {args.output}; {len(errors)} errors")
    for error in errors:
        print("ERROR", *error)


if __name__ == "__main__":
    main()
