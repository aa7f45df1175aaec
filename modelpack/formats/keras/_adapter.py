"""A Keras network seen as a scikit-learn estimator, so every part of modelpack can use it.

A classifier network outputs probabilities; scikit-learn's ``predict`` returns labels. The
adapter gives both, with the class labels the user named at save time (else 0..k-1), and
it is what the ONNX and TF Lite exports and the check compare.
"""

from __future__ import annotations

from typing import Any, NamedTuple

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
        #: the network's named inputs, one per column, when it takes a table (several inputs, or text)
        self.columns = _named_inputs(network)
        #: what a one-input network's rows are fed as: its input's integers (an Embedding's token ids,
        #: a lookup's indices) stay integers, where float32 would round ids past 2**24
        self._dtype = _input_dtype(network) if self.columns is None else np.float32
        shape = network.inputs[0].shape if self.columns is None else None
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
        """Keras' exporters refuse a network that was loaded but never called: call it on one row."""
        if self.columns is not None:
            row = {c.name: ["" if c.text else 0] for c in self.columns}
            self.network(self._feed(row), training=False)
            return
        shape = [1 if d is None else int(d) for d in self.network.inputs[0].shape]
        self.network(np.zeros(shape, dtype=np.float32), training=False)

    def modelpack_input_schema(self) -> Any:
        """The inputs as a table's columns (text ones with what their lookups learned), or N floats."""
        from ...metadata import FLOAT, STRING, Feature, InputSchema

        if self.columns is not None:
            return InputSchema(tuple(Feature(c.name, STRING, c.vocabulary or None) if c.text else
                                     Feature(c.name, _kind(c.dtype)) for c in self.columns), "dataframe")
        n = getattr(self, "n_features_in_", None)
        kind = FLOAT if self._dtype == np.float32 else _kind(np.dtype(self._dtype).name)
        return InputSchema(tuple(Feature(f"x{i + 1}", kind) for i in range(n)), "array") if n else None

    def input_categories(self) -> dict[str, tuple[str, ...]]:
        """The vocabularies of the StringLookup layers that read the text inputs, by input name."""
        return {c.name: c.vocabulary for c in self.columns or () if c.vocabulary}

    def export_onnx(self, path: Any, opset: int | None) -> None:
        self.ensure_called()
        if self.columns is None:
            self.network.export(str(path), format="onnx", verbose=False, **({"opset_version": opset} if opset else {}))
        else:
            _export_table_network(self.network, path, opset)

    def scores(self, X: Any) -> np.ndarray:
        """The network's raw output for ``X`` (float32), batched by Keras for large inputs."""
        feed = self._feed(X)
        rows = len(next(iter(feed.values()))) if isinstance(feed, dict) else len(feed)
        if rows > DIRECT_CALL_ROWS:
            return np.asarray(self.network.predict(feed, verbose=0, batch_size=DIRECT_CALL_ROWS))
        return np.asarray(self.network(feed, training=False))

    def _feed(self, X: Any) -> Any:
        """A float32 array for a one-input network; for a table network, one column per named input,
        shaped and typed as the input is (text as TensorFlow strings, which Keras needs them to be)."""
        if self.columns is None:
            return np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=self._dtype)
        given = [str(c) for c in (X.columns if hasattr(X, "columns") else X)]
        missing = [c.name for c in self.columns if c.name not in given]
        if missing:
            raise ValueError(f"missing column(s) {', '.join(missing)}; the network's inputs are "
                             f"{', '.join(c.name for c in self.columns)}")
        feed = {}
        for c in self.columns:
            values = np.asarray(X[c.name])
            values = values.astype(str) if c.text else values.astype(c.dtype)
            feed[c.name] = values.reshape((-1,) + c.shape)
        if any(c.text for c in self.columns):
            from ..._native import import_tensorflow

            tf = import_tensorflow()  # string inputs exist only with the TensorFlow backend
            return {name: tf.constant(values) for name, values in feed.items()}
        return feed

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.classes_ is None:
            raise AttributeError("a regression network has no predict_proba")
        p = self.scores(X)
        return np.hstack([1 - p, p]) if self._sigmoid else p

    def predict(self, X: Any) -> np.ndarray:
        if self.classes_ is None:
            out = _as_text(self.scores(X))
            return out.reshape(len(out)) if out.ndim == 2 and out.shape[1] == 1 else out
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _export_table_network(network: Any, path: Any, opset: int | None) -> None:
    """A network with named inputs, through a SavedModel: from there tf2onnx finds the lookup
    tables of StringLookup layers (Keras' direct route loses them: onnx/tensorflow-onnx#1867),
    and writes them as ONNX-ML LabelEncoders. One input per column, named as the column."""
    import logging
    import tempfile

    from keras.src.export.tf2onnx_lib import patch_tf2onnx  # Keras' own numpy-2 patches for tf2onnx

    patch_tf2onnx()
    from tf2onnx import convert, tf_loader

    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its INFO progress lines are not the user's
    try:
        with tempfile.TemporaryDirectory() as folder:
            network.export(folder, format="tf_saved_model", verbose=False)
            graph, inputs, outputs, tables, renames = tf_loader.from_saved_model(
                folder, None, None, return_initialized_tables=True, return_tensors_to_rename=True)
            convert._convert_common(graph, name="keras", opset=opset, input_names=inputs, output_names=outputs,
                                    initialized_tables=tables, tensors_to_rename=renames, output_path=str(path))
    finally:
        logger.setLevel(level)


class _Column(NamedTuple):
    name: str
    dtype: str
    shape: tuple[int, ...]  # after the batch dimension: () or (1,)
    vocabulary: tuple[str, ...]

    @property
    def text(self) -> bool:
        return self.dtype == "string"


def _named_inputs(network: Any) -> list[_Column] | None:
    """A network that takes a table: several inputs (or a text one), each one value per row."""
    inputs = list(network.inputs)
    if len(inputs) == 1 and str(inputs[0].dtype) != "string":
        return None
    vocabularies = _vocabularies(network)
    columns = []
    for tensor in inputs:
        shape = tuple(tensor.shape[1:])
        if shape not in ((), (1,)):
            return None  # an input with several values per row is not a column of a table
        columns.append(_Column(str(tensor.name), str(tensor.dtype), shape, vocabularies.get(str(tensor.name), ())))
    return columns


def _vocabularies(network: Any) -> dict[str, tuple[str, ...]]:
    """What each StringLookup layer reading an input directly learned, by the input's name."""
    found = {}
    for layer in network.layers:
        if type(layer).__name__ != "StringLookup":
            continue
        try:
            source = layer.input
            vocabulary = [v for v in layer.get_vocabulary() if v != getattr(layer, "oov_token", "[UNK]")]
        except (AttributeError, ValueError, RuntimeError):  # shared layers, or one used several times
            continue
        if hasattr(source, "name"):
            found[str(source.name)] = tuple(sorted(str(v) for v in vocabulary if v != ""))
    return found


def _input_dtype(network: Any) -> Any:
    """A one-input network's rows as numpy holds them (:func:`feed_dtype`), from its input's Keras dtype."""
    from .._network import feed_dtype

    dtype = str(network.inputs[0].dtype)
    return feed_dtype("i" if dtype.startswith(("int", "uint")) else "b" if dtype == "bool" else "f")


def _as_text(out: np.ndarray) -> np.ndarray:
    """TensorFlow's strings (an inverted StringLookup's output) come out as bytes: labels are text."""
    if out.dtype.kind == "S" or (out.dtype == object and out.size and isinstance(out.flat[0], bytes)):
        return np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in out.ravel()],
                        dtype=object).reshape(out.shape)
    return out


def _kind(dtype: str) -> str:
    from ...metadata import FLOAT

    return "int64" if dtype.startswith(("int", "uint")) else "bool" if dtype == "bool" else FLOAT


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
