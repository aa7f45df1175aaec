"""A Keras network on a mixed table, end to end: numbers and text columns in one model, saved
with its schema, converted to ONNX and TF Lite with the check, and served with a form.

    python examples/keras-tabular/train.py out/
    modelpack serve out/churn.keras          # or out/churn.onnx: the same form, the same answers

The table is generated here (no download): customers with a tenure, a monthly bill, a plan and
a region code. Region codes look like numbers ("501") but are categories: the network reads
them as text, through a StringLookup layer, and so does every file exported from it.

The network takes one named input per column (Keras' functional API with a dict of inputs),
so the preprocessing (Normalization for numbers, StringLookup for text) is inside the model
and travels with it into every format.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUMBERS = ["tenure", "monthly"]
TEXT = ["plan", "region"]


def customers(n: int, seed: int):
    """A churn table: long-tenure customers on a bigger plan stay, regions 501 and 502 churn more."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "tenure": rng.integers(1, 72, n),
        "monthly": rng.normal(60, 20, n).round(2),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "region": rng.choice(["501", "502", "610", "733"], n),  # codes, not numbers
    })
    score = (-0.05 * table.tenure + 0.02 * table.monthly + table.plan.map({"basic": 1.0, "plus": 0.0, "pro": -1.0})
             + table.region.isin(["501", "502"]) * 1.5 + rng.normal(0, 0.5, n))
    churned = np.where(score > 0, "churn", "stay")
    return table, churned


def network_for(table):
    """One input per column; numbers normalised, text looked up, all inside the model."""
    import keras

    inputs, encoded = {}, []
    for name in NUMBERS:
        inputs[name] = keras.Input(shape=(1,), name=name)
        normalise = keras.layers.Normalization(name=f"{name}_scaled")
        normalise.adapt(table[[name]].to_numpy(dtype="float32"))
        encoded.append(normalise(inputs[name]))
    for name in TEXT:
        inputs[name] = keras.Input(shape=(1,), name=name, dtype="string")
        lookup = keras.layers.StringLookup(output_mode="one_hot", name=f"{name}_onehot")
        lookup.adapt(table[name].to_numpy(dtype=str))
        encoded.append(lookup(inputs[name]))
    x = keras.layers.Concatenate()(encoded)
    x = keras.layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def as_tensors(table):
    """Keras trains on TensorFlow tensors when some inputs are strings."""
    import tensorflow as tf

    return {name: tf.constant(table[[name]].to_numpy(dtype=str if name in TEXT else "float32"))
            for name in NUMBERS + TEXT}


def main(out: str | Path) -> dict[str, Path]:
    import keras
    import tensorflow as tf

    import modelpack

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table, churned = customers(2000, seed=0)
    keras.utils.set_random_seed(0)
    network = network_for(table)
    network.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    y = (churned == "churn").astype("float32")
    network.fit(tf.data.Dataset.from_tensor_slices((as_tensors(table), y)).shuffle(2000, seed=0).batch(64),
                epochs=15, verbose=0, shuffle=False)

    new, _ = customers(200, seed=1)
    new.to_csv(out / "new.csv", index=False)
    paths = {"keras": out / "churn.keras", "onnx": out / "churn.onnx", "tflite": out / "churn.tflite"}
    # the sigmoid's one unit is P(second class): ["stay", "churn"] names both
    modelpack.save(network, paths["keras"], sample=table[:20], classes=["stay", "churn"], overwrite=True)
    for target in ("onnx", "tflite"):  # each export checked on the new customers
        result = modelpack.convert(paths["keras"], paths[target], data=new, overwrite=True)
        print(f"{target}: {result.report.verdict} on {result.report.rows} rows")
    return paths


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
