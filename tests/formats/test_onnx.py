"""ONNX specifics: inferred input types, runtime-friendly outputs, precision, foreign files."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

import modelpack
from conftest import assert_same_outputs, mixed_frame, models, save_and_load
from modelpack import InvalidInputError, UnsupportedModelError
from modelpack.formats.onnx import PrecisionWarning


def _save_load(model, X, tmp_path, name="m.onnx", **options):
    return save_and_load(model, X, tmp_path, name, **options)


def test_outputs_are_plain_tensors_no_zipmap(tmp_path):
    trained = models()["forest_strings"]
    path, loaded = _save_load(trained.model, trained.X, tmp_path)
    graph = onnx.load(str(path)).graph
    assert [o.name for o in graph.output] == ["label", "probabilities"]
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.STRING
    assert graph.output[1].type.HasField("tensor_type")  # not a sequence of maps
    assert "ZipMap" not in {n.op_type for n in graph.node}
    labels = loaded.predict(trained.X)
    assert labels.dtype == object and set(labels) <= {"churn", "stay", "maybe"}
    assert list(loaded.classes_) == list(trained.model.classes_)


def test_mixed_frame_gets_one_input_per_column_with_its_type(tmp_path):
    trained = models()["pipeline_frame"]
    path, loaded = _save_load(trained.model, trained.X, tmp_path)
    inputs = {i.name: i.type.tensor_type.elem_type for i in onnx.load(str(path)).graph.input}
    assert inputs == {
        "age": onnx.TensorProto.INT64,
        "income": onnx.TensorProto.FLOAT,
        "city": onnx.TensorProto.STRING,
        "plan": onnx.TensorProto.STRING,
    }
    # columns in another order are matched by name, as scikit-learn does
    shuffled = trained.X[["plan", "income", "city", "age"]]
    assert list(loaded.predict(shuffled)) == list(trained.model.predict(trained.X))
    # records (what a JSON API receives) work too
    records = trained.X.head(3).to_dict(orient="records")
    assert list(loaded.predict(records)) == list(trained.model.predict(trained.X.head(3)))


@pytest.mark.parametrize("name", ["pipeline_frame", "logistic"])
def test_the_session_is_run_directly_only_while_it_is_the_one_opened(tmp_path, name):
    """A model's feeds go to onnxruntime's C++ session without its Python wrapper's checks, which they
    cannot fail; the answers are the wrapper's. Once set_providers (on ``native``) made another C++
    session, every call goes through the wrapper again."""
    trained = models()[name]
    _, loaded = _save_load(trained.model, trained.X, tmp_path)
    session = loaded.native
    feeds = loaded.feeds(trained.X)
    label = session.get_outputs()[0].name
    assert loaded._core is session._sess  # the direct call is taken: onnxruntime still has its C++ session there
    expected = session.run([label], feeds)[0]
    np.testing.assert_array_equal(loaded._run_session(label, feeds), expected)
    np.testing.assert_array_equal(loaded.predict(trained.X), trained.model.predict(trained.X))
    session.set_providers(["CPUExecutionProvider"])
    assert loaded._core is not session._sess  # the wrapper's path from now on
    np.testing.assert_array_equal(loaded._run_session(label, feeds), expected)
    np.testing.assert_array_equal(loaded.predict(trained.X), trained.model.predict(trained.X))


def test_non_ascii_column_names(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = mixed_frame().rename(columns={"age": "âge", "city": "城市"})
    y = (X["âge"] > 40).map({True: "oui", False: "non"})
    model = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["城市"]), ("n", StandardScaler(), ["âge", "income"])]),
        LogisticRegression(),
    ).fit(X, y)
    _, loaded = _save_load(model, X, tmp_path)
    assert loaded.metadata.input_schema.names == ["âge", "income", "城市", "plan"]
    assert_same_outputs(model, loaded, X, rtol=1e-4, atol=1e-5)


def test_hist_gradient_boosting_with_nan(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + np.nan_to_num(X[:, 3]) > 0).astype(np.int64)
    X[::5, 3] = np.nan
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    _, loaded = _save_load(model, X, tmp_path)
    assert list(loaded.predict(X)) == list(model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_boosters_through_their_sklearn_api(tmp_path, library):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = np.where(X[:, 0] - X[:, 1] > 0, "up", "down")
    y_reg = X @ rng.normal(size=6)
    if library == "xgboost":
        from xgboost import XGBClassifier as C
        from xgboost import XGBRegressor as R
    else:
        from lightgbm import LGBMClassifier as C
        from lightgbm import LGBMRegressor as R
    kwargs = {"n_estimators": 20, "max_depth": 4} | ({"verbose": -1} if library == "lightgbm" else {})
    from sklearn.preprocessing import LabelEncoder

    codes = LabelEncoder().fit_transform(y)  # xgboost wants 0..n-1
    clf = C(**kwargs).fit(X, codes if library == "xgboost" else y)
    _, loaded = _save_load(clf, X, tmp_path, "c.onnx")
    assert list(loaded.predict(X)) == list(clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    reg = R(**kwargs).fit(X, y_reg)
    _, loaded = _save_load(reg, X, tmp_path, "r.onnx")
    assert loaded.predict(X).dtype == np.float64 and loaded.predict(X).shape == (300,)
    np.testing.assert_allclose(loaded.predict(X), reg.predict(X), rtol=1e-4, atol=1e-4)


def _near_threshold_data():
    """Features far from zero with tiny differences: float32 cannot tell them apart."""
    rng = np.random.default_rng(0)
    X = 1e6 + rng.normal(size=(2000, 5)) * 0.05
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    return X, y


def test_double_precision_matches_where_float32_flips(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _near_threshold_data()
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=8, random_state=0).fit(X, y)
    with pytest.warns(PrecisionWarning, match="precision='double'"):
        _, single = _save_load(model, X, tmp_path, "float.onnx", precision="float")
    assert np.sum(single.predict(X) != model.predict(X)) > 0  # the pain users report
    _, auto = _save_load(model, X, tmp_path, "auto.onnx")  # the default: float32 tried, refused, said why
    assert auto.metadata.extra["precision"] == "double"
    assert auto.metadata.extra["precision_choice"].startswith("double: float32 predicts another label on")
    assert list(auto.predict(X)) == list(model.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        _, double = _save_load(model, X, tmp_path, "double.onnx", precision="double")
    assert list(double.predict(X)) == list(model.predict(X))
    assert double.metadata.extra["precision"] == "double"
    np.testing.assert_allclose(double.predict_proba(X), model.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("name", ["forest_strings", "linear_regression", "pipeline_frame"])
def test_double_precision_round_trips(tmp_path, name):
    trained = models()[name]
    _, loaded = _save_load(trained.model, trained.X, tmp_path, precision="double")
    assert_same_outputs(trained.model, loaded, trained.X, rtol=1e-6, atol=1e-7)


def test_target_opset_is_honoured(tmp_path):
    trained = models()["logistic"]
    path, loaded = _save_load(trained.model, trained.X, tmp_path, target_opset=15)
    opsets = {o.domain: o.version for o in onnx.load(str(path)).opset_import}
    assert opsets[""] <= 15
    assert loaded.metadata.extra["opsets"]["ai.onnx"] <= 15


def test_metadata_travels_in_metadata_props(tmp_path):
    trained = models()["pipeline_frame"]
    path, _ = _save_load(trained.model, trained.X, tmp_path)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    meta = json.loads(props["modelpack"])
    assert meta["classes"] == ["no", "yes"] and len(meta["sample"]["inputs"]) == 20
    assert meta["extra"]["onnx_inputs"] == "columns"
    info = modelpack.describe(path)
    assert info.format == "onnx" and info.metadata_source == "inside"


def test_loading_onnx_does_not_import_scikit_learn(tmp_path):
    trained = models()["pipeline_frame"]
    path, _ = _save_load(trained.model, trained.X, tmp_path)
    code = f"""
import sys, modelpack, pandas as pd
m = modelpack.load({str(path)!r})
rows = m.metadata.sample.frame(m.metadata.input_schema)
print(list(m.predict(rows)), m.predict_proba(rows).shape)
print(sorted(x for x in ('sklearn', 'skl2onnx', 'onnxmltools', 'scipy', 'skops') if x in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("[") and "(20, 2)" in out[0]
    assert out[1] == "[]"


def test_extra_columns_are_ignored_as_by_every_format(tmp_path):
    trained = models()["pipeline_frame"]
    _, loaded = _save_load(trained.model, trained.X, tmp_path)
    assert list(loaded.predict(trained.X.assign(target="yes", id=1))) == list(loaded.predict(trained.X))


@pytest.mark.parametrize("bad,message", [
    (lambda X: X.drop(columns=["city"]), "missing column\\(s\\) city"),
    (lambda X: X.rename(columns={"plan": "Plan"}), "missing column\\(s\\) plan; unexpected column\\(s\\) Plan"),
    (lambda X: X.assign(age=["old"] * len(X)), "column 'age' (of the input )?cannot be read as int64"),
])
def test_bad_frames_name_the_columns(tmp_path, bad, message):
    trained = models()["pipeline_frame"]
    _, loaded = _save_load(trained.model, trained.X, tmp_path)
    with pytest.raises(InvalidInputError, match=message):
        loaded.predict(bad(trained.X))


def test_wrong_number_of_features(tmp_path):
    trained = models()["logistic"]
    _, loaded = _save_load(trained.model, trained.X, tmp_path)
    with pytest.raises(InvalidInputError, match="expects 4 features per row, got an input of shape \\(120, 3\\)"):
        loaded.predict(trained.X[:, :3])
    assert loaded.predict(trained.X[0]).shape == (1,)  # one row as a 1-D array


def test_plain_skl2onnx_file_with_zipmap_loads(tmp_path):
    from skl2onnx import to_onnx

    trained = models()["forest_strings"]
    proto = to_onnx(trained.model, trained.X[:1].astype(np.float32))  # ZipMap on, skl2onnx's names
    path = tmp_path / "foreign.onnx"
    path.write_bytes(proto.SerializeToString())
    loaded = modelpack.load(path)
    assert loaded.metadata.task == "classifier" and loaded.metadata.input_schema.n_features == 4
    assert list(loaded.predict(trained.X)) == list(trained.model.predict(trained.X))
    proba = loaded.predict_proba(trained.X)
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_unsupported_estimator_is_named_and_nothing_is_written(tmp_path):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.semi_supervised import LabelSpreading

    X = np.random.default_rng(0).normal(size=(50, 3))
    model = LabelSpreading().fit(X, (X[:, 0] > 0).astype(int))
    path = tmp_path / "m.onnx"
    with pytest.raises(UnsupportedModelError, match="LabelSpreading has no ONNX converter.*joblib, skops or pickle"):
        modelpack.save(model, path, sample=X)
    assert list(tmp_path.iterdir()) == []
    del TransformedTargetRegressor, LinearRegression


def test_unknown_option_and_bad_precision(tmp_path):
    trained = models()["logistic"]
    with pytest.raises(modelpack.UnknownOptionError, match="no option compress"):
        modelpack.save(trained.model, tmp_path / "m.onnx", sample=trained.X, compress=3)
    with pytest.raises(InvalidInputError, match="precision must be one of auto, float, double"):
        modelpack.save(trained.model, tmp_path / "m.onnx", sample=trained.X, precision="half")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_onnx(tmp_path):
    path = tmp_path / "m.onnx"
    trained = models()["logistic"]
    modelpack.save(trained.model, path, sample=trained.X)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(modelpack.CorruptFileError, match="onnx|ONNX"):
        modelpack.load(path)


def test_a_graph_onnxruntime_refuses_is_one_line_with_nothing_printed(tmp_path, capfd):
    """onnxruntime's Python session, on a ValueError or RuntimeError while it is made, printed four
    lines of "EP Error" to stdout and made the session again on its default providers."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    unknown = tmp_path / "unknown.onnx"
    unknown.write_bytes(model.SerializeToString())
    # the same operator named with bytes that are not UTF-8: onnxruntime's message quotes them, and its
    # binding fails to decode it (a UnicodeDecodeError, which is a ValueError)
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(unknown.read_bytes().replace(b"NoSuchOp", b"NoSuch\xff\xfe"))
    for path, said in ((unknown, "NoSuchOp"), (damaged, "quotes names that are not UTF-8 text")):
        with pytest.raises(modelpack.errors.CorruptFileError, match=said) as err:
            modelpack.load(path)
        assert "\n" not in str(err.value)
        printed = capfd.readouterr()
        assert printed.out == "" and "EP Error" not in printed.err, printed


_BACKEND = Path(onnx.__file__).parent / "backend/test/data"


def _one_relu(path, opsets, ir_version=8, op="Relu", domain=""):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], domain=domain)], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = ir_version
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("build, said", [
    # newer than the installed onnxruntime: the file is fine, the runtime is old
    (lambda p: _one_relu(p, [("", 17)], ir_version=19), "is ONNX IR version 19, newer than onnxruntime"),
    (lambda p: _one_relu(p, [("", 17), ("ai.onnx.ml", 90)]), "declares opset 90 of the ai.onnx.ml operators, newer than"),
    # PyTorch 0.3's export at opset 6, whose AveragePool-1 onnxruntime no longer implements
    (lambda p: p.write_bytes(_BACKEND.joinpath("pytorch-converted/test_AvgPool1d/model.onnx").read_bytes()) and p,
     "the file declares opset 6 of the ONNX operators, and onnxruntime"),
    # a custom operator: its library is not loaded
    (lambda p: _one_relu(p, [("", 17), ("ai.onnx.contrib", 1)], op="Foo", domain="ai.onnx.contrib"),
     "uses Foo from the operator domain 'ai.onnx.contrib', which onnxruntime"),
])
def test_a_graph_this_onnxruntime_cannot_run_is_unsupported_not_corrupt(tmp_path, build, said):
    path = build(tmp_path / "m.onnx")
    with pytest.raises(UnsupportedModelError) as err:
        modelpack.load(path)
    message = str(err.value)
    assert said in message and "\n" not in message and "onnxruntime_src" not in message, message
    assert not isinstance(err.value, modelpack.errors.CorruptFileError)


def _mixed_pipeline_with_missing_values():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 300), "city": rng.choice(["a", "b", "c", "d"], 300).astype(object),
                          "plan": rng.choice(["x", "y"], 300).astype(object)})
    frame.loc[::11, "age"] = np.nan
    frame.loc[::13, "city"] = np.nan
    target = ((frame["city"] == "a") ^ (frame["plan"] == "x")).astype(int)
    columns = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         ["city", "plan"]),
    ])
    return make_pipeline(columns, LogisticRegression()).fit(frame, target), frame


@pytest.mark.parametrize("precision", ["auto", "double"])
def test_imputers_of_text_and_of_numbers_in_double_convert_and_run(tmp_path, precision):
    """skl2onnx converts a text SimpleImputer only with a string missing value, and then to an Imputer
    node onnxruntime cannot run, as it cannot run one on doubles: the commonest DataFrame pipeline
    could not be written as ONNX at all (ConversionError), and a numeric imputer not in double."""
    model, frame = _mixed_pipeline_with_missing_values()
    path = tmp_path / "m.onnx"
    modelpack.save(model, path, sample=frame, precision=precision)
    loaded = modelpack.load(path)
    rows = frame.iloc[::3]
    assert rows["city"].isna().any() and rows["age"].isna().any()
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows), atol=1e-6 if precision == "auto" else 1e-12)
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")  # JSON's null for missing
    np.testing.assert_allclose(loaded.predict_proba(records), model.predict_proba(rows), atol=1e-6)
    if precision == "auto":  # float32 is within its resolution: nothing blamed on it that missing values did
        assert loaded.metadata.extra["precision_choice"].startswith("float:"), loaded.metadata.extra["precision_choice"]
    assert type(model.steps[0][1].transformers_[1][1].steps[0][1]).__name__ == "SimpleImputer"  # the model unchanged
