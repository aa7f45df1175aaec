"""Running TF Lite with LiteRT's interpreter: batches resized to the rows given, labels from the metadata."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..._native import native_stderr
from ...errors import CorruptFileError, InvalidInputError, first_line
from ...metadata import FLOAT, STRING, Feature, InputSchema, Metadata
from ...model import Model


def open_interpreter(path: Path, threads: int | None = None) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    with native_stderr() as log:
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
        except Exception as exc:  # LiteRT's ValueError/RuntimeError on a broken flatbuffer
            detail = " ".join(line for line in log.read().splitlines() if not line.startswith("INFO:"))
            raise CorruptFileError(f"LiteRT cannot load {path.name}: {first_line(exc)} {detail}".strip()) from exc
    return interpreter


class TfliteModel(Model):
    """One output: labels and probabilities for classifiers, values otherwise. The input is one
    tensor, or (a network that takes a table) one named input per column, run by its signature."""

    def __init__(self, interpreter: Any, metadata: Metadata | None, path: Path) -> None:
        self._interpreter = interpreter
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        self._runner: Any = None
        self._columns: dict[str, Any] = {}
        if len(inputs) > 1 or (inputs and np.dtype(inputs[0]["dtype"]).kind in "SUO"):
            self._runner, self._columns = _named_inputs(interpreter)
        if (self._runner is None and len(inputs) != 1) or len(outputs) != 1:
            raise CorruptFileError(f"{path.name} has {len(inputs)} inputs and {len(outputs)} outputs; modelpack "
                                   "runs TF Lite models with one output, and one input or a signature naming them")
        self._input, self._output = inputs[0], outputs[0]
        self._lock = threading.Lock()  # an interpreter's tensors are its own: one call at a time
        if metadata is None:
            metadata = _describe(self._input, self._columns, path)
        self._kind = metadata.extra.get("network_output", "values")
        self._classes = np.asarray(metadata.classes) if metadata.classes is not None else None
        capabilities = {"predict"} | ({"predict_proba"} if self._classes is not None else set())
        super().__init__(format="tflite", path=path, metadata=metadata, capabilities=capabilities)
        self.tolerance, self.arithmetic = (1e-5, 1e-6), "LiteRT computes in float32"

    @property
    def native(self) -> Any:
        return self._interpreter

    def _scores(self, X: Any) -> np.ndarray:
        if self._runner is not None:
            return self._run_signature(X)
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=self._input["dtype"])
        expected = self._input.get("shape_signature", self._input["shape"])
        if X.ndim != len(expected) or any(e > 0 and e != g for e, g in zip(expected[1:], X.shape[1:])):
            dims = ", ".join("N" if d < 0 else str(d) for d in expected)
            raise InvalidInputError(f"the model takes arrays of shape [{dims}], got one of shape {list(X.shape)}")
        with self._lock:
            if tuple(self._input["shape"]) != X.shape:
                self._interpreter.resize_tensor_input(self._input["index"], list(X.shape))
                self._interpreter.allocate_tensors()
                self._input = self._interpreter.get_input_details()[0]
                self._output = self._interpreter.get_output_details()[0]
            self._interpreter.set_tensor(self._input["index"], X)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._output["index"]))

    def _run_signature(self, X: Any) -> np.ndarray:
        if not hasattr(X, "columns"):
            raise InvalidInputError(f"the model takes a table with columns {', '.join(self._columns)}")
        feed = {}
        for name, detail in self._columns.items():
            if name not in X.columns:
                raise InvalidInputError(f"missing column {name!r}; the model's inputs are {', '.join(self._columns)}")
            values = np.asarray(X[name])
            text = np.dtype(detail["dtype"]).kind in "SUO"
            values = values.astype(str) if text else values.astype(detail["dtype"])
            feed[name] = values.reshape((-1,) + (1,) * (len(detail["shape_signature"]) - 1))
        with self._lock:
            out = self._runner(**feed)
        return np.array(next(iter(out.values())))

    def _predict_proba(self, X: Any) -> np.ndarray:
        p = self._scores(X).astype(np.float64)
        return np.hstack([1 - p, p]) if self._kind == "sigmoid" else p

    def _predict(self, X: Any) -> np.ndarray:
        if self._classes is not None:
            return self._classes[np.argmax(self._predict_proba(X), axis=1)]
        out = self._scores(X)
        return out.reshape(len(out)) if out.ndim == 2 and out.shape[1] == 1 else out


def _named_inputs(interpreter: Any) -> tuple[Any, dict[str, Any]]:
    """The only signature's runner and its inputs by name, when each input is one value per row."""
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        return None, {}
    runner = interpreter.get_signature_runner(next(iter(signatures)))
    details = runner.get_input_details()
    if any(len(d["shape_signature"]) > 2 or (len(d["shape_signature"]) == 2 and d["shape_signature"][1] != 1)
           for d in details.values()):
        return None, {}
    if len(runner.get_output_details()) != 1:
        return None, {}
    return runner, {name: details[name] for name in signatures[next(iter(signatures))]["inputs"]}


def _describe(detail: dict[str, Any], columns: dict[str, Any], path: Path) -> Metadata:
    shape = detail.get("shape_signature", detail["shape"])
    schema = None
    if columns:
        schema = InputSchema(tuple(Feature(name, STRING if np.dtype(d["dtype"]).kind in "SUO" else FLOAT)
                                   for name, d in columns.items()), "dataframe")
    elif len(shape) == 2 and shape[1] > 0:
        schema = InputSchema(tuple(Feature(f"x{i + 1}", "float32") for i in range(int(shape[1]))), "array")
    return Metadata(format="tflite", task="unknown", model_type=f"TF Lite model ({path.name})", input_schema=schema)
