"""The distribution as a user gets it: a wheel built from this tree, installed in a fresh venv,
and the Docker build context `serve --dockerfile` writes, installed and run short of the image."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve.test_serve import running

import modelpack
from modelpack.serve._docker import DISTRIBUTION, constraints

ROOT = Path(__file__).resolve().parent.parent


def _fresh_venv(folder: Path) -> Path:
    venv.create(folder, with_pip=True)
    return folder / "bin"


def _pip(bindir: Path, *args: str) -> None:
    done = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_distribution_name_is_one_everywhere():
    """The import name is modelpack; what pip installs is modelpack-ml (`modelpack` on the index is
    another project). Every install hint in the code, docs and examples names the distribution."""
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == DISTRIBUTION
    wrong = []
    files = [*ROOT.glob("modelpack/**/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("examples/**/*.md")]
    for path in files:
        for line in path.read_text().splitlines():
            for match in re.finditer(r"pip install ([^\s`]+)", line):
                target = match.group(1).strip("'\"")
                if re.match(r"modelpack(\[|$|==)", target):
                    wrong.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not wrong, wrong


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                           str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_installs_in_a_fresh_venv_and_converts(wheel, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from conftest import models

    assert wheel.name == f"modelpack_ml-{modelpack.__version__}-py3-none-any.whl"
    pins = tmp_path / "constraints.txt"
    pins.write_text("\n".join(constraints(["onnx", "sklearn"])))  # this machine's versions: pip's cache has them
    bindir = _fresh_venv(tmp_path / "venv")
    _pip(bindir, "--constraint", str(pins), f"{wheel}[onnx,sklearn]")
    version = subprocess.run([str(bindir / "modelpack"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and modelpack.__version__ in version.stdout
    trained = models()["logistic"]
    modelpack.save(trained.model, tmp_path / "m.joblib", sample=trained.X)
    assert isinstance(trained.model, LogisticRegression)
    np.savetxt(tmp_path / "rows.csv", trained.X, delimiter=",", header=",".join(f"x{i + 1}" for i in
               range(trained.X.shape[1])), comments="")
    done = subprocess.run([str(bindir / "modelpack"), "convert", str(tmp_path / "m.joblib"), "-o",
                           str(tmp_path / "m.onnx"), "--data", str(tmp_path / "rows.csv")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
    where = subprocess.run([str(bindir / "python"), "-c", "import modelpack; print(modelpack.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.startswith(str(tmp_path / "venv"))  # the wheel's copy, not this checkout


def test_the_docker_context_installs_and_its_command_serves_the_model(tmp_path):
    """Everything short of `docker build` (no engine here): the Dockerfile's install step in a fresh
    venv, from the context alone, then its CMD with /models pointing at the context."""
    from conftest import models

    trained = models()["pipeline_frame"]
    model = tmp_path / "churn.onnx"
    modelpack.save(trained.model, model, sample=trained.X)
    model.chmod(0o600)  # a user's private file: the image's user must still read its copy
    context = tmp_path / "context"
    done = subprocess.run([sys.executable, "-m", "modelpack", "serve", str(model), "--dockerfile", str(context),
                           "--workers", "2", "--cors-origin", "https://app.example", "--max-queue", "7",
                           "--inline-ms", "0.5", "--body-timeout", "12"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"docker build -t churn-api {context}" in done.stdout
    assert {p.name for p in context.iterdir()} == {"Dockerfile", ".dockerignore", "churn.onnx", "constraints.txt",
                                                  f"modelpack_ml-{modelpack.__version__}-py3-none-any.whl"}
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in context.iterdir())
    dockerfile = (context / "Dockerfile").read_text()
    lines = dockerfile.replace("\\\n", " ").splitlines()
    assert "USER modelpack" in lines and lines.index("USER modelpack") > lines.index("RUN chmod -R a+rX /models")
    assert any(line.startswith("HEALTHCHECK") and "/health" in line for line in lines)
    assert "COPY churn.onnx /models/" in lines  # an ONNX file holds its metadata: no sidecar

    install = next(line for line in lines if line.startswith("RUN pip install"))
    args = shlex.split(install.removeprefix("RUN ").split("&&")[0].replace("/tmp/modelpack/", f"{context}/"))
    bindir = _fresh_venv(tmp_path / "venv")
    _pip(bindir, *args[2:])  # what the image runs after `pip install`, from the context's files

    command = json.loads(next(line for line in lines if line.startswith("CMD")).removeprefix("CMD "))
    assert command[:3] == ["modelpack", "serve", "/models/churn.onnx"]
    assert command[command.index("--workers") + 1] == "2" and "https://app.example" in command
    assert [command[command.index(o) + 1] for o in ("--max-queue", "--inline-ms", "--body-timeout")] == ["7", "0.5", "12"]
    local = [str(context / "churn.onnx") if a == "/models/churn.onnx" else a for a in command[2:]]
    for option in ("--host", "--port"):  # here: 127.0.0.1 and a free port
        at = local.index(option)
        del local[at : at + 2]
    with running(Path(local[0]), *local[1:], command=str(bindir / "modelpack")) as url:
        rows = trained.X[:3].to_dict("records")
        answer = httpx.post(f"{url}/predict", json=rows)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == list(trained.model.predict(trained.X[:3]))
        health = next(line for line in lines if line.startswith("HEALTHCHECK"))
        probe = shlex.split(health.split(" CMD ", 1)[1].replace("http://127.0.0.1:8000/", f"{url}/"))
        assert subprocess.run([str(bindir / probe[0]), *probe[1:]]).returncode == 0

    again = subprocess.run([sys.executable, "-m", "modelpack", "serve", str(model), "--dockerfile", str(context)],
                           capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr


def test_a_pickled_models_context_installs_the_library_it_was_saved_with(tmp_path):
    """A joblib file unpickles into scikit-learn objects: the image needs scikit-learn at the version
    recorded with the model; an ONNX file needs none of it."""
    import sklearn

    from conftest import models

    trained = models()["logistic"]
    for name in ("m.joblib", "m.onnx"):
        modelpack.save(trained.model, tmp_path / name, sample=trained.X)
        done = subprocess.run([sys.executable, "-m", "modelpack", "serve", str(tmp_path / name), "--dockerfile",
                               str(tmp_path / f"context-{name}")], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        install = next(line for line in (tmp_path / f"context-{name}" / "Dockerfile").read_text().splitlines()
                       if line.startswith("RUN pip install"))
        assert (f"scikit-learn=={sklearn.__version__}" in install) == name.endswith(".joblib"), install
