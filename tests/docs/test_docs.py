"""The documentation: the site builds with --strict, and every code block in the guide runs.

Each page's blocks run in a child process, in order, in a fresh folder, after a setup that
gives the names the page says it assumes (a fitted `pipeline`, `X_test`, a `network`...).
Blocks of output (``text``) are not run; ``json`` and ``toml`` blocks must parse.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DRIVER = Path(__file__).with_name("driver.py")

CHURN = """
import os, shutil
import numpy as np, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

data = pd.read_csv(os.environ["MODELPACK_EXAMPLES"] + "/quickstart/churn.csv")
y = data.pop("churn")
X_train, X_test = data[:300], data[300:]
model = pipeline = make_pipeline(
    make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["contract", "payment"]), remainder=StandardScaler()),
    LogisticRegression(),
).fit(X_train, y[:300])
df = X_test
X_test.to_csv("test.csv", index=False)
data.to_csv("big.csv", index=False)
"""

NETWORKS = """
import keras, torch
keras.utils.set_random_seed(0)
X = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
X_val = X[:100]
network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(3, activation="softmax")])
network.compile("adam", "sparse_categorical_crossentropy")
network.fit(X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 1), epochs=2, verbose=0)
torch.manual_seed(0)
module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
x = x_train = X
x_val = X_val
"""

SCALE = CHURN + """
import modelpack
modelpack.save(model, "churn.onnx", sample=X_train)
os.makedirs("events")
data[:200].to_parquet("events/part-0.parquet")
data[200:].to_parquet("events/part-1.parquet")
from pyspark.sql import SparkSession
from pyspark.sql.functions import struct
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
df = spark.createDataFrame(X_test)
import dask.dataframe as dd
ddf = dd.from_pandas(X_test, npartitions=2)
"""

FOREIGN = """
import os, shutil
import pandas as pd
from sklearn.datasets import load_iris

shutil.copy(os.environ["MODELPACK_CORPUS"] + "/pmml/rattle-iris-multinom.xml", "model.pmml")  # rattle's (R) PMML
iris = load_iris(as_frame=True).data
iris.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
iris.to_csv("rows.csv", index=False)
"""

#: What each page assumes, by page; a page with code and no entry here fails the suite.
SETUPS = {
    "getting-started.md": CHURN,
    "formats.md": CHURN + NETWORKS,
    "scale-out.md": SCALE,
    "foreign-files.md": FOREIGN,
    "serve.md": CHURN + "import modelpack\nmodelpack.save(model, 'model.onnx', sample=X_train)\n",
    "plugins.md": "",
    "index.md": "",
    "README.md": "import os\nos.symlink(os.environ['MODELPACK_EXAMPLES'], 'examples')\n",
}
RUN, PARSE, SHOWN = {"python", "bash"}, {"json", "toml"}, {"text"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(page: Path) -> list[dict]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1  # the fence; the code starts on the next line
        found.append({"lang": match.group(1), "code": match.group(2), "page": page.name, "line": line,
                      "where": f"{page.name}:{line + 1}"})
    return found


PAGES = sorted([*DOCS.glob("*.md"), ROOT / "README.md"])


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_block_is_of_a_kind_the_suite_handles(page):
    for block in blocks(page):
        assert block["lang"] in RUN | PARSE | SHOWN, f"{block['where']}: a block needs a language ({sorted(RUN | PARSE | SHOWN)})"
        if block["lang"] == "json":
            json.loads(block["code"])
        elif block["lang"] == "toml":
            tomllib.loads(block["code"])
    if any(b["lang"] in RUN for b in blocks(page)):
        assert page.name in SETUPS, f"{page.name} has code: say in SETUPS what it assumes, so the suite runs it"


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_the_code_blocks_of_a_page_run(name, tmp_path):
    page = ROOT / name if name == "README.md" else DOCS / name
    steps = [b for b in blocks(page) if b["lang"] in RUN]
    if name == "README.md":  # its shell block is the two commands that install and run this suite
        steps = [b for b in steps if b["lang"] == "python"]
    assert steps, f"{name} has no code to run"
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    (tmp_path / "setup.py").write_text(SETUPS[name])
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MODELPACK_EXAMPLES": str(ROOT / "examples"), "MODELPACK_CORPUS": str(ROOT / "tests" / "data" / "foreign"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(DRIVER), str(tmp_path / "steps.json"), str(tmp_path / "setup.py")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = done.stdout.count("--- ")
    assert ran >= len(steps), done.stdout  # every block (and each shell line) announced itself


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_the_site_builds_strictly_with_its_api_and_cli_reference(tmp_path):
    done = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "modelpack.save" in api and "sample rows" in api  # from save's docstring
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    assert "--dockerfile" in cli and "modelpack predict" in cli  # from the Click commands
    assert (tmp_path / "site" / "search" / "search_index.json").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    """--strict is what makes the build a check: a link to a page that does not exist fails it."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    assert _build(tmp_path / "mkdocs.yml", tmp_path / "site").returncode == 0  # the copy builds as it is
    with open(tmp_path / "docs" / "index.md", "a") as fh:
        fh.write("\nSee [the missing page](no-such-page.md).\n")
    done = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "no-such-page.md" in done.stderr
