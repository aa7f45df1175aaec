"""Scoring PMML with JPMML-Evaluator in an in-process JVM, outputs in scikit-learn's shapes."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, InvalidInputError, UnsupportedModelError
from ...metadata import BOOLEAN, FLOAT, INTEGER, STRING, Feature, InputSchema, Metadata
from ...model import Model
from ._describe import PmmlDescription
from ._java import ensure_jvm


def make_evaluator(path: Path, data: bytes, transpile: bool = False) -> Any:
    """JPMML's evaluator for the document ``data`` (the bytes read from ``path``, the same bytes the
    refusing parser read): built from the kept object of an earlier load when there is one
    (:mod:`._cache`), else from the XML, whose object is then kept."""
    from jpmml_evaluator import ModelEvaluatorBuilder
    from jpmml_evaluator.jpype import JPypeBackend

    from . import _cache

    ensure_jvm()
    backend = JPypeBackend()
    try:
        if transpile:  # compiled to Java classes in memory: nothing to keep
            return _loading(backend).loadBytes(data).transpile().build()
        entry = _cache.entry_for(data)
        if entry is not None and (kept := _cache.read(entry)) is not None:
            try:
                return ModelEvaluatorBuilder(backend, kept).build()
            except Exception as exc:  # never a reason to refuse the document: its XML decides
                _cache.discard(entry, exc)
        builder = _loading(backend).loadBytes(data)
        evaluator = builder.build()
        if entry is not None:  # only a document JPMML built an evaluator from is kept
            _cache.write(entry, builder.javaModelEvaluatorBuilder.getPMML())
        return evaluator
    except Exception as exc:  # JavaError, jpype's java.lang exceptions
        message = _java_message(exc)
        if "UnsupportedElementException" in message or "UnsupportedAttributeException" in message:
            raise UnsupportedModelError(
                f"{path.name}: JPMML-Evaluator cannot score it: {message.split(': ', 1)[-1]}; "
                "modelpack scores PMML with JPMML, so this document needs another PMML engine"
            ) from exc
        raise CorruptFileError(f"JPMML cannot load {path.name}: {message}") from exc


def _loading(backend: Any) -> Any:
    """JPMML's builder from XML, with the visitors it runs by default over what it read
    (``ModelEvaluatorVisitorBattery``) but six of its seven interners, which share equal strings,
    numbers, mining fields and predicates between trees: in a fresh JVM they took 1.3 s of a 13 MB
    forest's 4-5 s first load, to save 2 MiB of heap and 0.3 MB of its cache entry, and change no
    result. The score distributions' interner stays: it shrinks the cache entry by a fifth (1 MB),
    which every later load reads back. The optimizers, which parse values and shape elements for
    fast scoring, and the finalizers, which trim lists, run as before."""
    import jpype
    from jpmml_evaluator import LoadingModelEvaluatorBuilder

    visitors = jpype.JClass("org.jpmml.model.visitors.VisitorBattery")()
    for name in ("AttributeOptimizer", "ElementOptimizer"):
        visitors.addAll(jpype.JClass(f"org.jpmml.evaluator.visitors.{name}Battery")())
    visitors.add(jpype.JClass("org.jpmml.model.visitors.ScoreDistributionInterner"))
    for name in ("AttributeFinalizer", "ElementFinalizer"):
        visitors.addAll(jpype.JClass(f"org.jpmml.evaluator.visitors.{name}Battery")())
    builder = LoadingModelEvaluatorBuilder(backend)
    builder.javaModelEvaluatorBuilder.setVisitors(visitors)
    builder.javaModelEvaluatorBuilder.setValidationEventHandler(_quiet_handler())
    return builder


@functools.cache
def _quiet_handler() -> Any:
    """JAXB's default handler's decisions (go on past a warning, stop at an error) without its
    printing: it wrote each error to the process's stdout, lines beside modelpack's one-line message
    (and into a ``predict`` writing to stdout)."""
    import jpype

    warning = jpype.JClass("jakarta.xml.bind.ValidationEvent").WARNING

    @jpype.JImplements("jakarta.xml.bind.ValidationEventHandler")
    class _Quiet:
        @jpype.JOverride
        def handleEvent(self, event: Any) -> bool:
            return bool(event.getSeverity() == warning)

    return _Quiet()


def check_namespace(path: Path, document: PmmlDescription) -> None:
    """JPMML reads PMML 3.0 to 4.4, each under its own namespace; say so before it fails obscurely."""
    namespace = document.namespace
    if namespace is None:
        raise CorruptFileError(
            f"{path.name} has no XML namespace on its <PMML> root; add "
            f'xmlns="http://www.dmg.org/PMML-{(document.version or "4.4").replace(".", "_")[:3]}" to it'
        )
    if not _NAMESPACE.match(namespace):
        raise CorruptFileError(
            f"{path.name} declares the namespace {namespace}, which is not PMML's "
            "(http://www.dmg.org/PMML-X_Y); correct the xmlns attribute of its <PMML> root"
        )


_DOCUMENT_FAULTS = re.compile(
    r"^(Invalid|Missing|Unsupported)(Element|Attribute|Markup)Exception|^TypeCheckException: Expected \w+ value")
_NAMESPACE = re.compile(r"^http://www\.dmg\.org/PMML-\d_\d$")


def _java_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    first = text[-1] if text else type(exc).__name__
    for package in ("org.jpmml.model.", "org.jpmml.evaluator.", "java.lang."):
        first = first.replace(package, "")
    return first[:300]


class PmmlModel(Model):
    """A PMML document behind the :class:`~modelpack.Model` interface.

    What the model takes and gives comes from the document itself (its DataDictionary,
    MiningSchema and Output), read by :mod:`._describe`, so files from any producer are scored
    with their own classes, label types and probability fields.
    """

    def __init__(self, evaluator: Any, metadata: Metadata | None, path: Path, document: PmmlDescription) -> None:
        self._evaluator = evaluator
        # the Java evaluator's own field lists: jpmml_evaluator's Python wrappers of them fail on
        # an OutputField without dataType, which R's pmml package writes
        java = evaluator.javaEvaluator
        self._inputs = [str(f.getName()) for f in java.getInputFields()]
        outputs = [str(f.getName()) for f in java.getOutputFields()]
        self._document = document
        self._target = document.target
        self._label_type = document.data_fields[self._target].data_type if self._target in document.data_fields else ""
        # a clustering model's target is synthetic and nameless; its label is the "cluster" output
        self._cluster = next((o for o in outputs if o.lower() == "cluster"), None)
        self._affinities = [o for o in outputs if o.startswith("affinity(")]
        if metadata is None:
            metadata = _describe_foreign(document, self._inputs, self._typed)
        classes = metadata.classes
        by_class = {self._key(v): name for v, name in document.probability_outputs(outputs).items()}
        self._proba_columns = [by_class[self._key(c)] for c in classes or () if self._key(c) in by_class]
        if classes is not None and len(self._proba_columns) != len(classes):
            self._proba_columns = []  # a probability for only some classes is no predict_proba
        capabilities = set()
        if self._target or document.function == "clustering":
            capabilities.add("predict")
        if self._proba_columns:
            capabilities.add("predict_proba")
        if self._cluster and self._affinities:
            capabilities.add("transform")
        super().__init__(format="pmml", path=path, metadata=metadata, capabilities=capabilities)
        self._label_of = {self._key(c): c for c in classes} if classes is not None else None
        self.tolerance, self.arithmetic = (1e-9, 1e-12), "JPMML computes in double"
        self.embedded_rows = document.verification_rows
        # sklearn-pmml-model's estimators convert to ONNX (through scikit-learn's converters);
        # pickled, they would name classes outside the allowlist and need trust to load.
        self.convertible_to = frozenset({"onnx"})

    def _typed(self, value: Any) -> Any:
        """A label as the target's declared dataType says, which is how JPMML returns it."""
        return _typed(value, self._label_type)

    def _key(self, value: Any) -> Any:
        """What makes two spellings of one label equal: 0, "0" and "0.0" for a numeric target."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if self._label_type in _NUMERIC:
            try:
                return float(value)
            except (TypeError, ValueError):
                return str(value)
        return str(value).lower() if self._label_type == "boolean" else str(value)

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
            message = _java_message(Exception(str(errors.iloc[row])))
            if _DOCUMENT_FAULTS.match(message):  # the document, not the row: no input would score
                raise CorruptFileError(f"JPMML cannot score with {self.path.name if self.path else 'this document'}: "
                                       f"{message}; the document does not follow the PMML schema JPMML checks")
            raise InvalidInputError(f"JPMML could not score row {row}: {message}")
        return results

    def _predict(self, X: Any) -> np.ndarray:
        results = self.evaluate(X)
        if self._target is None:
            # a ClusteringModel's label is its "cluster" output, else its nameless synthetic target
            column = self._cluster if self._cluster is not None else results.columns[0]
            return np.array([int(v) if str(v).lstrip("-").isdigit() else v for v in results[column].to_numpy()])
        values = results[self._target].to_numpy()
        if self._label_of is not None:
            return _as_labels([self._label_of.get(self._key(v), self._typed(v)) for v in values])
        if self.metadata.task == "clusterer":
            return values.astype(np.int64)
        if self._label_type in _NUMERIC:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return _as_labels([self._typed(v) for v in values])

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

        return to_sklearn(self.path, self._document, self.metadata)


def _as_labels(values: list[Any]) -> np.ndarray:
    if values and all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    return np.asarray(values)


_NUMERIC = ("double", "float", "integer")


def _typed(value: Any, data_type: str) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        if data_type == "integer":
            return int(float(value))
        if data_type in ("double", "float"):
            return float(value)
    except (TypeError, ValueError):
        return value
    if data_type == "boolean":
        return str(value).lower() == "true"
    return str(value)


_KINDS = {"string": STRING, "integer": INTEGER, "boolean": BOOLEAN}


def _describe_foreign(document: PmmlDescription, inputs: list[str], typed: Any) -> Metadata:
    """Metadata for a file modelpack did not write, from its DataDictionary and Output."""
    features = []
    for name in inputs:
        field = document.data_fields.get(name)
        kind = _KINDS.get(field.data_type, FLOAT) if field is not None else FLOAT
        if kind == STRING and field is not None and field.optype == "continuous":
            kind = FLOAT
        categories = tuple(field.values) if field is not None and field.values and kind == STRING else None
        features.append(Feature(name, kind, categories))
    function = document.function or ""
    task = {"classification": "classifier", "regression": "regressor", "clustering": "clusterer"}.get(function, "unknown")
    classes = document.classes()
    return Metadata(
        format="pmml",
        task=task,
        model_type=f"PMML {document.model_element or 'model'}",
        input_schema=InputSchema(tuple(features), "dataframe"),
        classes=[typed(c) for c in classes] if classes is not None else None,
        extra={"producer": document.producer},
    )
