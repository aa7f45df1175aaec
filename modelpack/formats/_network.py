"""What Keras and PyTorch models share once loaded: an estimator-like adapter behind ``Model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..metadata import Metadata
from ..model import Model


class NetworkModel(Model):
    """Labels (classes from the metadata), probabilities, or values, through the network's adapter.

    The adapter (``KerasPredictor``, ``TorchPredictor``) is also what ``to_sklearn`` returns, so a
    conversion exports the network with the adapter's own exporter and checks it like any model.
    """

    def __init__(self, adapter: Any, *, format: str, path: Path | None, metadata: Metadata) -> None:
        self._adapter = adapter
        capabilities = {"predict"} | ({"predict_proba"} if adapter.classes_ is not None else set())
        super().__init__(format=format, path=path, metadata=metadata, capabilities=capabilities)
        self.tolerance = (1e-5, 1e-6)
        self.arithmetic = f"{adapter.__modelpack__['library']} computes in float32"

    @property
    def native(self) -> Any:
        return self._adapter.network

    def to_sklearn(self) -> Any:
        """The network as an estimator-like adapter (what convert exports to ONNX or TF Lite)."""
        return self._adapter

    def _predict(self, X: Any) -> np.ndarray:
        return self._adapter.predict(_array(X))

    def _predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self._adapter.predict_proba(_array(X)), dtype=np.float64)


def _array(X: Any) -> Any:
    """A table stays a table (a network with named inputs picks its columns); numbers stay as the
    input contract typed them (the adapter casts them to the network's input type), the rest is float32."""
    if hasattr(X, "columns"):
        return X
    X = np.asarray(X)
    return X if X.dtype.kind in "iub" else X.astype(np.float32, copy=False)


def feed_dtype(kind: str) -> Any:
    """What a network's rows are fed as, by the numpy kind letter of its input's type: integers as int64
    (token ids, lookup indices: float32 rounds them past 2**24, and torch's Embedding refuses floats),
    booleans as bool, anything else as float32."""
    return np.int64 if kind in "iu" else np.bool_ if kind == "b" else np.float32
