"""The reviewed table of every global a model pickle may name, and what the file may do with each.

A global is looked up by its exact ``(module, qualified name)`` pair, never by walking
attributes, and each entry says which uses are allowed:

* ``value``: the object itself may be stored in the model (a class as a parameter, a ufunc);
  otherwise the machine holds an inert token that only the opcodes below accept;
* ``call``: REDUCE may call it, through a guard that checks the arguments;
* ``new``: NEWOBJ may create an instance (``cls.__new__(cls)``, no ``__init__``);
* ``build``: how BUILD sets the state of its instances (``BUILD_DICT`` for plain Python
  classes, whose state is their ``__dict__``; a guard for native types).

Estimator classes and the plain classes they are made of come from ``_generated.py``, which
``tools/generate_allowlist.py`` writes from the estimators scikit-learn, XGBoost and LightGBM
ship; everything with native state or custom pickling is listed here by hand.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from . import _guards as g
from ._generated import PLAIN_CLASSES

BUILD_DICT = "dict"


@dataclass(frozen=True)
class Entry:
    value: bool = False
    call: Callable[..., Any] | None = None
    new: bool = False
    build: Callable[..., Any] | str | None = None
    container: type | None = None  # may be filled by SETITEM(S)/APPEND(S) although not a plain dict/list
    new_with: Callable[..., Any] | None = None  # NEWOBJ with arguments that are not plain values: a guard's check
    audit_real: bool = False  # resolved for real when auditing too (numpy and builtins only)

    @property
    def buildable(self) -> bool:
        return self.build is not None


def _plain(**kw: Any) -> Entry:
    return Entry(value=True, new=True, build=BUILD_DICT, **kw)


_SCALAR = Entry(value=True, call=lambda vm, f, a: g.call_scalar_type(f, a), audit_real=True)
_CONTAINER = Entry(value=True, call=lambda vm, f, a: g.call_container(f, a), audit_real=True)
_BYTES = Entry(value=True, call=lambda vm, f, a: g.call_bytes_like(f, a), audit_real=True)
_RANDOM_CTOR = Entry(call=lambda vm, f, a: g.call_random_ctor(f, a), audit_real=True)
_RANDOM_STATE = Entry(build=lambda vm, i, s: g.build_via_setstate(i, s), audit_real=True)
_BIT_GENERATOR = Entry(value=True, build=lambda vm, i, s: g.build_via_setstate(i, s), audit_real=True)

HAND_WRITTEN: dict[tuple[str, str], Entry] = {
    # builtins: containers from concrete values only, bytes from bytes, numbers from numbers.
    **{("builtins", n): _CONTAINER for n in ("set", "frozenset", "list", "tuple", "dict")},
    **{("builtins", n): _SCALAR for n in ("int", "float", "complex", "str", "bool", "slice", "range", "object")},
    ("builtins", "bytes"): _BYTES,
    ("builtins", "bytearray"): _BYTES,
    ("_codecs", "encode"): Entry(call=lambda vm, f, a: g.call_codecs_encode(f, a), audit_real=True),
    ("collections", "OrderedDict"): Entry(value=True, call=lambda vm, f, a: g.call_container(f, a), container=dict,
                                          audit_real=True),
    ("collections", "defaultdict"): Entry(value=True, call=lambda vm, f, a: g.call_defaultdict(f, a), container=dict,
                                          audit_real=True),
    ("copyreg", "_reconstructor"): Entry(call=lambda vm, f, a: g.call_reconstructor(f, a, vm.policy_new), audit_real=True),
    # numpy: dtypes whose flags are recomputed, arrays whose data must match shape and dtype.
    ("numpy", "dtype"): Entry(value=True, call=lambda vm, f, a: g.call_dtype(f, a), audit_real=True),
    ("numpy", "ndarray"): Entry(value=True, audit_real=True),
    **{(m, "_reconstruct"): Entry(call=lambda vm, f, a: g.call_reconstruct(f, a), audit_real=True)
       for m in ("numpy._core.multiarray", "numpy.core.multiarray")},
    **{(m, "_frombuffer"): Entry(call=lambda vm, f, a: g.call_frombuffer(f, a), audit_real=True)
       for m in ("numpy._core.numeric", "numpy.core.numeric")},
    **{(m, "scalar"): Entry(call=lambda vm, f, a: g.call_scalar(f, a), audit_real=True)
       for m in ("numpy._core.multiarray", "numpy.core.multiarray")},
    ("numpy.ma.core", "_mareconstruct"): Entry(call=lambda vm, f, a: g.call_mareconstruct(f, a), audit_real=True),
    ("numpy.ma.core", "MaskedArray"): Entry(value=True, build=lambda vm, i, s: g.build_masked_array(i, s, vm.budget.charge),
                                            audit_real=True),
    ("numpy.ma", "MaskedArray"): Entry(value=True, build=lambda vm, i, s: g.build_masked_array(i, s, vm.budget.charge),
                                       audit_real=True),
    ("numpy.random._pickle", "__randomstate_ctor"): _RANDOM_CTOR,
    ("numpy.random._pickle", "__generator_ctor"): _RANDOM_CTOR,
    ("numpy.random._pickle", "__bit_generator_ctor"): Entry(value=True, call=lambda vm, f, a: g.call_random_ctor(f, a),
                                                           audit_real=True),
    ("numpy.random.mtrand", "RandomState"): _RANDOM_STATE,
    ("numpy.random._generator", "Generator"): _RANDOM_STATE,
    **{(f"numpy.random._{n.lower().replace('dxsm', '')}", n): _BIT_GENERATOR for n in g._BIT_GENERATORS},
    ("numpy.random.bit_generator", "SeedSequence"): Entry(value=True, build=lambda vm, i, s: g.build_seed_sequence(i, s),
                                                          audit_real=True),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"): Entry(
        call=lambda vm, f, a: g.call_seed_sequence(f, a), audit_real=True),
    # scikit-learn's native structures.
    ("sklearn.tree._tree", "Tree"): Entry(call=lambda vm, f, a: g.call_tree(f, a, vm.budget.charge),
                                          build=lambda vm, i, s: g.build_tree(i, s, vm.policy.trees)),
    ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor"): Entry(
        new=True, build=lambda vm, i, s: g.build_tree_predictor(i, s, vm.policy.predictors)),
    ("sklearn.utils._bunch", "Bunch"): Entry(value=True, new=True, build=BUILD_DICT, container=dict),
    # boosters: from the model bytes in the file, never from a path (a call is refused).
    ("xgboost.core", "Booster"): Entry(new=True, build=lambda vm, i, s: g.build_xgboost_booster(i, s)),
    ("lightgbm.basic", "Booster"): Entry(new=True, build=lambda vm, i, s: g.build_lightgbm_booster(i, s)),
}

# partial(check_array, dtype=...) in HistGradientBoosting's preprocessor; only around admitted values.
HAND_WRITTEN[("functools", "partial")] = Entry(value=True, call=lambda vm, f, a: g.call_partial(f, a, vm.policy.admitted),
                                               build=lambda vm, i, s: g.build_partial(i, s, vm.policy.admitted))
HAND_WRITTEN[("sklearn.utils.validation", "check_array")] = Entry(value=True)

# Score functions stored as parameters (SelectKBest(score_func=...)): numpy arithmetic on their arguments.
for _function in ("f_classif", "f_regression", "chi2", "r_regression", "f_oneway"):
    HAND_WRITTEN[("sklearn.feature_selection._univariate_selection", _function)] = Entry(value=True)
for _function in ("mutual_info_classif", "mutual_info_regression"):
    HAND_WRITTEN[("sklearn.feature_selection._mutual_info", _function)] = Entry(value=True)
# Sparse matrices (SparseRandomProjection's components, an SVM's support vectors fitted on sparse data).
HAND_WRITTEN[("scipy.sparse._csr", "csr_matrix")] = Entry(value=True, new=True, build=lambda vm, i, s: g.build_sparse_matrix(i, s))
# IterativeImputer's imputation sequence: (feature, the features it is predicted from, the estimator) named
# tuples, made by NEWOBJ from those three.
HAND_WRITTEN[("sklearn.impute._iterative", "_ImputerTriplet")] = Entry(
    new=True, new_with=lambda vm, cls, args: g.new_imputer_triplet(cls, args))
# Functions a fitted model keeps as attributes, never called while loading (a value may not be called):
# BisectingKMeans' _kmeans_single (the k-means its fit runs for each split), and the asarray of scipy's
# array namespace that a BSpline (SplineTransformer's splines) keeps since scipy 1.15.
for _function in ("_kmeans_single_lloyd", "_kmeans_single_elkan"):
    HAND_WRITTEN[("sklearn.cluster._kmeans", _function)] = Entry(value=True)
HAND_WRITTEN[("scipy._lib.array_api_compat.numpy._aliases", "asarray")] = Entry(value=True)
# SGD's loss objects are pickled as LossClass(*numbers).
for _loss in ("Hinge", "SquaredHinge", "ModifiedHuber", "Log", "SquaredLoss", "Huber", "EpsilonInsensitive",
              "SquaredEpsilonInsensitive", "Classification", "Regression", "LossFunction", "CyHalfBinomialLoss"):
    HAND_WRITTEN[("sklearn.linear_model._sgd_fast", _loss)] = Entry(call=lambda vm, f, a: g.call_numbers(f, a))

# Neighbours trees and their distance metrics are created by a Cython ``newObj(cls)``.
for _module, _cls in (("sklearn.neighbors._kd_tree", "KDTree"), ("sklearn.neighbors._ball_tree", "BallTree"),
                      ("sklearn.neighbors._kd_tree", "KDTree64"), ("sklearn.neighbors._ball_tree", "BallTree64")):
    HAND_WRITTEN[(_module, _cls)] = Entry(value=True, new=True, build=lambda vm, i, s: g.build_binary_tree(i, s, vm.budget.charge))
    HAND_WRITTEN[(_module, "newObj")] = Entry(call=lambda vm, f, a: vm.policy_new(a[0] if len(a) == 1 else None, (), {},
                                                                                 direct=True))
# Before 1.3 the float64 metrics had no "64" in their names (EuclideanDistance): the same classes.
for _metric in (*g.SAFE_METRICS, *(m[:-2] for m in g.SAFE_METRICS if m.endswith("64"))):
    HAND_WRITTEN[("sklearn.metrics._dist_metrics", _metric)] = Entry(
        value=True, new=True, build=lambda vm, i, s: g.build_distance_metric(i, s))
HAND_WRITTEN[("sklearn.metrics._dist_metrics", "newObj")] = Entry(
    call=lambda vm, f, a: vm.policy_new(a[0] if len(a) == 1 else None, (), {}, direct=True))

# scikit-learn's Cython loss objects: pickled by __pyx_unpickle_<name>(type, checksum, state).
CYTHON_LOSSES = ("CyHalfSquaredError", "CyAbsoluteError", "CyPinballLoss", "CyHuberLoss", "CyHalfPoissonLoss",
                 "CyHalfGammaLoss", "CyHalfTweedieLoss", "CyHalfTweedieLossIdentity", "CyHalfBinomialLoss",
                 "CyExponentialLoss", "CyHalfMultinomialLoss")
# Cython built scikit-learn 1.5-1.7's loss classes with "_loss" as their module name, so their pickles
# name "_loss.CyHalfSquaredError", which nothing can import (scikit-learn itself fails on it since):
# it is scikit-learn's class, under the name its own module gives it.
MODULE_ALIASES = {"_loss": "sklearn._loss._loss"}
for _module in ("sklearn._loss._loss", "_loss"):
    for _loss in CYTHON_LOSSES:
        HAND_WRITTEN[(_module, _loss)] = Entry(value=True, call=lambda vm, f, a: g.call_numbers(f, a))
        HAND_WRITTEN[(_module, f"__pyx_unpickle_{_loss}")] = Entry(
            call=lambda vm, f, a, _name=_loss: g.call_pyx_unpickle(f, a, resolve("sklearn._loss._loss", _name)))

# scikit-learn 1.5-1.6 kept a ColumnTransformer's remainder columns in a list subclass that warned when
# read; 1.7 dropped it for a plain list. Read as that plain list (see _resolve).
HAND_WRITTEN[("sklearn.compose._column_transformer", "_RemainderColsList")] = Entry(
    new=True, build=lambda vm, i, s: g.build_remainder_columns(i, s))

# GradientBoosting's losses before 1.4, from a module 1.4 removed (see _resolve).
for _loss in g.OLD_BOOSTING_LOSSES:
    HAND_WRITTEN[("sklearn.ensemble._gb_losses", _loss)] = Entry(new=True, build=lambda vm, i, s: g.build_old_boosting_loss(i, s))

#: numpy's scalar types and ufuncs may be stored as values (``dtype=np.float64``, ``func=np.log1p``).
NUMPY_VALUE_NAMES = ("mean", "median", "sum", "prod", "amax", "amin", "max", "min", "std", "var", "average",
                     "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                     "float32", "float64", "longdouble", "complex64", "complex128", "str_", "bytes_", "object_",
                     "intp", "uintp", "datetime64", "timedelta64", "void", "number", "integer", "floating")


def _numpy_value(name: str) -> bool:
    import numpy as np

    return name in NUMPY_VALUE_NAMES or isinstance(np.__dict__.get(name), np.ufunc)


def entry_for(module: str, name: str) -> Entry | None:
    """The exact entry for a global, or None; imports nothing but numpy."""
    entry = HAND_WRITTEN.get((module, name))
    if entry is not None:
        return entry
    if f"{module}:{name}" in PLAIN_CLASSES:
        return _plain()
    if module == "numpy" and _numpy_value(name):
        return Entry(value=True, audit_real=True)
    return None


def resolve(module: str, qualname: str) -> Any:
    """Import an entry's object: the module, then the exact (reviewed) qualified name."""
    return _resolve(module, qualname)


@cache
def _resolve(module: str, qualname: str) -> Any:
    module = MODULE_ALIASES.get(module, module)
    if module == "sklearn.ensemble._gb_losses" and qualname in g.OLD_BOOSTING_LOSS_CLASSES \
            and importlib.util.find_spec(module) is None:
        return g.OLD_BOOSTING_LOSS_CLASSES[qualname]  # read for the upgrade to this scikit-learn's loss
    obj: Any = importlib.import_module(module)
    if module == "sklearn._loss._loss" and qualname.startswith("__pyx_unpickle_") and not hasattr(obj, qualname):
        # a loss class that Cython pickled by __pyx_unpickle_<name> (scikit-learn 1.1-1.4), and that this
        # scikit-learn pickles by its constructor instead: the same object, built from the same fields
        return g.rebuild_cython_object
    if (module, qualname) == ("sklearn.compose._column_transformer", "_RemainderColsList") and not hasattr(obj, qualname):
        return g.RemainderColumns
    if module == "sklearn.metrics._dist_metrics" and not hasattr(obj, qualname) and hasattr(obj, qualname + "64"):
        return getattr(obj, qualname + "64")  # a metric pickled before 1.3, under its name then
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
