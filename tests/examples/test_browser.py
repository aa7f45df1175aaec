"""examples/browser: the page predicts what Python predicts, in a real headless Chromium.

Uses Debian's chromium (never a browser download), driven by Playwright, against the page
served from 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

import modelpack
from conftest import example_module, models
from examples.conftest import EXAMPLES, npm_ci

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory, node):
    npm_ci(EXAMPLES / "browser")
    root = tmp_path_factory.mktemp("site")
    (root / "browser").symlink_to(EXAMPLES / "browser")
    (root / "shared").symlink_to(EXAMPLES / "shared")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("name,rows", [("pipeline_frame", [3, 7, 11]), ("forest_strings", [0, 5])])
def test_page_shows_pythons_prediction(site, browser, name, rows):
    root, url = site
    trained = models()[name]
    modelpack.save(trained.model, root / f"{name}.onnx", sample=trained.X, overwrite=True)
    schema = modelpack.load(root / f"{name}.onnx").metadata.input_schema
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/browser/?model=/{name}.onnx")
    page.wait_for_selector("#form[data-ready=true]", timeout=60_000)
    for i in rows:
        row = trained.X.iloc[i] if hasattr(trained.X, "iloc") else trained.X[i]
        for j, feature in enumerate(schema.features):
            value = row[feature.name] if hasattr(row, "index") and feature.name in row.index else row[j]
            selector = f"[name='{feature.name}']"
            if feature.dtype == "string":
                page.select_option(selector, str(value))
            else:
                page.fill(selector, repr(float(value)))
        page.click("#predict")
        page.wait_for_selector("#prediction[data-ready=true]", timeout=30_000)
        shown = page.inner_text("#prediction")
        expected = trained.model.predict(trained.X[i : i + 1])[0]
        assert page.inner_text("#error") == ""
        assert shown == str(expected), (i, shown, expected)
    assert errors == []
    assert "classifier" in page.inner_text("#about")
    page.close()


def test_image_page_classifies_like_python(site, browser, tmp_path):
    """examples/browser/image.html prepares pixels by the recipe in the ONNX file, as Python does."""

    from PIL import Image

    import modelpack.images

    root, url = site
    train = example_module("image-classifier")
    paths = train.main(tmp_path)
    shutil.copy(paths["onnx"], root / "cnn.onnx")
    model = modelpack.load(root / "cnn.onnx")
    recipe = modelpack.images.preprocess_of(model.metadata)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/browser/image.html?model=/cnn.onnx")
    page.wait_for_selector("#form[data-ready=true]", timeout=60_000)
    images = sorted((tmp_path / "new").iterdir())[:6]
    for image in images:
        page.set_input_files("#image", str(image))
        page.wait_for_selector("#prediction[data-ready=true]", state="attached", timeout=30_000)
        expected = model.predict(recipe.prepare(image, image.name))[0]
        assert page.inner_text("#error") == "" and page.inner_text("#prediction") == str(expected), \
            (image.name, page.inner_text("#error"))
        page.evaluate("document.getElementById('prediction').dataset.ready = 'false'")
    Image.new("RGB", (20, 16)).save(tmp_path / "wide.png")
    page.set_input_files("#image", str(tmp_path / "wide.png"))
    page.wait_for_selector("#prediction[data-ready=true]", state="attached", timeout=30_000)
    assert page.inner_text("#error") == "wide.png is 20×16; the model takes 16×16 images"
    assert errors == [] and "16×16 RGB images" in page.inner_text("#about")
    page.close()
