"""A fast subset of the conformance matrix (tools/conformance.py; the full one is `nox -s conformance`):
no cell may be a traceback, and models every format can hold must pass through every format."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import conformance  # noqa: E402

SUBSET = ["LogisticRegression", "RandomForestClassifier", "HistGradientBoostingClassifier", "MLPRegressor",
          "GradientBoostingClassifier", "KMeans", "StandardScaler", "SVC", "GridSearchCV", "LGBMClassifier",
          # each of these once gave a traceback: sparse outputs, an empty output, [1, N] ONNX labels,
          # skops refusing a type, onnxruntime failing at run time, a model that cannot score its sample
          "TfidfTransformer", "MissingIndicator", "QuadraticDiscriminantAnalysis", "Birch",
          "RadiusNeighborsRegressor", "PatchExtractor"]


@pytest.fixture(scope="module")
def results():
    found, skipped = conformance.cases(SUBSET)
    assert set(skipped) <= {"QuadraticDiscriminantAnalysis (pipeline)", "RadiusNeighborsRegressor (pipeline)"}, skipped
    return conformance.matrix(found, conformance.FORMATS)


def test_no_cell_is_a_traceback(results):
    errors = {(name, fmt): row[fmt][1] for name, row in results.items() for fmt in row if row[fmt][0] == "error"}
    assert errors == {}


@pytest.mark.parametrize("name", ["LogisticRegression", "LogisticRegression (pipeline)", "RandomForestClassifier",
                                  "RandomForestClassifier (pipeline)", "HistGradientBoostingClassifier",
                                  "GradientBoostingClassifier", "MLPRegressor", "MLPRegressor (pipeline)", "SVC"])
def test_common_models_pass_through_every_format(results, name):
    assert {fmt: status for fmt, (status, _) in results[name].items()} == dict.fromkeys(conformance.FORMATS, "ok"), \
        results[name]


def test_every_refusal_is_one_line_with_a_reason(results):
    for name, row in results.items():
        for fmt, (status, reason) in row.items():
            if status == "refused":
                assert reason and "\n" not in reason, (name, fmt)
