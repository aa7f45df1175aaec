"""Write modelpack/safety/_generated.py: the plain classes model pickles are made of.

    python tools/generate_allowlist.py

Every estimator scikit-learn lists in ``all_estimators()``, plus XGBoost's and LightGBM's, is
fitted on small generated data where it can be, pickled, and audited by modelpack's own
machine; every class those pickles name is collected. A class is admitted as *plain* only if
it is a Python class whose state is its ``__dict__`` (no ``__reduce__`` of its own, no
``__setstate__`` but scikit-learn's reviewed one): classes with native state are printed for
review and belong in ``_allowlist.HAND_WRITTEN``, with a guard. Review the diff before committing.
"""

from __future__ import annotations

import io
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modelpack.safety import Budget, audit_stream  # noqa: E402
from modelpack.safety._allowlist import HAND_WRITTEN, resolve  # noqa: E402

# __setstate__ methods read and found to do nothing native with what they are given.
REVIEWED_SETSTATE = ("sklearn.base.BaseEstimator.__setstate__", "xgboost.sklearn.XGBModel.__setstate__",
                     "sklearn.isotonic.IsotonicRegression.__setstate__")


def fitted_estimators():
    # experimental estimators are listed once enabled: IterativeImputer and the halving searches are in use
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
    from sklearn.utils import all_estimators

    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(60, 4)))
    for _name, cls in all_estimators():
        yield cls, None
        for y in (np.arange(60) % 3, np.arange(60) % 2):  # multiclass and binary carry other loss objects
            yield from _fitted(cls, X, y)
    yield from _boosters(X, np.arange(60) % 2)


def _fitted(cls, X, y):
    from sklearn.linear_model import LinearRegression, LogisticRegression

    for kwargs in ({}, {"estimator": LogisticRegression()}, {"estimators": [("a", LogisticRegression())]},
                       {"estimator": LinearRegression()}, {"estimators": [("a", LinearRegression())]},
                       {"param_grid": {"C": [1, 2]}, "estimator": LogisticRegression()},
                       {"param_distributions": {"C": [1, 2]}, "estimator": LogisticRegression(), "n_iter": 2}):
            try:
                model = cls(**kwargs)
                try:
                    model.fit(X, y)
                except Exception:
                    model.fit(X)
                yield cls, model
                break
            except Exception:
                continue


def _boosters(X, y):
    import lightgbm
    import xgboost

    for model in (xgboost.XGBClassifier(n_estimators=2), xgboost.XGBRegressor(n_estimators=2),
                  lightgbm.LGBMClassifier(n_estimators=2, verbose=-1), lightgbm.LGBMRegressor(n_estimators=2, verbose=-1)):
        yield type(model), model.fit(X, y)
    for cls in (xgboost.XGBRanker, xgboost.XGBRFClassifier, xgboost.XGBRFRegressor, lightgbm.LGBMRanker):
        yield cls, None
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.neural_network import MLPClassifier

    for model in (HistGradientBoostingClassifier(max_iter=3), MLPClassifier(solver="sgd", max_iter=5),
                  *(HistGradientBoostingRegressor(max_iter=3, loss=loss, quantile=0.5 if loss == "quantile" else None) for loss in
                    ("squared_error", "absolute_error", "poisson", "gamma", "quantile"))):
        yield type(model), model.fit(X, y + 1)  # gamma needs a positive target


def is_plain(cls: type) -> str | None:
    """Why ``cls`` is not a plain class, or None."""
    if not isinstance(cls, type) or not (cls.__flags__ & (1 << 9)):  # Py_TPFLAGS_HEAPTYPE: defined in Python
        return "not a Python class"
    for method in ("__reduce__", "__reduce_ex__", "__getnewargs__", "__getnewargs_ex__"):
        if getattr(cls, method, None) is not getattr(object, method, None):
            return f"defines {method}"
    setstate = getattr(cls, "__setstate__", None)
    if setstate is not None and f"{setstate.__module__}.{setstate.__qualname__}" not in REVIEWED_SETSTATE:
        return f"defines __setstate__ ({setstate.__module__}.{setstate.__qualname__})"
    return None


def main() -> None:
    warnings.simplefilter("ignore")
    found: set[str] = set()
    review: dict[str, str] = {}
    for cls, model in fitted_estimators():
        names = {f"{cls.__module__}.{cls.__qualname__}"}
        if model is not None:
            data = pickle.dumps(model, protocol=5)
            names |= set(audit_stream(io.BytesIO(data), "generated", Budget("generated", 1 << 34)).globals)
        for dotted in names:
            module, _, name = dotted.rpartition(".")
            if (module, name) in HAND_WRITTEN or module in ("numpy", "builtins", "copyreg", "collections", "_codecs"):
                continue
            obj = resolve(module, name)
            why = is_plain(obj)
            if why is None:
                found.add(f"{module}:{name}")
            else:
                review[dotted] = why
    import lightgbm
    import sklearn
    import xgboost

    lines = [
        '"""Generated by tools/generate_allowlist.py; reviewed before commit. Do not edit by hand.',
        "",
        f"scikit-learn {sklearn.__version__}, XGBoost {xgboost.__version__}, LightGBM {lightgbm.__version__}, "
        f"numpy {np.__version__}.",
        '"""',
        "",
        "#: Python classes whose pickled state is their __dict__: estimators and the parts they are made of.",
        "PLAIN_CLASSES = frozenset({",
        *[f'    "{name}",' for name in sorted(found)],
        "})",
        "",
    ]
    (ROOT / "modelpack" / "safety" / "_generated.py").write_text("\n".join(lines))
    print(f"{len(found)} plain classes written")
    for dotted, why in sorted(review.items()):
        print(f"needs a hand-written entry: {dotted}: {why}")


if __name__ == "__main__":
    main()
