"""A small image classifier, end to end: images on disk, a Keras CNN, ONNX and TF Lite exports
proved on the same images, and predictions for a folder of images.

    python examples/image-classifier/train.py out/

Everything is generated here (no download): 16×16 images of a bright square on a dark
background, red, green or blue. The model records how pixels become its input
(``preprocess=``), so every later step, from any format, prepares them the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 220)}
SIZE = 16


def write_images(folder: Path, n: int, seed: int) -> list[str]:
    """``n`` PNG files named ``<index>-<colour>.png``; returns their labels in name order."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = []
    for i in range(n):
        colour = list(COLOURS)[i % len(COLOURS)]
        pixels = rng.integers(0, 60, size=(SIZE, SIZE, 3)).astype(np.uint8)
        x, y, side = rng.integers(0, 8), rng.integers(0, 8), rng.integers(5, 9)
        pixels[y : y + side, x : x + side] = COLOURS[colour]
        Image.fromarray(pixels).save(folder / f"{i:04d}-{colour}.png")
        labels.append(colour)
    return labels


def main(out: str | Path) -> dict[str, Path]:
    import keras

    import modelpack
    from modelpack.images import Preprocess, iter_image_batches

    out = Path(out)
    labels = write_images(out / "train", 300, seed=0)
    write_images(out / "new", 30, seed=1)
    recipe = Preprocess(size=(SIZE, SIZE), mode="RGB", scale=1 / 255)
    pixels = np.concatenate([batch for batch, _ in iter_image_batches(out / "train", recipe, 256)])
    classes = list(COLOURS)
    y = np.array([classes.index(label) for label in labels])

    keras.utils.set_random_seed(0)
    network = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(len(classes), activation="softmax"),
    ])
    network.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    network.fit(pixels, y, epochs=30, batch_size=32, verbose=0)

    paths = {"keras": out / "cnn.keras", "onnx": out / "cnn.onnx", "tflite": out / "cnn.tflite"}
    modelpack.save(network, paths["keras"], sample=pixels[:10], classes=classes, preprocess=recipe, overwrite=True)
    for target in ("onnx", "tflite"):  # checked on the training images, prepared by the recorded recipe
        result = modelpack.convert(paths["keras"], paths[target], data=out / "train", overwrite=True)
        print(f"{target}: {result.report.verdict} on {result.report.rows} images")
    return paths


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
