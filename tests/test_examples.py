"""The examples, and the README's main command, run for real."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import modelpack
from conftest import example_module

ROOT = Path(__file__).resolve().parent.parent


def _readme_main_command() -> str:
    text = (ROOT / "README.md").read_text()
    line = next(line for line in text.splitlines() if line.startswith("pip install"))
    return re.sub(r"^pip install [^&]+&& ", "", line)  # installing is what the suite already did


def test_readme_main_command_trains_converts_and_checks(tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    bindir = Path(sys.executable).parent
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for _ in range(2):  # a user runs it again: it must work the second time too
        proc = subprocess.run(["bash", "-c", _readme_main_command()], cwd=tmp_path, env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "passed" in proc.stdout and "wrote out/churn.onnx (onnx)" in proc.stdout
    converted = modelpack.load(tmp_path / "out" / "churn.onnx")
    assert converted.metadata.extra["precision"] == "double"
    assert modelpack.verify(converted).passed


def test_quickstart_model_fails_a_float32_check_and_auto_precision_avoids_it(tmp_path):
    """The bundled forest is the real case: float32 ONNX flips a split inside some trees."""
    train = example_module("quickstart")
    src = train.main(tmp_path)
    data = ROOT / "examples" / "quickstart" / "churn.csv"
    result = modelpack.convert(src, tmp_path / "churn.onnx", data=data, precision="float")
    assert result.report.rows == 400
    assert not result.passed
    proba = next(c for c in result.report.comparisons if c.method == "predict_proba")
    assert proba.max_abs_diff > 0.01 and proba.worst_rows  # a whole tree's vote moved, not rounding noise
    assert any("--precision double" in note for note in result.report.notes)
    double = modelpack.convert(src, tmp_path / "churn64.onnx", data=data, precision="double")
    assert double.passed
    auto = modelpack.convert(src, tmp_path / "auto.onnx", data=data)  # the default, as in `modelpack --help`
    assert auto.passed and auto.metadata.extra["precision"] == "double"
    assert "float32 moves predict_proba" in auto.metadata.extra["precision_choice"]
