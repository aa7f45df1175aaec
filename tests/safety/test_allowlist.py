"""The allowlist admits what real fitted models contain, exactly, and no more."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse

import modelpack
from modelpack.safety import untrusted_globals
from modelpack.safety._allowlist import HAND_WRITTEN
from modelpack.safety._generated import PLAIN_CLASSES


def test_every_estimator_scikit_learn_ships_is_admitted():
    """Regenerate with tools/generate_allowlist.py when a scikit-learn upgrade makes this fail."""
    from sklearn.utils import all_estimators

    names = [f"{cls.__module__}.{cls.__qualname__}" for _, cls in all_estimators()]
    assert untrusted_globals(names) == []


def test_entries_are_exact_names_not_modules():
    for _module, name in HAND_WRITTEN:
        assert name and "*" not in name and not name.endswith(".")
    assert all(":" in entry and entry.split(":")[1] for entry in PLAIN_CLASSES)
    # what attribute walking used to reach is not there, however it is spelled
    assert untrusted_globals(["sklearn._loss.loss.np.f2py.subprocess.Popen", "numpy.load", "builtins.eval",
                              "builtins.getattr", "operator.attrgetter", "joblib.numpy_pickle_compat.NDArrayWrapper"]) \
        == ["sklearn._loss.loss.np.f2py.subprocess.Popen", "numpy.load", "builtins.eval", "builtins.getattr",
            "operator.attrgetter", "joblib.numpy_pickle_compat.NDArrayWrapper"]


def _fitted():
    import lightgbm
    import xgboost
    from sklearn.ensemble import (
        BaggingClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    Xc = X.copy()
    Xc[:, 4] = rng.integers(0, 6, 200)
    y3 = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    y2 = (X[:, 0] > 0).astype(int)
    sparse = scipy.sparse.csr_matrix(np.where(X > 0.5, X, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "mlp_classifier": (MLPClassifier(max_iter=30, random_state=0).fit(X, y3), X),
            "mlp_regressor": (MLPRegressor(max_iter=30, random_state=0).fit(X, X[:, 0]), X),
            "hgb_multiclass": (HistGradientBoostingClassifier(max_iter=5).fit(X, y3), X),
            "hgb_binary_categorical": (HistGradientBoostingClassifier(max_iter=5, categorical_features=[4]).fit(Xc, y2), Xc),
            "gb_multiclass": (GradientBoostingClassifier(n_estimators=5).fit(X, y3), X),
            "grid_search": (GridSearchCV(LogisticRegression(), {"C": [0.1, 1]}, cv=3).fit(X, y3), X),
            "knn_kd_tree": (KNeighborsClassifier(algorithm="kd_tree").fit(X, y3), X),
            "knn_ball_tree": (KNeighborsClassifier(algorithm="ball_tree").fit(X, y3), X),
            "bagging_subsets": (BaggingClassifier(max_features=0.6, n_estimators=4, random_state=0).fit(X, y3), X),
            "isolation_forest": (IsolationForest(n_estimators=5, random_state=0).fit(X), X),
            "forest_regressor": (RandomForestRegressor(10, random_state=0).fit(X, X[:, 1]), X),
            "sgd": (SGDClassifier(random_state=0).fit(X, y3), X),
            "svc_sparse": (SVC().fit(sparse, y3), sparse),  # support vectors and dual coefficients as CSR
            "xgboost": (xgboost.XGBClassifier(n_estimators=3).fit(X, y3), X),
            "lightgbm": (lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y3), X),
        }


FITTED = _fitted()


@pytest.mark.parametrize("name", sorted(FITTED))
@pytest.mark.parametrize("writer", ["pickle-0", "pickle-2", "pickle-5", "joblib", "joblib-zlib"])
def test_real_models_load_without_trust_and_predict_the_same(tmp_path, name, writer):
    model, X = FITTED[name]
    path = tmp_path / ("m.pkl" if writer.startswith("pickle") else "m.joblib")
    if writer.startswith("pickle"):
        path.write_bytes(pickle.dumps(model, protocol=int(writer[-1])))
    else:
        joblib.dump(model, path, compress=3 if writer.endswith("zlib") else 0)
    loaded = modelpack.load(path).native
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    audit = modelpack.describe(path)
    assert audit.untrusted == [] and audit.audited and audit.model_type.endswith(type(model).__name__)


def test_a_trust_list_admits_exactly_the_named_globals(tmp_path):
    import collections

    payload = io.BytesIO()
    pickle.dump(collections.Counter("ab"), payload, protocol=4)
    path = tmp_path / "m.pkl"
    path.write_bytes(payload.getvalue())
    with pytest.raises(modelpack.UntrustedContentError, match="collections.Counter"):
        modelpack.load(path)
    with pytest.raises(modelpack.UnsupportedModelError, match="not a model"):  # admitted, loaded, not a model
        modelpack.load(path, trust=["collections.Counter"])


def _every_estimator():
    """Each estimator scikit-learn lists (the experimental ones enabled) that fits with its defaults on
    iris (classifiers on three classes and on two), a regression or, unsupervised, on iris scaled."""
    from sklearn.base import is_classifier, is_regressor
    from sklearn.datasets import load_iris, make_regression
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.utils import all_estimators

    X, y = load_iris(return_X_y=True)
    positive = MinMaxScaler().fit_transform(X)
    Xr, yr = make_regression(120, 4, random_state=0)
    for name, cls in all_estimators():
        try:
            estimator = cls()
            classifier, regressor = is_classifier(estimator), is_regressor(estimator)
        except (TypeError, AttributeError):  # a meta-estimator: it needs an estimator
            continue
        if classifier:
            cases = [("", positive if "NB" in name else X, y), ("-binary", positive if "NB" in name else X, y == 1)]
        elif regressor:
            cases = [("", Xr, yr)]
        else:
            cases = [("", positive, None)]
        for suffix, features, target in cases:
            estimator = cls()
            if "random_state" in estimator.get_params():
                estimator.set_params(random_state=0)
            try:
                estimator.fit(features, target) if target is not None else estimator.fit(features)
            except Exception:  # needs text, dicts or other arguments  # noqa: BLE001
                continue
            yield f"{name}{suffix}", estimator, features[::7]


def every_estimator_round_trip(folder: Path) -> tuple[list[str], int]:
    """Pickle each of :func:`_every_estimator` into ``folder``, load it with modelpack and compare its
    answers with the original's: (what failed, how many were compared)."""
    failures, compared = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, estimator, rows in _every_estimator():
            expected = {}
            for method in ("predict", "predict_proba", "transform"):
                try:
                    expected[method] = getattr(estimator, method)(rows)
                except Exception:  # not a method it has, or not for these rows  # noqa: BLE001
                    continue
            if not expected:  # nothing to score with (clusterings, covariances, embeddings of the fit)
                continue
            path = folder / f"{name}.pkl"
            path.write_bytes(pickle.dumps(estimator, protocol=5))
            try:
                loaded = modelpack.load(path).native
                for method, answer in expected.items():
                    actual = getattr(loaded, method)(rows)
                    if hasattr(answer, "toarray"):
                        answer, actual = answer.toarray(), actual.toarray()
                    np.testing.assert_array_equal(actual, answer)
                compared += 1
            except Exception as exc:  # noqa: BLE001  every failure is listed, not the first alone
                failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
    return failures, compared


def test_every_estimator_scikit_learn_ships_loads_without_trust_and_answers_the_same(tmp_path):
    """What ``modelpack.save`` writes for any scikit-learn estimator, the default load reads: every
    class, function and Cython object a fitted one holds is admitted, and it answers as the original.
    (BisectingKMeans keeps a function, a BSpline since scipy 1.15 its array namespace's asarray, and
    IterativeImputer named tuples: each was refused.) In a fresh interpreter: fitting some of them
    (SpectralBiclustering, after a hundred others) crashed a process in which JPype had started a JVM,
    as the PMML tests do in this one."""
    code = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from safety.test_allowlist import every_estimator_round_trip; "
            "print(json.dumps(every_estimator_round_trip(Path(sys.argv[2]))))")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parents[1]), str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    failures, compared = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, "\n".join(failures)
    assert compared > 150  # the estimators that fit with their defaults here, not a few
