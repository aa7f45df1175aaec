"""Pickles from other scikit-learn versions: modelpack says which version wrote them and what to do."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import modelpack
from modelpack.errors import VersionMismatchWarning


def test_a_class_this_scikit_learn_no_longer_has_names_the_recorded_version(tmp_path):
    """scikit-learn 0.22 pickled forests as sklearn.ensemble.forest.RandomForestClassifier."""
    state = {"n_estimators": 10, "_sklearn_version": "0.22.1"}
    data = (b"\x80\x02csklearn.ensemble.forest\nRandomForestClassifier\n)\x81" + pickle.dumps(state, protocol=2)[2:-1]
            + b"b.")
    for path in (tmp_path / "old.pkl", tmp_path / "old.joblib"):
        path.write_bytes(data)
        with pytest.raises(modelpack.UnsupportedModelError) as err:
            modelpack.load(path)
        message = str(err.value)
        assert "pickled with scikit-learn 0.22.1" in message and "sklearn.ensemble.forest.RandomForestClassifier" in message
        assert "pip install scikit-learn==0.22.1" in message and "modelpack convert" in message
    info = modelpack.describe(tmp_path / "old.pkl")
    assert info.recorded_versions == {"sklearn": "0.22.1"}


@pytest.mark.parametrize("writer", ["pickle", "joblib"])
def test_a_loadable_pickle_from_another_version_gets_modelpacks_warning_once(tmp_path, writer):
    import sklearn
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(40, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    other = "1.5.2" if sklearn.__version__ != "1.5.2" else "1.4.0"
    data = pickle.dumps(model, protocol=4).replace(f"\x8c\x05{sklearn.__version__}".encode("latin1"),
                                                    f"\x8c\x05{other}".encode("latin1"))
    assert other.encode() in data
    path = tmp_path / f"m.{'pkl' if writer == 'pickle' else 'joblib'}"
    path.write_bytes(data)  # a plain pickle is a joblib file too: the joblib reader takes it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = modelpack.load(path)
    ours = [w for w in caught if issubclass(w.category, VersionMismatchWarning)]
    theirs = [w for w in caught if type(w.message).__name__ == "InconsistentVersionWarning"]
    assert len(ours) == 1 and not theirs
    assert f"pickled with scikit-learn {other} and is loaded with {sklearn.__version__}" in str(ours[0].message)
    assert list(loaded.predict(X)) == list(model.predict(X))


def _as_if_pickled_with(model, version, tmp_path, name="old.pkl"):
    """``model`` pickled, its recorded scikit-learn version replaced by ``version`` (same length)."""
    import sklearn

    data = pickle.dumps(model, protocol=4)
    current = f"\x8c\x05{sklearn.__version__}".encode("latin1")
    assert len(version) == len(sklearn.__version__) and current in data
    path = tmp_path / name
    path.write_bytes(data.replace(current, f"\x8c\x05{version}".encode("latin1")))
    return path


def _one_vs_rest_logistic():
    """A three-class LogisticRegression as scikit-learn before 1.8 kept one fitted one-vs-rest."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    model.multi_class = "ovr"  # what 1.7 stored; this scikit-learn scores every multiclass one with a softmax
    return model, X


def test_a_changed_predict_proba_is_withheld_and_predict_kept(tmp_path):
    """scikit-learn 1.8 dropped multi_class: a one-vs-rest model's probabilities would come out of a
    softmax, not as the version that fitted it computed them (0.33 apart on iris, measured with 1.1-1.7)."""
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model, X = _one_vs_rest_logistic()
    pipeline = make_pipeline(StandardScaler().fit(X), model)
    for fitted in (model, pipeline):  # alone, or as a pipeline's last step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VersionMismatchWarning)
            loaded = modelpack.load(_as_if_pickled_with(fitted, "1.5.2", tmp_path))
        np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
        assert not hasattr(loaded, "predict_proba") and "predict_proba" in loaded.withheld
        with pytest.raises(modelpack.UnsupportedModelError) as err:
            loaded.predict_proba(X)
        message = str(err.value)
        assert "one-vs-rest" in message and "predict is unaffected" in message and "\n" not in message
        assert "pip install scikit-learn==1.5.2" in message
    # the same object pickled by this version is this version's own model: nothing withheld
    assert modelpack.load(_as_if_pickled_with(model, sklearn.__version__, tmp_path, "now.pkl")).withheld == {}


def test_a_changed_member_of_an_ensemble_refuses_the_model(tmp_path):
    """A soft-voting ensemble's labels come from its members' probabilities: predict would change too."""
    from sklearn.ensemble import VotingClassifier
    from sklearn.tree import DecisionTreeClassifier

    member, X = _one_vs_rest_logistic()
    y = member.predict(X)
    voting = VotingClassifier([("lr", member), ("tree", DecisionTreeClassifier(random_state=0).fit(X, y))],
                              voting="soft").fit(X, y)
    voting.estimators_[0].multi_class = "ovr"
    with pytest.raises(modelpack.UnsupportedModelError, match="would not score it as scikit-learn 1.5.2 did"):
        modelpack.load(_as_if_pickled_with(voting, "1.5.2", tmp_path))


def test_samme_r_adaboost_is_refused_in_one_line(tmp_path):
    """SAMME.R, AdaBoost's default until 1.6, which removed it: this scikit-learn would score it as SAMME,
    with other labels (measured on pickles of 1.1-1.5)."""
    from sklearn.ensemble import AdaBoostClassifier

    X = np.random.default_rng(0).normal(size=(60, 3))
    model = AdaBoostClassifier(n_estimators=3, random_state=0).fit(X, X[:, 0] > 0)
    model.algorithm = "SAMME.R"
    from click.testing import CliRunner

    from modelpack.cli import cli

    path = _as_if_pickled_with(model, "1.5.2", tmp_path)
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output  # no warning line before it
    assert "algorithm='SAMME.R'" in result.output and "pip install scikit-learn==1.5.2" in result.output


def test_trusted_load_of_an_older_layout_says_the_safe_load_reads_it():
    """scikit-learn refuses a tree pickled before 1.3 (its nodes had no missing_go_to_left); modelpack's
    loader adds the field, as 0, and the tree predicts what it did (tests/foreign)."""
    from pathlib import Path

    path = Path(__file__).parent / "data" / "foreign" / "pickles" / "tree-iris-sklearn1.2.2.pkl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        with pytest.raises(modelpack.UnsupportedModelError) as err:
            modelpack.load(path, trust=True)
        message = str(err.value)
        assert "decision tree nodes in their layout before scikit-learn 1.3" in message and "\n" not in message
        assert "load it without trust=True" in message
        assert modelpack.load(path).predict(np.load(path.with_name("tree-iris-sklearn1.2.2.X.npy"))).shape == (15,)


def test_a_withheld_method_is_neither_recorded_nor_laundered_by_a_conversion(tmp_path):
    """Converting such a model records none of this version's answers for the withheld method, says it
    was not compared, and refuses a pickle, joblib or skops copy: that file would record this
    scikit-learn as its version, and its predict_proba would then be offered as the model's."""
    from sklearn.datasets import load_iris

    model, X = _one_vs_rest_logistic()
    path = _as_if_pickled_with(model, "1.5.2", tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        source = modelpack.load(path)
        for target, fmt in (("copy.joblib", "joblib"), ("copy.pkl", "pickle"), ("copy.skops", "skops")):
            with pytest.raises(modelpack.UnsupportedModelError, match=f"cannot be saved as {fmt} here"):
                modelpack.save(source, tmp_path / target, sample=X)
            assert not (tmp_path / target).exists()
        result = modelpack.convert(path, tmp_path / "m.onnx", data=load_iris(return_X_y=True)[0])
    report = result.report
    assert result.passed and [c.method for c in report.comparisons] == ["predict"]
    assert any(n.startswith("predict_proba is not compared: ") for n in report.notes), report.notes
    exported = modelpack.load(tmp_path / "m.onnx")
    assert sorted(exported.metadata.sample.outputs) == ["predict"]  # not this version's probabilities
    assert "predict_proba" in exported.metadata.extra["withheld_by_source"]
    # skl2onnx reads the model's multi_class: the export computes one-vs-rest, as the version that fitted it
    decision = model.decision_function(X)
    ovr = 1 / (1 + np.exp(-decision))
    np.testing.assert_allclose(exported.predict_proba(X), ovr / ovr.sum(axis=1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize("stream, said", [
    # 1.5-1.7's loss module name, admitted for scikit-learn's loss classes: built from numbers only
    (b"\x80\x02c_loss\nCyPinballLoss\nX\x04\x00\x00\x00halfq\x00\x85q\x01Rq\x02.",
     "CyPinballLoss may be created only from numbers"),
    # 1.5-1.6's remainder columns: names, indices or a mask, nothing else
    (b"\x80\x02csklearn.compose._column_transformer\n_RemainderColsList\n)\x81}X\x04\x00\x00\x00data]]asb.",
     "remainder columns are not column names"),
])
def test_what_older_layouts_admit_is_checked_as_strictly(tmp_path, stream, said):
    path = tmp_path / "old.pkl"
    path.write_bytes(stream)
    with pytest.raises(modelpack.UntrustedContentError, match=said) as err:
        modelpack.load(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("columns", [[2, 3], ["c", "d"], slice(2, 4), slice("c", "d"), slice("c", None)], ids=repr)
def test_a_passthrough_kept_by_an_older_column_transformer_transforms_as_it_did(tmp_path, columns):
    """Before 1.4 a fitted ColumnTransformer kept the string "passthrough", which 1.9's transform calls
    .transform on; it becomes the FunctionTransformer 1.4's fit stores, fitted on those columns."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 4)), columns=list("abcd"))
    transformer = ColumnTransformer([("scaled", StandardScaler(), ["a", "b"]), ("kept", "passthrough", columns)]).fit(X)
    expected = transformer.transform(X)
    transformer.transformers_ = [(n, "passthrough" if n == "kept" else t, c) for n, t, c in transformer.transformers_]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        loaded = modelpack.load(_as_if_pickled_with(transformer, "1.3.2", tmp_path))
    np.testing.assert_array_equal(loaded.transform(X), expected)


@pytest.mark.parametrize("extrapolation", ["constant", "linear", "continue", "periodic"])
def test_splines_pickled_by_an_older_scipy_are_made_again_and_checked(tmp_path, extrapolation):
    """Before scipy 1.15 a BSpline pickled its knots and coefficients as ``t`` and ``c``; 1.15 reads
    ``_t``, ``_c`` and an ``_asarray`` the old state lacks. SplineTransformer's splines are made again
    from the same arrays by BSpline's constructor, so they transform as they did; knots it would refuse
    are refused in one line, by the check every spline gets, whichever scipy stored it."""
    from sklearn.preprocessing import SplineTransformer

    X = np.random.default_rng(0).uniform(size=(40, 3))
    spline = SplineTransformer(n_knots=4, degree=3, extrapolation=extrapolation).fit(X)
    rows = X * 1.4 - 0.2  # beyond the knots too: extrapolated
    expected = spline.transform(rows)
    for b in spline.bsplines_:  # the state scipy 1.13 pickled
        b.__dict__ = {"t": np.asarray(b.t), "c": np.asarray(b.c), "k": b.k, "extrapolate": b.extrapolate, "axis": b.axis}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        loaded = modelpack.load(_as_if_pickled_with(spline, "1.5.2", tmp_path))
        np.testing.assert_array_equal(loaded.transform(rows), expected)

        spline.bsplines_[1].__dict__["t"] = spline.bsplines_[1].__dict__["t"][::-1].copy()  # knots out of order
        with pytest.raises(modelpack.UntrustedContentError, match="are not a spline: Knots must be") as err:
            modelpack.load(_as_if_pickled_with(spline, "1.5.2", tmp_path, "bad.pkl"))
    assert "\n" not in str(err.value)


def test_gradient_boosting_whose_start_1_4_clips_otherwise_is_refused(tmp_path):
    """Before 1.4 a GradientBoostingClassifier started from the log-odds of its initial estimator's
    probabilities clipped 1.2e-7 from 0 and 1; 1.4 clips them 2.2e-16 away. With a prior (the default)
    that matters only for a class rarer than 1 in 8 million; any other initial estimator may come that
    close on some row, so such a model is refused, and one with an ordinary prior is scored."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    prior = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        loaded = modelpack.load(_as_if_pickled_with(prior, "1.3.2", tmp_path))
        np.testing.assert_array_equal(loaded.predict_proba(X), prior.predict_proba(X))

        prior.init_.class_prior_ = np.array([1 - 1e-9, 1e-9])
        started = GradientBoostingClassifier(n_estimators=5, init=LogisticRegression(), random_state=0).fit(X, y)
        for model, name in ((prior, "rare.pkl"), (started, "started.pkl")):
            with pytest.raises(modelpack.UnsupportedModelError, match="clips at 2.2e-16") as err:
                modelpack.load(_as_if_pickled_with(model, "1.3.2", tmp_path, name))
            assert "pip install scikit-learn==1.3.2" in str(err.value) and "\n" not in str(err.value)


def test_an_iterative_imputer_from_before_1_6_drops_the_columns_it_dropped(tmp_path):
    """Before 1.6 IterativeImputer dropped the columns whose initial statistic is NaN (missing in every
    row it was fitted on), worked out at each transform; 1.6's fit keeps them as _is_empty_feature."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    X = np.random.default_rng(0).uniform(size=(60, 4))
    X[::4, 1], X[:, 3] = np.nan, np.nan  # the last column is empty: dropped
    imputer = IterativeImputer(random_state=0, max_iter=3).fit(X)
    expected = imputer.transform(X)
    del imputer._is_empty_feature, imputer.keep_empty_features  # what 1.1 stored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        loaded = modelpack.load(_as_if_pickled_with(imputer, "1.1.3", tmp_path))
        np.testing.assert_array_equal(loaded.transform(X), expected)
    assert expected.shape == (60, 3)
