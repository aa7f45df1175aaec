"""A Keras network seen as a scikit-learn estimator, so every part of modelpack can use it.

A classifier network outputs probabilities; scikit-learn's ``predict`` returns labels. The
adapter gives both, with the class labels the user named at save time (else 0..k-1), and
it is what the ONNX and TF Lite exports and the check compare.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Rows above which Keras' batched ``predict`` is faster than calling the network directly.
DIRECT_CALL_ROWS = 1024


class KerasPredictor:
    """``predict``/``predict_proba`` over a Keras model, with labels; ``network`` is the Keras model."""

    def __init__(self, network: Any, classes: list[Any] | None = None) -> None:
        self.network = network
        units, activation = _head(network)
        if classes is None and units is not None:
            if activation == "softmax" and units > 1:
                classes = list(range(units))
            elif activation == "sigmoid" and units == 1:
                classes = [0, 1]
        if classes is not None and units is not None and len(classes) != max(units, 2):
            from ...errors import InvalidInputError

            raise InvalidInputError(
                f"classes names {len(classes)} labels, but the network's last layer has {units} output(s)")
        self.classes_ = np.asarray(classes) if classes is not None else None
        self._sigmoid = activation == "sigmoid" and units == 1 and classes is not None
        shape = network.inputs[0].shape if len(network.inputs) == 1 else None
        if shape is not None and len(shape) == 2 and shape[1] is not None:
            self.n_features_in_ = int(shape[1])
        import keras

        self.__modelpack__: dict[str, Any] = {
            "task": "classifier" if self.classes_ is not None else "regressor",
            "model_type": f"keras.{type(network).__name__}",
            "library": "Keras",
            "onnx_exporter": "keras.Model.export (tf2onnx)",
            "versions": {"keras": keras.__version__, keras.backend.backend(): _backend_version()},
            # how the network's one output reads: what TF Lite and ONNX runtimes need to know
            "extra": {"network_output": "sigmoid" if self._sigmoid else
                      "probabilities" if self.classes_ is not None else "values"},
        }

    def ensure_called(self) -> None:
        """Keras' exporters refuse a network that was loaded but never called: call it on one row of zeros."""
        if len(self.network.inputs) != 1:
            return
        shape = [1 if d is None else int(d) for d in self.network.inputs[0].shape]
        self.network(np.zeros(shape, dtype=np.float32), training=False)

    def export_onnx(self, path: Any, opset: int | None) -> None:
        self.ensure_called()
        self.network.export(str(path), format="onnx", verbose=False, **({"opset_version": opset} if opset else {}))

    def scores(self, X: Any) -> np.ndarray:
        """The network's raw output for ``X`` (float32), batched by Keras for large inputs."""
        X = np.asarray(X, dtype=np.float32)
        if len(X) > DIRECT_CALL_ROWS:
            return np.asarray(self.network.predict(X, verbose=0, batch_size=DIRECT_CALL_ROWS))
        return np.asarray(self.network(X, training=False))

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.classes_ is None:
            raise AttributeError("a regression network has no predict_proba")
        p = self.scores(X)
        return np.hstack([1 - p, p]) if self._sigmoid else p

    def predict(self, X: Any) -> np.ndarray:
        if self.classes_ is None:
            out = self.scores(X)
            return out.reshape(len(out)) if out.ndim == 2 and out.shape[1] == 1 else out
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _head(network: Any) -> tuple[int | None, str | None]:
    """Units and activation of the network's last layer, when it has one output."""
    if len(network.outputs) != 1:
        return None, None
    shape = network.outputs[0].shape
    units = int(shape[-1]) if shape[-1] is not None else None
    activation = getattr(network.layers[-1], "activation", None) if network.layers else None
    name = getattr(activation, "__name__", None)
    return units, name


def _backend_version() -> str:
    import keras

    backend = keras.backend.backend()
    module = __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend))
    return str(getattr(module, "__version__", "unknown"))


def is_keras_model(model: Any) -> bool:
    """Whether ``model`` is a Keras model, without importing Keras when it is not loaded."""
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)
