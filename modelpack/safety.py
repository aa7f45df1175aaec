"""Restricted unpickling: a pickle may only name the classes and functions models are made of.

Unpickling runs code: every global a pickle names can be called with arguments of the
file's choosing. So modelpack admits an exact allowlist, not module prefixes (numpy and
pandas contain functions that run code or load further pickles):

* estimator classes — subclasses of ``sklearn.base.BaseEstimator`` defined in scikit-learn,
  XGBoost or LightGBM; their constructors only store parameters;
* the exact non-estimator types those models are built from (tree structures, loss objects,
  boosters) and numpy's array and random-state reconstructors, listed below.

Anything else raises :class:`~modelpack.UntrustedContentError` naming the global. Callers who
have checked a file's origin pass ``trust=True``, or ``trust=["module.Name", ...]`` to admit
exactly the extra globals they reviewed.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Iterable
from typing import Any

from .errors import UntrustedContentError

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "bytearray"),
        ("builtins", "bytes"),
        ("builtins", "complex"),
        ("builtins", "dict"),
        ("builtins", "frozenset"),
        ("builtins", "list"),
        ("builtins", "object"),
        ("builtins", "set"),
        ("builtins", "slice"),
        ("builtins", "tuple"),
        ("builtins", "range"),
        ("builtins", "float"),
        ("builtins", "int"),
        ("builtins", "str"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),  # protocol-2 pickles encode bytes through it
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._mt19937", "MT19937"),
        ("numpy.random._pcg64", "PCG64"),
        ("numpy.random._pcg64", "PCG64DXSM"),
        ("numpy.random._philox", "Philox"),
        ("numpy.random._sfc64", "SFC64"),
        ("numpy.random.bit_generator", "SeedSequence"),
        ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
        ("numpy.random.mtrand", "RandomState"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("sklearn.tree._tree", "Tree"),
        ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor"),
        ("sklearn.utils._bunch", "Bunch"),
        ("xgboost.core", "Booster"),
        ("lightgbm.basic", "Booster"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),  # only reaches joblib's own unpickler
    }
)

#: Modules in which any *class* (never a function) is admitted: loss and link objects.
CLASS_MODULES = frozenset({"sklearn._loss.loss", "sklearn._loss.link", "sklearn._loss._loss"})

#: Modules whose BaseEstimator subclasses are admitted.
ESTIMATOR_PACKAGES = ("sklearn", "xgboost", "lightgbm")

TRUST_HINT = "load it with trust=True (CLI: --trust) only if you made this file or checked its origin"


def _is_numpy_scalar_type(module: str, obj: Any) -> bool:
    import numpy as np

    return module == "numpy" and isinstance(obj, type) and issubclass(obj, np.generic)


def _is_estimator_class(module: str, obj: Any) -> bool:
    if module.split(".")[0] not in ESTIMATOR_PACKAGES or not isinstance(obj, type):
        return False
    from sklearn.base import BaseEstimator

    return issubclass(obj, BaseEstimator)


class Allowlist:
    """Decides, for each global a pickle names, whether to resolve it."""

    def __init__(self, source: str, trust: bool | Iterable[str] = False) -> None:
        self.source = source
        self.trust_all = trust is True
        self.extra = frozenset() if isinstance(trust, bool) else frozenset(trust)

    def resolve(self, module: str, name: str) -> Any:
        if self.trust_all or (module, name) in ALLOWED_GLOBALS or f"{module}.{name}" in self.extra:
            return _import(module, name)
        top = module.split(".")[0]
        # Only modules of these trusted libraries are imported to look the name up.
        if top in ESTIMATOR_PACKAGES or module == "numpy":
            obj = _import(module, name)
            if (
                _is_estimator_class(module, obj)
                or (module in CLASS_MODULES and isinstance(obj, type))
                or _is_numpy_scalar_type(module, obj)
            ):
                return obj
        raise UntrustedContentError(
            f"{self.source} contains {module}.{name}, which is not on the allowlist of model "
            f"classes; {TRUST_HINT}"
        )


def _import(module: str, name: str) -> Any:
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj
    except (ImportError, AttributeError) as exc:
        raise UntrustedContentError(
            f"the file refers to {module}.{name}, which cannot be imported here ({exc}); "
            "install the library the model was made with"
        ) from exc


class _Placeholder:
    """Stands in for a refused global during an audit: accepts any call, runs nothing."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Placeholder:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class AuditingAllowlist(Allowlist):
    """Records every global a stream names; refused ones resolve to a harmless placeholder.

    Used to list what a file would run (``modelpack info``) for formats whose opcodes
    cannot be scanned statically (joblib interleaves raw array bytes with the pickle).
    """

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.seen: list[str] = []

    def resolve(self, module: str, name: str) -> Any:
        self.seen.append(f"{module}.{name}")
        try:
            return super().resolve(module, name)
        except UntrustedContentError:
            return _Placeholder


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` (the C one, so as fast) that resolves globals through an :class:`Allowlist`."""

    def __init__(self, file: io.BufferedIOBase, allowlist: Allowlist) -> None:
        super().__init__(file)
        self.allowlist = allowlist

    def find_class(self, module: str, name: str) -> Any:
        return self.allowlist.resolve(module, name)


def pickle_globals(stream: Any) -> list[str]:
    """The ``module.name`` globals a pickle stream names, in order, read without unpickling.

    Stops quietly at data that is not pickle opcodes (joblib writes raw array bytes inline),
    so for joblib files the list may be a prefix; the model's own class comes first anyway.
    """
    import pickletools

    found: list[str] = []
    recent: list[Any] = []  # values pushed, enough to resolve STACK_GLOBAL's two strings
    memo: dict[int, Any] = {}
    try:
        for op, arg, _ in pickletools.genops(stream):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(recent) >= 2:
                found.append(f"{recent[-2]}.{recent[-1]}")
            elif op.name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg or 0)] = recent[-1] if recent else None
            elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(arg or 0)))
            elif isinstance(arg, str):
                recent.append(arg)
            else:
                recent.append(None)
            del recent[:-2]
    except Exception:  # raw data after the opcodes, or a truncated file: report what was read
        pass
    return found


def untrusted_globals(globals_: Iterable[str]) -> list[str]:
    """Of ``globals_``, those the default allowlist would refuse (imports only trusted libraries)."""
    allowlist = Allowlist("file")
    refused = []
    for dotted in dict.fromkeys(globals_):
        module, _, name = dotted.rpartition(".")
        try:
            allowlist.resolve(module, name)
        except UntrustedContentError:
            refused.append(dotted)
    return refused
