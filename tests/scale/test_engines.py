"""Spark and Dask score a model file as `modelpack predict` does, on real local engines.

A local Spark session (``local[2]``, its own JVM) and a ``distributed.LocalCluster`` with two
worker processes: each worker loads the file through modelpack's loader and re-runs the
sample rows it records before scoring.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack.errors import ModelpackError

pytest.importorskip("pyspark")
pytest.importorskip("distributed")

RNG = np.random.default_rng(0)
FRAME = pd.DataFrame(RNG.normal(size=(3000, 4)), columns=["a", "b", "c", "d"])
FRAME["color"] = RNG.choice(["red", "green", "501"], size=len(FRAME))  # "501" is a category, not a number
TARGET = np.where(FRAME.a + FRAME.b > 0, "yes", "no")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    folder = tmp_path_factory.mktemp("engines")
    pipe = make_pipeline(make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough"),
                         RandomForestClassifier(20, random_state=0)).fit(FRAME, TARGET)
    modelpack.save(pipe, folder / "m.joblib", sample=FRAME[:30])
    assert modelpack.convert(folder / "m.joblib", folder / "m.onnx", data=FRAME).passed
    assert modelpack.convert(folder / "m.joblib", folder / "m.skops", data=FRAME[:50]).passed
    FRAME.to_parquet(folder / "rows.parquet")
    return folder


def _expected(path: Path) -> tuple[np.ndarray, np.ndarray]:
    local = modelpack.load(path)
    return local.predict(FRAME), local.predict_proba(FRAME)


def _same_numbers(actual: np.ndarray, path: Path, expected: np.ndarray) -> None:
    """Equal within the format's own arithmetic: onnxruntime on one thread (a worker's) sums a
    forest's votes in another order than on two, which moves float32 results by an ulp."""
    rtol, atol = modelpack.load(path).tolerance
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def _drifted(models: Path, tmp_path: Path) -> Path:
    """A joblib file whose recorded sample outputs no environment reproduces (the payload is intact)."""
    shutil.copy(models / "m.joblib", tmp_path / "m.joblib")
    sidecar = json.loads((models / "m.joblib.modelpack.json").read_text())
    sidecar["sample"]["outputs"]["predict"] = ["maybe"] * len(sidecar["sample"]["outputs"]["predict"])
    (tmp_path / "m.joblib.modelpack.json").write_text(json.dumps(sidecar))
    return tmp_path / "m.joblib"


# -- Spark ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("modelpack tests")
               .config("spark.ui.enabled", "false").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.parametrize("name", ["m.onnx", "m.joblib", "m.skops"])
def test_spark_udf_scores_as_local_predict(spark, models, name):
    from pyspark.sql.functions import col, struct

    from modelpack.spark import predict_udf

    frame = spark.read.parquet(str(models / "rows.parquet"))
    labels, probabilities = _expected(models / name)
    with_proba = predict_udf(spark, models / name, proba=True)
    out = frame.select(with_proba(struct(*frame.columns)).alias("s")).select("s.*").toPandas()
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes"]
    assert list(out.prediction) == list(labels)
    _same_numbers(out[["proba_no", "proba_yes"]].to_numpy(), models / name, probabilities)
    positional = predict_udf(spark, models / name)  # columns in the model's order
    out = frame.select(positional(*[col(c) for c in ["a", "b", "c", "d", "color"]]).alias("p")).toPandas()
    assert list(out.p) == list(labels)


def test_spark_cli_writes_a_folder_or_nothing(models, tmp_path):
    command = [sys.executable, "-m", "modelpack", "predict", str(models / "m.onnx"), "--data",
               str(models / "rows.parquet"), "-o", str(tmp_path / "scored"), "--engine", "spark",
               "--master", "local[2]", "--proba"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote 3,000 predictions" in done.stderr and "Traceback" not in done.stderr
    scored = pd.read_parquet(tmp_path / "scored")
    assert list(scored.columns) == [*FRAME.columns, "prediction", "proba_no", "proba_yes"]
    labels, _ = _expected(models / "m.onnx")
    assert sorted(scored.prediction) == sorted(labels)

    FRAME.drop(columns=["color"]).to_parquet(tmp_path / "no-color.parquet")
    command[6], command[8] = str(tmp_path / "no-color.parquet"), str(tmp_path / "failed")
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Error: a Spark worker failed:")
    assert "missing column(s) color" in done.stderr
    assert not (tmp_path / "failed").exists() and not list(tmp_path.glob(".failed*"))


def test_a_spark_worker_that_scores_the_recorded_rows_differently_stops_the_job(spark, models, tmp_path):
    from modelpack.spark import predict_files

    drifted = _drifted(models, tmp_path)
    with pytest.raises(ModelpackError) as err:
        predict_files(drifted, str(models / "rows.parquet"), tmp_path / "out")
    assert "scores the sample rows recorded in m.joblib differently" in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()


# -- Dask -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


@pytest.mark.parametrize("name", ["m.onnx", "m.joblib", "m.skops"])
def test_dask_scores_as_local_predict_on_two_worker_processes(dask_client, models, name):
    import dask.dataframe as dd

    import modelpack.dask

    labels, probabilities = _expected(models / name)
    ddf = dd.from_pandas(FRAME, npartitions=4)
    out = modelpack.dask.predict(ddf, models / name, proba=True).compute()
    assert list(out.prediction) == list(labels)
    _same_numbers(out[["proba_no", "proba_yes"]].to_numpy(), models / name, probabilities)
    pids = dask_client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2  # two worker processes, each loaded the file itself


def test_dask_without_a_cluster_runs_in_this_process(models):
    import dask
    import dask.dataframe as dd

    import modelpack.dask

    with dask.config.set(scheduler="synchronous"):
        out = modelpack.dask.predict(dd.from_pandas(FRAME, npartitions=3), models / "m.onnx",
                                     keep_columns=True).compute()
    assert list(out.columns) == [*FRAME.columns, "prediction"]
    assert list(out.prediction) == list(_expected(models / "m.onnx")[0])


def test_dask_cli_and_its_failures(models, tmp_path):
    command = [sys.executable, "-m", "modelpack", "predict", str(models / "m.joblib"), "--data",
               str(models / "rows.parquet"), "-o", str(tmp_path / "scored"), "--engine", "dask", "--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(pd.read_parquet(tmp_path / "scored").prediction) == list(_expected(models / "m.joblib")[0])
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr

    drifted = _drifted(models, tmp_path)
    command[4], command[8] = str(drifted), str(tmp_path / "drifted-out")
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "scores the sample rows recorded in m.joblib differently" in done.stderr
    assert not (tmp_path / "drifted-out").exists()


def test_dask_scores_pmml_with_one_jvm_per_worker(dask_client, models):
    import dask.dataframe as dd

    import modelpack.dask

    pytest.importorskip("jpmml_evaluator")
    pmml = models / "m.pmml"
    if not pmml.exists():
        assert modelpack.convert(models / "m.joblib", pmml, data=FRAME[:200]).passed
    labels, probabilities = _expected(pmml)
    out = modelpack.dask.predict(dd.from_pandas(FRAME, npartitions=4), pmml, proba=True).compute()
    assert list(out.prediction) == list(labels)
    _same_numbers(out[["proba_no", "proba_yes"]].to_numpy(), pmml, probabilities)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_ships_an_onnx_files_external_data_and_leaves_no_copy_behind(dask_client, models, tmp_path):
    """Weights an ONNX file keeps in another file (how models over 2 GB must be saved) travel with
    it to each worker, which loads its copy and removes it: engines end worker processes without
    running atexit, so a copy left for later stayed in the temporary folder for good."""
    import glob
    import tempfile

    import dask.dataframe as dd
    import onnx
    from onnx import numpy_helper
    from sklearn.compose import make_column_transformer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import modelpack.dask

    pipe = make_pipeline(make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough"),
                         MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0)).fit(FRAME, TARGET)
    modelpack.save(pipe, tmp_path / "mlp.joblib", sample=FRAME[:30])
    assert modelpack.convert(tmp_path / "mlp.joblib", tmp_path / "inline.onnx", data=FRAME[:200]).passed
    graph = onnx.load(tmp_path / "inline.onnx")
    for tensor in graph.graph.initializer:  # as raw bytes, which onnx moves to the data file
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))
    (tmp_path / "weights").mkdir()
    onnx.save_model(graph, tmp_path / "mlp.onnx", save_as_external_data=True, location="weights/mlp.data",
                    size_threshold=256)
    assert modelpack.get_format("onnx").companion_files(tmp_path / "mlp.onnx") == ["weights/mlp.data"]

    def copies() -> list[str]:
        return sorted(glob.glob(f"{tempfile.gettempdir()}/modelpack-worker-*"))

    before = dask_client.run(copies)
    labels, probabilities = _expected(tmp_path / "mlp.onnx")
    out = modelpack.dask.predict(dd.from_pandas(FRAME, npartitions=4), tmp_path / "mlp.onnx", proba=True).compute()
    assert list(out.prediction) == list(labels)
    _same_numbers(out[["proba_no", "proba_yes"]].to_numpy(), tmp_path / "mlp.onnx", probabilities)
    assert dask_client.run(copies) == before
