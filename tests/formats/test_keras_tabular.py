"""A Keras network on a mixed table (examples/keras-tabular): named inputs, text through
StringLookup, exported to ONNX and TF Lite with the lookups inside, served with a form."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import modelpack
from conftest import example_module
from modelpack.errors import UnknownCategoryWarning

keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = example_module("keras-tabular")
    folder = tmp_path_factory.mktemp("keras-tabular")
    return folder, train.main(folder), train


def test_every_format_labels_the_new_customers_alike_and_well(trained):
    folder, paths, train = trained
    outputs = {}
    for fmt, path in paths.items():
        done = subprocess.run([sys.executable, "-m", "modelpack", "predict", str(path), "--data", str(folder / "new.csv")],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-1500:]
        assert "oneDNN" not in done.stderr and "XNNPACK" not in done.stderr  # the runtimes' start-up chatter
        outputs[fmt] = done.stdout.split()[1:]
    assert outputs["keras"] == outputs["onnx"] == outputs["tflite"]
    _, truth = train.customers(200, seed=1)
    assert np.mean(np.array(outputs["onnx"]) == truth) >= 0.8  # a network that learned nothing is near 0.5


def test_the_schema_types_region_codes_as_text_from_the_lookups(trained):
    folder, paths, _ = trained
    for path in paths.values():
        schema = modelpack.load(path).metadata.input_schema
        kinds = {f.name: f.dtype for f in schema.features}
        assert kinds == {"tenure": "int64", "monthly": "float64", "plan": "string", "region": "string"}
        assert dict((f.name, f.categories) for f in schema.features)["region"] == ("501", "502", "610", "733")
    # a CSV reader makes 501 a number; the model's schema makes it "501" again, in every format
    read = pd.read_csv(folder / "new.csv")
    assert read["region"].dtype.kind == "i"
    typed = read.astype({"region": str})
    for path in paths.values():
        model = modelpack.load(path)
        np.testing.assert_array_equal(model.predict(read), model.predict(typed))


def test_the_exports_carry_the_lookups_unknown_values_included(trained):
    """A plan the lookup never saw goes to its out-of-vocabulary slot in Keras, ONNX and LiteRT alike."""
    _, paths, _ = trained
    rows = pd.DataFrame({"tenure": [3, 60, 12], "monthly": [80.0, 20.5, 55.0],
                         "plan": ["gold", "pro", ""], "region": ["501", "999", "610"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        probabilities = {fmt: modelpack.load(path).predict_proba(rows) for fmt, path in paths.items()}
    np.testing.assert_allclose(probabilities["onnx"], probabilities["keras"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probabilities["tflite"], probabilities["keras"], rtol=1e-5, atol=1e-6)
    with pytest.warns(UnknownCategoryWarning, match="'gold'"):
        modelpack.load(paths["keras"]).predict(rows)


def test_a_foreign_table_network_is_described_from_its_inputs(trained, tmp_path):
    """Saved by Keras alone (no modelpack metadata): the inputs still give the table's columns."""
    _, paths, _ = trained
    plain = tmp_path / "plain.keras"
    keras.saving.load_model(paths["keras"]).save(plain)
    model = modelpack.load(plain)
    kinds = {f.name: f.dtype for f in model.metadata.input_schema.features}
    assert kinds == {"tenure": "float64", "monthly": "float64", "plan": "string", "region": "string"}
    assert model.predict(pd.read_csv(paths["keras"].parent / "new.csv")).shape == (200,)


@pytest.mark.parametrize("fmt", ["keras", "onnx"])
def test_served_with_its_form(trained, fmt):
    import httpx
    from serve.test_serve import running

    folder, paths, _ = trained
    rows = pd.read_csv(folder / "new.csv", dtype={"region": str})[:5]
    expected = list(modelpack.load(paths["keras"]).predict(rows))
    with running(paths[fmt]) as url:
        page = httpx.get(url + "/").text
        assert '<select name="region"' in page and "<option>733" in page
        answer = httpx.post(url + "/predict", json=rows.to_dict("records"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == expected
        bad = httpx.post(url + "/predict", json=[{**rows.iloc[0].to_dict(), "region": 501}])
        assert bad.status_code == 422 and bad.json()["field"] == "region"  # a code is text, not a number


def test_the_form_in_headless_chromium(trained):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed: apt-get install chromium")
    from examples.test_browser import CHROMIUM_FLAGS
    from playwright.sync_api import sync_playwright
    from serve.test_serve import running

    folder, paths, _ = trained
    row = pd.read_csv(folder / "new.csv", dtype={"region": str}).iloc[[3]]
    expected = modelpack.load(paths["keras"]).predict(row)[0]
    with running(paths["keras"]) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(f"{url}/")
        assert page.locator("select[name=region] option").all_inner_texts() == ["501", "502", "610", "733"]
        page.fill("[name=tenure]", str(row["tenure"].iloc[0]))
        page.fill("[name=monthly]", str(row["monthly"].iloc[0]))
        page.select_option("[name=plan]", row["plan"].iloc[0])
        page.select_option("[name=region]", row["region"].iloc[0])
        page.click("#predict")
        page.wait_for_selector("#prediction[data-ready=true]")
        assert page.inner_text("#prediction") == expected
        assert "churn:" in page.inner_text("#probabilities")
        browser.close()
