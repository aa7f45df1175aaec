"""Images end to end: the recipe recorded with the model prepares pixels for every format."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import modelpack
import modelpack.images
from conftest import example_module
from modelpack.errors import InvalidInputError

pytest.importorskip("keras")
pytest.importorskip("PIL")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = example_module("image-classifier")
    folder = tmp_path_factory.mktemp("images")
    paths = train.main(folder)
    return folder, paths, train


def test_the_example_trains_converts_and_every_format_labels_new_images_alike(trained):
    folder, paths, train = trained
    expected = [name.split("-")[1].removesuffix(".png") for name in sorted(p.name for p in (folder / "new").iterdir())]
    outputs = {}
    for fmt, path in paths.items():
        done = subprocess.run([sys.executable, "-m", "modelpack", "predict", str(path), "--data", str(folder / "new")],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-1500:]
        lines = done.stdout.strip().splitlines()
        assert lines[0] == "file,prediction"
        outputs[fmt] = [line.split(",") for line in lines[1:]]
    assert outputs["keras"] == outputs["onnx"] == outputs["tflite"]
    names = [row[0] for row in outputs["onnx"]]
    assert names == sorted(p.name for p in (folder / "new").iterdir())
    accuracy = np.mean([row[1] == want for row, want in zip(outputs["onnx"], expected)])
    assert accuracy >= 0.9  # the colours are easy: a network that learned nothing scores 1/3


def test_the_recipe_travels_inside_the_files(trained):
    _, paths, _ = trained
    for path in (paths["keras"], paths["onnx"], paths["tflite"]):
        recipe = modelpack.load(path).metadata.extra["preprocess"]
        assert recipe["size"] == [16, 16] and recipe["layout"] == "NHWC" and recipe["mode"] == "RGB"
        assert modelpack.verify(modelpack.load(path)).passed  # the recorded sample is tensors


def test_bad_images_are_one_line_naming_the_file(trained, tmp_path):
    from PIL import Image

    _, paths, _ = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a-notes.png").write_text("not an image")
    done = subprocess.run([sys.executable, "-m", "modelpack", "predict", str(paths["onnx"]), "--data", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("Error: a-notes.png is not an image modelpack can read")
    assert "Traceback" not in done.stderr

    big = tmp_path / "big"
    big.mkdir()
    Image.new("RGB", (20, 16)).save(big / "wide.png")
    with pytest.raises(InvalidInputError, match="wide.png is 20×16; the model takes 16×16 images"):
        modelpack.convert(paths["keras"], tmp_path / "x.onnx", data=big)
    assert not (tmp_path / "x.onnx").exists()

    bomb = tmp_path / "bomb"
    bomb.mkdir()
    (bomb / "huge.png").write_bytes(_png_header(100_000, 100_000))  # 10 gigapixels, 70 bytes
    with pytest.raises(InvalidInputError, match="huge.png is over the 50,000,000 pixels modelpack decodes"):
        modelpack.convert(paths["keras"], tmp_path / "y.onnx", data=bomb)


def test_a_folder_needs_a_recipe(tmp_path, trained):
    folder, _, _ = trained
    from sklearn.linear_model import LogisticRegression

    from modelpack.batch import predict_file

    modelpack.save(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), tmp_path / "m.joblib")
    with pytest.raises(InvalidInputError, match="records no preprocessing; save it with preprocess="):
        predict_file(modelpack.load(tmp_path / "m.joblib"), folder / "new")


def test_tensor_input_contract(trained):
    _, paths, _ = trained
    model = modelpack.load(paths["onnx"])
    with pytest.raises(InvalidInputError, match=r"takes tensors of shape \[N, 16, 16, 3\], got \[2, 16, 16\]"):
        model.predict(np.zeros((2, 16, 16), dtype=np.float32))
    one = model.predict(np.zeros((16, 16, 3), dtype=np.float32))  # one image without its batch axis
    assert one.shape == (1,)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_serve_takes_image_uploads_and_prepares_them_by_the_recipe(trained, fmt):
    import httpx
    from serve.test_serve import running

    folder, paths, _ = trained
    image = sorted((folder / "new").iterdir())[0]
    expected = modelpack.load(paths[fmt]).predict(modelpack.images.Preprocess(size=(16, 16)).prepare(image, "x"))[0]
    with running(paths[fmt], "--max-body", "20000") as url:
        page = httpx.get(url + "/").text
        assert 'type="file" name="image"' in page and "16×16 RGB images" in page
        raw = httpx.post(url + "/predict/image?proba=true", content=image.read_bytes(),
                         headers={"Content-Type": "image/png"})
        assert raw.status_code == 200 and raw.json()["predictions"] == [expected]
        assert raw.json()["classes"] == ["red", "green", "blue"] and len(raw.json()["probabilities"][0]) == 3
        form = httpx.post(url + "/predict/image", files={"image": (image.name, image.read_bytes(), "image/png")})
        assert form.status_code == 200 and form.json()["predictions"] == [expected]
        answers = {
            "json rows": httpx.post(url + "/predict", json=[{"x": 1}]),
            "not an image": httpx.post(url + "/predict/image", content=b"GIF89a nonsense",
                                       headers={"Content-Type": "image/gif"}),
            "no file": httpx.post(url + "/predict/image", files={"other": ("a.png", b"x", "image/png")}),
            "too big": httpx.post(url + "/predict/image", content=b"\x00" * 30000, headers={"Content-Type": "image/png"}),
            "wrong type": httpx.post(url + "/predict/image", content=b"{}", headers={"Content-Type": "application/json"}),
            "bomb": httpx.post(url + "/predict/image", content=_png_header(100_000, 100_000),
                               headers={"Content-Type": "image/png"}),
        }
        status = {k: r.status_code for k, r in answers.items()}
        assert status == {"json rows": 415, "not an image": 422, "no file": 422, "too big": 413, "wrong type": 415,
                          "bomb": 422}
        assert "over the 50,000,000 pixels" in answers["bomb"].json()["error"]
        assert httpx.get(url + "/health").status_code == 200
        assert list(httpx.get(url + "/openapi.json").json()["paths"]) == ["/predict/image", "/health", "/metadata"]


@pytest.mark.parametrize("recipe,reason", [
    ({"size": ["a", 1]}, "needs size=[width, height]"),
    ({"size": [0, 5]}, "0×5 is not a size"),
    ({"size": [4, 4], "mean": [1, 2]}, "one value or one per channel (3)"),
    ({"size": [4, 4], "std": [0]}, "std must not be 0"),
    ({"size": [4, 4], "mode": "CMYK"}, "mode is RGB or L"),
    ({"sz": [4, 4]}, "not sz"),
])
def test_a_bad_recipe_is_refused_at_save_in_one_line(tmp_path, recipe, reason):
    import re

    import keras

    network = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten()])
    with pytest.raises(InvalidInputError, match=re.escape(reason)):
        modelpack.save(network, tmp_path / "m.keras", preprocess=recipe)
    assert not (tmp_path / "m.keras").exists()
