"""The one object every format loads into."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from .data import conform, conform_columns, frame_columns
from .errors import InvalidInputError, ModelpackError, UnsupportedModelError, a_or_an, first_line
from .metadata import Metadata, as_dense

METHODS = ("predict", "predict_proba", "transform")


class _Capability:
    """A method that exists only when the loaded model can do it.

    Like scikit-learn's ``available_if``: ``hasattr(model, "predict_proba")`` is False for
    a regressor, and calling it raises an AttributeError that says why.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Model | None, owner: type) -> Any:
        if obj is None:
            return self
        if self.name not in obj.capabilities:
            raise _MissingMethod(obj.withheld.get(self.name) or
                                 f"this {obj.metadata.model_type.rsplit('.', 1)[-1]} ({obj.format} file) has no {self.name}")
        implementation = getattr(obj, "_" + self.name)

        def method(X: Any) -> Any:
            return obj.run(implementation, X)

        method.__name__ = method.__qualname__ = self.name
        return method


class _MissingMethod(UnsupportedModelError, AttributeError):
    pass


class Model:
    """A loaded model, whatever its file format, with a scikit-learn-like interface.

    Formats subclass it and implement ``_predict``, ``_predict_proba`` and ``_transform``
    for what the model can do, listing them in ``capabilities``.

    Example:
        >>> m = modelpack.load("model.onnx")        # doctest: +SKIP
        >>> m.predict(X_test), m.classes_            # doctest: +SKIP
    """

    predict = _Capability("predict")
    predict_proba = _Capability("predict_proba")
    transform = _Capability("transform")
    #: Methods the model object has, which modelpack does not offer, with why: what this library
    #: version would compute is not what the version that wrote the file did.
    withheld: dict[str, str] = {}

    def __init__(self, *, format: str, path: Path | None, metadata: Metadata, capabilities: set[str]) -> None:
        self.format = format
        self.path = path
        self.metadata = metadata
        self.capabilities = frozenset(capabilities)

    # Subclasses implement those in ``capabilities``.
    def _predict(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def _predict_proba(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def _transform(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def run(self, implementation: Any, X: Any) -> Any:
        """Every format's predict, predict_proba and transform go through here: the input is typed
        by the model's schema (one contract for every format), and whatever the library underneath
        raises about it becomes an :class:`InvalidInputError` saying so in one line."""
        schema = self.metadata.input_schema
        try:
            if type(X) is np.ndarray and schema is not None and schema.kind == "array" and X.ndim == 2 \
                    and X.shape[1] == schema.n_features:
                pass  # already what conform would return: rows of the model's width
            elif self.takes_columns and schema is not None and schema.kind == "dataframe" and (
                    (columns := X if isinstance(X, dict) else frame_columns(X, schema)) is not None):
                # What serve sends, and DataFrames of numpy-held columns: typed in numpy, without pandas'
                # per-column cost (most of a one-row prediction's), by the same rules as conform's.
                X = conform_columns(columns, schema, "the input")
            else:
                X = conform(self.as_model_input(X), schema, "the input", self.text_missing)
            return as_dense(implementation(X))
        except ModelpackError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise InvalidInputError(f"the model refused the input: {first_line(exc)}") from exc
        except Exception as exc:  # the runtime underneath failed on it (onnxruntime's InvalidArgument, a JVM error)
            raise InvalidInputError(f"the model failed on this input: {type(exc).__name__}: {first_line(exc)}") from exc

    def as_model_input(self, X: Any) -> Any:
        """Records (a list of dicts) or a dict of columns become what the model was trained on:
        a DataFrame or a 2-D array in the recorded schema's column order. Anything else passes."""
        records = isinstance(X, list) and bool(X) and isinstance(X[0], dict)
        if not (records or isinstance(X, dict)):
            return X
        import pandas as pd

        frame = pd.DataFrame.from_records(X) if records else pd.DataFrame(X)
        schema = self.metadata.input_schema
        if schema is not None and schema.kind == "array" and all(n in frame.columns for n in schema.names):
            return frame[schema.names].to_numpy()
        return frame

    @property
    def classes_(self) -> np.ndarray:
        if self.metadata.classes is None:
            raise _MissingMethod(f"this {self.metadata.task} has no classes_")
        return np.asarray(self.metadata.classes, dtype=object if _any_str(self.metadata.classes) else None)

    @property
    def feature_names_in_(self) -> np.ndarray:
        schema = self.metadata.input_schema
        if schema is None or schema.kind != "dataframe":
            raise _MissingMethod("this model was not fitted on named columns")
        return np.asarray(schema.names, dtype=object)

    #: What a missing value of a text column is handed to the model as.
    text_missing: Any = None

    #: Formats ``convert`` may write this model to (None: any format).
    convertible_to: frozenset[str] | None = None
    #: The implementation takes a dict of typed numpy columns as it is (ONNX feeds are built from one).
    takes_columns: bool = False

    #: (rtol, atol) within which this model's numbers can match another's, from the arithmetic it
    #: computes in: rtol is relative to the scale of each output (its largest magnitude), atol is
    #: absolute. Exact formats holding a float64 Python object are near-exact; float32 is 1e-4.
    tolerance: tuple[float, float] = (1e-7, 1e-9)
    #: Why: the arithmetic behind ``tolerance``, for the check's report.
    arithmetic: str = "computes in float64"

    #: Rows of verification data the file itself carries (PMML's ModelVerification), if any.
    embedded_rows: int | None = None

    @property
    def native(self) -> Any:
        """The object underneath: an estimator, an ``InferenceSession``, a JPMML evaluator."""
        raise NotImplementedError

    def self_check(self) -> None:
        """Score the verification rows the file carries with its own expected outputs; raise on a mismatch."""
        raise UnsupportedModelError(f"this {self.format} file carries no verification data of its own")

    def to_sklearn(self) -> Any:
        """The model as a scikit-learn estimator, where the format allows it."""
        raise UnsupportedModelError(
            f"{a_or_an(self.format)} file cannot be turned back into a scikit-learn estimator"
        )

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        return f"<modelpack.Model {self.metadata.model_type.rsplit('.', 1)[-1]} ({self.format}){where}>"


def check_columns(given: list[str], expected: list[str]) -> None:
    """Raise InvalidInputError naming the missing and unexpected columns, if any."""
    if given == expected:
        return
    given_set, expected_set = set(given), set(expected)  # linear in the width: a model may take thousands
    missing = [c for c in expected if c not in given_set]
    extra = [c for c in given if c not in expected_set]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        raise InvalidInputError(f"{'; '.join(parts)}; the model expects {', '.join(expected)}")


def _any_str(values: list[Any]) -> bool:
    return any(isinstance(v, str) for v in values)


#: Libraries whose models compute in float32 whatever the input: their outputs carry float32's resolution.
FLOAT32_LIBRARIES = {"xgboost": "XGBoost computes in float32"}


class SklearnModel(Model):
    """A model held as the live Python object (pickle, joblib, skops)."""

    def __init__(self, estimator: Any, *, format: str, path: Path | None, metadata: Metadata,
                 withheld: dict[str, str] | None = None) -> None:
        self.withheld = dict(withheld or {})
        capabilities = {m for m in METHODS if _has_method(estimator, m) and m not in self.withheld}
        super().__init__(format=format, path=path, metadata=metadata, capabilities=capabilities)
        self._estimator = estimator

    # Found when first asked, not at every load: listing a model's parts calls scikit-learn's
    # get_params, which reads each part's signature (a tenth of a small model's safe load).
    @property
    def tolerance(self) -> tuple[float, float]:  # type: ignore[override]
        return (1e-4, 1e-6) if self._float32_note else Model.tolerance

    @property
    def arithmetic(self) -> str:  # type: ignore[override]
        return self._float32_note or Model.arithmetic

    @functools.cached_property
    def _float32_note(self) -> str | None:
        from .metadata import _estimators_in

        for part in _estimators_in(self._estimator):
            note = FLOAT32_LIBRARIES.get(type(part).__module__.split(".")[0])
            if note:
                return note
        return None

    def run(self, implementation: Any, X: Any) -> Any:
        try:
            return super().run(implementation, X)
        except InvalidInputError as exc:
            from .formats._object import installed_version
            from .formats._sklearn_versions import cannot_use

            pickled_with, current = self.metadata.versions.get("sklearn"), installed_version("sklearn")
            if not (isinstance(exc.__cause__, AttributeError) and pickled_with and current and pickled_with != current):
                raise
            # Not the input: an attribute this scikit-learn reads, which the one that pickled the model had not
            name = self.path.name if self.path is not None else "the model"
            raise UnsupportedModelError(
                cannot_use(name, pickled_with, current, first_line(exc.__cause__, 160))) from exc.__cause__

    @functools.cached_property
    def text_missing(self) -> Any:  # type: ignore[override]
        """NaN, as pandas reads a missing value and as scikit-learn's imputers (missing_values=np.nan)
        and encoders learned it from a DataFrame; None where the model learned None: an encoder with
        None among its categories, or an imputer of missing_values=None. (None, where the model
        learned NaN, passes an imputer unseen and is an unknown category to the encoder after it.)"""
        from .formats._sklearn_versions import estimators_below

        for part in estimators_below(self._estimator):
            if type(part).__name__ == "SimpleImputer" and vars(part).get("missing_values", np.nan) is None:
                return None
            learned = getattr(part, "categories_", None)
            for categories in learned if isinstance(learned, list) else ():
                if isinstance(categories, np.ndarray) and categories.dtype == object and \
                        any(v is None for v in categories.tolist()):
                    return None
        return np.nan

    def _predict(self, X: Any) -> np.ndarray:
        return np.asarray(self._estimator.predict(self.as_model_input(X)))

    def _predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self._estimator.predict_proba(self.as_model_input(X)))

    def _transform(self, X: Any) -> np.ndarray:
        return self._estimator.transform(self.as_model_input(X))

    @property
    def classes_(self) -> np.ndarray:
        classes = getattr(self._estimator, "classes_", None)
        return np.asarray(classes) if classes is not None else super().classes_

    @property
    def native(self) -> Any:
        return self._estimator

    def to_sklearn(self) -> Any:
        return self._estimator


def _has_method(estimator: Any, name: str) -> bool:
    try:
        return callable(getattr(estimator, name))
    except AttributeError:  # available_if hides what a pipeline's final step cannot do
        return False
