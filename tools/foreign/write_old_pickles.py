"""Write pickles, joblib files (and skops files where skops is installed) with *this* scikit-learn.

Run by tools/foreign/build_corpus.py inside a virtual environment holding an older scikit-learn;
it needs only scikit-learn, numpy and joblib, so it runs on versions years apart. Beside each
model it writes the rows it was scored on and what this scikit-learn predicted, so the test
suite compares against the library that made the file, not against itself.
"""

import json
import pickle
import sys
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier


def models():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    yield "logreg-iris", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, names), X[::10]
    yield "tree-iris", DecisionTreeClassifier(random_state=0).fit(X, y), X[::10]
    yield "forest-reg", RandomForestRegressor(n_estimators=5, random_state=0).fit(X[:, 1:], X[:, 0]), X[::10, 1:]
    rng = np.random.default_rng(0)
    cat = rng.integers(0, 3, size=(150, 1)).astype(float)
    Xc = np.hstack([X, cat])
    pre = ColumnTransformer([("num", StandardScaler(), [0, 1, 2, 3]), ("cat", OneHotEncoder(handle_unknown="ignore"), [4])])
    yield "gbm-mixed", make_pipeline(pre, GradientBoostingClassifier(n_estimators=10, random_state=0)).fit(Xc, y), Xc[::10]
    # Each of these met a change in scikit-learn since 1.1 (docs/foreign-files.md): upgraded on load,
    # refused, or scored with predict_proba withheld.
    from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier, HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression as LR

    if _version() < (1, 4):  # losses of sklearn.ensemble._gb_losses, a module 1.4 removed
        from sklearn.ensemble import GradientBoostingClassifier as GBC
        from sklearn.ensemble import GradientBoostingRegressor as GBR

        yield "gbr-huber", GBR(n_estimators=10, loss="huber", random_state=0).fit(X[:, 1:], X[:, 0]), X[::10, 1:]
        yield "gbr-quantile", GBR(n_estimators=10, loss="quantile", alpha=0.3, random_state=0).fit(X[:, 1:], X[:, 0]), \
            X[::10, 1:]
        yield "gbc-exponential", GBC(n_estimators=10, loss="exponential", random_state=0).fit(X, y == 2), X[::10]
    yield "hgb-iris", HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y), X[::10]
    if _version() < (1, 4):  # its loss pickled by Cython's __pyx_unpickle_CyHalfSquaredError, gone since
        from sklearn.ensemble import HistGradientBoostingRegressor

        yield "hgb-reg", HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X[:, 1:], X[:, 0]), X[::10, 1:]
    yield "bagging-iris", BaggingClassifier(n_estimators=3, random_state=0).fit(X, y), X[::10]
    if _version() < (1, 6):  # SAMME.R, the default until 1.6, which removed it
        yield "adaboost-sammer-iris", AdaBoostClassifier(n_estimators=5, random_state=0, algorithm="SAMME.R").fit(X, y), \
            X[::10]
    if _version() < (1, 8):
        yield "logreg-ovr-iris", LR(multi_class="ovr", max_iter=500).fit(X, names), X[::10]
    from sklearn.decomposition import KernelPCA
    from sklearn.linear_model import RidgeClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import MaxAbsScaler

    yield "knn-iris", KNeighborsClassifier(algorithm="kd_tree").fit(X, y), X[::10]
    if _version() < (1, 3):  # before the per-tree path lengths fit keeps
        from sklearn.ensemble import IsolationForest

        yield "isolation-forest-iris", IsolationForest(n_estimators=20, random_state=0).fit(X), X[::10]
    if _version() < (1, 5):  # before class priors
        from sklearn.neighbors import NearestCentroid

        yield "nearest-centroid-iris", NearestCentroid().fit(X, names), X[::10]
    yield "ridge-iris", RidgeClassifier().fit(X, names), X[::10]
    if _version() < (1, 2):  # before sparse_output; and scipy before 1.15 pickles its splines as t and c
        from sklearn.linear_model import Ridge
        from sklearn.preprocessing import SplineTransformer

        spline = SplineTransformer(n_knots=4, extrapolation="periodic")
        yield "spline-ridge", make_pipeline(spline, Ridge()).fit(X[:, 1:], X[:, 0]), X[::10, 1:] * 1.2  # beyond the knots
    yield "kernel-pca-iris", make_pipeline(MaxAbsScaler(), KernelPCA(3, kernel="rbf"), LR(max_iter=500)).fit(X, y), \
        X[::10]
    try:
        frame, target = mixed_frame()
    except ImportError:  # pandas: not needed for the others
        return
    from sklearn.impute import SimpleImputer

    columns = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         ["city", "plan"]),
    ], remainder="passthrough")
    yield "mixed-frame", make_pipeline(columns, LR(max_iter=1000)).fit(frame, target), frame.iloc[::15]


def mixed_frame():
    """What a pipeline meets in practice: a DataFrame of numbers and text, missing values in both."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.lognormal(10, 1, n),
                          "city": rng.choice(["a", "b", "c", "d"], n), "plan": rng.choice(["x", "y"], n),
                          "score": rng.integers(0, 10, n).astype(float)})
    frame.loc[::11, "age"] = np.nan
    frame.loc[::13, "city"] = np.nan
    return frame, ((frame["income"] > 20000) ^ (frame["plan"] == "x")).astype(int)


def _version():
    return tuple(int(p) for p in sklearn.__version__.split(".")[:2])


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tag = sklearn.__version__
    written = []
    for name, model, X in models():
        stem = f"{name}-sklearn{tag}"
        with open(out / f"{stem}.pkl", "wb") as fh:
            pickle.dump(model, fh, protocol=4)
        joblib.dump(model, out / f"{stem}.sav")  # the name many tutorials give joblib files
        if hasattr(X, "columns"):  # a DataFrame: its records, missing values as null, numbers exact
            records = X.astype(object).where(X.notna(), None).to_dict(orient="records")
            (out / f"{stem}.rows.json").write_text(json.dumps(records))
        else:
            np.save(out / f"{stem}.X.npy", X)
        expected = {"predict": model.predict(X).tolist()}
        if hasattr(model, "predict_proba"):
            expected["predict_proba"] = model.predict_proba(X).tolist()
        (out / f"{stem}.expected.json").write_text(json.dumps(expected))
        written.append(stem)
        try:
            import skops.io as sio
        except ImportError:
            continue
        if name == "gbm-mixed":
            continue  # skops stores each of its trees apart: a megabyte, for nothing the others lack
        sio.dump(model, out / f"{stem}.skops")
    print(json.dumps({"sklearn": tag, "numpy": np.__version__, "written": written}))


if __name__ == "__main__":
    main(sys.argv[1])
