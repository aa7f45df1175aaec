"""Metadata is data: what a model expects, what it is, and how it behaved when saved.

Every format stores the same :class:`Metadata`, serialized as JSON: inside the file where
the format has a place for it (ONNX ``metadata_props``, a PMML ``Extension``, a member of a
skops zip), else in a sidecar ``FILE.modelpack.json``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import platform
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CorruptFileError, spelled

METADATA_VERSION = 1
SIDECAR_SUFFIX = ".modelpack.json"
SAMPLE_ROWS = 20

#: Kinds of input column modelpack distinguishes; each maps to an ONNX/PMML type.
FLOAT, INTEGER, BOOLEAN, STRING = "float64", "int64", "bool", "string"


@dataclass(frozen=True)
class Feature:
    """One input column: its name and its kind (``float64``, ``float32``, ``int64``, ``bool``, ``string``)."""

    name: str
    dtype: str
    categories: tuple[Any, ...] | None = None

    @functools.cached_property
    def category_set(self) -> frozenset[Any]:
        """The categories, for membership tests (built once, not per request)."""
        return frozenset(self.categories or ())


@dataclass(frozen=True)
class InputSchema:
    """What a model takes: a DataFrame with named columns, a 2-D array, or tensors of one shape
    (``kind="tensor"``: images, sequences; ``shape`` is one example's, without the batch axis)."""

    features: tuple[Feature, ...]
    kind: str = "array"  # "array", "dataframe" or "tensor"
    shape: tuple[int, ...] | None = None

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @functools.cached_property
    def name_set(self) -> frozenset[str]:
        """The names, for membership tests (built once)."""
        return frozenset(f.name for f in self.features)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def all_numeric(self) -> bool:
        return all(f.dtype != STRING for f in self.features)

    @classmethod
    def from_data(cls, X: Any) -> InputSchema:
        """Infer the schema of a DataFrame (names, per-column kinds) or of a 2-D array."""
        import numpy as np

        if hasattr(X, "columns") and hasattr(X, "dtypes"):
            features = tuple(
                Feature(str(name), _kind_of(X[name].dtype), _categories_of(X[name].dtype))
                for name in X.columns
            )
            return cls(features, "dataframe")
        arr = np.asarray(X)
        if arr.ndim > 2:
            return cls((Feature("input", _kind_of(arr.dtype)),), "tensor", tuple(int(d) for d in arr.shape[1:]))
        if arr.ndim != 2:
            raise ValueError(f"expected 2-D input, got an array of shape {arr.shape}")
        kind = _kind_of(arr.dtype)
        return cls(tuple(Feature(f"x{i + 1}", kind) for i in range(arr.shape[1])), "array")

    @classmethod
    def from_model(cls, model: Any) -> InputSchema | None:
        """A best-effort schema from a fitted estimator, for saves made without a sample."""
        own = getattr(model, "modelpack_input_schema", None)  # adapters that know their inputs (networks)
        if callable(own):
            return own()  # type: ignore[no-any-return]
        names = getattr(model, "feature_names_in_", None)
        if names is not None:
            parts = _fitted_parts(model)
            learned = encoder_categories(model, parts)
            text = set(learned) | _imputed_text(model, parts)
            return cls(
                tuple(Feature(str(n), STRING, learned.get(str(n))) if str(n) in text else Feature(str(n), FLOAT)
                      for n in names),
                "dataframe",
            )
        n = getattr(model, "n_features_in_", None)
        if n is not None:
            return cls(tuple(Feature(f"x{i + 1}", FLOAT) for i in range(int(n))), "array")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **({"shape": list(self.shape)} if self.shape is not None else {}),
            "features": [
                {"name": f.name, "dtype": f.dtype}
                | ({"categories": to_jsonable(list(f.categories))} if f.categories else {})
                for f in self.features
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSchema:
        return cls(
            tuple(
                Feature(f["name"], f["dtype"], tuple(f["categories"]) if f.get("categories") else None)
                for f in d["features"]
            ),
            d.get("kind", "array"),
            tuple(int(v) for v in d["shape"]) if d.get("shape") is not None else None,
        )

    def with_categories(self, learned: Mapping[str, tuple[Any, ...]]) -> InputSchema:
        """The same schema, string columns carrying the categories an encoder learned for them."""
        return InputSchema(
            tuple(
                dataclasses.replace(f, categories=learned[f.name])
                if f.dtype == STRING and f.categories is None and f.name in learned
                else f
                for f in self.features
            ),
            self.kind,
        )


def encoder_categories(model: Any, parts: list[Any] | None = None) -> dict[str, tuple[Any, ...]]:
    """String categories the model's encoders learned, by input column name.

    Found in a ColumnTransformer's encoders, and in an encoder that takes the input itself (alone,
    or first in a pipeline), behind the imputers that hand it the raw columns. Recorded in the schema
    so a form can offer them (``serve``'s page, the browser example), so a model saved without a
    sample still knows which columns hold strings, and so inputs are typed by what the model learned
    ("501" stays a string).
    """
    found: dict[str, tuple[Any, ...]] = {}
    for steps, names in _raw_columns(model, parts):
        found.update(_learned_strings(_first_encoder(steps), names))
    learned = getattr(model, "input_categories", None)  # adapters that know their encoders (networks)
    if callable(learned):
        found.update(learned())
    return found


def _imputed_text(model: Any, parts: list[Any]) -> set[str]:
    """Input columns a SimpleImputer learned text for (its most frequent value, or its constant, is a
    string), with or without an encoder behind it."""
    found: set[str] = set()
    for steps, names in _raw_columns(model, parts):
        found |= _imputed_strings(steps, names)
    return found


def _raw_columns(model: Any, parts: list[Any] | None) -> Iterator[tuple[list[Any], list[str]]]:
    """Each group of input columns with the steps that see them as they came: every ColumnTransformer
    entry among ``parts`` (default: the model's), and the model itself where it takes its input as a
    whole (a pipeline or an estimator fitted on named columns)."""
    import numpy as np

    for part in _fitted_parts(model) if parts is None else parts:
        for _, transformer, columns in getattr(part, "transformers_", []):
            yield _raw_steps(transformer), [str(c) for c in np.atleast_1d(columns)]
    inputs = getattr(model, "feature_names_in_", None)
    if inputs is not None and not hasattr(model, "transformers_"):
        yield _raw_steps(model), [str(n) for n in inputs]


def _fitted_parts(model: Any) -> list[Any]:
    """``model`` and the estimators in its parameters (get_params); where get_params fails, as it does
    on a model pickled by an older scikit-learn that lacks a parameter added since, the estimators its
    attributes hold."""
    get_params = getattr(model, "get_params", None)
    try:
        params = get_params(deep=True) if callable(get_params) else {}
    except Exception:  # whatever an old object's missing attribute raises
        from .formats._sklearn_versions import estimators_below

        return estimators_below(model)
    return [model, *(v for v in params.values() if hasattr(v, "fit"))]


# Steps that hand on each input column as it came, but for its missing values: what follows them
# (an encoder after an imputer) learned the raw columns' values. (add_indicator appends columns after
# them; an encoder learning those too has more categories than names, and is not used.)
_COLUMN_PRESERVING = ("SimpleImputer",)


def _raw_steps(transformer: Any) -> list[Any]:
    """The steps of ``transformer`` (a pipeline, or one step) that see the input columns as they came."""
    steps = [s for _, s in getattr(transformer, "steps", [])] or [transformer]
    raw = []
    for step in steps:
        if step is None or step == "passthrough":
            continue
        raw.append(step)
        if type(step).__name__ not in _COLUMN_PRESERVING:
            break
    return raw


def _first_encoder(steps: list[Any]) -> Any:
    """The categories learned by the first of ``steps`` (those that see the raw columns) that has them."""
    for step in steps:
        categories = getattr(step, "categories_", None)
        if categories is not None:
            return categories
    return None


def _imputed_strings(steps: list[Any], names: list[str]) -> set[str]:
    for step in steps:
        statistics = getattr(step, "statistics_", None)
        if type(step).__name__ == "SimpleImputer" and statistics is not None and len(statistics) >= len(names):
            return {name for name, value in zip(names, list(statistics)) if isinstance(value, str)}
    return set()


def _learned_strings(categories: Any, names: list[str]) -> dict[str, tuple[Any, ...]]:
    import numpy as np

    if categories is None or len(categories) != len(names):
        return {}
    found = {}
    for name, cats in zip(names, categories):
        values = [v for v in np.asarray(cats).tolist() if isinstance(v, str)]
        if values:
            found[name] = tuple(values)
    return found


def _kind_of(dtype: Any) -> str:
    import numpy as np

    kind = getattr(dtype, "kind", "O")
    if kind == "f":
        return "float32" if np.dtype(dtype) == np.float32 else FLOAT
    if kind in "iu":
        return INTEGER
    if kind == "b":
        return BOOLEAN
    return STRING


def _categories_of(dtype: Any) -> tuple[Any, ...] | None:
    cats = getattr(dtype, "categories", None)
    return tuple(cats.tolist()) if cats is not None else None


@dataclass(frozen=True)
class Sample:
    """A few input rows and what the original model returned for them."""

    inputs: list[list[Any]]
    outputs: dict[str, Any]

    def frame(self, schema: InputSchema) -> Any:
        """The rows as the model was given them: a DataFrame or a 2-D array."""
        return rows_to_input(self.inputs, schema)


def rows_to_input(rows: Sequence[Sequence[Any]], schema: InputSchema) -> Any:
    """Turn JSON rows back into what the model was trained on, with the recorded dtypes."""
    import numpy as np

    if schema.kind == "tensor":
        return np.asarray(rows, dtype=numpy_dtype(schema.features[0].dtype)).reshape(len(rows), *(schema.shape or ()))
    columns: list[Sequence[Any]] = list(zip(*rows)) if rows else [[] for _ in schema.features]
    if schema.kind == "dataframe":
        import pandas as pd

        return pd.DataFrame(
            {f.name: _column(col, f.dtype) for f, col in zip(schema.features, columns)}
        )
    dtypes = {f.dtype for f in schema.features}
    dtype = dtypes.pop() if len(dtypes) == 1 else FLOAT
    arr = np.array(
        [[_scalar(v, dtype) for v in row] for row in rows], dtype=numpy_dtype(dtype)
    )
    return arr.reshape(len(rows), schema.n_features)


def numpy_dtype(kind: str) -> Any:
    """The numpy dtype of a schema kind (object for text)."""
    import numpy as np

    return object if kind == STRING else np.dtype(kind)


def _scalar(v: Any, kind: str) -> Any:
    if v is None and kind in (FLOAT, "float32"):
        return math.nan
    return v


def _column(values: Sequence[Any], kind: str) -> Any:
    import numpy as np

    if kind == STRING:
        return np.array(list(values), dtype=object)
    if kind == INTEGER and any(v is None for v in values):
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    return np.array([_scalar(v, kind) for v in values], dtype=numpy_dtype(kind))


@dataclass(frozen=True)
class Metadata:
    """Everything modelpack records about a saved model."""

    format: str
    task: str
    model_type: str
    input_schema: InputSchema | None = None
    classes: list[Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    sample: Sample | None = None
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    metadata_version: int = METADATA_VERSION

    def replace(self, **changes: Any) -> Metadata:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metadata_version": self.metadata_version,
            "format": self.format,
            "task": self.task,
            "model_type": self.model_type,
            "input_schema": self.input_schema.to_dict() if self.input_schema else None,
            "classes": to_jsonable(self.classes),
            "versions": dict(self.versions),
            "created": self.created,
            "sample": (
                {"inputs": to_jsonable(self.sample.inputs), "outputs": to_jsonable(self.sample.outputs)}
                if self.sample
                else None
            ),
            "sha256": self.sha256,
            "extra": to_jsonable(self.extra),
        }

    def to_json(self) -> str:
        import json  # lazily, like hashlib below: `import modelpack` stays close to numpy's own cost

        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, sort_keys=True)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate (a label read with surrogateescape): \u-escaped
                text = json.dumps(self.to_dict(), allow_nan=False, sort_keys=True)
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Metadata:
        try:
            schema = d.get("input_schema")
            sample = d.get("sample")
            return cls(
                format=d["format"],
                task=d.get("task", "unknown"),
                model_type=d.get("model_type", "unknown"),
                input_schema=InputSchema.from_dict(schema) if schema else None,
                classes=d.get("classes"),
                versions=dict(d.get("versions") or {}),
                created=d.get("created", ""),
                sample=Sample(sample["inputs"], sample["outputs"]) if sample else None,
                sha256=d.get("sha256"),
                extra=dict(d.get("extra") or {}),
                metadata_version=int(d.get("metadata_version", METADATA_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(f"modelpack metadata is malformed: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Metadata:
        import json

        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"modelpack metadata is not valid JSON: {exc}") from exc


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays to JSON types; NaN and infinities become ``None``."""
    np = sys.modules.get("numpy")  # not imported: no value can be numpy's (info, say, never imports it)
    if np is not None and type(obj) is np.ndarray and obj.ndim == 1:  # predictions: decided per array
        values = obj.tolist()
        kind = obj.dtype.kind
        if kind in "biu" or (kind == "f" and all(v - v == 0.0 for v in values)) or (  # finite: inf - inf is nan
                kind == "O" and all(type(v) is str for v in values)):
            return values
        return [to_jsonable(v) for v in values]
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if np is not None and isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if np is not None and isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if type(obj).__name__ == "NAType":  # pandas.NA, without importing pandas
        return None
    return str(obj)


# --- building metadata from a live model -------------------------------------------------


def task_of(model: Any) -> str:
    """classifier, regressor, clusterer, transformer or unknown — as scikit-learn sees it.

    An adapter (a Keras network seen as an estimator) says it in ``__modelpack__["task"]``.
    """
    declared = getattr(model, "__modelpack__", {}).get("task")
    if declared:
        return str(declared)
    try:
        from sklearn import base
    except ImportError:  # a model from a library that mimics the scikit-learn API
        base = None  # type: ignore[assignment]
    if base is not None:
        try:
            if base.is_classifier(model):
                return "classifier"
            if base.is_regressor(model):
                return "regressor"
            if getattr(base, "is_clusterer", None) and base.is_clusterer(model):
                return "clusterer"
        except (AttributeError, TypeError):  # not an estimator (a dict, a plugin's object)
            pass
    if hasattr(model, "predict_proba"):
        return "classifier"
    if hasattr(model, "transform") and not hasattr(model, "predict"):
        return "transformer"
    return "unknown"


def model_type_of(model: Any) -> str:
    declared = getattr(model, "__modelpack__", {}).get("model_type")
    return str(declared) if declared else f"{type(model).__module__}.{type(model).__qualname__}"


def library_versions(model: Any) -> dict[str, str]:
    """Versions of Python, modelpack, numpy, and every library an estimator in the model comes from."""
    import numpy as np

    from . import __version__

    versions = {
        "python": platform.python_version(),
        "modelpack": __version__,
        "numpy": np.__version__,
        **getattr(model, "__modelpack__", {}).get("versions", {}),
    }
    for part in _estimators_in(model):
        top = type(part).__module__.split(".")[0]
        if top not in versions and top not in ("builtins", "__main__"):
            module = __import__(top)
            versions[top] = str(getattr(module, "__version__", "unknown"))
    return versions


def _estimators_in(model: Any) -> list[Any]:
    found = [model]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        try:
            params = get_params(deep=True)
        except Exception:  # some third-party estimators break get_params; versions are best-effort
            params = {}
        found += [v for v in params.values() if hasattr(v, "fit")]
    return found


#: Numbers a tensor sample may record (20 rows of 16×16×3 images; one 224×224×3 image).
SAMPLE_VALUES = 200_000


def sample_rows(X: Any, n: int = SAMPLE_ROWS) -> Any:
    import numpy as np

    if hasattr(X, "iloc"):
        return X.iloc[:n]
    arr = np.asarray(X)
    if arr.ndim > 2:  # tensors: as many examples as fit the budget, at least one
        n = max(1, min(n, SAMPLE_VALUES // max(1, int(np.prod(arr.shape[1:])))))
    return arr[:n]


def to_rows(X: Any) -> list[list[Any]]:
    import numpy as np

    if hasattr(X, "iloc"):
        return to_jsonable([list(r) for r in X.itertuples(index=False, name=None)])
    return to_jsonable(np.asarray(X).tolist())


def classes_of(model: Any) -> list[Any] | None:
    """A fitted classifier's ``classes_`` as JSON values, or None."""
    classes = getattr(model, "classes_", None)
    return to_jsonable(classes) if classes is not None else None


def as_dense(value: Any) -> Any:
    """A scipy sparse result (OneHotEncoder, TfidfTransformer, KBinsDiscretizer ...) as a dense array:
    what every format returns, records and compares."""
    return value.toarray() if hasattr(value, "toarray") and hasattr(value, "nnz") else value


def expected_outputs(model: Any, X: Any, skip: Collection[str] = ()) -> dict[str, Any]:
    """What ``model`` returns for ``X`` from each of predict, predict_proba and transform but ``skip``."""
    import numpy as np

    from .errors import InvalidInputError, first_line

    outputs: dict[str, Any] = {}
    for method in ("predict", "predict_proba", "transform"):
        fn = getattr(model, method, None) if method not in skip else None
        if fn is None:
            continue
        try:
            outputs[method] = np.asarray(as_dense(fn(X)))
        except (AttributeError, NotImplementedError):
            continue  # sklearn's available_if hides methods only at call time for some steps
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise InvalidInputError(
                f"the {type(model).__name__} cannot score the sample rows with {method} ({first_line(exc)}); "
                f"pass sample rows of the kind it was fitted on ({spelled('sample=...', '--data FILE')})"
            ) from exc
    return outputs


def build_metadata(
    model: Any, format_name: str, sample: Any = None, extra: Mapping[str, Any] | None = None,
    skip: Collection[str] = (),
) -> Metadata:
    """Describe a fitted in-memory model, recording ``sample``'s first rows and their outputs (but
    those of ``skip``, methods whose answers are not the model's own: see ``Model.withheld``)."""
    if sample is None:
        schema = InputSchema.from_model(model)  # already carries the encoders' categories
    else:
        schema = InputSchema.from_data(sample)
        if schema.kind == "dataframe":
            schema = schema.with_categories(encoder_categories(model))
    recorded = None
    if sample is not None:
        rows = sample_rows(sample)
        recorded = Sample(to_rows(rows), to_jsonable(expected_outputs(model, rows, skip)))
    return Metadata(
        format=format_name,
        task=task_of(model),
        model_type=model_type_of(model),
        input_schema=schema,
        classes=classes_of(model),
        versions=library_versions(model),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        sample=recorded,
        extra={**getattr(model, "__modelpack__", {}).get("extra", {}), **(extra or {})},
    )


# --- sidecars and checksums ---------------------------------------------------------------


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


MAX_SIDECAR = 64 << 20


def read_sidecar(path: Path, sha256: str | None = None) -> Metadata | None:
    """The sidecar's metadata; with ``sha256`` (the file's), the one that matches it.

    A save killed between putting the model in place and its sidecar leaves the new
    sidecar pending beside the old one (see ``_atomic``): it is found by its checksum.
    """
    side = sidecar_path(path)
    metadata = _read_json_file(side) if side.exists() else None
    if sha256 is None or metadata is None or metadata.sha256 in (None, sha256):
        return metadata
    from ._atomic import pending_sidecars

    for pending in pending_sidecars(path):
        candidate = _read_json_file(pending)
        if candidate.sha256 == sha256:
            return candidate
    return metadata


def _read_json_file(path: Path) -> Metadata:
    with open(path, "rb") as fh:
        data = fh.read(MAX_SIDECAR + 1)
    if len(data) > MAX_SIDECAR:
        raise CorruptFileError(f"{path.name} is over {MAX_SIDECAR >> 20} MiB; it is not a modelpack sidecar")
    return Metadata.from_json(data)


def sha256_of(source: Path | bytes) -> str:
    """The hex SHA-256 of a file, or of its bytes already read."""
    import hashlib  # OpenSSL's start-up is 3-4 ms of `import modelpack` otherwise

    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
