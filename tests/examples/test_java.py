"""examples/java: JPMML-Evaluator on the JVM checks and scores a modelpack PMML export like Python."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from serve.test_serve import COMMAND

import modelpack
from conftest import models
from examples.conftest import EXAMPLES


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    javac = shutil.which("javac")
    if javac is None:
        pytest.fail("a JDK (javac) is needed for the examples/java test")
    listed = subprocess.run([COMMAND, "doctor", "--classpath"], capture_output=True, text=True)  # as the README does
    assert listed.returncode == 0, listed.stderr
    classpath = listed.stdout.strip()
    assert classpath.count(".jar") >= 5
    build = tmp_path_factory.mktemp("java-build")
    subprocess.run([javac, "-cp", classpath, "-d", str(build), str(EXAMPLES / "java" / "Score.java")],
                   check=True, capture_output=True, timeout=120)
    return f"{classpath}:{build}"


def run(classpath: str, *args) -> subprocess.CompletedProcess:
    java = shutil.which("java")
    return subprocess.run([java, "-cp", classpath, "Score", *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["pipeline_frame", "forest_strings", "linear_regression"])
def test_java_verifies_and_scores_like_python(tmp_path, compiled, name):
    trained = models()[name]
    path = tmp_path / "model.pmml"
    modelpack.save(trained.model, path, sample=trained.X)
    loaded = modelpack.load(path)
    X = loaded.metadata.sample.frame(loaded.metadata.input_schema)
    csv = tmp_path / "rows.csv"
    import pandas as pd

    pd.DataFrame(X, columns=loaded.metadata.input_schema.names).to_csv(csv, index=False)
    proc = run(compiled, path, csv)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "verified" in proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = trained.model.predict(X)
    assert len(results) == len(X) == 20
    if trained.task == "classifier":
        assert [r["y"] for r in results] == list(expected)
    else:
        assert all(abs(r["y"] - e) < 1e-9 * max(1, abs(e)) for r, e in zip(results, expected))


def test_java_exits_nonzero_when_the_file_does_not_match_its_expected_outputs(tmp_path, compiled):
    trained = models()["forest_strings"]
    path = tmp_path / "model.pmml"
    modelpack.save(trained.model, path, sample=trained.X)
    text = path.read_text()
    # change the first expected probability in the embedded verification rows
    start = text.index("<data:probability_", text.index("<InlineTable", text.index("<ModelVerification")))
    value_start = text.index(">", start) + 1
    value_end = text.index("<", value_start)
    assert float(text[value_start:value_end]) != 0.123
    path.write_text(text[:value_start] + "0.123" + text[value_end:])
    proc = run(compiled, path)
    assert proc.returncode == 1 and "does not reproduce the expected outputs" in proc.stderr
