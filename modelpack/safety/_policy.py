"""The two policies the pickle machine runs under: loading (refuse) and auditing (record, run nothing)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UntrustedContentError, a_or_an
from . import _guards as g
from ._allowlist import BUILD_DICT, Entry, entry_for, resolve
from ._limits import MAX_DEPTH, TRUST_HINT
from ._vm import Machine

JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
#: joblib pickles a builtin type as ``dill._dill._load_type("slice")`` when dill was imported in
#: the writing process (TensorFlow and sklearn2pmml import it): read as the global it names,
#: through the same table, without dill.
DILL_LOAD_TYPE = ("dill._dill", "_load_type")
DILL_TYPES = {
    **{name: ("builtins", name) for name in ("slice", "range", "complex", "bytes", "bytearray", "frozenset", "set",
                                             "list", "tuple", "dict", "int", "float", "str", "bool", "object")},
    "PartialType": ("functools", "partial"),  # HistGradientBoosting's categorical preprocessing
}


class Token:
    """What the machine holds for a global that may be called or instantiated but not stored:
    inert if it ends up in the model (calling it raises)."""

    __slots__ = ("module", "name", "entry", "obj")

    def __init__(self, module: str, name: str, entry: Entry, obj: Any) -> None:
        self.module, self.name, self.entry, self.obj = module, name, entry, obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UntrustedContentError(f"{self.module}.{self.name} may not be called from a model file")

    def __reduce__(self) -> Any:
        raise TypeError(f"a placeholder for {self.module}.{self.name} cannot be pickled")


class JoblibArray:
    """joblib's NumpyArrayWrapper, as data: the raw array bytes follow it in the stream."""

    def __setstate__(self, state: Any) -> None:
        raise UntrustedContentError("a joblib array wrapper outside a joblib stream")


@dataclass
class LoadPolicy:
    """Refuses everything the table does not admit; ``trusted`` names extra globals admitted whole."""

    trusted: frozenset[str] = frozenset()
    joblib: bool = False
    _values: dict[int, tuple[str, str, Entry]] = field(default_factory=dict)
    _types: dict[type, Entry] = field(default_factory=dict)
    trees: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # decision trees set when the load ends
    predictors: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # HistGradientBoosting's, likewise

    def _refuse(self, machine: Machine, module: str, name: str, what: str = "") -> UntrustedContentError:
        if what:
            return UntrustedContentError(f"{machine.source}: {module}.{name} {what}; {TRUST_HINT}")
        return UntrustedContentError(
            f"{machine.source} contains {module}.{name}, which is not on the allowlist of model classes; {TRUST_HINT}"
        )

    # --- GLOBAL --------------------------------------------------------------------------------
    def resolve(self, machine: Machine, module: str, name: str) -> Any:
        if (module, name) == JOBLIB_WRAPPER:
            return self._joblib_wrapper(machine)
        if (module, name) == DILL_LOAD_TYPE:
            return Token(module, name, Entry(call=lambda vm, f, args: self._dill_type(vm, args)), None)
        if f"{module}.{name}" in self.trusted:
            return _import_or_refuse(machine, module, name)
        entry = entry_for(module, name)
        if entry is None:
            raise self._refuse(machine, module, name)
        obj = _import_or_refuse(machine, module, name)
        if isinstance(obj, type) and entry.buildable:
            self._types[obj] = entry
        if entry.value:
            self._values[id(obj)] = (module, name, entry)
            return obj
        return Token(module, name, entry, obj)

    def _dill_type(self, machine: Machine, args: tuple[Any, ...]) -> Any:
        if len(args) == 1 and isinstance(args[0], str) and args[0] in DILL_TYPES:
            return self.resolve(machine, *DILL_TYPES[args[0]])  # the same table, the same guards
        raise self._refuse(machine, *DILL_LOAD_TYPE, f"names {args[0] if args else 'nothing'!r}, not a builtin "
                                                     "type modelpack reads")

    def _joblib_wrapper(self, machine: Machine) -> Any:
        if not self.joblib:
            from ..registry import NotThisFormat

            raise NotThisFormat("joblib")  # raw arrays follow the pickle: joblib's reader must take it
        return Token(*JOBLIB_WRAPPER, Entry(new=True), JoblibArray)  # BUILD: _read_joblib_array

    def admitted(self, value: Any, depth: int = 0) -> bool:
        """Plain data, or an object this stream resolved as an admitted value (a class, a ufunc)."""
        if id(value) in self._values or isinstance(value, g._PRIMITIVE):
            return True
        if depth < 16 and type(value) in (list, tuple):
            return all(self.admitted(v, depth + 1) for v in value)
        if depth < 16 and type(value) is dict:
            return all(self.admitted(k, depth + 1) and self.admitted(v, depth + 1) for k, v in value.items())
        return False

    def _entry(self, obj: Any) -> tuple[str, str, Entry, Any] | None:
        if type(obj) is Token:
            return obj.module, obj.name, obj.entry, obj.obj
        found = self._values.get(id(obj))
        return (*found, obj) if found is not None else None

    # --- REDUCE, INST, OBJ -------------------------------------------------------------------------
    def call(self, machine: Machine, func: Any, args: tuple[Any, ...]) -> Any:
        found = self._entry(func)
        if found is None:
            if _trusted_callable(self, func):
                return func(*args)
            raise UntrustedContentError(f"{machine.source}: the pickle calls {a_or_an(type(func).__name__)} object, "
                                        "which is not a global it may call")
        module, name, entry, obj = found
        if entry.call is None:
            raise self._refuse(machine, module, name, "may not be called with arguments from a file")
        return _guarded(machine, module, name, lambda: entry.call(machine, obj, args))  # type: ignore[misc]

    # --- NEWOBJ, NEWOBJ_EX, copyreg._reconstructor, Cython newObj ---------------------------------
    def new(self, machine: Machine, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any], direct: bool = False) -> Any:
        found = self._entry(cls)
        if found is None:
            if isinstance(cls, type) and _trusted_callable(self, cls):
                return cls.__new__(cls, *args, **kwargs)
            raise UntrustedContentError(f"{machine.source}: the pickle creates an instance of something that is not "
                                        "an admitted class")
        module, name, entry, obj = found
        if not (entry.new or (direct and entry.buildable)) or not isinstance(obj, type):
            raise self._refuse(machine, module, name, "may not be instantiated by a file")
        if entry.new_with is not None and not kwargs:
            return _guarded(machine, module, name, lambda: entry.new_with(machine, obj, args))  # type: ignore[misc]
        if args or kwargs:
            g.require(all(isinstance(a, g._PRIMITIVE) for a in (*args, *kwargs.values())),
                      f"{module}.{name} is created with arguments that are not plain values")
        return obj.__new__(obj, *args, **kwargs)

    # --- BUILD ---------------------------------------------------------------------------------------
    def build(self, machine: Machine, inst: Any, state: Any) -> Any:
        if isinstance(inst, np.dtype):
            return _guarded(machine, "numpy", "dtype", lambda: g.build_dtype(inst, state))
        if type(inst) is np.ndarray:
            return _guarded(machine, "numpy", "ndarray", lambda: g.build_ndarray(inst, state, machine.budget.charge))
        if type(inst) is JoblibArray:
            return _guarded(machine, *JOBLIB_WRAPPER, lambda: _read_joblib_array(machine, inst, state))
        module, name = type(inst).__module__, type(inst).__qualname__
        entry = self._types.get(type(inst)) or _entry_of_type(type(inst))
        if entry is None:
            if f"{module}.{name}" in self.trusted:
                return _default_build(inst, state)
            raise UntrustedContentError(f"{machine.source}: the pickle sets the state of {a_or_an(module)}.{name}, "
                                        "which a model file may not do")
        if entry.build == BUILD_DICT:
            return _guarded(machine, module, name, lambda: _build_dict(inst, state))
        return _guarded(machine, module, name, lambda: entry.build(machine, inst, state))  # type: ignore[operator,misc]

    def fill(self, machine: Machine, container: Any, what: str) -> None:
        found = self._entry(type(container))
        entry = self._types.get(type(container)) or (found[2] if found else None)
        expected = list if what.startswith("APPEND") else set if what == "ADDITEMS" else dict
        if isinstance(entry, Entry) and entry.container is expected and isinstance(container, expected):
            return
        raise UntrustedContentError(f"{machine.source}: the pickle fills {a_or_an(type(container).__name__)} with {what}, "
                                    "which a model file may not do")

    def finish(self, machine: Machine, root: Any) -> Any:
        if self.trees:
            _guarded(machine, "sklearn.tree._tree", "Tree", lambda: g.set_trees(self.trees, machine.budget.charge))
        if self.predictors:
            _guarded(machine, "sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor",
                     lambda: g.set_tree_predictors(self.predictors))
        check_graph(root, machine.source)
        return root


def _entry_of_type(cls: type) -> Entry | None:
    """For instances a guard created (numpy's RandomState from its constructor function)."""
    entry = entry_for(cls.__module__, cls.__qualname__)
    if entry is None or not entry.buildable:
        return None
    try:
        return entry if resolve(cls.__module__, cls.__qualname__) is cls else None
    except (ImportError, AttributeError):
        return None


def _trusted_callable(policy: LoadPolicy, obj: Any) -> bool:
    return bool(policy.trusted) and f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}" in policy.trusted


def _import_or_refuse(machine: Machine, module: str, name: str) -> Any:
    try:
        return resolve(module, name)
    except (ImportError, AttributeError) as exc:
        raise UntrustedContentError(
            f"{machine.source} refers to {module}.{name}, which cannot be imported here ({exc}); "
            "install the library (and version) the model was made with"
        ) from exc


def _guarded(machine: Machine, module: str, name: str, action: Any) -> Any:
    try:
        return action()
    except g.Refused as exc:
        raise UntrustedContentError(f"{machine.source}: {module}.{name} refused: {exc}") from None


def _build_dict(inst: Any, state: Any) -> Any:
    """A plain Python class: its state is its ``__dict__`` (and slots, where it has them).

    Names are plain attribute names: never a dunder (slot state is applied with setattr, and
    ``__class__`` would turn the object into another class, skipping that class's checks).
    """
    slots = None
    if type(state) is tuple and len(state) == 2:
        state, slots = state
        g.require(slots is None or hasattr(type(inst), "__slots__"), f"slot state for {a_or_an(type(inst).__name__)}, a class without slots")
    for part in (state, slots):
        g.require(part is None or (type(part) is dict and all(type(k) is str and not (k.startswith("__") and k.endswith("__"))
                                                              for k in part)),
                  f"the state of {a_or_an(type(inst).__name__)} is not a dictionary of attributes")
    return _default_build(inst, (state, slots) if slots else state)


def _default_build(inst: Any, state: Any) -> Any:
    setstate = getattr(inst, "__setstate__", None)
    if setstate is not None and getattr(type(inst), "__setstate__", None) is not getattr(object, "__setstate__", None):
        setstate(state)
        return inst
    slots = None
    if type(state) is tuple and len(state) == 2:
        state, slots = state
    if state:
        inst.__dict__.update(state)
    for key, value in (slots or {}).items():
        setattr(inst, key, value)
    return inst


def _read_joblib_array(machine: Machine, wrapper: Any, state: Any) -> Any:
    """What joblib's NumpyArrayWrapper.read_array does, with every size checked before allocating."""
    g.require(type(state) is dict and {"subclass", "shape", "order", "dtype"} <= set(state), "joblib array state is malformed")
    g.require(state["subclass"] is np.ndarray or getattr(state["subclass"], "__name__", None) in ("ndarray", "memmap"),
              "joblib array subclass is not an ndarray")
    dtype, order = state["dtype"], state["order"]
    g.require(isinstance(dtype, np.dtype) and order in ("C", "F"), "joblib array dtype or order is malformed")
    shape = g._shape(state["shape"], "joblib array shape")
    count = g._count(shape)
    if dtype.hasobject:  # a nested pickle stream, through this same policy
        nested = Machine(machine.stream, machine.policy, machine.budget, machine.source)
        array = nested.load()
        g.require(type(array) is np.ndarray and array.size == count, "joblib object array does not match its shape")
        return array
    if state.get("numpy_array_alignment_bytes") is not None:
        padding = machine.stream.read(1)
        g.require(len(padding) == 1 and padding[0] <= 64, "joblib array padding is malformed")
        machine.stream.read(padding[0])
    nbytes = count * dtype.itemsize
    if nbytes > machine.budget.remaining:  # refused before allocating; reading below charges the bytes
        machine.budget.charge(nbytes, "an array")
    data = bytearray(nbytes)
    view, done = memoryview(data), 0
    while done < nbytes:
        got = machine.stream.readinto(view[done:done + (1 << 24)])
        g.require(got > 0, "joblib array data is truncated")
        done += got
    array = np.frombuffer(data, dtype=dtype, count=count)
    array = array.reshape(shape[::-1]).transpose() if order == "F" else array.reshape(shape)
    return array if array.dtype.isnative else array.byteswap().view(array.dtype.newbyteorder())


# --- the loaded graph, checked where native code relies on one object matching another -------------


def _children(obj: Any) -> Iterable[Any]:
    t = type(obj)
    if t in (list, tuple, set, frozenset):
        return obj
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if t is np.ndarray:
        return obj.flat if obj.dtype.hasobject else ()
    d = getattr(obj, "__dict__", None)
    return d.values() if type(d) is dict else ()


TREE, PREDICTOR = "sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def check_graph(root: Any, source: str, native: bool = False) -> None:
    """Walk every object once (iteratively) and check what native code assumes across objects.

    ``native``: also check each tree's own state, for objects another library built (skops);
    the pickle machine checked those already, before setting them. The decision trees, and
    HistGradientBoosting's predictors, are checked together once the walk has ended, before anything
    can predict.
    """
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(root, 0)]
    trees: dict[str, list[Any]] = {TREE: [], PREDICTOR: []}  # checked together, once the walk has ended
    boosting: list[Any] = []  # GradientBoosting models: their predictions, once every tree is checked
    while todo:
        obj, depth = todo.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(obj))
        if depth > MAX_DEPTH:
            raise UntrustedContentError(f"{source}: the model's objects nest more than {MAX_DEPTH} deep")
        if type(obj) is Token or type(obj) is JoblibArray:
            raise UntrustedContentError(f"{source}: {getattr(obj, 'module', 'joblib')}.{getattr(obj, 'name', 'array')} "
                                        "is stored in the model, where only its result may be")
        try:
            if native:
                _check_native(obj, trees)
            _check_object(obj)
            if g.is_gradient_boosting(obj):
                boosting.append(obj)
        except g.Refused as exc:
            raise UntrustedContentError(f"{source}: {type(obj).__module__}.{type(obj).__qualname__} refused: {exc}") from None
        todo.extend((child, depth + 1) for child in _children(obj))
    for kind, found in trees.items():
        if not found:
            continue
        try:
            if kind == TREE:
                g.check_tree_states([(tree, tree.__getstate__()) for tree in found], lambda n, what: None)
            else:
                g.check_tree_predictors([{k: obj.__dict__.get(k) for k in ("nodes", "binned_left_cat_bitsets",
                                                                            "raw_left_cat_bitsets")} for obj in found])
        except g.Refused as exc:
            raise UntrustedContentError(f"{source}: {kind} refused: {exc}") from None
    for model in boosting:
        try:
            g.check_gradient_boosting(model)
        except g.Refused as exc:
            raise UntrustedContentError(f"{source}: {type(model).__module__}.{type(model).__qualname__} refused: "
                                        f"{exc}") from None


def _check_native(obj: Any, trees: dict[str, list[Any]]) -> None:
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if name in trees:
        trees[name].append(obj)


def _n_features(obj: Any) -> int | None:
    n = getattr(obj, "__dict__", {}).get("n_features_in_")
    return int(n) if isinstance(n, (int, np.integer)) else None


def _check_object(obj: Any) -> None:
    attrs = getattr(obj, "__dict__", None)
    if type(attrs) is not dict:
        return
    n = _n_features(obj)
    tree = attrs.get("tree_")
    if tree is not None and type(tree).__name__ == "Tree":
        g.require(n is not None and tree.n_features == n, "its tree's n_features does not match n_features_in_")
    estimators = attrs.get("estimators_")
    if n is not None and isinstance(estimators, (list, np.ndarray)):
        subsets = attrs.get("estimators_features_")
        for i, child in enumerate(np.asarray(estimators, dtype=object).ravel()):
            m = _n_features(child)
            if m is None:
                continue
            if subsets is not None:
                features = np.asarray(subsets[i])
                g.require(len(features) == m and bool(np.all((features >= 0) & (features < n))),
                          "a sub-estimator's feature subset is out of range")
            else:
                g.require(m == n, "a sub-estimator takes another number of features than the ensemble")
    predictors = attrs.get("_predictors")
    if predictors is not None:
        _check_hist_gradient_boosting(attrs, n, predictors)
    if "support_vectors_" in attrs and "_dual_coef_" in attrs:
        _check_libsvm(attrs, n)
    labels, clusters = attrs.get("labels_"), attrs.get("n_clusters_")
    if isinstance(labels, np.ndarray) and clusters is not None:
        # FeatureAgglomeration pools each row with bincount(labels_): a label of 10**8 made every row a
        # 10**8-long array (the process was killed for memory)
        g.require(isinstance(clusters, (int, np.integer)) and 0 < clusters <= max(labels.size, 1)
                  and labels.dtype.kind in "iu" and (labels.size == 0 or 0 <= labels.min() <= labels.max() < clusters),
                  "its cluster labels are not numbers below n_clusters_")
    threads = attrs.get("_n_threads")
    if threads is not None:  # OpenMP's thread count for the k-means Cython; libgomp aborts the process on -5
        g.require(isinstance(threads, (int, np.integer)) and 1 <= threads <= 1 << 12,
                  "its _n_threads is not a number of threads")
    if type(obj).__name__ == "BSpline" and type(obj).__module__ == "scipy.interpolate._bsplines":
        _check_spline(attrs)
    bisecting = attrs.get("_bisecting_tree")
    if bisecting is not None:
        _check_bisecting_tree(bisecting, n)
    centers = attrs.get("cluster_centers_")
    if centers is not None and n is not None:  # KMeans' Cython reads centers[k, f] for every f of X
        g.require(isinstance(centers, np.ndarray) and centers.ndim == 2 and centers.shape[1] == n
                  and centers.dtype.kind == "f", "its cluster centers do not have n_features_in_ columns")


def _check_spline(attrs: dict[str, Any]) -> None:
    """scipy's BSpline evaluates in Cython, reading ``len(t) - k - 1`` rows of coefficients around the
    knot interval of each x: its knots, coefficients and degree must be what its constructor accepts
    (sorted finite knots, enough of them, enough coefficients), as a fit made them. Before scipy 1.15
    its arrays were ``t`` and ``c`` (made again by the constructor on load: _sklearn_versions)."""
    from scipy.interpolate import BSpline

    knots: Any = attrs.get("_t", attrs.get("t"))
    coefficients: Any = attrs.get("_c", attrs.get("c"))
    g.require(isinstance(knots, np.ndarray) and isinstance(coefficients, np.ndarray)
              and knots.dtype == np.float64 and coefficients.dtype.kind in "fc" and knots.flags.c_contiguous
              and coefficients.flags.c_contiguous, "its knots and coefficients are not contiguous float arrays")
    extrapolate, axis = attrs.get("extrapolate"), attrs.get("axis")
    g.require(extrapolate in (True, False, "periodic") and isinstance(axis, int)
              and 0 <= axis < coefficients.ndim, "its extrapolation or axis is not one scipy makes")
    try:
        BSpline(knots, coefficients, attrs.get("k"), extrapolate, axis=0)  # the constructor's own checks
    except (TypeError, ValueError) as exc:
        raise g.Refused(f"its knots, coefficients and degree are not a spline: {exc}") from None


def _check_bisecting_tree(root: Any, n: int | None) -> None:
    """BisectingKMeans predicts down its tree of clusters, each split by the Cython of KMeans on the two
    children's centers, which reads a center's value for every feature of X: each center must have
    n_features_in_ values; and the tree must be one (no node reached twice, no cycle)."""
    g.require(n is not None, "a BisectingKMeans without n_features_in_")
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        g.require(id(node) not in seen and len(seen) < 1 << 20, "its cluster tree reaches a node twice")
        seen.add(id(node))
        state: Any = getattr(node, "__dict__", None)
        g.require(type(state) is dict, "its cluster tree holds something that is not a cluster")
        center = state.get("center")
        g.require(isinstance(center, np.ndarray) and center.shape == (n,) and center.dtype.kind == "f",
                  "a cluster center of its tree does not have n_features_in_ values")
        children = [state.get("left"), state.get("right")]
        g.require((children[0] is None) == (children[1] is None), "a cluster of its tree has one child")
        todo.extend(child for child in children if child is not None)


_LIBSVM_KERNELS = ("linear", "poly", "rbf", "sigmoid", "precomputed")


def _check_libsvm(attrs: dict[str, Any], n: int | None) -> None:
    """libsvm's C code indexes support vectors by the per-class counts: they must add up."""
    vectors, dual = attrs["support_vectors_"], attrs["_dual_coef_"]
    support: Any = attrs.get("support_")
    counts: Any = attrs.get("_n_support")
    intercept: Any = attrs.get("_intercept_")
    if type(dual).__name__ == "csr_matrix":  # fitted on sparse data: libsvm reads its data as the full table
        g.require(dual.data.size == dual.shape[0] * dual.shape[1] and type(vectors).__name__ == "csr_matrix",
                  "its sparse dual coefficients are not a full table")
    else:
        g.require(isinstance(dual, np.ndarray) and dual.ndim == 2, "its libsvm arrays are malformed")
    g.require(isinstance(support, np.ndarray) and isinstance(counts, np.ndarray) and isinstance(intercept, np.ndarray),
              "its libsvm arrays are malformed")
    n_sv = vectors.shape[0] if hasattr(vectors, "shape") else -1
    g.require(dual.shape[1] == n_sv == len(support), "its support vectors, dual coefficients and support do not match")
    kernel = attrs.get("kernel")
    g.require(kernel in _LIBSVM_KERNELS or callable(kernel), "its kernel is not one libsvm knows")
    if kernel != "precomputed" and n is not None:
        g.require(len(vectors.shape) == 2 and vectors.shape[1] == n, "its support vectors do not have n_features_in_ columns")
    classes = attrs.get("classes_")
    if classes is not None and len(counts) == len(classes) and len(classes) >= 2:  # a classifier
        k = len(classes)
        g.require(bool(np.all(counts >= 0)) and int(counts.sum()) == n_sv and dual.shape[0] == k - 1
                  and len(intercept) == k * (k - 1) // 2, "its per-class support counts do not add up")
        for name in ("_probA", "probA_", "_probB", "probB_"):
            value = attrs.get(name)
            g.require(value is None or len(np.atleast_1d(value)) in (0, k * (k - 1) // 2),
                      "its probability calibration does not match its classes")
    else:  # regression and one-class: one row of coefficients, one intercept, libsvm's two "classes"
        g.require(dual.shape[0] == 1 and len(intercept) == 1, "its libsvm coefficients are malformed")
        g.require(counts.shape == (2,) and bool(np.all(counts == n_sv)),  # one count made libsvm read a null row
                  "its support counts are not the two libsvm keeps for a regression")


def _check_hist_gradient_boosting(attrs: dict[str, Any], n: int | None, predictors: Any) -> None:
    g.require(n is not None and isinstance(predictors, list), "a gradient-boosting model without n_features_in_")
    mapper = attrs.get("_bin_mapper")
    categorical = getattr(mapper, "is_categorical_", None)
    categorical = np.zeros(n, dtype=bool) if categorical is None else np.asarray(categorical, dtype=bool)
    g.require(categorical.shape == (n,), "the bin mapper's categorical flags do not match n_features_in_")
    thresholds = getattr(mapper, "bin_thresholds_", None) or []
    for f in np.flatnonzero(categorical):
        known = np.asarray(thresholds[f]) if f < len(thresholds) else np.array([])
        g.require(known.dtype.kind in "fiu" and bool(np.all((known >= 0) & (known < 256) & (known == np.floor(known)))),
                  "a categorical feature's known categories are not integers in [0, 256)")
    for row in predictors:
        g.require(isinstance(row, list), "the boosting iterations are malformed")
        for predictor in row:
            nodes: Any = getattr(predictor, "__dict__", {}).get("nodes")
            g.require(type(predictor).__name__ == "TreePredictor" and isinstance(nodes, np.ndarray),
                      "a boosting iteration holds something other than a tree")
            inner = nodes["is_leaf"] == 0
            g.require(bool(np.all(nodes["feature_idx"][inner] < n)), "a tree splits on a feature the model does not have")
            cat_nodes = inner & (nodes["is_categorical"] == 1)
            g.require(bool(np.all(categorical[nodes["feature_idx"][cat_nodes]])),
                      "a tree makes a categorical split on a numeric feature")


# --- auditing: the same machine, with stubs in place of everything that is not numpy or builtins ----


class Stub:
    """An instance of a class the audit did not import: records its state, runs nothing."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        self.args: tuple[Any, ...] = ()
        self.state: Any = None
        self.items: list[Any] = []

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def update(self, values: Any) -> None:
        self.items.extend(values)

    def __repr__(self) -> str:
        return f"<{self.module}.{self.name}>"


class StubClass(Stub):
    """A global the audit did not import."""


@dataclass
class AuditPolicy(LoadPolicy):
    """Records every global and every use ``LoadPolicy`` would refuse, and keeps going."""

    seen: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def _note(self, what: str) -> None:
        if what not in self.refused:
            self.refused.append(what)

    def resolve(self, machine: Machine, module: str, name: str) -> Any:
        dotted = f"{module}.{name}"
        self.seen.append(dotted)
        entry = entry_for(module, name)
        if (module, name) in (JOBLIB_WRAPPER, DILL_LOAD_TYPE) or (entry is not None and entry.audit_real):
            try:
                return super().resolve(machine, module, name)
            except UntrustedContentError as exc:
                self._note(f"{dotted} ({exc})")
        elif entry is None and dotted not in self.trusted:
            self._note(dotted)
        return StubClass(module, name)

    def _stub_entry(self, obj: Any) -> Entry | None:
        return entry_for(obj.module, obj.name) if isinstance(obj, Stub) else None

    def call(self, machine: Machine, func: Any, args: tuple[Any, ...]) -> Any:
        if type(func) is StubClass:
            entry = self._stub_entry(func)
            if entry is not None and entry.call is None:
                self._note(f"{func.module}.{func.name} called with arguments")
            stub = Stub(func.module, func.name)
            stub.args = args
            return stub
        try:
            return super().call(machine, func, args)
        except UntrustedContentError as exc:
            self._note(str(exc).split(": ", 1)[-1])
            return Stub("?", "refused call")

    def new(self, machine: Machine, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any], direct: bool = False) -> Any:
        if type(cls) is StubClass:
            entry = self._stub_entry(cls)
            if entry is not None and not (entry.new or (direct and entry.buildable)):
                self._note(f"{cls.module}.{cls.name} instantiated")
            return Stub(cls.module, cls.name)
        try:
            return super().new(machine, cls, args, kwargs, direct)
        except UntrustedContentError as exc:
            self._note(str(exc).split(": ", 1)[-1])
            return Stub("?", "refused instance")

    def build(self, machine: Machine, inst: Any, state: Any) -> Any:
        if isinstance(inst, Stub):
            inst.state = state
            return inst
        if type(inst) is JoblibArray:
            return super().build(machine, inst, state)  # it reads the stream: a failure here ends the audit
        try:
            return super().build(machine, inst, state)
        except UntrustedContentError as exc:
            self._note(str(exc).split(": ", 1)[-1])
            return inst

    def fill(self, machine: Machine, container: Any, what: str) -> None:
        if isinstance(container, Stub):
            return
        try:
            super().fill(machine, container, what)
        except UntrustedContentError as exc:
            self._note(str(exc).split(": ", 1)[-1])
            raise

    def finish(self, machine: Machine, root: Any) -> Any:
        return root
