"""What the formats that hold the live Python object (pickle, joblib, skops) share."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import (
    ModelpackError,
    UnsupportedModelError,
    UntrustedContentError,
    VersionMismatchWarning,
    a_or_an,
    first_line,
)
from ..metadata import InputSchema, Metadata, classes_of, model_type_of, task_of
from ..registry import Format

if TYPE_CHECKING:  # the model classes import numpy: only a load needs them, not info's listing
    from ..model import SklearnModel

# Import names whose distribution is named differently on PyPI.
DISTRIBUTIONS = {"sklearn": "scikit-learn"}
_CHECKED_LIBRARIES = ("sklearn", "xgboost", "lightgbm")


class ObjectFormat(Format):
    holds_python_object: ClassVar[bool] = True

    def unpickle(self, path: Path, load: Any) -> Any:
        """Run ``load()``, the format's restricted unpickling, saying what a version change means.

        scikit-learn's own warning about a version change becomes modelpack's, once, naming both
        versions and what to do; a refusal of a class that this scikit-learn no longer has says
        which version wrote the file and how to get the model out of it.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                estimator = load()
            except UntrustedContentError as exc:
                raise self._old_library(path, exc) from exc
        versions = set()
        for warning in caught:
            original = getattr(warning.message, "original_sklearn_version", None)
            if original is not None:
                versions.add((original, getattr(warning.message, "current_sklearn_version", "")))
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if any(_before(original, (1, 4)) for original, _ in versions):
            _tree_values_as_fractions(estimator)
        for original, current in sorted(versions):
            warnings.warn(
                f"{path.name} was pickled with scikit-learn {original} and is loaded with {current}; predictions "
                f"may differ. Check it with `modelpack verify {path.name}` or against known outputs, or convert it "
                f"to a portable format (onnx, pmml) where scikit-learn {original} is installed",
                VersionMismatchWarning, stacklevel=4,
            )
        return estimator

    def _old_library(self, path: Path, exc: UntrustedContentError) -> ModelpackError:
        """A refusal because the file names a class this scikit-learn does not have: say which wrote it."""
        import importlib.util

        audit = self.audit(path)
        recorded = (audit.versions or {}).get("sklearn") if audit is not None else None
        try:  # on this error path only: the file is a scikit-learn model, its library may be imported
            import sklearn

            current: str | None = sklearn.__version__
        except ImportError:
            current = None
        missing = [g for g in (audit.refused if audit is not None else []) if g.startswith("sklearn.")
                   and importlib.util.find_spec(g.rsplit(".", 1)[0].split(" ")[0]) is None]
        if not (recorded and current and recorded != current):
            return exc
        if not missing:  # a class it still has, whose stored state it no longer takes (a Tree before 1.3)
            return type(exc)(
                f"{path.name} was pickled with scikit-learn {recorded}, and scikit-learn {current} cannot use what "
                f"it stored ({first_line(exc, 160)}); load it where scikit-learn {recorded} is installed (pip install "
                f"scikit-learn=={recorded}) and convert it there (modelpack convert {path.name} -o model.onnx)"
            )
        return UnsupportedModelError(
            f"{path.name} was pickled with scikit-learn {recorded}, and this is scikit-learn {current}, which no "
            f"longer has {missing[0]}; load it where scikit-learn {recorded} is installed (pip install "
            f"scikit-learn=={recorded}) and convert it there to a portable format (modelpack convert {path.name} "
            "-o model.onnx), or fit the model again"
        )

    def wrap(self, estimator: Any, path: Path, metadata: Metadata | None) -> SklearnModel:
        from ..model import METHODS, SklearnModel

        if not any(callable(getattr(estimator, m, None)) for m in METHODS):
            raise UnsupportedModelError(
                f"{path} holds {a_or_an(type(estimator).__module__)}.{type(estimator).__qualname__}, "
                "not a model (nothing with predict, predict_proba or transform)"
            )
        if metadata is None:  # a file not written by modelpack: describe what we loaded
            metadata = Metadata(self.name, task_of(estimator), model_type_of(estimator),
                                input_schema=InputSchema.from_model(estimator), classes=classes_of(estimator))
        else:
            warn_on_version_change(path, metadata)
            metadata = metadata.replace(format=self.name)
        return SklearnModel(estimator, format=self.name, path=path, metadata=metadata)


def installed_version(module: str) -> str | None:
    """The version of a library the loaded model uses; a library not imported is not in use.

    ``module.__version__`` of the imported module, not importlib.metadata, which parses
    METADATA files and cost more than loading a small model.
    """
    loaded = sys.modules.get(module)
    if loaded is None:
        return None
    return str(getattr(loaded, "__version__", "")) or None


def warn_on_version_change(path: Path, metadata: Metadata) -> None:
    for lib in _CHECKED_LIBRARIES:
        recorded = metadata.versions.get(lib)
        current = installed_version(lib)
        if recorded and current and recorded != current:
            warnings.warn(
                f"{path.name} was saved with {DISTRIBUTIONS.get(lib, lib)} {recorded} and is loaded "
                f"with {current}; predictions may differ. Check it with `modelpack verify {path.name}`, "
                "or convert it to a portable format (onnx, pmml) in the old environment",
                VersionMismatchWarning,
                stacklevel=4,
            )


def _tree_values_as_fractions(estimator: Any) -> None:
    """Classifier trees pickled before scikit-learn 1.4 store class counts in ``tree_.value``;
    1.4 and later store fractions and no longer divide (scikit-learn's __setstate__ drops the
    recorded version, so the caller passes it through its version warning). Loaded as they are, their
    predict_proba (and a forest's) would return counts: 50.0 for a probability of 1. Dividing
    each node's counts by their sum gives exactly what the version that wrote them computed."""
    import numpy as np

    for est in _estimators_below(estimator):
        tree = getattr(est, "tree_", None)
        if tree is None or not hasattr(est, "n_classes_"):
            continue
        value = tree.value
        totals = value.sum(axis=2, keepdims=True)
        if value.flags.writeable and np.any(totals > 1 + 1e-9):
            np.divide(value, totals, out=value, where=totals > 0)


def _before(version: Any, release: tuple[int, int]) -> bool:
    try:
        return tuple(int(p) for p in str(version).split(".")[:2]) < release
    except ValueError:
        return False


def _estimators_below(root: Any, limit: int = 100_000) -> list[Any]:
    """Every estimator reachable from ``root`` through attributes, lists, tuples and dicts."""
    import numpy as np

    found: list[Any] = []
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in ("sklearn", "imblearn"):
            found.append(obj)
            stack.extend(vars(obj).values())
    return found
