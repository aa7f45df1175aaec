"""convert, check, verify and predict through Click's runner and through the installed command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import modelpack
from conftest import models
from modelpack.cli import cli

COMMAND = str(Path(sys.executable).parent / "modelpack")


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def saved(tmp_path):
    trained = models()["pipeline_frame"]
    path = tmp_path / "model.joblib"
    modelpack.save(trained.model, path, sample=trained.X)
    data = tmp_path / "data.csv"
    trained.X.to_csv(data, index=False)
    return trained, path, data


def test_convert_writes_checks_and_reports_json(saved, tmp_path):
    trained, path, data = saved
    out = tmp_path / "model.onnx"
    result = run("convert", path, "-o", out, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"] and report["rows"] == len(trained.X) and report["data_source"] == "data file data.csv"
    assert modelpack.load(out).format == "onnx"


def test_convert_refuses_to_overwrite_without_force(saved, tmp_path):
    _, path, _ = saved
    out = tmp_path / "model.skops"
    out.write_bytes(b"precious")
    result = run("convert", path, "-o", out)
    assert result.exit_code == 1 and "already exists; pass --force" in result.output
    assert out.read_bytes() == b"precious"
    assert run("convert", path, "-o", out, "--force").exit_code == 0
    assert modelpack.load(out).format == "skops"


def test_check_exits_nonzero_on_a_difference(saved, tmp_path):
    trained, path, data = saved
    import copy

    other = copy.deepcopy(trained.model)
    other[-1].coef_[0, -1] += 2
    altered = tmp_path / "altered.pkl"
    modelpack.save(other, altered)
    same = run("check", path, path, "--data", data)
    assert same.exit_code == 0 and "passed" in same.output
    differs = run("check", path, altered, "--data", data, "--json")
    assert differs.exit_code == 1
    report = json.loads(differs.output)
    assert not report["passed"] and report["comparisons"][0]["worst_rows"]


def test_verify(saved):
    _, path, _ = saved
    result = run("verify", path)
    assert result.exit_code == 0 and "20 (sample rows recorded in model.joblib)" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_predict_streams_batches_into_each_output_format(saved, tmp_path, suffix):
    trained, path, data = saved
    out = tmp_path / f"pred{suffix}"
    result = run("predict", path, "--data", data, "-o", out, "--proba", "--batch-size", "7")
    assert result.exit_code == 0, result.output
    frame = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".jsonl": lambda p: pd.read_json(p, lines=True)}[suffix](out)
    assert list(frame.columns) == ["prediction", "proba_no", "proba_yes"]
    assert list(frame["prediction"]) == list(trained.model.predict(trained.X))
    np.testing.assert_allclose(frame[["proba_no", "proba_yes"]].to_numpy(), trained.model.predict_proba(trained.X), rtol=1e-9)


def test_predict_to_stdout_and_from_npy(tmp_path):
    trained = models()["linear_regression"]
    path = tmp_path / "m.onnx"
    modelpack.save(trained.model, path, sample=trained.X)
    npy = tmp_path / "x.npy"
    np.save(npy, trained.X)
    result = run("predict", path, "--data", npy, "--batch-size", "50")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert lines[0] == "prediction" and len(lines) == len(trained.X) + 1
    np.testing.assert_allclose([float(v) for v in lines[1:]], trained.model.predict(trained.X), rtol=1e-4)


@pytest.mark.parametrize("case", ["missing_file", "unknown_extension", "wrong_columns", "empty_data", "wrong_to", "onnx_source"])
def test_bad_input_is_one_line_nonzero_and_writes_nothing(saved, tmp_path, case):
    trained, path, data = saved
    out = tmp_path / "out.onnx"
    if case == "missing_file":
        args, expected = ["convert", tmp_path / "nope.joblib", "-o", out], "does not exist"
    elif case == "unknown_extension":
        out = tmp_path / "out.weird"
        args, expected = ["convert", path, "-o", out], "could not deduce a format from the extension of 'out.weird'"
    elif case == "wrong_columns":
        bad = tmp_path / "bad.csv"
        trained.X.drop(columns=["city"]).to_csv(bad, index=False)
        args, expected = ["convert", path, "-o", out, "--data", bad], "bad.csv: missing column(s) city"
    elif case == "empty_data":
        empty = tmp_path / "empty.csv"
        empty.write_text("")
        args, expected = ["convert", path, "-o", out, "--data", empty], "empty.csv is empty"
    elif case == "wrong_to":
        args, expected = ["convert", path, "-o", out, "--to", "feather"], "Invalid value for '--to'"
    else:
        src = tmp_path / "m.onnx"
        modelpack.save(trained.model, src, sample=trained.X)
        out = tmp_path / "back.joblib"
        args, expected = ["convert", src, "-o", out], "cannot convert m.onnx (onnx) to joblib"
    proc = subprocess.run([COMMAND, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1
    assert not out.exists()


def test_help_texts_start_with_a_summary_and_show_an_example():
    for name in ("convert", "check", "verify", "predict", "info", "formats"):
        result = run(name, "--help")
        assert result.exit_code == 0 and "Example" in result.output, name
    version = subprocess.run([COMMAND, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"modelpack, version {modelpack.__version__}"


def test_predict_on_a_header_only_file_writes_nothing(saved, tmp_path):
    trained, path, _ = saved
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(trained.X.columns) + "\n")
    out = tmp_path / "pred.csv"
    result = run("predict", path, "--data", header_only, "-o", out)
    assert result.exit_code == 1 and "header.csv has no rows; nothing was written" in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.joblib", "model.joblib.modelpack.json", "data.csv", "header.csv"])


def test_first_hour_output_on_a_narrow_terminal(saved):
    """info: no empty header row, the whole sha256 (folded, not cut); help: no sentence cut short."""
    _, path, _ = saved
    env = {**os.environ, "COLUMNS": "60"}
    done = subprocess.run([COMMAND, "info", str(path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "file" in lines[1] and "━" not in lines[2]  # the first row is data, not an empty header
    from modelpack.info import describe

    digest = describe(str(path)).sha256
    cells = "".join(line.split("│")[2].strip() for line in lines if line.count("│") == 3)
    assert digest in cells and "…" not in done.stdout
    helped = subprocess.run([COMMAND, "--help"], capture_output=True, text=True, env=env)
    commands = helped.stdout.split("Commands:")[1]
    assert "..." not in commands and "…" not in commands
    assert "versions, size and sha256." in " ".join(helped.stdout.split())


def test_messages_name_options_as_the_cli_spells_them(saved, tmp_path):
    _, path, _ = saved
    result = run("convert", path, "-o", tmp_path / "model.unknown")
    assert result.exit_code == 1 and "pass --to with one of" in result.output and "format=" not in result.output
    hostile = tmp_path / "evil.joblib"
    import joblib

    joblib.dump(print, hostile)  # a builtin: refused without trust
    result = run("verify", hostile)
    assert result.exit_code == 1 and "--trust" in result.output and "trust=True" not in result.output
