"""Pickle every estimator with an older scikit-learn, then score the pickles with modelpack here.

    /path/to/old-venv/bin/python tools/foreign/sweep_old_pickles.py write OUT/1.5.2
    python tools/foreign/sweep_old_pickles.py score OUT/*

``write`` needs only scikit-learn, numpy and pandas, so it runs on versions years apart: it fits
every estimator of ``sklearn.utils.all_estimators()`` that fits with its defaults (classifiers on
iris, three classes and two; regressors on a regression; the rest unsupervised), plus DataFrame
pipelines with missing numbers and text, and writes each pickle beside its rows and what that
version predicted. ``score`` loads each with modelpack and compares predict, predict_proba and
transform: OK (exactly what the writing version gave, to 1e-7), DIFF (an answer that differs: the
outcome modelpack must never give), FAIL (a one-line error at predict), REFUSED (a one-line error at
load). docs/foreign-files.md records what it found; the rules it led to are in
modelpack/formats/_sklearn_versions.py.
"""

from __future__ import annotations

import glob
import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np

# meta-estimators that need arguments, and text or dict inputs: not fittable with their defaults
SKIP = {"ClassifierChain", "RegressorChain", "MultiOutputClassifier", "MultiOutputRegressor", "OneVsOneClassifier",
        "OneVsRestClassifier", "OutputCodeClassifier", "SelfTrainingClassifier", "SelectFromModel", "RFE", "RFECV",
        "SequentialFeatureSelector", "StackingClassifier", "StackingRegressor", "VotingClassifier", "VotingRegressor",
        "ColumnTransformer", "FeatureUnion", "Pipeline", "GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV",
        "HalvingRandomSearchCV", "FixedThresholdClassifier", "TunedThresholdClassifierCV", "FrozenEstimator",
        "TransformedTargetRegressor", "SparseCoder", "DictVectorizer", "FeatureHasher", "HashingVectorizer",
        "CountVectorizer", "TfidfVectorizer", "TfidfTransformer", "LabelBinarizer", "LabelEncoder",
        "MultiLabelBinarizer", "IsotonicRegression", "MultiTaskElasticNet", "MultiTaskElasticNetCV", "MultiTaskLasso",
        "MultiTaskLassoCV", "CCA", "PLSCanonical", "PLSRegression", "PLSSVD", "KernelCenterer"}
METHODS = ("predict", "predict_proba", "transform")


def _estimators():
    from sklearn.base import is_classifier, is_regressor
    from sklearn.datasets import load_iris, make_regression
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401  listed once enabled
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.utils import all_estimators

    X, y = load_iris(return_X_y=True)
    positive = MinMaxScaler().fit_transform(X)
    Xr, yr = make_regression(120, 4, random_state=0)
    for name, cls in all_estimators():
        if name in SKIP:
            continue
        try:
            made = cls()
        except Exception:  # needs arguments
            continue
        # is_classifier and is_regressor in every version; _estimator_type went with 1.8's tags
        kind = "classifier" if is_classifier(made) else "regressor" if is_regressor(made) else None
        Xc = positive if "NB" in name else X
        cases = {"classifier": [("", Xc, y), ("-bin", Xc, (y == 1).astype(int))],
                 "regressor": [("", Xr, yr)]}.get(kind, [("", positive, None)])
        for suffix, features, target in cases:
            yield f"{name}{suffix}", cls, features, target


def _pipelines():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
    from write_old_pickles import mixed_frame  # beside this script: the corpus's DataFrame

    frame, target = mixed_frame()

    def columns(remainder="passthrough", encoder=None):
        return ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  encoder or OneHotEncoder(handle_unknown="ignore")), ["city", "plan"]),
        ], remainder=remainder)

    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    yield "frame-logreg", make_pipeline(columns(), LogisticRegression(max_iter=1000)), frame, target
    yield "frame-forest", make_pipeline(columns("drop"), RandomForestClassifier(20, random_state=0)), frame, target
    yield "frame-hgb", make_pipeline(columns(encoder=ordinal), HistGradientBoostingClassifier(max_iter=20)), frame, target
    yield "frame-minmax", make_pipeline(columns(), MinMaxScaler(), LogisticRegression(max_iter=1000)), frame, target


def write(out: Path) -> None:
    import sklearn

    out.mkdir(parents=True, exist_ok=True)
    written = 0
    cases = [(n, c(), x, t) for n, c, x, t in _estimators()] + list(_pipelines())
    for name, estimator, features, target in cases:
        try:
            if "random_state" in estimator.get_params():
                estimator.set_params(random_state=0)
            estimator.fit(features, target) if target is not None else estimator.fit(features)
        except Exception:  # does not fit with its defaults on this data
            continue
        rows = features.iloc[::15] if hasattr(features, "iloc") else features[::9]
        expected = {}
        for method in METHODS:
            if hasattr(estimator, method):
                try:
                    result = getattr(estimator, method)(rows)
                except Exception:
                    continue
                result = np.asarray(result.toarray() if hasattr(result, "toarray") else result)
                expected[method] = result.tolist() if result.dtype.kind in "biuf" else result.astype(str).tolist()
        if not expected:
            continue
        (out / f"{name}.pkl").write_bytes(pickle.dumps(estimator, protocol=4))
        (out / f"{name}.rows.pkl").write_bytes(pickle.dumps(rows, protocol=4))
        (out / f"{name}.expected.json").write_text(json.dumps(expected))
        written += 1
    print(f"scikit-learn {sklearn.__version__}: {written} pickles in {out}")


def score(folders: list[Path]) -> dict[str, int]:
    import modelpack
    from modelpack.errors import ModelpackError

    counts: dict[str, int] = {}
    for folder in folders:
        for path in sorted(glob.glob(str(folder / "*.pkl"))):
            if path.endswith(".rows.pkl"):
                continue
            stem = path[: -len(".pkl")]
            rows = pickle.loads(Path(stem + ".rows.pkl").read_bytes())  # written by the sweep itself
            expected = json.loads(Path(stem + ".expected.json").read_text())
            try:
                model = modelpack.load(path)
            except ModelpackError as exc:
                outcome, said = "REFUSED", str(exc)
            else:
                outcome, said = _compare(model, rows, expected)
            counts[outcome] = counts.get(outcome, 0) + 1
            print(f"{outcome:8} {folder.name}/{Path(path).name}  {said[:200]}")
    print(json.dumps(counts))
    return counts


def _compare(model, rows, expected) -> tuple[str, str]:
    from modelpack.errors import ModelpackError

    problems = []
    for method in METHODS:
        if method not in expected:
            continue
        if not hasattr(model, method):
            if method in getattr(model, "withheld", {}):
                continue  # not offered, and said why: not an answer that differs
            problems.append(f"{method}: missing")
            continue
        try:
            got = np.asarray(getattr(model, method)(rows))
        except ModelpackError as exc:
            problems.append(f"{method}: {exc}")
            continue
        want = np.asarray(expected[method])
        if got.shape != want.shape or not _equal(got, want):
            return "DIFF", f"{method} differs from what the writing version gave"
    return ("FAIL", "; ".join(problems)) if problems else ("OK", "")


def _equal(got, want) -> bool:
    try:
        return bool(np.allclose(got.astype(float), want.astype(float), rtol=1e-7, atol=1e-9, equal_nan=True))
    except (TypeError, ValueError):
        return [str(v) for v in got.ravel()] == [str(v) for v in want.ravel()]


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        write(Path(sys.argv[2]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "score":
        found = score([Path(p) for p in sys.argv[2:]])
        sys.exit(1 if found.get("DIFF") else 0)
    else:
        sys.exit(__doc__)
