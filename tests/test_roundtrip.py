"""Every registered format × every model in the shared set: save, load, same outputs."""

from __future__ import annotations

import numpy as np

import modelpack
from conftest import Trained, assert_same_outputs, extension, save_or_refused


def test_roundtrip_predicts_the_same(tmp_path, format_name: str, trained: Trained) -> None:
    path = tmp_path / f"model{extension(format_name)}"
    if not save_or_refused(trained.name, format_name, path, sample=trained.X):
        return
    meta = modelpack.load(path).metadata
    loaded = modelpack.load(path)
    assert loaded.format == format_name
    assert meta.task == trained.task == loaded.metadata.task
    assert_same_outputs(trained.model, loaded, trained.X, rtol=loaded.tolerance[0], atol=loaded.tolerance[1])
    if trained.task == "classifier":
        assert list(loaded.classes_) == list(trained.model.classes_)


def test_metadata_records_schema_sample_and_versions(tmp_path, format_name: str, trained: Trained) -> None:
    path = tmp_path / f"model{extension(format_name)}"
    if not save_or_refused(trained.name, format_name, path, sample=trained.X):
        return
    meta = modelpack.load(path).metadata
    schema = meta.input_schema
    assert schema is not None
    n_columns = trained.X.shape[1]
    assert schema.n_features == n_columns
    if hasattr(trained.X, "columns"):
        assert schema.names == list(trained.X.columns)
        assert [f.dtype for f in schema.features] == ["int64", "float64", "string", "string"]
    assert meta.versions["sklearn"] and meta.versions["numpy"] == np.__version__
    assert meta.sample is not None and len(meta.sample.inputs) == 20
    assert set(meta.sample.outputs) >= ({"predict"} if trained.task != "transformer" else {"transform"})
    # the recorded rows reproduce the recorded outputs through the loaded file
    rows = meta.sample.frame(schema)
    loaded = modelpack.load(path)
    first = next(iter(meta.sample.outputs))
    got = getattr(loaded, first)(rows)
    expected = np.asarray(meta.sample.outputs[first], dtype=got.dtype)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=loaded.tolerance[0], atol=loaded.tolerance[1])
    else:
        assert list(got) == list(expected)


def test_save_without_sample_uses_the_model(tmp_path, format_name: str) -> None:
    from conftest import models

    trained = models()["pipeline_frame"]
    path = tmp_path / f"model{extension(format_name)}"
    meta = modelpack.save(trained.model, path)
    assert meta.input_schema is not None and meta.input_schema.names == ["age", "income", "city", "plan"]
    assert meta.sample is None
