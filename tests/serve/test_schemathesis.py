"""schemathesis against serve's own OpenAPI document: whatever a client sends, never a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modelpack
from conftest import extension, models
from serve.test_serve import running

SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")


@pytest.mark.parametrize("format_name", ["onnx", "joblib"])
def test_no_request_gets_a_server_error(tmp_path, format_name):
    trained = models()["pipeline_frame"]
    path = tmp_path / f"model{extension(format_name)}"
    modelpack.save(trained.model, path, sample=trained.X)
    with running(path) as url:
        result = subprocess.run(
            [SCHEMATHESIS, "run", f"{url}/openapi.json", "--checks", "not_a_server_error", "--max-examples", "80",
             "--seed", "1", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache stays out of the repo
        )
    assert result.returncode == 0, result.stdout[-4000:]
    assert " generated, " in result.stdout and " failed" not in result.stdout.split("Test cases:")[-1], result.stdout[-2000:]
