"""One input contract for every format and entry point: typed by the model, extras ignored,
absent columns named, unknown categories reported, library errors as ModelpackErrors."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from conftest import extension
from modelpack.errors import UnknownCategoryWarning

COMMAND = str(Path(sys.executable).parent / "modelpack")


@pytest.fixture(scope="module")
def route_model(tmp_path_factory):
    """Categories that look like numbers: routes '501', '502', '12' and a code with a leading zero, '007'."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"route": rng.choice(["501", "502", "007", "12"], n).astype(object), "dist": rng.normal(10, 3, n)})
    y = np.where(df.route.isin(["501", "007"]), "late", "ok").astype(object)
    pipe = make_pipeline(ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["route"]),
                                            ("n", StandardScaler(), ["dist"])]), LogisticRegression()).fit(df, y)
    folder = tmp_path_factory.mktemp("routes")
    df.assign(target=y).to_csv(folder / "rows.csv", index=False)  # with the target left in
    return pipe, df, y, folder


@pytest.mark.parametrize("format_name", ["pickle", "joblib", "skops", "onnx"])
def test_numeric_looking_categories_stay_text_through_the_cli(route_model, format_name):
    pipe, df, y, folder = route_model
    path = folder / f"m{extension(format_name)}"
    modelpack.save(pipe, path, sample=df, overwrite=True, **({"precision": "double"} if format_name == "onnx" else {}))
    out = folder / f"{format_name}.csv"
    result = subprocess.run([COMMAND, "predict", str(path), "--data", str(folder / "rows.csv"), "-o", str(out),
                             "--force"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert list(pd.read_csv(out).iloc[:, 0]) == list(y), "a category was read as a number"
    assert "Warning" not in result.stderr


@pytest.mark.parametrize("format_name", ["joblib", "onnx"])
def test_a_frame_with_numbers_for_a_string_column_is_typed_by_the_model(route_model, tmp_path, format_name):
    pipe, df, y, _ = route_model
    path = tmp_path / f"m{extension(format_name)}"
    modelpack.save(pipe, path, sample=df, **({"precision": "double"} if format_name == "onnx" else {}))
    model = modelpack.load(path)
    numeric = df.assign(route=df.route.astype(int))  # what pandas' read_csv guesses
    with pytest.warns(UnknownCategoryWarning, match=r"'7'.*read 'route' as text"):
        predicted = model.predict(numeric)  # '007' became 7: unknown, and said so; '501' still matches
    known = df.route != "007"
    assert list(predicted[known]) == list(y[known])


def test_a_file_without_metadata_is_typed_from_the_fitted_encoders(route_model, tmp_path):
    import joblib

    pipe, df, y, folder = route_model
    path = tmp_path / "plain.joblib"
    joblib.dump(pipe, path)  # no sidecar: the schema comes from the estimator itself
    model = modelpack.load(path)
    assert model.metadata.input_schema.features[0].dtype == "string"
    read = pd.read_csv(folder / "rows.csv", dtype={"route": str})
    assert list(model.predict(read)) == list(y)


@pytest.mark.parametrize("format_name", ["joblib", "onnx", "pmml"])
def test_extra_columns_are_ignored_and_missing_ones_named_for_every_format(tmp_path, format_name):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = (X.a > 0).astype(int)
    path = tmp_path / f"m{extension(format_name)}"
    modelpack.save(LogisticRegression().fit(X, y), path, sample=X)
    model = modelpack.load(path)
    assert list(model.predict(X.assign(target=y, id=range(60)))) == list(model.predict(X))
    with pytest.raises(modelpack.InvalidInputError, match="missing column\\(s\\) b"):
        model.predict(X.drop(columns=["b"]))


def test_a_pmml_tree_that_uses_some_columns_scores_the_full_row(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    y = ((X.a > 0) & (X.b > 0)).astype(int)
    src = tmp_path / "t.joblib"
    modelpack.save(DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y), src, sample=X)
    result = modelpack.convert(src, tmp_path / "t.pmml")
    assert result.passed
    assert modelpack.verify(modelpack.load(tmp_path / "t.pmml")).passed
    # a plain array of all four features, of which the PMML uses two
    np.testing.assert_array_equal(modelpack.load(tmp_path / "t.pmml").predict(X.to_numpy()), modelpack.load(src).predict(X))


def test_errors_from_the_library_underneath_are_modelpack_errors(tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    path = tmp_path / "enc.joblib"
    modelpack.save(OneHotEncoder(handle_unknown="error").fit(pd.DataFrame({"x": ["a", "b"]})), path)
    with pytest.raises(modelpack.InvalidInputError, match="the model refused the input"):
        modelpack.load(path).transform(pd.DataFrame({"x": ["zzz"]}))
    with pytest.raises(modelpack.ModelpackError, match="no such file"):
        modelpack.load(tmp_path / "absent.joblib")
    with pytest.raises(FileNotFoundError):  # still the builtin too, for code that catches it
        modelpack.load(tmp_path / "absent.joblib")


def test_a_dropped_output_fails_the_check_unless_accepted(tmp_path):
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    src = tmp_path / "svc.joblib"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        modelpack.save(SVC(probability=True, random_state=0).fit(X, (X[:, 0] > 0).astype(int)), src, sample=X)
    refused = modelpack.convert(src, tmp_path / "svc.pmml")
    assert not refused.passed
    missing = [c for c in refused.report.comparisons if c.missing]
    assert [c.method for c in missing] == ["predict_proba"] and "pmml for SVC" in missing[0].missing
    assert any("--accept-missing predict_proba" in n for n in refused.report.notes)
    accepted = modelpack.convert(src, tmp_path / "svc2.pmml", accept_missing=["predict_proba"])
    assert accepted.passed


def test_integer_columns_take_whole_numbers_and_missing_values_alike_everywhere(tmp_path):
    """7.5 in an integer column is refused, never truncated; a missing one is passed as NaN and the
    model decides: the same through Python, the CLI and serve."""
    from serve.test_serve import running

    from conftest import models

    trained = models()["pipeline_frame"]
    path = tmp_path / "m.joblib"
    modelpack.save(trained.model, path, sample=trained.X)
    model = modelpack.load(path)
    fraction = trained.X.head(3).astype({"age": float})
    fraction.loc[0, "age"] = 7.5
    with pytest.raises(modelpack.InvalidInputError, match="'age' .* holds 7.5, not a whole number"):
        model.predict(fraction)
    fraction.to_csv(tmp_path / "fraction.csv", index=False)
    cli = subprocess.run([COMMAND, "predict", str(path), "--data", str(tmp_path / "fraction.csv")],
                         capture_output=True, text=True)
    assert cli.returncode == 1 and "holds 7.5, not a whole number" in cli.stderr
    import httpx

    row = {"age": None, "income": 1.0, "city": "Paris", "plan": "pro"}
    with running(path) as url:
        assert httpx.post(f"{url}/predict", json={**row, "age": 7.5}).json()["field"] == "age"
        missing = httpx.post(f"{url}/predict", json=row)
    assert missing.status_code == 422 and "age missing" in missing.json()["error"]  # the scaler gives no answer
    with pytest.raises(modelpack.InvalidInputError, match="NaN"):
        model.predict(fraction.assign(age=np.nan))


def _as_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """What serve builds from a JSON body: one numpy column per field, None where a value is missing."""
    return {c: np.array([None if v is None or v != v else v for v in frame[c].astype(object)], dtype=object)
            for c in frame.columns}


@pytest.mark.parametrize("format_name", ["onnx", "joblib"])
def test_columns_by_name_answer_as_a_dataframe_does(route_model, tmp_path, format_name):
    """serve's fast path (a dict of numpy columns, typed without pandas) and the DataFrame path agree
    on values, numbers given as text codes, unknown categories (warned about both ways) and errors."""
    pipe, df, _, _ = route_model
    path = tmp_path / f"m{extension(format_name)}"
    modelpack.save(pipe, path, sample=df)
    model = modelpack.load(path)
    rows = df[:40].astype({"route": object})
    rows.loc[3, "route"] = 501  # a code sent as a number: the model's schema makes it "501"
    rows.loc[5, "route"] = "999"  # a category the model never saw
    with pytest.warns(UnknownCategoryWarning, match="'999'"):
        expected = model.predict_proba(rows)
    with pytest.warns(UnknownCategoryWarning, match="'999'"):
        got = model.predict_proba(_as_columns(rows))
    np.testing.assert_array_equal(got, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        assert list(model.predict(_as_columns(rows))) == list(model.predict(rows))
    for bad, message in (({"route": ["501"], "dist": ["far"]}, "cannot be read as float64"),
                         ({"route": ["501"]}, "missing column(s) dist")):
        with pytest.raises(modelpack.InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            model.predict({k: np.array(v, dtype=object) for k, v in bad.items()})
        with pytest.raises(modelpack.InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            model.predict(pd.DataFrame(bad))


def test_serves_fast_path_builds_no_dataframe(route_model, tmp_path, monkeypatch):
    """The regression guard for serve's pace: an ONNX model scores a dict of columns without pandas
    (a DataFrame per request cost 2 ms against onnxruntime's 0.06 ms, and 25× the requests/s)."""
    pipe, df, _, _ = route_model
    modelpack.save(pipe, tmp_path / "m.onnx", sample=df)
    model = modelpack.load(tmp_path / "m.onnx")
    columns = _as_columns(df[:3])
    expected = model.predict_proba(columns)
    labels = list(pipe.predict(df[:3]))

    def refuse(*args, **kwargs):
        raise AssertionError("a DataFrame was built on the dict-of-columns path")

    monkeypatch.setattr(pd.DataFrame, "__init__", refuse)
    np.testing.assert_array_equal(model.predict_proba(columns), expected)
    assert list(model.predict(columns)) == labels


def _typed_both_ways(frame, schema):
    """conform (pandas) and conform_columns on frame_columns (numpy): values, dtypes and warnings."""
    from modelpack.data import conform, conform_columns, frame_columns

    with warnings.catch_warnings(record=True) as slow_warnings:
        warnings.simplefilter("always")
        slow = conform(frame, schema, "the input")
    columns = frame_columns(frame, schema)
    assert columns is not None, frame.dtypes
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        fast = conform_columns(columns, schema, "the input")
    assert [str(w.message) for w in fast_warnings] == [str(w.message) for w in slow_warnings]
    return slow, fast


@pytest.fixture(params=["pandas' column accessor", "Series"])
def column_access(request, monkeypatch):
    """frame_columns reads a column's values with pandas' ``_get_column_array`` where pandas has it,
    else through a Series: every test of it runs both ways."""
    if request.param == "Series":
        monkeypatch.delattr(pd.DataFrame, "_get_column_array")
    return request.param


@pytest.mark.parametrize("case", ["plain", "missing", "pandas-text", "numbers-as-codes", "integers", "extra"])
def test_a_dataframe_is_typed_alike_by_pandas_and_by_numpy(case, column_access):
    """Model.run types a DataFrame of numpy-held columns with conform_columns (no pandas per column);
    conform is the reference. Same values, same dtypes, same warnings, for each kind of column."""
    from modelpack.metadata import Feature, InputSchema

    schema = InputSchema(features=(Feature("route", "string", ("501", "007", "12")), Feature("dist", "float64"),
                                   Feature("stops", "int64"), Feature("express", "bool")), kind="dataframe")
    frame = pd.DataFrame({"route": np.array(["501", "007", "12"], dtype=object), "dist": [1.5, 2.0, 3.25],
                          "stops": np.array([1, 2, 3]), "express": [True, False, True]})
    if case == "missing":
        frame = frame.assign(route=np.array(["501", None, np.nan], dtype=object), dist=[np.nan, 2.0, 3.0],
                             stops=[1.0, np.nan, 3.0])
    elif case == "pandas-text":
        frame = frame.assign(route=pd.array(["501", pd.NA, "999"], dtype="string"))
    elif case == "numbers-as-codes":
        frame = frame.assign(route=np.array([501, 12.0, "007"], dtype=object))
    elif case == "integers":
        frame = frame.assign(stops=[1.0, 2.0, 3.0], express=np.array([1, 0, 1]))
    elif case == "extra":
        frame = frame.assign(id=["a", "b", "c"], target=[0, 1, 0])[["id", "express", "stops", "dist", "route", "target"]]
    slow, fast = _typed_both_ways(frame, schema)
    assert list(fast) == schema.names
    for name in schema.names:
        expected = slow[name].to_numpy()
        assert fast[name].dtype == expected.dtype, (name, fast[name].dtype, expected.dtype)
        assert [None if v is None or v != v else v for v in fast[name].tolist()] == \
               [None if v is None or v != v else v for v in expected.tolist()], name


@pytest.mark.parametrize("value,shown", [(2.5, "2.5"), (1e300, "1e+300"), (-9.3e18, "-9.3e+18")])
def test_a_fraction_or_an_overflow_for_an_integer_is_refused_alike_by_both(value, shown, column_access):
    """7.5 is not truncated and 1e300 does not wrap to a negative 64-bit integer: both are refused."""
    from modelpack.data import conform, conform_columns, frame_columns
    from modelpack.metadata import Feature, InputSchema

    schema = InputSchema(features=(Feature("stops", "int64"),), kind="dataframe")
    frame = pd.DataFrame({"stops": [1.0, value]})
    messages = []
    for typed in (lambda: conform(frame, schema, "the input"),
                  lambda: conform_columns(frame_columns(frame, schema), schema, "the input")):
        with pytest.raises(modelpack.InvalidInputError) as caught:
            typed()
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and shown in messages[0], messages


def test_columns_numpy_cannot_hold_go_the_pandas_way(column_access):
    from modelpack.data import frame_columns
    from modelpack.metadata import Feature, InputSchema

    schema = InputSchema(features=(Feature("n", "int64"), Feature("c", "string")), kind="dataframe")
    assert frame_columns(pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "c": ["a", "b"]}), schema) is None
    assert frame_columns(pd.DataFrame({"n": [1, 2], "c": pd.Categorical(["a", "b"])}), schema) is None
    assert frame_columns(pd.DataFrame({"n": [1, 2], "c": pd.to_datetime(["2020-01-01", "2021-01-01"])}), schema) is None
    assert frame_columns(pd.DataFrame({"n": [1, 2]}), schema) is None  # conform names what is missing
    repeated = pd.DataFrame([[1, "a", "x"]], columns=["n", "c", "c"])
    assert frame_columns(repeated, schema) is None  # which "c"? conform says
    extra_repeated = pd.DataFrame([[1, "a", 0, 0]], columns=["n", "c", "id", "id"])
    assert frame_columns(extra_repeated, schema)["n"].tolist() == [1]  # a repeated column the model does not take
    columns = frame_columns(pd.DataFrame({"n": [1, 2], "c": ["a", "b"], "x": [0.5, 1.5]}), schema)
    assert columns["n"].dtype == np.int64 and columns["n"].tolist() == [1, 2] and columns["c"].tolist() == ["a", "b"]


@pytest.mark.parametrize("precision", ["float", "double"])
def test_columns_typed_once_feed_onnx_as_columns_typed_again(route_model, tmp_path, precision):
    """conform_columns marks what it returns (TypedColumns); a model given them does not type them again,
    and ONNX builds its feeds from them without repeating its checks. The feeds and the answers are the
    ones a plain dict of the same columns gets through the general path: missing text, numpy's str,
    numbers for text, an int column for a float input."""
    from modelpack.data import TypedColumns, conform_columns
    from modelpack.metadata import Feature, InputSchema

    pipe, df, _, _ = route_model
    modelpack.save(pipe, tmp_path / "m.onnx", sample=df, precision=precision)
    model = modelpack.load(tmp_path / "m.onnx")
    schema = model.metadata.input_schema
    columns = {"route": np.array(["501", None, np.str_("007"), 12, "999"], dtype=object),
               "dist": np.array([1, 2, 3, 4, 5])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        typed = conform_columns(columns, schema, "the input")
    assert isinstance(typed, TypedColumns) and [w.category for w in caught] == [UnknownCategoryWarning]
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        assert conform_columns(typed, schema, "the input") is typed and not again  # typed, and warned, once
        other = InputSchema(tuple(Feature(f.name, f.dtype) for f in schema.features), "dataframe")
        assert conform_columns(typed, other, "the input") is not typed  # another schema types them afresh
    fast, general = model.feeds(typed), model.feeds(dict(typed))
    assert list(fast) == list(general)
    for name in fast:
        assert fast[name].dtype == general[name].dtype and fast[name].shape == general[name].shape
        assert fast[name].tolist() == general[name].tolist(), name
    assert [type(v) for v in fast["route"].ravel()] == [str] * 5  # what onnxruntime takes: str, "" for missing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)  # a plain dict is typed (and warned about) again
        np.testing.assert_array_equal(model.predict_proba(typed), model.predict_proba(dict(typed)))
        assert model.predict(typed).tolist() == model.predict(dict(typed)).tolist()


def _imputed_text_pipeline(missing):
    """What a DataFrame pipeline usually is: text imputed, then one-hot encoded, inside a ColumnTransformer."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    cities = [missing if i % 7 == 0 else c for i, c in enumerate(rng.choice(["a", "b", "c"], 200).tolist())]
    frame = pd.DataFrame({"age": rng.normal(40, 10, 200), "city": pd.Series(cities, dtype=object)})
    frame.loc[::9, "age"] = np.nan
    target = (frame["city"].fillna("b") == "a") ^ (frame["age"].fillna(40) > 45)
    columns = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent", missing_values=missing),
                              OneHotEncoder(handle_unknown="ignore")), ["city"]),
    ])
    return make_pipeline(columns, LogisticRegression()).fit(frame, target), frame


@pytest.mark.parametrize("missing", [np.nan, None], ids=["nan", "none"])
def test_missing_text_reaches_the_model_as_it_learned_it(tmp_path, missing):
    """A missing text value was handed over as None, which SimpleImputer(missing_values=np.nan), the
    default, does not see as missing: it passed through to the encoder as an unknown category, and
    probabilities moved by up to 0.2. It is now handed over as the model learned it: NaN, as pandas
    reads it, unless the model learned None. The column is typed as text from the imputer and the
    encoder behind it, in a file without metadata (it was read as a number, and every row refused)."""
    import pickle

    model, frame = _imputed_text_pipeline(missing)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(model))  # not written by modelpack: no sidecar
    loaded = modelpack.load(path)
    assert loaded.metadata.input_schema.features[1].dtype == "string"
    assert loaded.metadata.input_schema.features[1].categories == ("a", "b", "c")
    rows = frame.iloc[::3]
    assert rows["city"].isna().any()
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")  # JSON's null
    np.testing.assert_array_equal(loaded.predict_proba(records), model.predict_proba(rows))
    modelpack.save(model, tmp_path / "m.joblib", sample=frame)  # with metadata: the same
    np.testing.assert_array_equal(modelpack.load(tmp_path / "m.joblib").predict_proba(rows), model.predict_proba(rows))
