"""Scoring a MOJO in-process with H2O's genmodel, in the JVM PMML also uses (started once).

Rows go through genmodel's ``EasyPredictModelWrapper``, the API H2O documents for MOJO scoring:
columns by name, categorical levels by their text, a missing value left out of the row (H2O's NA),
an unseen level scored as NA, as the cluster's own ``predict`` scores it.

The fast path does what the wrapper does for the common case in bulk: levels to their domain
index (unseen and missing: NaN) in numpy, the whole batch handed to Java as one ``double[][]``,
then ``score0`` per row, four times faster. It is taken only where the wrapper would do nothing
more (categoricals fed as domain indexes, no offset column, a classifier or regressor); the
suite checks that both paths answer alike.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, UnsupportedModelError, first_line
from ...metadata import FLOAT, STRING, Feature, InputSchema, Metadata
from ...model import Model
from ._mojo import TASKS, Mojo

_load_lock = threading.Lock()


def open_mojo(path: Path) -> Any:
    """genmodel's model and its easy-predict wrapper, configured to score as the cluster does."""
    from ..pmml._java import ensure_jvm, genmodel_classpath

    genmodel_classpath()  # one line naming the extra when the jars are missing
    ensure_jvm()
    import jpype

    with _load_lock:
        try:
            mojo_model = jpype.JClass("hex.genmodel.MojoModel")
            wrapper = jpype.JClass("hex.genmodel.easy.EasyPredictModelWrapper")
        except Exception as exc:  # the JVM was started before the genmodel jar was installed
            raise UnsupportedModelError(f"this process's JVM has no H2O genmodel classes ({first_line(exc)}); "
                                        "start a new process") from exc
        try:
            model = mojo_model.load(str(path))
        except Exception as exc:  # java.io.IOException and friends: a broken or foreign MOJO
            raise CorruptFileError(f"H2O genmodel cannot read {path.name}: {first_line(exc)}") from exc
        config = (wrapper.Config().setModel(model).setConvertUnknownCategoricalLevelsToNa(True)
                  .setConvertInvalidNumbersToNa(True))
        return model, wrapper(config)


class H2oModel(Model):
    """Labels and class probabilities (Binomial, Multinomial, Ordinal), values (Regression), or
    cluster indexes (Clustering), scored by genmodel exactly as H2O scores them."""

    def __init__(self, path: Path, mojo: Mojo, metadata: Metadata | None) -> None:
        if mojo.category not in TASKS:
            raise UnsupportedModelError(f"{path.name} is an H2O {mojo.category} model; modelpack scores "
                                        f"{', '.join(TASKS)} MOJOs")
        self._model, self._wrapper = open_mojo(path)
        self._mojo = mojo
        self._category = mojo.category
        # each categorical input's levels by text, as genmodel reads them (unescaped), to their index
        self._levels = {name: {str(level): i for i, level in enumerate(self._model.getDomainValues(j))}
                        for j, name in enumerate(mojo.features) if j in mojo.domains}
        self._response = ([str(v) for v in self._model.getDomainValues(self._model.getResponseIdx())]
                          if mojo.classes else [])
        self._lock = threading.Lock()
        self.fast = (mojo.category in ("Binomial", "Multinomial", "Regression")
                     and mojo.info.get("_genmodel_encoding", "AUTO") in ("AUTO", "Enum")
                     and self._model.getOffsetName() is None)
        metadata = metadata or describe_metadata(mojo, path)
        capabilities = {"predict"} | ({"predict_proba"} if mojo.classes else set())
        super().__init__(format="h2o", path=path, metadata=metadata, capabilities=capabilities)
        self.tolerance, self.arithmetic = (1e-9, 1e-12), "H2O genmodel computes in float64"
        self.convertible_to = frozenset()  # genmodel's trees and coefficients are not an estimator to re-export

    @property
    def native(self) -> Any:
        return self._model

    def _rows(self, X: Any) -> Any:
        import jpype

        row_class = jpype.JClass("hex.genmodel.easy.RowData")
        columns = self._columns(X)
        for i in range(len(X)):
            row = row_class()
            for name, column in columns.items():
                value = column[i]
                if _missing(value):
                    continue  # left out of the row, which H2O scores as NA
                if name in self._levels:
                    row.put(name, str(value))
                else:
                    row.put(name, jpype.JDouble(float(value)))
            yield row

    def _score(self, X: Any) -> tuple[list[Any], np.ndarray | None]:
        if self.fast:
            return self._score_in_bulk(X)
        predict = {"Binomial": self._wrapper.predictBinomial, "Multinomial": self._wrapper.predictMultinomial,
                   "Ordinal": self._wrapper.predictOrdinal, "Regression": self._wrapper.predictRegression,
                   "Clustering": self._wrapper.predictClustering}[self._category]
        labels: list[Any] = []
        probabilities: list[list[float]] = []
        with self._lock:
            for row in self._rows(X):
                answer = predict(row)
                if self._category == "Regression":
                    labels.append(float(answer.value))
                elif self._category == "Clustering":
                    labels.append(int(answer.cluster))
                else:
                    labels.append(str(answer.label))
                    probabilities.append(list(answer.classProbabilities))
        return labels, np.asarray(probabilities, dtype=np.float64) if probabilities else None

    def _score_in_bulk(self, X: Any) -> tuple[list[Any], np.ndarray | None]:
        import jpype

        columns = self._columns(X)
        matrix = np.empty((len(X), len(columns)), dtype=np.float64)
        for j, (name, column) in enumerate(columns.items()):
            if name in self._levels:  # unseen and missing levels: NaN, H2O's NA
                levels = self._levels[name]
                matrix[:, j] = [np.nan if _missing(v) else levels.get(str(v), np.nan) for v in column]
            else:
                matrix[:, j] = np.asarray(column, dtype=np.float64)
        size = int(self._model.getPredsSize())
        out = np.empty((len(matrix), size), dtype=np.float64)
        with self._lock:
            rows = jpype.JArray(jpype.JDouble, 2)(matrix) if len(matrix) else []
            buffer = jpype.JDouble[size]
            score0 = self._model.score0
            for i in range(len(matrix)):
                out[i] = score0(rows[i], buffer)
        if self._category == "Regression":
            return out[:, 0].tolist(), None
        return [self._response[int(k)] for k in out[:, 0]], out[:, 1:]

    def _columns(self, X: Any) -> dict[str, np.ndarray]:
        """The model's input columns of ``X`` (a table, or an array in the features' order), by name."""
        if hasattr(X, "columns"):
            return {name: np.asarray(X[name]) for name in self._mojo.features}
        array = np.asarray(X)
        return {name: array[:, j] for j, name in enumerate(self._mojo.features)}

    def _predict(self, X: Any) -> np.ndarray:
        labels, _ = self._score(X)
        if self._category == "Regression":
            return np.asarray(labels, dtype=np.float64)
        if self._category == "Clustering":
            return np.asarray(labels, dtype=np.int64)
        classes = self.metadata.classes or self._mojo.classes or []
        by_text = {str(c): c for c in classes}  # labels in the type the metadata records (e.g. ints)
        return np.asarray([by_text.get(label, label) for label in labels], dtype=object)

    def _predict_proba(self, X: Any) -> np.ndarray:
        _, probabilities = self._score(X)
        return probabilities if probabilities is not None else np.empty((0, len(self._mojo.classes or [])))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and value != value)


def describe_metadata(mojo: Mojo, path: Path) -> Metadata:
    """A MOJO saved without modelpack: its inputs, types and classes from model.ini."""
    features = tuple(Feature(name, STRING, tuple(mojo.domains[i])) if i in mojo.domains else Feature(name, FLOAT)
                     for i, name in enumerate(mojo.features))
    return Metadata(format="h2o", task=TASKS.get(mojo.category, "unknown"),
                    model_type=f"h2o.{mojo.info.get('algo', '?')} ({mojo.category})",
                    input_schema=InputSchema(features, "dataframe"), classes=mojo.classes,
                    versions={"h2o": mojo.info.get("h2o_version", "?")})
