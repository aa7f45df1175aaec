"""convert + check over every format pair, both ways: true conversions pass, altered models fail."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest

import modelpack
from conftest import MODEL_NAMES, UNSUPPORTED, extension, models

SOURCES = [n for n in modelpack.format_names() if modelpack.get_format(n).holds_python_object]


def _altered(name: str):
    """The same model with one deliberate change that must show in its outputs."""
    model = copy.deepcopy(models()[name].model)
    if name == "logistic":
        model.coef_[0, 0] += 0.8
    elif name == "linear_regression":
        model.coef_[1] += 0.5
    elif name == "forest_strings":
        model.estimators_ = model.estimators_[:-3]
        model.n_estimators = len(model.estimators_)
    elif name == "pipeline_frame":
        model[-1].coef_[0, -1] += 2.0
    elif name == "kmeans":
        model.cluster_centers_ = model.cluster_centers_[[1, 2, 0]]
    elif name == "pca":
        model.components_ = model.components_ * 1.1
    return model


@pytest.mark.parametrize("model_name", MODEL_NAMES)
@pytest.mark.parametrize("source", SOURCES)
def test_every_pair_passes_true_and_fails_altered(tmp_path, format_name, source, model_name):
    trained = models()[model_name]
    src = tmp_path / f"src{extension(source)}"
    modelpack.save(trained.model, src, sample=trained.X)
    dst = tmp_path / f"dst{extension(format_name)}"
    if (format_name, model_name) in UNSUPPORTED:
        with pytest.raises(modelpack.UnsupportedModelError):
            modelpack.convert(src, dst, data=trained.X)
        assert not dst.exists()
        return
    result = modelpack.convert(src, dst, data=trained.X)
    assert result.report is not None and result.report.passed, result.report.to_dict()
    assert result.report.rows == len(trained.X) and result.report.data_source == "data passed in"
    assert {c.method for c in result.report.comparisons} >= ({"transform"} if trained.task == "transformer" else {"predict"})

    altered = tmp_path / f"altered{extension(format_name)}"
    modelpack.save(_altered(model_name), altered, sample=trained.X)
    report = modelpack.check(modelpack.load(src), modelpack.load(altered), trained.X)
    assert not report.passed and report.verdict == "FAILED"
    failing = [c for c in report.comparisons if not c.passed]
    assert failing and all(c.worst_rows for c in failing)
    row = failing[0].worst_rows[0]
    assert 0 <= row["row"] < len(trained.X) and row["a"] != row["b"] and row["input"]


def test_default_check_uses_recorded_sample_then_synthesized_rows(tmp_path):
    trained = models()["pipeline_frame"]
    src = tmp_path / "m.joblib"
    modelpack.save(trained.model, src, sample=trained.X)
    result = modelpack.convert(src, tmp_path / "m.skops")
    assert result.report.data_source == "sample rows recorded in m.joblib" and result.report.rows == 20
    bare = tmp_path / "bare.joblib"
    modelpack.save(trained.model, bare)  # no sample: rows come from the schema
    result = modelpack.convert(bare, tmp_path / "bare.onnx")
    assert result.report.data_source.startswith("rows synthesized") and result.report.passed


def test_check_that_compares_nothing_fails(tmp_path):
    trained = models()["logistic"]
    a = tmp_path / "a.joblib"
    modelpack.save(trained.model, a)
    report = modelpack.check(modelpack.load(a), modelpack.load(a), trained.X[:0])
    assert not report.passed and report.verdict == "FAILED: nothing was compared"


def test_min_agreement_allows_a_stated_share_of_flips(tmp_path):
    trained = models()["logistic"]
    a, b = tmp_path / "a.joblib", tmp_path / "b.joblib"
    modelpack.save(trained.model, a)
    modelpack.save(_altered("logistic"), b)
    strict = modelpack.check(modelpack.load(a), modelpack.load(b), trained.X)
    labels = next(c for c in strict.comparisons if c.method == "predict")
    assert 0.5 < labels.agreement < 1
    loose = modelpack.check(modelpack.load(a), modelpack.load(b), trained.X, min_agreement=labels.agreement, atol=1.0)
    assert loose.passed


def test_onnx_source_is_refused_up_front(tmp_path):
    trained = models()["logistic"]
    src = tmp_path / "m.onnx"
    modelpack.save(trained.model, src, sample=trained.X)
    with pytest.raises(modelpack.UnsupportedModelError, match="cannot convert m.onnx \\(onnx\\) to joblib"):
        modelpack.convert(src, tmp_path / "m.joblib")
    assert not (tmp_path / "m.joblib").exists()


def test_failed_float32_tree_check_suggests_double(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = 1e6 + rng.normal(size=(2000, 5)) * 0.05
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    src = tmp_path / "m.joblib"
    modelpack.save(HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y), src, sample=X)
    with pytest.warns(UserWarning, match="precision='double'"):
        result = modelpack.convert(src, tmp_path / "m.onnx", data=X, precision="float")
    assert not result.passed and (tmp_path / "m.onnx").exists()
    assert any("--precision double" in n for n in result.report.notes)
    assert modelpack.convert(src, tmp_path / "d.onnx", data=X, precision="double").passed
    auto = modelpack.convert(src, tmp_path / "a.onnx", data=X)  # the default chooses double, and says why
    assert auto.passed and auto.metadata.extra["precision_choice"].startswith("double: float32")


def test_verify_reruns_recorded_rows(tmp_path, format_name):
    trained = models()["forest_strings"]
    path = tmp_path / f"m{extension(format_name)}"
    modelpack.save(trained.model, path, sample=trained.X)
    report = modelpack.verify(modelpack.load(path))
    assert report.passed and report.rows == 20


def test_verify_without_sample_says_there_is_nothing_to_rerun_and_how_to_prove_it(tmp_path):
    path = tmp_path / "m.joblib"
    modelpack.save(models()["logistic"].model, path)
    report = modelpack.verify(modelpack.load(path))
    assert not report.passed and report.nothing_recorded and report.verdict.startswith("nothing to verify")
    assert "carries no sample rows" in report.notes[0] and "modelpack check ORIGINAL m.joblib --data" in report.notes[0]
    result = subprocess.run([sys.executable, "-m", "modelpack", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "" and result.stderr.count("\n") == 1
