"""Installing what the examples need (npm packages), once per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def npm_ci(folder: Path) -> None:
    """`npm ci` from the committed lockfile unless node_modules is already in place."""
    if (folder / "node_modules" / ".package-lock.json").exists():
        return
    env = {**os.environ, "ONNXRUNTIME_NODE_INSTALL_CUDA": "skip"}
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, env=env, check=True,
                   capture_output=True, timeout=600)


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are needed for the examples/node test (apt-get install nodejs npm)")
    return path
