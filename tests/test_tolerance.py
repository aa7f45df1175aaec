"""Tolerances follow the arithmetic of both sides and the scale of the output: right conversions
pass, wrong ones fail, and the report says which tolerance it used and why."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import modelpack


def _regression_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = 30_000 + 8_000 * X[:, 0] - 5_000 * X[:, 1] ** 2 + 100 * rng.normal(size=400)
    return X, y


def test_a_float32_mlp_regressor_on_a_large_scale_passes(tmp_path):
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _regression_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, random_state=0)).fit(X, y)
    src = tmp_path / "mlp.joblib"
    modelpack.save(model, src, sample=X)
    result = modelpack.convert(src, tmp_path / "mlp.onnx", data=X, precision="float")
    assert result.passed, result.report.to_dict()
    assert result.report.tolerance_reason == "onnx: the ONNX graph computes in float32"


def test_xgboost_in_float32_against_a_double_runtime_passes(tmp_path):
    import xgboost

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    src = tmp_path / "xgb.joblib"
    modelpack.save(xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y), src, sample=X)
    result = modelpack.convert(src, tmp_path / "xgb.pmml", data=X)
    assert result.passed, result.report.to_dict()
    assert result.report.tolerance_reason == "joblib: XGBoost computes in float32"


@pytest.mark.parametrize("alteration", ["coefficient", "tree", "category"])
def test_a_wrong_model_still_fails(tmp_path, alteration):
    """The looser, scale-relative tolerance still catches what a broken conversion looks like."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    X, y = _regression_data()
    if alteration == "coefficient":
        model = LinearRegression().fit(X, y)
        altered = copy.deepcopy(model)
        altered.coef_[3] *= 1.001  # a feature with a small effect, changed by 0.1%
        data = X
    elif alteration == "tree":
        model = RandomForestRegressor(50, max_depth=4, random_state=0).fit(X, y)
        altered = copy.deepcopy(model)
        altered.estimators_ = altered.estimators_[:-1]
        altered.n_estimators = 49
        data = X
    else:
        import pandas as pd

        data = pd.DataFrame({"kind": np.random.default_rng(1).choice(["a", "b", "c"], 400), "x": X[:, 0]})
        target = data.kind.map({"a": 0.0, "b": 1.0, "c": 5.0}) + data.x
        model = make_pipeline(ColumnTransformer([("k", OrdinalEncoder(), ["kind"])], remainder="passthrough"),
                              RandomForestRegressor(20, random_state=0)).fit(data, target)
        altered = copy.deepcopy(model)
        encoder = altered.steps[0][1].transformers_[0][1]
        encoder.categories_[0] = encoder.categories_[0][[1, 0, 2]]  # 'a' and 'b' swapped
    a, b = tmp_path / "a.joblib", tmp_path / "b.onnx"
    modelpack.save(model, a, sample=data)
    modelpack.save(altered, b, sample=data, precision="double")
    report = modelpack.check(modelpack.load(a), modelpack.load(b), data)
    assert not report.passed, report.to_dict()


def test_the_report_states_its_tolerance_and_why(tmp_path):
    from click.testing import CliRunner
    from sklearn.linear_model import LogisticRegression

    from modelpack.cli import cli

    X = np.random.default_rng(0).normal(size=(50, 3))
    src = tmp_path / "m.joblib"
    modelpack.save(LogisticRegression().fit(X, X[:, 0] > 0), src, sample=X)
    result = CliRunner().invoke(cli, ["convert", str(src), "-o", str(tmp_path / "m.pkl")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the terminal table wraps long lines
    assert "tolerance: rtol=1e-07 of each output's scale, atol=1e-09, because both compute in float64" in output
