"""H2O MOJOs: saved from models trained on a local H2O cluster, scored in-process by genmodel
exactly as the cluster scores them, described without Java; POJOs refused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from serve.test_serve import COMMAND, free_port

import modelpack
import modelpack.errors
from modelpack.errors import UnsupportedModelError

h2o = pytest.importorskip("h2o")
pytest.importorskip("jpype")

RNG = np.random.default_rng(0)
N = 600


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.normal(50, 10, n).round(2),
        "region": rng.choice(["501", "502", "610", "733"], n),  # codes: levels, not numbers
        "plan": rng.choice(["basic", "plus", "pro"], n),
    })
    table.loc[::13, "income"] = np.nan  # missing values: NA to H2O
    table.loc[::29, "plan"] = None
    return table


@pytest.fixture(scope="module")
def cluster():
    h2o.init(nthreads=2, max_mem_size="1G", port=free_port(), verbose=False)
    h2o.no_progress()
    yield h2o
    h2o.cluster().shutdown()


@pytest.fixture(scope="module")
def trained(cluster):
    from h2o.estimators import (
        H2ODeepLearningEstimator,
        H2OGeneralizedLinearEstimator,
        H2OGradientBoostingEstimator,
        H2ORandomForestEstimator,
    )

    table = _table(N, 0)
    score = (table.age > 40).astype(int) + table.region.isin(["501", "502"]) + (table.plan == "pro")
    table["churn"] = np.where(score >= 2, "yes", "no")
    table["tier"] = np.array(["low", "mid", "high"])[np.clip(score, 0, 2)]
    table["spend"] = table.age * 0.5 + table.income.fillna(50) + table.plan.map({"basic": 0, "plus": 5, "pro": 9}).fillna(0)
    types = {"region": "enum", "plan": "enum", "churn": "enum", "tier": "enum"}
    frame = h2o.H2OFrame(table, column_types=types, na_strings={"plan": ["nan"]})
    inputs = ["age", "income", "region", "plan"]
    models = {
        "gbm_binomial": H2OGradientBoostingEstimator(ntrees=20, max_depth=3, seed=1),
        "drf_multinomial": H2ORandomForestEstimator(ntrees=10, max_depth=5, seed=1),
        "glm_regression": H2OGeneralizedLinearEstimator(family="gaussian"),
        "deeplearning_binomial": H2ODeepLearningEstimator(hidden=[8], epochs=5, seed=1, reproducible=True),
    }
    targets = {"gbm_binomial": "churn", "drf_multinomial": "tier", "glm_regression": "spend",
               "deeplearning_binomial": "churn"}
    for name, model in models.items():
        model.train(x=inputs, y=targets[name], training_frame=frame)
    return models, table[inputs]


def _cluster_answers(model, rows: pd.DataFrame) -> pd.DataFrame:
    data = rows.copy()
    for name in ("region", "plan"):
        data[name] = [None if v is None or v != v else str(v) for v in data[name].astype(object)]
    frame = h2o.H2OFrame(data, column_types={"age": "real", "income": "real", "region": "enum", "plan": "enum"},
                         na_strings={"region": ["nan"], "plan": ["nan"]})  # h2o's upload writes None as "nan"
    answer = model.predict(frame).as_data_frame(use_pandas=False, header=True)
    return pd.DataFrame(answer[1:], columns=answer[0])


@pytest.mark.parametrize("name", ["gbm_binomial", "drf_multinomial", "glm_regression", "deeplearning_binomial"])
def test_the_mojo_scores_new_rows_as_the_cluster_does(trained, tmp_path, name):
    models, sample = trained
    model = models[name]
    path = tmp_path / f"{name}.zip"
    metadata = modelpack.save(model, path, sample=sample[:50])
    new = _table(400, 1)
    new.loc[3, "region"] = "999"  # a level the model never saw: NA, as the cluster scores it
    expected = _cluster_answers(model, new)
    loaded = modelpack.load(path)
    assert loaded.format == "h2o" and metadata.versions["h2o"] == h2o.__version__
    if name == "glm_regression":
        assert metadata.task == "regressor"
        np.testing.assert_allclose(loaded.predict(new), expected["predict"].astype(float), rtol=1e-9)
        return
    assert metadata.task == "classifier" and list(loaded.classes_) == list(expected.columns[1:])
    assert list(loaded.predict(new)) == list(expected["predict"])
    np.testing.assert_allclose(loaded.predict_proba(new), expected.iloc[:, 1:].astype(float), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["gbm_binomial", "drf_multinomial", "glm_regression", "deeplearning_binomial"])
def test_the_bulk_path_answers_as_genmodels_row_api(trained, tmp_path, name):
    """The fast path (numpy to a double[][], score0 per row) against EasyPredictModelWrapper, row by row."""
    models, sample = trained
    modelpack.save(models[name], tmp_path / "m.zip")
    new = _table(300, 2)
    new.loc[5, "plan"] = "platinum"
    fast, slow = modelpack.load(tmp_path / "m.zip"), modelpack.load(tmp_path / "m.zip")
    assert fast.fast
    slow.fast = False
    with pytest.warns(modelpack.errors.UnknownCategoryWarning):
        np.testing.assert_array_equal(fast.predict(new), slow.predict(new))
    if name != "glm_regression":
        np.testing.assert_array_equal(fast.predict_proba(new), slow.predict_proba(new))


def test_save_records_the_clusters_answers_and_verify_reruns_them(trained, tmp_path):
    models, sample = trained
    path = tmp_path / "gbm.zip"
    metadata = modelpack.save(models["gbm_binomial"], path, sample=sample[:30])
    assert metadata.sample is not None and len(metadata.sample.inputs) == 20
    assert {f.name: f.dtype for f in metadata.input_schema.features} == \
        {"age": "float64", "income": "float64", "region": "string", "plan": "string"}
    assert dict((f.name, f.categories) for f in metadata.input_schema.features)["region"] == ("501", "502", "610", "733")
    report = modelpack.verify(modelpack.load(path))  # the MOJO, without the cluster, against the cluster's answers
    assert report.passed and {c.method for c in report.comparisons} == {"predict", "predict_proba"}


def test_info_reads_model_ini_without_java_or_h2o(trained, tmp_path):
    models, sample = trained
    path = tmp_path / "drf.zip"
    modelpack.save(models["drf_multinomial"], path, sample=sample[:10])
    code = ("import sys, json; from modelpack.info import describe; d = describe(sys.argv[1]).to_dict(); "
            "print(json.dumps({'d': d, 'mods': [m for m in ('jpype', 'h2o', 'sklearn') if m in sys.modules]}, default=str))")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["mods"] == []
    details = out["d"]["details"]
    assert details["function"] == "Multinomial" and details["algorithm"] == "Distributed Random Forest"
    assert details["classes"] == ["high", "low", "mid"]
    assert {i["name"]: i.get("values") for i in details["inputs"]}["plan"] == ["basic", "plus", "pro"]


def test_a_plain_mojo_from_h2o_is_described_from_its_own_declarations(trained, tmp_path):
    models, sample = trained
    plain = models["gbm_binomial"].download_mojo(path=str(tmp_path))  # written by H2O alone: no modelpack.json
    model = modelpack.load(plain)
    assert model.metadata.task == "classifier" and model.metadata.classes == ["no", "yes"]
    kinds = {f.name: f.dtype for f in model.metadata.input_schema.features}
    assert kinds == {"age": "float64", "income": "float64", "region": "string", "plan": "string"}
    rows = sample[:40].copy()
    rows["region"] = rows["region"].astype(int)  # as a CSV reader gives them: typed back to the levels "501"...
    assert list(model.predict(rows)) == list(_cluster_answers(models["gbm_binomial"], sample[:40])["predict"])


def test_cli_predict_serve_and_check(trained, tmp_path):
    import httpx
    from serve.test_serve import running

    models, sample = trained
    path = tmp_path / "gbm.zip"
    modelpack.save(models["gbm_binomial"], path, sample=sample[:20])
    sample.to_csv(tmp_path / "rows.csv", index=False)
    done = subprocess.run([COMMAND, "predict", str(path), "--data", str(tmp_path / "rows.csv"), "--proba"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "prediction,proba_no,proba_yes" and len(lines) == len(sample) + 1
    expected = list(_cluster_answers(models["gbm_binomial"], sample)["predict"])
    assert [line.split(",")[0] for line in lines[1:]] == expected
    converted = subprocess.run([COMMAND, "convert", str(path), "-o", str(tmp_path / "gbm.onnx")], capture_output=True, text=True)
    assert converted.returncode == 1 and "an h2o file holds no estimator" in converted.stderr
    assert not (tmp_path / "gbm.onnx").exists()
    (tmp_path / "copy.zip").write_bytes(path.read_bytes())
    check = subprocess.run([COMMAND, "check", str(path), str(tmp_path / "copy.zip"), "--data", str(tmp_path / "rows.csv")],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "passed" in check.stdout
    with running(path) as url:
        rows = sample[:5].astype(object).where(sample[:5].notna(), None).to_dict("records")
        answer = httpx.post(url + "/predict", json=rows)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == expected[:5]
        assert '<select name="region"' in httpx.get(url + "/").text


def test_pojos_and_non_mojos_are_refused_in_one_line(trained, tmp_path):
    models, _ = trained
    pojo = h2o.download_pojo(models["glm_regression"], path=str(tmp_path))
    with pytest.raises(UnsupportedModelError, match="POJO is Java source"):
        modelpack.load(pojo)
    done = subprocess.run([COMMAND, "info", pojo], capture_output=True, text=True)
    assert done.returncode == 0 and "POJO" in done.stdout  # described, and what load would refuse
    (tmp_path / "x.csv").write_text("age,income,region,plan\n40,50,501,pro\n")
    done = subprocess.run([COMMAND, "predict", pojo, "--data", str(tmp_path / "x.csv")], capture_output=True, text=True)
    assert done.returncode != 0 and "download_mojo" in done.stderr and "Traceback" not in done.stderr
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "not a model")
    done = subprocess.run([COMMAND, "info", str(tmp_path / "other.zip"), "--format", "h2o"], capture_output=True, text=True)
    assert done.returncode == 1 and "not an H2O MOJO" in done.stderr


def test_pmml_and_h2o_share_one_jvm_in_a_process(trained, tmp_path):
    from conftest import models as sklearn_models

    models, sample = trained
    modelpack.save(models["glm_regression"], tmp_path / "glm.zip", sample=sample[:10])
    trained_pmml = sklearn_models()["logistic"]
    modelpack.save(trained_pmml.model, tmp_path / "m.pmml", sample=trained_pmml.X)
    code = ("import sys, modelpack, numpy as np; p = modelpack.load(sys.argv[1]); h = modelpack.load(sys.argv[2]); "
            "print(modelpack.verify(p).passed, modelpack.verify(h).passed)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.pmml"), str(tmp_path / "glm.zip")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"]


def test_a_member_inflating_past_the_budget_is_refused_before_genmodel_reads_it(trained, tmp_path):
    from safety.hostile import add_zip_bomb

    models, _ = trained
    path = tmp_path / "bomb.zip"
    modelpack.save(models["gbm_binomial"], path)
    add_zip_bomb(path, "trees/t99_000.bin")
    with pytest.raises(modelpack.errors.ResourceLimitError, match="zip member trees/t99_000.bin: 320 MiB"):
        modelpack.load(path)
