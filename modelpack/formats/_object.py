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
        if pickled_with is not None:
            _upgrade(estimator, pickled_with)
        # before the version warning: a model refused here is one line, not a warning and then an error
        withheld = _changed_meaning(estimator, pickled_with, path.name) if pickled_with else {}
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
                f"{path.name} was pickled with scikit-learn {recorded}, and scikit-learn {current} cannot use what "
                f"it stored ({what}); load it where scikit-learn {recorded} is installed (pip install "
                f"scikit-learn=={recorded}) and convert it there (modelpack convert {path.name} -o model.onnx)"
                f"{upgraded}"
            )
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


def _upgrade(estimator: Any, pickled_with: str) -> None:
    """Move what an older scikit-learn stored in another layout, with the same meaning, to this
    version's: tree values as fractions, renamed parameters, attributes added since whose value is
    known. (Tree nodes before 1.3, a few Cython and list classes, are upgraded while loading, by the
    pickle machine.) Each rule applies where the layout is found, whichever version it names."""
    parts = _estimators_below(estimator)
    if _before(pickled_with, (1, 4)):
        _tree_values_as_fractions(parts)
    _renamed_parameters(parts)
    _hist_gradient_boosting_without_categories(parts)
    _simple_imputers(parts)
    _encoders_without_infrequent_categories(parts)
    _column_transformers_passthrough(parts)


def _encoders_without_infrequent_categories(parts: list[Any]) -> None:
    """OrdinalEncoder gained infrequent categories in 1.3 (``_infrequent_enabled``), OneHotEncoder
    ``_drop_idx_after_grouping`` in 1.2. An encoder fitted before has no infrequent categories
    (``_infrequent_enabled`` False), and then drops after grouping what it drops (``drop_idx_``), as
    1.2's fit sets it. (One whose infrequent categories are enabled is not upgraded.)"""
    for est in parts:
        state, name = vars(est), type(est).__name__
        if name == "OrdinalEncoder" and "_infrequent_enabled" not in state:
            state["_infrequent_enabled"] = False
        if name == "OneHotEncoder" and "_drop_idx_after_grouping" not in state and "drop_idx_" in state \
                and state.get("_infrequent_enabled") is False:
            state["_drop_idx_after_grouping"] = state["drop_idx_"]


def _column_transformers_passthrough(parts: list[Any]) -> None:
    """Before 1.4, a fitted ColumnTransformer kept ``"passthrough"`` in ``transformers_`` and replaced it
    with this FunctionTransformer each time it transformed (1.2-1.3; 1.1 without the output settings);
    from 1.4 fit stores it, and transform takes whatever is stored as fitted."""
    for est in parts:
        fitted = vars(est).get("transformers_")
        if type(est).__name__ != "ColumnTransformer" or not isinstance(fitted, list) or \
                not any(isinstance(t, tuple) and len(t) == 3 and _is_string(t[1], "passthrough") for t in fitted):
            continue
        try:
            from sklearn.utils._set_output import _get_output_config

            dense = _get_output_config("transform", est)["dense"]
        except (ImportError, KeyError, TypeError):
            dense = "default"
        est.transformers_ = [
            (name, _identity_fitted_on(est, columns, dense), columns) if _is_string(trans, "passthrough")
            else (name, trans, columns)
            for name, trans, columns in fitted
        ]


def _identity_fitted_on(transformer: Any, columns: Any, dense: str) -> Any:
    """The FunctionTransformer 1.4's fit stores for "passthrough", as fitted on ``columns`` of the
    ColumnTransformer's input: it records their number and, for a DataFrame, their names."""
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer

    identity = FunctionTransformer(accept_sparse=True, check_inverse=False, feature_names_out="one-to-one")
    identity.set_output(transform=dense)
    names = getattr(transformer, "feature_names_in_", None)
    picked = np.asarray(columns)
    if names is not None and picked.dtype.kind not in "iub":  # columns by name
        selected = picked.astype(object).reshape(-1)
    elif names is not None:
        selected = np.asarray(names, dtype=object)[picked].reshape(-1)
    else:
        selected = None
    if selected is not None:
        identity.feature_names_in_ = selected
    identity.n_features_in_ = int(len(selected)) if selected is not None else \
        int(np.count_nonzero(picked) if picked.dtype.kind == "b" else picked.size)
    return identity


def _is_string(value: Any, text: str) -> bool:
    return isinstance(value, str) and value == text


def _simple_imputers(parts: list[Any]) -> None:
    """SimpleImputer gained keep_empty_features in 1.2 (before, empty features were always dropped:
    False) and _fill_dtype in 1.8, which its transform casts the statistics to and checks the input
    against; before, it checked against the statistics' own dtype and did not cast them, which is
    what _fill_dtype = statistics_.dtype does."""
    for est in parts:
        state = vars(est)
        if type(est).__name__ != "SimpleImputer":
            continue
        state.setdefault("keep_empty_features", False)
        statistics = state.get("statistics_")
        if "_fill_dtype" not in state and hasattr(statistics, "dtype"):
            state["_fill_dtype"] = statistics.dtype


# Parameters scikit-learn renamed, keeping their meaning, and later stopped reading by their old name,
# with the classes that had them: the ensembles' and CalibratedClassifierCV's base_estimator (estimator
# from 1.2; the old name read until 1.4), OneHotEncoder's sparse (sparse_output from 1.2, until 1.4).
# A model pickled before 1.2 has only the old attribute, and this scikit-learn fails on it
# ("'RandomForestRegressor' object has no attribute 'estimator'").
_RENAMED = (
    (("sklearn.ensemble._base.BaseEnsemble", "sklearn.calibration.CalibratedClassifierCV",
      "sklearn.calibration._CalibratedClassifier"),
     (("base_estimator", "estimator"), ("base_estimator_", "estimator_"))),
    (("sklearn.preprocessing._encoders.OneHotEncoder",), (("sparse", "sparse_output"),)),
)


def _renamed_parameters(parts: list[Any]) -> None:
    for est in parts:
        classes = {f"{c.__module__}.{c.__qualname__}" for c in type(est).__mro__}
        state = vars(est)
        for owners, names in _RENAMED:
            if classes.isdisjoint(owners):
                continue
            for old, new in names:
                if old not in state:
                    continue
                value = state[old]
                if isinstance(value, str) and value == "deprecated":  # 1.2-1.3: the new name holds it
                    continue
                if new not in state or (state[new] is None and value is not None):
                    state[new] = value  # None too: "the default estimator", under either name


def _hist_gradient_boosting_without_categories(parts: list[Any]) -> None:
    """HistGradientBoosting from 1.4 keeps a ``_preprocessor`` for categorical features, None when it has
    none, and predict reads it. A model fitted before, without categorical features, is the same model
    with it None, as 1.4's fit sets it. (With categorical features its categories were encoded otherwise:
    not upgraded, and refused in one line at predict.)"""
    for est in parts:
        state = vars(est)
        if type(est).__name__.startswith("HistGradientBoosting") and "_preprocessor" not in state \
                and "is_categorical_" in state and state["is_categorical_"] is None:
            state["_preprocessor"] = None
            state["_is_categorical_remapped"] = None


def _changed_meaning(estimator: Any, pickled_with: str, name: str) -> dict[str, str]:
    """Methods of a model pickled with scikit-learn ``pickled_with`` that this scikit-learn would compute
    differently from it, with why (found by scoring pickles of every estimator from 1.1 to 1.7 in this
    one, tests/test_old_pickles.py). A model whose predict would change is refused here; one whose
    predict_proba alone would change keeps predict, and its predict_proba is withheld, saying why."""
    import sklearn

    current = sklearn.__version__
    way_out = (f"load it where scikit-learn {pickled_with} is installed (pip install scikit-learn=={pickled_with}) "
               f"and convert it there (modelpack convert {name} -o model.onnx)")
    last = _final_step(estimator)
    withheld: dict[str, str] = {}
    for part in _estimators_below(estimator):
        cls = type(part).__name__
        if cls == "AdaBoostClassifier" and vars(part).get("algorithm") == "SAMME.R" and not _before(current, (1, 6)):
            raise UnsupportedModelError(
                f"{name} holds an AdaBoostClassifier fitted with algorithm='SAMME.R' (the default before scikit-learn "
                f"1.6) in scikit-learn {pickled_with}; scikit-learn {current} no longer implements SAMME.R and would "
                f"score it as SAMME, with other labels and probabilities; {way_out}")
        if cls == "AdaBoostClassifier" and _before(pickled_with, (1, 3)) and not _before(current, (1, 3)):
            why = ("an AdaBoostClassifier, whose probabilities scikit-learn 1.3 computes from its weighted votes "
                   "instead of its estimators' probabilities")
        elif _logistic_one_vs_rest(part, pickled_with):
            why = (f"a {cls} fitted one-vs-rest (multi_class='ovr', or liblinear's default), whose probabilities "
                   "scikit-learn 1.8 computes with a softmax instead")
        else:
            continue
        if part is not last:  # inside an ensemble, a changed predict_proba can change predict
            raise UnsupportedModelError(f"{name} holds {why}, so scikit-learn {current} would not score it as "
                                        f"scikit-learn {pickled_with} did; {way_out}")
        withheld["predict_proba"] = (
            f"{name} holds {why}: scikit-learn {current} would not give the probabilities scikit-learn "
            f"{pickled_with} gave (predict is unaffected); for them, {way_out}")
    return withheld


def _final_step(estimator: Any) -> Any:
    """What answers predict_proba for ``estimator``: itself, or the last step of its (nested) pipelines."""
    while type(estimator).__name__ == "Pipeline" and getattr(estimator, "steps", None):
        estimator = estimator.steps[-1][1]
    return estimator


def _logistic_one_vs_rest(part: Any, pickled_with: str) -> bool:
    """A multiclass LogisticRegression(CV) that the version that pickled it scored one-vs-rest, where this
    scikit-learn has no multi_class any more and scores every multiclass one with a softmax."""
    from sklearn.linear_model import LogisticRegression

    if not isinstance(part, LogisticRegression) or len(getattr(part, "classes_", ())) <= 2:
        return False
    import inspect

    if "multi_class" in inspect.signature(type(part)).parameters:
        return False  # this scikit-learn still honours it
    state = vars(part)
    multi_class, solver = state.get("multi_class", "auto"), state.get("solver")
    if multi_class == "ovr":
        return True
    if multi_class == "multinomial":
        return False
    # "auto" (or 1.5-1.7's "deprecated"): one-vs-rest for liblinear, and for newton-cholesky before 1.6
    return solver == "liblinear" or (solver == "newton-cholesky" and _before(pickled_with, (1, 6)))


def _tree_values_as_fractions(parts: list[Any]) -> None:
    """Classifier trees pickled before scikit-learn 1.4 store class counts in ``tree_.value``;
    1.4 and later store fractions and no longer divide (scikit-learn's __setstate__ drops the
    recorded version, so the caller passes it through its version warning). Loaded as they are, their
    predict_proba (and a forest's) would return counts: 50.0 for a probability of 1. Dividing
    each node's counts by their sum gives exactly what the version that wrote them computed."""
    import numpy as np

    for est in parts:
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
