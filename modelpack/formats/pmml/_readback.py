"""Reading PMML back into scikit-learn with sklearn-pmml-model, for the model types it knows."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ...errors import MissingDependencyError, UnsupportedModelError, first_line
from ...metadata import Metadata


def to_sklearn(path: Path | None, head: Any, metadata: Metadata) -> Any:
    if path is None:
        raise UnsupportedModelError("this PMML model has no file to read back")
    try:
        from sklearn_pmml_model.auto_detect import auto_detect_estimator
    except ImportError as exc:
        raise MissingDependencyError(
            "reading PMML back into scikit-learn needs sklearn-pmml-model; run: pip install 'modelpack-ml[pmml]'"
        ) from exc
    kind = head.model_element or "model"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return auto_detect_estimator(str(path))
    except Exception as exc:  # it raises bare Exception for what it does not support
        reason = first_line(exc, 200)
        raise UnsupportedModelError(
            f"sklearn-pmml-model cannot read this PMML {kind} ({head.function or 'unknown function'}) back "
            f"into scikit-learn: {reason}"
        ) from exc
