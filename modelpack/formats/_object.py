"""What the formats that hold the live Python object (pickle, joblib, skops) share."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

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
from ._sklearn_versions import cannot_use, changed_meaning, estimators_below, upgrade

if TYPE_CHECKING:  # the model classes import numpy: only a load needs them, not info's listing
    from ..model import SklearnModel

# Import names whose distribution is named differently on PyPI.
DISTRIBUTIONS = {"sklearn": "scikit-learn"}
_CHECKED_LIBRARIES = ("sklearn", "xgboost", "lightgbm")


class Unpickled(NamedTuple):
    """A model object as :meth:`ObjectFormat.unpickle` loaded it."""

    estimator: Any
    #: the scikit-learn version that pickled it, when it is not this one
    pickled_with: str | None
    #: methods this scikit-learn would compute otherwise than that version did, with why
    withheld: dict[str, str]


class ObjectFormat(Format):
    holds_python_object: ClassVar[bool] = True

    def unpickle(self, path: Path, load: Any) -> Unpickled:
        """Run ``load()``, the format's restricted unpickling, saying what a version change means.

        scikit-learn's own warning about a version change becomes modelpack's, once, naming both
        versions and what to do; a refusal of a class that this scikit-learn no longer has says
        which version wrote the file and how to get the model out of it. What an older version stored
        in another layout, with the same meaning, is moved to this version's (see :func:`_upgrade`).
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                estimator = load()
            except UntrustedContentError as exc:
                raise self._old_library(path, exc) from exc
            except ModelpackError:
                raise
            except Exception as exc:  # the library's own refusal (trust=True): an older version's state?
                older = self._old_library(path, exc, trusted=True)
                if older is exc:
                    raise
                raise older from exc
        versions = set()
        for warning in caught:
            original = getattr(warning.message, "original_sklearn_version", None)
            if original is not None:
                versions.add((original, getattr(warning.message, "current_sklearn_version", "")))
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        pickled_with = min(versions)[0] if versions else None
        withheld: dict[str, str] = {}
        if pickled_with is not None:
            parts = estimators_below(estimator)  # once, for both
            upgrade(parts, pickled_with, path.name)
            # before the version warning: a model refused here is one line, not a warning and then an error
            withheld = changed_meaning(estimator, parts, pickled_with, path.name)
        for original, current in sorted(versions):
            warnings.warn(
                f"{path.name} was pickled with scikit-learn {original} and is loaded with {current}; predictions "
                f"may differ. Check it with `modelpack verify {path.name}` or against known outputs, or convert it "
                f"to a portable format (onnx, pmml) where scikit-learn {original} is installed",
                VersionMismatchWarning, stacklevel=4,
            )
        return Unpickled(estimator, pickled_with, withheld)

    def _old_library(self, path: Path, exc: Exception, trusted: bool = False) -> Exception:
        """A refusal because the file names a class this scikit-learn does not have, or stored what it no
        longer takes: say which version wrote it and how to get the model out. ``exc`` itself when the
        file records no other scikit-learn version. ``trusted``: scikit-learn's own unpickling refused it."""
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
        if not missing:  # a class it still has, whose stored state it no longer takes
            what = first_line(exc, 160)
            if "node array from the pickle has an incompatible dtype" in str(exc):  # its dtype, in full
                what = "decision tree nodes in their layout before scikit-learn 1.3"
            # modelpack's own loader reads what older versions stored in layouts scikit-learn no longer does
            upgraded = "; or load it without trust=True, which reads older layouts" if \
                trusted and audit is not None and not audit.refused else ""
            return (type(exc) if isinstance(exc, ModelpackError) else UnsupportedModelError)(
                cannot_use(path.name, recorded, current, what) + upgraded)
        return UnsupportedModelError(
            f"{path.name} was pickled with scikit-learn {recorded}, and this is scikit-learn {current}, which no "
            f"longer has {missing[0]}; load it where scikit-learn {recorded} is installed (pip install "
            f"scikit-learn=={recorded}) and convert it there to a portable format (modelpack convert {path.name} "
            "-o model.onnx), or fit the model again"
        )

    def wrap(self, loaded: Unpickled, path: Path, metadata: Metadata | None) -> SklearnModel:
        """What :meth:`unpickle` loaded, as a Model."""
        from ..model import METHODS, SklearnModel

        estimator, pickled_with = loaded.estimator, loaded.pickled_with

        if not any(callable(getattr(estimator, m, None)) for m in METHODS):
            raise UnsupportedModelError(
                f"{path} holds {a_or_an(type(estimator).__module__)}.{type(estimator).__qualname__}, "
                "not a model (nothing with predict, predict_proba or transform)"
            )
        if metadata is None:  # a file not written by modelpack: describe what we loaded
            metadata = Metadata(self.name, task_of(estimator), model_type_of(estimator),
                                input_schema=InputSchema.from_model(estimator), classes=classes_of(estimator),
                                versions={"sklearn": pickled_with} if pickled_with else {})
        else:
            warn_on_version_change(path, metadata)
            metadata = metadata.replace(format=self.name)
        return SklearnModel(estimator, format=self.name, path=path, metadata=metadata, withheld=loaded.withheld)


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
