"""What the formats that hold the live Python object (pickle, joblib, skops) share."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UnsupportedModelError, VersionMismatchWarning
from ..metadata import InputSchema, Metadata, classes_of, model_type_of, task_of
from ..model import METHODS, SklearnModel
from ..registry import Format

# Import names whose distribution is named differently on PyPI.
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}
_CHECKED_LIBRARIES = ("sklearn", "xgboost", "lightgbm")


class ObjectFormat(Format):
    holds_python_object: ClassVar[bool] = True

    def wrap(self, estimator: Any, path: Path, metadata: Metadata | None) -> SklearnModel:
        if not any(callable(getattr(estimator, m, None)) for m in METHODS):
            raise UnsupportedModelError(
                f"{path} holds a {type(estimator).__module__}.{type(estimator).__qualname__}, "
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
                f"{path.name} was saved with {_DISTRIBUTIONS.get(lib, lib)} {recorded} and is loaded "
                f"with {current}; predictions may differ. Check it with `modelpack verify {path.name}`, "
                "or convert it to a portable format (onnx, pmml) in the old environment",
                VersionMismatchWarning,
                stacklevel=4,
            )
