"""A loaded Keras network behind the :class:`~modelpack.Model` interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, UntrustedContentError, first_line
from ...metadata import FLOAT, Feature, InputSchema, Metadata
from ...model import Model
from ._adapter import KerasPredictor


def load_network(path: Path, safe: bool) -> Any:
    import os

    # TensorFlow's start-up chatter (oneDNN notices, absl warnings) is not the user's concern
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=safe, compile=False)
    except Exception as exc:  # Keras raises ValueError/TypeError for what it refuses or cannot read
        message = first_line(exc, 400)
        if "safe_mode" in message or "Lambda" in message:
            raise UntrustedContentError(f"Keras refused {path.name} in safe mode: {message}") from exc
        raise CorruptFileError(f"Keras cannot load {path.name}: {message}") from exc


class KerasModel(Model):
    """Predictions with labels (classes from the metadata, else 0..k-1), probabilities, raw outputs."""

    def __init__(self, network: Any, metadata: Metadata | None, path: Path | None) -> None:
        classes = metadata.classes if metadata is not None else None
        self._adapter = KerasPredictor(network, classes)
        if metadata is None:
            metadata = _describe(self._adapter)
        capabilities = {"predict"} | ({"predict_proba"} if self._adapter.classes_ is not None else set())
        super().__init__(format="keras", path=path, metadata=metadata, capabilities=capabilities)
        self.tolerance, self.arithmetic = (1e-5, 1e-6), "Keras computes in float32"

    @property
    def native(self) -> Any:
        return self._adapter.network

    def to_sklearn(self) -> Any:
        """The network as an estimator-like adapter (what convert exports to ONNX or TF Lite)."""
        return self._adapter

    def _predict(self, X: Any) -> np.ndarray:
        return self._adapter.predict(_array(X))

    def _predict_proba(self, X: Any) -> np.ndarray:
        return self._adapter.predict_proba(_array(X)).astype(np.float64)


def _array(X: Any) -> np.ndarray:
    return np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float32)


def _describe(adapter: KerasPredictor) -> Metadata:
    n = getattr(adapter, "n_features_in_", None)
    schema = InputSchema(tuple(Feature(f"x{i + 1}", FLOAT) for i in range(n)), "array") if n else None
    info = adapter.__modelpack__
    classes = adapter.classes_.tolist() if adapter.classes_ is not None else None
    return Metadata(format="keras", task=info["task"], model_type=info["model_type"], input_schema=schema,
                    classes=classes, versions=dict(info["versions"]))
