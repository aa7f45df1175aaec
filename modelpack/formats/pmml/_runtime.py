"""Scoring PMML with JPMML-Evaluator in an in-process JVM, outputs in scikit-learn's shapes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, InvalidInputError
from ...metadata import STRING, Feature, InputSchema, Metadata
from ...model import Model
from ._java import ensure_jvm

_PROBABILITY = re.compile(r"^probability\((.*)\)$")


def make_evaluator(path: Path, transpile: bool = False) -> Any:
    from jpmml_evaluator import make_evaluator as jpmml_make_evaluator

    ensure_jvm()
    try:
        return jpmml_make_evaluator(str(path), backend="jpype", transpile=transpile)
    except Exception as exc:  # JavaError, jpype's java.lang exceptions
        raise CorruptFileError(f"JPMML cannot load {path}: {_java_message(exc)}") from exc


def _java_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    first = text[-1] if text else type(exc).__name__
    return first.replace("org.jpmml.model.", "")[:300]


class PmmlModel(Model):
    """A PMML document behind the :class:`~modelpack.Model` interface."""

    def __init__(self, evaluator: Any, metadata: Metadata | None, path: Path, head: Any) -> None:
        self._evaluator = evaluator
        self._inputs = [f.getName() for f in evaluator.getInputFields()]
        # a clustering model's target is synthetic and nameless; its label is the "cluster" output
        targets = [f.getName() for f in evaluator.getTargetFields() if f.getName() not in (None, "None")]
        outputs = [f.getName() for f in evaluator.getOutputFields()]
        self._target = targets[0] if targets else None
        self._proba_columns = [o for o in outputs if _PROBABILITY.match(o)]
        self._cluster = next((o for o in outputs if o.lower() == "cluster"), None)
        self._affinities = [o for o in outputs if o.startswith("affinity(")]
        self._head = head
        if metadata is None:
            metadata = _describe_foreign(evaluator, head, self._proba_columns)
        capabilities = set()
        if self._target or self._cluster:
            capabilities.add("predict")
        if self._proba_columns:
            capabilities.add("predict_proba")
        if self._cluster and self._affinities:
            capabilities.add("transform")
        super().__init__(format="pmml", path=path, metadata=metadata, capabilities=capabilities)
        classes = metadata.classes
        self._label_of = {str(c): c for c in classes} if classes is not None else None
        if classes is not None and self._proba_columns:
            by_class = {_PROBABILITY.match(c).group(1): c for c in self._proba_columns}  # type: ignore[union-attr]
            self._proba_columns = [by_class[str(c)] for c in classes if str(c) in by_class]
        self.tolerance, self.arithmetic = (1e-9, 1e-12), "JPMML computes in double"
        # sklearn-pmml-model's estimators convert to ONNX (through scikit-learn's converters);
        # pickled, they would name classes outside the allowlist and need trust to load.
        self.convertible_to = frozenset({"onnx"})

    @property
    def native(self) -> Any:
        return self._evaluator

    def _frame(self, X: Any) -> Any:
        import pandas as pd

        X = self.as_model_input(X)
        if not hasattr(X, "columns"):
            arr = np.asarray(X, dtype=object)
            if arr.ndim == 1:
                arr = arr.reshape(1, -1)
            # A row of every recorded feature, of which the model may use only some (its MiningSchema).
            schema = self.metadata.input_schema
            names = schema.names if schema is not None and arr.ndim == 2 and arr.shape[1] == schema.n_features else self._inputs
            if arr.ndim != 2 or arr.shape[1] != len(names):
                raise InvalidInputError(
                    f"the model expects {len(names)} features per row, got an input of shape {arr.shape}"
                )
            X = pd.DataFrame(arr, columns=names)
        missing = [c for c in self._inputs if c not in map(str, X.columns)]
        if missing:  # columns the model does not use are ignored, as for every format
            raise InvalidInputError(f"missing column(s) {', '.join(missing)}; the model uses {', '.join(self._inputs)}")
        return X[self._inputs]

    def evaluate(self, X: Any) -> Any:
        """JPMML's own result frame for ``X`` (target, probabilities and other output fields)."""
        frame = self._frame(X)
        try:
            result = self._evaluator.evaluateAll(frame, error_col=None)
        except Exception as exc:
            raise InvalidInputError(f"JPMML refused the input: {_java_message(exc)}") from exc
        results, errors = result
        if errors is not None and errors.notna().any():
            row = int(np.flatnonzero(errors.notna().to_numpy())[0])
            raise InvalidInputError(f"JPMML could not score row {row}: {errors.iloc[row]}")
        return results

    def _predict(self, X: Any) -> np.ndarray:
        results = self.evaluate(X)
        if self._target is None:
            labels = results[self._cluster].to_numpy()
            return np.array([int(v) if str(v).lstrip("-").isdigit() else v for v in labels])
        values = results[self._target].to_numpy()
        if self.metadata.task == "classifier" and self._label_of is not None:
            return _as_labels([self._label_of.get(str(v), v) for v in values])
        if self.metadata.task == "clusterer":
            return values.astype(np.int64)
        return values.astype(np.float64)

    def _predict_proba(self, X: Any) -> np.ndarray:
        return self.evaluate(X)[self._proba_columns].to_numpy(dtype=np.float64)

    def _transform(self, X: Any) -> np.ndarray:
        # sklearn2pmml writes KMeans with the squaredEuclidean measure; KMeans.transform is the distance
        return np.sqrt(self.evaluate(X)[self._affinities].to_numpy(dtype=np.float64))

    def self_check(self) -> None:
        """Run the ModelVerification rows embedded in the file through JPMML (raises on mismatch)."""
        try:
            self._evaluator.verify()
        except Exception as exc:
            raise CorruptFileError(f"JPMML's own verification of {self.path} failed: {_java_message(exc)}") from exc

    def to_sklearn(self) -> Any:
        """The model as a scikit-learn estimator, read by sklearn-pmml-model where it can."""
        from ._readback import to_sklearn

        return to_sklearn(self.path, self._head, self.metadata)


def _as_labels(values: list[Any]) -> np.ndarray:
    if values and all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    return np.asarray(values)


def _describe_foreign(evaluator: Any, head: Any, proba_columns: list[str]) -> Metadata:
    fields = evaluator.getInputFields()
    features = []
    for f in fields:
        op_type = str(f.getOpType()) if hasattr(f, "getOpType") else "continuous"
        dtype = str(f.getDataType()) if hasattr(f, "getDataType") else "double"
        kind = STRING if (op_type != "continuous" and dtype == "string") else (
            "int64" if dtype == "integer" else "float64")
        features.append(Feature(f.getName(), kind))
    function = head.function or ""
    task = {"classification": "classifier", "regression": "regressor", "clustering": "clusterer"}.get(function, "unknown")
    classes = [_PROBABILITY.match(c).group(1) for c in proba_columns] if proba_columns else None  # type: ignore[union-attr]
    if classes is not None:
        classes = [int(c) if c.lstrip("-").isdigit() else c for c in classes]
    return Metadata(
        format="pmml",
        task=task,
        model_type=f"PMML {head.model_element or 'model'}",
        input_schema=InputSchema(tuple(features), "dataframe"),
        classes=classes,
    )
