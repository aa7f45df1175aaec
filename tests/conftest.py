"""Shared fixtures: a set of real, fitted models, and every registered format.

Adding a format to the registry makes every generic test run over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelpack


@dataclass
class Trained:
    name: str
    model: Any
    X: Any  # the rows it was trained on (a DataFrame or an array)
    task: str


def _numeric(n: int = 120, d: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d))


def mixed_frame(n: int = 120, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(np.int64),
            "income": rng.normal(50_000, 15_000, n).round(2),
            "city": rng.choice(["Paris", "Zürich", "Lagos"], n).astype(object),
            "plan": rng.choice(["basic", "pro"], n).astype(object),
        }
    )


def build_models() -> dict[str, Trained]:
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = _numeric()
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    y_str = np.where(X[:, 2] > 0.3, "churn", np.where(X[:, 2] < -0.3, "stay", "maybe")).astype(object)
    y_reg = X @ np.array([1.5, -2.0, 0.5, 3.0]) + 0.1
    df = mixed_frame()
    y_df = np.where((df["age"] > 45) ^ (df["plan"] == "pro"), "yes", "no").astype(object)
    pipe = make_pipeline(
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
                ("num", StandardScaler(), ["age", "income"]),
            ]
        ),
        LogisticRegression(max_iter=500),
    )
    models = [
        Trained("logistic", LogisticRegression().fit(X, y), X, "classifier"),
        Trained("linear_regression", LinearRegression().fit(X, y_reg), X, "regressor"),
        Trained("forest_strings", RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0).fit(X, y_str), X, "classifier"),
        Trained("pipeline_frame", pipe.fit(df, y_df), df, "classifier"),
        Trained("kmeans", KMeans(n_clusters=3, n_init=3, random_state=0).fit(X), X, "clusterer"),
        Trained("pca", PCA(n_components=2).fit(X), X, "transformer"),
    ]
    return {m.name: m for m in models}


_MODELS: dict[str, Trained] | None = None


def models() -> dict[str, Trained]:
    global _MODELS
    if _MODELS is None:
        _MODELS = build_models()
    return _MODELS


MODEL_NAMES = ["logistic", "linear_regression", "forest_strings", "pipeline_frame", "kmeans", "pca"]


#: (format, model) pairs a format cannot hold; generic tests assert the documented refusal.
UNSUPPORTED = {("pmml", "pca")}


def save_or_refused(model_name: str, format_name: str, path: Any, **kwargs: Any) -> bool:
    """Save, or for an UNSUPPORTED pair assert that saving is refused cleanly; True when saved."""
    trained = models()[model_name]
    if (format_name, model_name) in UNSUPPORTED:
        with pytest.raises(modelpack.UnsupportedModelError):
            modelpack.save(trained.model, path, **kwargs)
        assert not path.exists()
        return False
    modelpack.save(trained.model, path, **kwargs)
    return True


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The suite's PMML cache (and its CLI subprocesses') in a folder of its own, not the user's."""
    folder = tmp_path_factory.mktemp("modelpack-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELPACK_CACHE_DIR", str(folder))
        patch.delenv("MODELPACK_NO_CACHE", raising=False)
        yield folder


@pytest.fixture(params=MODEL_NAMES)
def trained(request: pytest.FixtureRequest) -> Trained:
    return models()[request.param]


#: The formats the generic tests write scikit-learn estimators to (keras and tflite write networks).
ESTIMATOR_FORMATS = modelpack.registry.formats_that_write("estimators")


@pytest.fixture(params=ESTIMATOR_FORMATS)
def format_name(request: pytest.FixtureRequest) -> str:
    return request.param


def extension(format_name: str) -> str:
    return modelpack.get_format(format_name).extensions[0]


def save_and_load(model: Any, X: Any, folder: Any, name: str, **options: Any) -> tuple[Any, modelpack.Model]:
    """Save ``model`` with ``X`` as its sample into ``folder/name`` and load it back."""
    path = folder / name
    modelpack.save(model, path, sample=X, **options)
    return path, modelpack.load(path)


def assert_same_outputs(expected_model: Any, loaded: modelpack.Model, X: Any, *, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    """Every method the original has, the loaded model has, with the same result."""
    compared = 0
    for method in ("predict", "predict_proba", "transform"):
        if not hasattr(expected_model, method):
            assert not hasattr(loaded, method), f"loaded model grew a {method}"
            continue
        expected = np.asarray(getattr(expected_model, method)(X))
        got = getattr(loaded, method)(X)
        assert got.shape == expected.shape, (method, got.shape, expected.shape)
        if expected.dtype.kind in "fc":
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=method)
        else:
            assert list(got) == list(expected), method
        compared += 1
    assert compared, "nothing was compared"


def example_module(folder: str) -> Any:
    """``examples/<folder>/train.py`` as a module of its own: several examples have a train.py, and
    ``import train`` would hand every caller the first one imported."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / folder / "train.py"
    spec = importlib.util.spec_from_file_location(f"example_{folder.replace('-', '_')}_train", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
