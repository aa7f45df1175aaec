"""Checks on what a file may pass to the constructors and ``__setstate__`` methods modelpack admits.

Native code (numpy's C, scikit-learn's Cython, the boosters' C++) trusts the arrays it is given:
an index out of range is a read or write out of bounds, a cycle is a loop that never ends.
Each guard here checks exactly what that code assumes, before the real constructor or
``__setstate__`` sees the state, and hands it private copies so nothing else in the file
can alias and change them later. A guard raises :class:`UntrustedContentError` naming the
type and the broken invariant.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import UntrustedContentError, a_or_an

_INT = (int, np.integer)
_PRIMITIVE = (str, bytes, int, float, bool, complex, type(None))
MAX_NDIM = 32
_TYPECODE = re.compile(r"[<>|=]?[a-zA-Z?][0-9]*(\[[a-zA-Z0-9]+\])?")


class Refused(UntrustedContentError):
    """A guard's refusal; the policy adds the file's name."""


def require(ok: Any, what: str) -> None:
    if not ok:
        raise Refused(what)


def _int(value: Any, what: str, low: int = 0, high: int = 1 << 62) -> int:
    # Called for every array dimension a file names: its messages are built only on failure.
    if not isinstance(value, _INT) or isinstance(value, bool):
        raise Refused(f"{what} is not an integer")
    number = int(value)
    if not low <= number <= high:
        raise Refused(f"{what} = {number} is out of range [{low}, {high}]")
    return number


def _shape(shape: Any, what: str) -> tuple[int, ...]:
    require(type(shape) is tuple and len(shape) <= MAX_NDIM, f"{what} is not a shape")
    return tuple(_int(n, what) for n in shape)


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def plain_data(value: Any, what: str, depth: int = 0) -> None:
    """Strings, numbers and containers of them: what configuration dictionaries hold."""
    require(depth < 32, f"{what} nests too deep")
    if isinstance(value, _PRIMITIVE):
        return
    if type(value) in (list, tuple, set, frozenset):
        for v in value:
            plain_data(v, what, depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            plain_data(k, what, depth + 1)
            plain_data(v, what, depth + 1)
        return
    if type(value) is np.ndarray and not value.dtype.hasobject:
        return
    raise Refused(f"{what} holds {a_or_an(type(value).__module__)}.{type(value).__qualname__}, where only plain data belongs")


def array(value: Any, what: str, dtype: Any = None, ndim: int | None = None, copy: bool = True) -> np.ndarray:
    # Messages are built only on failure: a dtype's repr costs more than the checks.
    if type(value) is not np.ndarray or value.dtype.hasobject:
        raise Refused(f"{what} is not a numpy array of plain values")
    if dtype is not None and value.dtype != dtype:
        raise Refused(f"{what} has dtype {value.dtype}, expected {np.dtype(dtype)}")
    if ndim is not None and value.ndim != ndim:
        raise Refused(f"{what} has {value.ndim} dimensions, expected {ndim}")
    return np.array(value, copy=True, order="C") if copy else value


# --- builtins ----------------------------------------------------------------------------------


def call_bytes_like(func: Any, args: tuple[Any, ...]) -> Any:
    """bytes(b'..'), bytearray(b'..') or, from protocols 0-2, (str, 'latin-1')."""
    if args == ():
        return func()
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return func(args[0])
    require(len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin-1", "latin1"),
            f"{func.__name__} may be called only with bytes, or a string and 'latin-1'")
    return func(args[0], args[1])


def call_codecs_encode(func: Any, args: tuple[Any, ...]) -> Any:
    require(len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin-1", "latin1"),
            "_codecs.encode may be called only with a string and 'latin-1'")
    return func(*args)


_CONCRETE = (list, tuple, set, frozenset, dict, str, bytes)


def call_container(func: Any, args: tuple[Any, ...]) -> Any:
    """set([...]), frozenset(...), list(...), OrderedDict([...]): from concrete values, never an iterator."""
    require(len(args) <= 1 and all(type(a) in _CONCRETE for a in args),
            f"{getattr(func, '__name__', func)} may be built only from a list, tuple, set or dict")
    return func(*args)


def call_scalar_type(func: Any, args: tuple[Any, ...]) -> Any:
    """int('12'), float(...), complex(...), slice(...), range(...), str(...), object()."""
    require(len(args) <= 3 and all(isinstance(a, _PRIMITIVE) for a in args),
            f"{func.__name__} may be called only with numbers and short strings")
    require(all(len(a) <= 4096 for a in args if isinstance(a, (str, bytes))), f"{func.__name__}: argument too long")
    if func is str and len(args) >= 2:
        require(str(args[1]).lower().replace("_", "-") in ("utf-8", "utf8", "latin-1", "latin1", "ascii"),
                "str() may decode only utf-8, latin-1 or ascii")
    return func(*args)


DEFAULT_FACTORIES = ("list", "dict", "set", "int", "float", "str", "tuple", "OrderedDict")


def call_defaultdict(func: Any, args: tuple[Any, ...]) -> Any:
    factory = args[0] if args else None
    require(factory is None or getattr(factory, "__name__", None) in DEFAULT_FACTORIES
            and getattr(factory, "__module__", None) in ("builtins", "collections"),
            "defaultdict's factory may only be a builtin container or number type")
    require(len(args) <= 2 and all(type(a) in (dict,) for a in args[1:]), "defaultdict takes a factory and a dict")
    return func(*args)


def call_reconstructor(func: Any, args: tuple[Any, ...], new: Any) -> Any:
    """copyreg._reconstructor(cls, base, state) from protocols 0 and 1: object.__new__(cls) in effect."""
    require(len(args) == 3, "copyreg._reconstructor takes three arguments")
    cls, base, state = args
    if base is object:
        require(state is None, "copyreg._reconstructor with object as base takes no state")
        return new(cls, (), {})
    require(base in (dict, list) and type(state) is base, "copyreg._reconstructor's base must be object, dict or list")
    obj = new(cls, (), {})
    require(isinstance(obj, base), "copyreg._reconstructor: the class does not derive from its base")
    base.__init__(obj, state)
    return obj


# --- numpy ---------------------------------------------------------------------------------------


def call_dtype(func: Any, args: tuple[Any, ...]) -> Any:
    require(1 <= len(args) <= 3 and isinstance(args[0], str) and _TYPECODE.fullmatch(args[0]) is not None
            and all(isinstance(a, bool) for a in args[1:]), "numpy.dtype may be called only with a type code")
    return func(*args)


_ALIGNED_STRUCT = 0x80


def build_dtype(inst: np.dtype, state: Any) -> np.dtype:
    """A dtype's state: flags are what numpy believes about it (is there an object inside?), so
    they must be exactly what numpy computes itself from the fields; a file may not set them."""
    require(type(state) is tuple and len(state) in (8, 9), "a dtype's state is not numpy's")
    version, endian, subarray, names, fields, elsize, alignment, flags = state[:8]
    require(version in (3, 4) and endian in ("<", ">", "|", "=") and (len(state) == 8 or state[8] is None
            or type(state[8]) is dict), "a dtype's state is not numpy's")
    _int(elsize, "dtype itemsize", -1, 1 << 31)
    _int(alignment, "dtype alignment", -1, 64)
    _int(flags, "dtype flags", 0, 0xFF)
    expected = _expected_dtype(inst, endian, subarray, names, fields, elsize)
    inst.__setstate__(state)  # type: ignore[attr-defined]
    require((inst.flags & ~_ALIGNED_STRUCT) == (expected.flags & ~_ALIGNED_STRUCT) and inst == expected
            and inst.itemsize == expected.itemsize and inst.hasobject == expected.hasobject,
            f"a dtype claims flags {flags} for fields that need {expected.flags}: it would hide Python objects from numpy")
    return inst


def _expected_dtype(inst: np.dtype, endian: str, subarray: Any, names: Any, fields: Any, elsize: int) -> np.dtype:
    """The dtype numpy's public constructor builds from the same description (it validates offsets)."""
    if names is None and fields is None and subarray is None:
        kind = inst.str[1:] if inst.kind != "V" else f"V{elsize}"
        return np.dtype(kind if endian == "|" else endian + kind)
    if subarray is not None:
        require(type(subarray) is tuple and len(subarray) == 2 and isinstance(subarray[0], np.dtype),
                "a dtype's subarray is malformed")
        shape = _shape(subarray[1], "a dtype's subarray shape")
        require(_count(shape) <= 1 << 24, "a dtype's subarray is too large")
        require(names is None, "a dtype cannot be both subarray and structure")
        return np.dtype((subarray[0], shape))
    require(type(names) is tuple and type(fields) is dict and len(names) == len(fields) <= 4096
            and all(type(n) is str and n in fields for n in names), "a dtype's field names do not match its fields")
    formats, offsets, titles = [], [], []
    for name in names:
        described = fields[name]
        require(type(described) is tuple and len(described) in (2, 3) and isinstance(described[0], np.dtype),
                f"dtype field {name!r} is malformed")
        formats.append(described[0])
        offsets.append(_int(described[1], f"offset of dtype field {name!r}", 0, 1 << 31))
        titles.append(described[2] if len(described) == 3 else None)
    try:
        spec: dict[str, Any] = {"names": list(names), "formats": formats, "offsets": offsets, "itemsize": elsize}
        if any(t is not None for t in titles):
            spec["titles"] = titles
        return np.dtype(spec)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise Refused(f"a structured dtype is invalid: {exc}") from None


def call_reconstruct(func: Any, args: tuple[Any, ...]) -> Any:
    """numpy's _reconstruct(ndarray, (0,), b'b'): an empty array whose BUILD sets the data."""
    require(len(args) == 3 and args[0] is np.ndarray and args[1] == (0,) and args[2] in (b"b", "b"),
            "numpy _reconstruct may only create an empty ndarray")
    return func(*args)


def build_ndarray(inst: np.ndarray, state: Any, charge: Any) -> np.ndarray:
    require(type(state) is tuple and len(state) == 5, "an ndarray's state is not numpy's")
    version, shape, dtype, fortran, raw = state
    require(version == 1 and isinstance(dtype, np.dtype) and isinstance(fortran, bool), "an ndarray's state is not numpy's")
    count = _count(_shape(shape, "an ndarray's shape"))
    charge(count * max(dtype.itemsize, 1), "an array")
    if dtype.hasobject:
        require(type(raw) is list and len(raw) == count, "an object array's items do not match its shape")
    else:
        require(isinstance(raw, (bytes, bytearray)) and len(raw) == count * dtype.itemsize,
                "an array's data does not match its shape and dtype")
    require(inst.size == 0, "BUILD on an array that already has data")
    inst.__setstate__(state)
    return inst


def call_mareconstruct(func: Any, args: tuple[Any, ...]) -> Any:
    """numpy.ma's _mareconstruct(MaskedArray, ndarray, (0,), b'b'): an empty masked array."""
    import numpy.ma as ma

    require(len(args) == 4 and args[0] is ma.MaskedArray and args[1] is np.ndarray and args[2] == (0,)
            and args[3] in (b"b", "b"), "numpy.ma _mareconstruct may only create an empty masked array")
    return func(*args)


def build_masked_array(inst: Any, state: Any, charge: Any) -> Any:
    import numpy.ma as ma

    require(type(state) is tuple and len(state) == 7, "a masked array's state is not numpy's")
    build_ndarray(np.ndarray.__new__(np.ndarray, (0,), "b"), state[:5], charge)  # the data part, checked alike
    count = _count(state[1])
    mask_dtype = ma.make_mask_descr(state[2])
    require(isinstance(state[5], bytes) and len(state[5]) == count * mask_dtype.itemsize,
            "a masked array's mask does not match its shape")
    fill = state[6]  # a scalar, or (once numpy has looked at it) a 0-d array of plain values
    require(isinstance(fill, (*_PRIMITIVE, np.generic)) or (type(fill) is np.ndarray and fill.ndim == 0
                                                              and not fill.dtype.hasobject),
            "a masked array's fill value is not a scalar")
    inst.__setstate__(state)
    return inst


def call_numbers(func: Any, args: tuple[Any, ...]) -> Any:
    """Cython objects pickled as ``cls(*numbers)`` (scikit-learn's SGD loss functions)."""
    require(len(args) <= 4 and all(isinstance(a, (int, float)) for a in args),
            f"{func.__name__} may be created only from numbers")
    return func(*args)


def call_frombuffer(func: Any, args: tuple[Any, ...]) -> Any:
    require(len(args) == 4, "numpy _frombuffer takes four arguments")
    buf, dtype, shape, order = args
    require(isinstance(dtype, np.dtype) and not dtype.hasobject, "numpy _frombuffer needs a dtype without objects")
    require(isinstance(buf, (bytes, bytearray)) and order in ("C", "F"), "numpy _frombuffer's buffer is malformed")
    require(len(buf) == _count(_shape(shape, "an array's shape")) * dtype.itemsize,
            "an array's data does not match its shape and dtype")
    return func(buf, dtype, shape, order)


def call_scalar(func: Any, args: tuple[Any, ...]) -> Any:
    require(len(args) in (1, 2) and isinstance(args[0], np.dtype), "numpy scalar takes a dtype and its bytes")
    if not args[0].hasobject:
        require(len(args) == 2 and isinstance(args[1], bytes) and len(args[1]) == args[0].itemsize,
                "a numpy scalar's bytes do not match its dtype")
    return func(*args)


_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")


def _bit_generator(value: Any, instance: bool) -> Any:
    """A bit generator's name or class (for __bit_generator_ctor) or an instance already built."""
    cls = type(value) if instance else value
    name = value if isinstance(value, str) else getattr(cls, "__name__", None)
    require(name in _BIT_GENERATORS and (isinstance(value, str) or getattr(cls, "__module__", "").startswith("numpy.random.")),
            "a random generator names an unknown bit generator")
    return value


def call_random_ctor(func: Any, args: tuple[Any, ...]) -> Any:
    """numpy's __randomstate_ctor / __generator_ctor(bit_generator[, ctor]) and __bit_generator_ctor(name).

    The optional second argument is a callable numpy calls; only numpy's own is accepted.
    """
    require(1 <= len(args) <= 2, "a numpy random constructor takes a bit generator")
    if len(args) == 2:
        from numpy.random._pickle import __bit_generator_ctor as real_ctor  # noqa: PLC0415

        require(args[1] is real_ctor, "a numpy random constructor may only use numpy's own bit generator constructor")
    instance = func.__name__ != "__bit_generator_ctor" and not isinstance(args[0], (str, type))
    return func(_bit_generator(args[0], instance))


def _seed_sequence_state(state: Any) -> tuple[Any, ...]:
    """(entropy, n_children_spawned, pool, pool_size, spawn_key), as Cython pickles SeedSequence."""
    require(type(state) is tuple and len(state) == 5, "SeedSequence state is malformed")
    entropy, spawned, pool, pool_size, spawn_key = state
    size = _int(pool_size, "SeedSequence pool_size", 4, 1 << 16)
    pool = array(pool, "SeedSequence pool", np.uint32, 1)
    require(len(pool) == size, "SeedSequence pool does not match pool_size")
    _int(spawned, "SeedSequence n_children_spawned", 0, 1 << 62)
    require(type(spawn_key) is tuple and all(isinstance(k, _INT) for k in spawn_key), "SeedSequence spawn_key is malformed")
    require(entropy is None or isinstance(entropy, _INT) or (type(entropy) is np.ndarray and entropy.dtype.kind in "iu"),
            "SeedSequence entropy is malformed")
    return (entropy, spawned, pool, size, spawn_key)


def call_seed_sequence(func: Any, args: tuple[Any, ...]) -> Any:
    """Cython's __pyx_unpickle_SeedSequence(type, checksum, state or None)."""
    from numpy.random import SeedSequence

    require(len(args) == 3 and args[0] is SeedSequence and isinstance(args[1], int), "SeedSequence state is malformed")
    return func(args[0], args[1], None if args[2] is None else _seed_sequence_state(args[2]))


def build_seed_sequence(inst: Any, state: Any) -> Any:
    inst.__setstate__(_seed_sequence_state(state))
    return inst


def build_via_setstate(inst: Any, state: Any) -> Any:
    """numpy's random objects validate their own state (sizes, keys) in __setstate__; a bit
    generator's may carry its SeedSequence, itself checked when it was built."""
    from numpy.random import SeedSequence

    if type(state) is tuple and len(state) == 2 and type(state[1]) is SeedSequence:
        plain_data(state[0], f"the state of {a_or_an(type(inst).__name__)}")
    else:
        plain_data(state, f"the state of {a_or_an(type(inst).__name__)}")
    inst.__setstate__(state)
    return inst


def call_partial(func: Any, args: tuple[Any, ...], admitted: Any) -> Any:
    """functools.partial(f): only around a function admitted as a value (never eval, getattr ...)."""
    require(len(args) == 1 and admitted(args[0]), "functools.partial may only wrap a function admitted as a value")
    return func(args[0])


def build_partial(inst: Any, state: Any, admitted: Any) -> Any:
    require(type(state) is tuple and len(state) == 4, "a functools.partial's state is malformed")
    fn, args, kwds, extra = state
    require(admitted(fn) and type(args) is tuple and (kwds is None or type(kwds) is dict) and not extra,
            "a functools.partial's state is malformed")
    for value in (*args, *(kwds or {}).values()):
        require(admitted(value), "a functools.partial's arguments are not plain values or admitted objects")
    inst.__setstate__(state)
    return inst


# --- scikit-learn: decision trees ------------------------------------------------------------------


def check_tree_args(args: tuple[Any, ...]) -> tuple[int, np.ndarray, int]:
    """Tree(n_features, n_classes, n_outputs): Cython reads n_classes[k] for every k < n_outputs."""
    require(len(args) == 3, "Tree takes n_features, n_classes and n_outputs")
    n_features = _int(args[0], "Tree n_features", 1, 1 << 31)
    n_outputs = _int(args[2], "Tree n_outputs", 1, 1 << 16)
    n_classes = array(args[1], "Tree n_classes", None, 1)
    require(n_classes.dtype.kind in "iu" and len(n_classes) == n_outputs, "Tree n_classes does not have n_outputs entries")
    require(bool(np.all((n_classes >= 1) & (n_classes <= 1 << 20))), "Tree n_classes out of range")
    return n_features, n_classes.astype(np.intp), n_outputs


def call_tree(func: Any, args: tuple[Any, ...], charge: Any) -> Any:
    n_features, n_classes, n_outputs = check_tree_args(args)
    charge(8 * n_outputs * int(n_classes.max()), "a decision tree")
    return func(n_features, n_classes, n_outputs)


def _descending_trees(left: np.ndarray, right: np.ndarray, counts: list[int], what: str) -> np.ndarray:
    """Children come after their parent, each node has one parent, every node is reached: the walk
    from each root always ends. For trees stored one after another (``counts`` nodes each, child
    indices counted from each tree's first node), in one round of numpy calls for all of them: each
    call costs microseconds whatever its length, and a forest has hundreds of small trees. Returns
    each tree's depth."""
    n, trees = len(left), len(counts)
    starts = np.zeros(trees, dtype=np.intp)
    np.cumsum(counts[:-1], out=starts[1:])
    first = np.repeat(starts, counts)  # each node's tree's first node
    inner = np.flatnonzero(left != -1)
    require(np.count_nonzero(right == -1) == n - len(inner), f"{what}: a node has one child")
    base = first[inner]
    local = inner - base  # an inner node's index within its tree
    size = np.repeat(np.asarray(counts, dtype=np.intp), counts)[inner]
    low, high = left[inner], right[inner]
    require(bool(np.all((low > local) & (low < size) & (high > local) & (high < size))),
            f"{what}: a child index is out of range or points backwards")
    # Every node but the roots gets a parent; as many children as non-roots, so none has two.
    parent = np.full(n, -1, dtype=np.intp)
    parent[low + base] = inner
    parent[high + base] = inner
    require(2 * len(inner) == n - trees and np.count_nonzero(parent < 0) == trees,
            f"{what}: nodes are shared or unreachable")
    # The depth by pointer jumping: each node's distance to an ancestor, the ancestor's ancestor taken
    # at every step, so log2(depth) rounds of numpy calls instead of one round per level (a forest's
    # trees are 20-40 levels deep). Every parent comes before its children (checked above), so the
    # jumps reach the roots, which are their own parents at distance 0: within log2(largest tree)
    # rounds, a bound kept so the loop ends even if a check above were wrong.
    parent[starts] = starts
    distance = np.ones(n, dtype=np.intp)
    distance[starts] = 0
    for _ in range(max(counts).bit_length() + 1):
        if not np.any(parent != first):
            return np.maximum.reduceat(distance, starts)
        distance = distance + distance[parent]
        parent = parent[parent]
    raise Refused(f"{what}: nodes are shared or unreachable")


@functools.cache
def _dtype_of(module: str, name: str) -> np.dtype:
    """A record dtype scikit-learn defines (as a dict or a dtype), built once."""
    import importlib

    return np.dtype(getattr(importlib.import_module(module), name))


TREE_NODES_CHECKED = 1 << 20  # nodes checked in one round: bounds the round's copies (64 MiB)


def check_tree_states(trees: list[tuple[Any, Any]], charge: Any) -> list[dict[str, Any]]:
    """The states Tree.__setstate__ copies and predict then follows without bounds checks, of many
    trees: the per-node checks run over all their nodes at once, in rounds of up to
    :data:`TREE_NODES_CHECKED` nodes."""
    NODE_DTYPE = _dtype_of("sklearn.tree._tree", "NODE_DTYPE")

    checked: list[dict[str, Any]] = []
    for tree, state in trees:
        require(type(state) is dict and set(state) == {"max_depth", "node_count", "nodes", "values"},
                "a decision tree's state is not scikit-learn's")
        count = _int(state["node_count"], "Tree node_count", 1, 1 << 31)
        charge(count * (64 + 8 * tree.n_outputs * tree.max_n_classes), "a decision tree")
        # Not copied: they are checked when the load has ended, so nothing in the file can change them
        # after, and Tree.__setstate__ copies them into the tree (C-contiguous, as it requires).
        nodes = np.ascontiguousarray(_current_nodes(state["nodes"], NODE_DTYPE))
        values = np.ascontiguousarray(array(state["values"], "Tree values", np.float64, 3, copy=False))
        require(len(nodes) == count and values.shape == (count, tree.n_outputs, tree.max_n_classes),
                "a decision tree's arrays do not match its node count")
        claimed = _int(state["max_depth"], "Tree max_depth", 0, 1 << 31)
        checked.append({"max_depth": claimed, "node_count": count, "nodes": nodes, "values": values})
    for group in _rounds([c["node_count"] for c in checked]):
        _check_tree_nodes([checked[i] for i in group], [trees[i][0] for i in group])
    return checked


def _current_nodes(nodes: Any, NODE_DTYPE: np.dtype) -> np.ndarray:
    """A tree's node array in this scikit-learn's layout, checked (see :func:`upgraded_tree_nodes`)."""
    upgraded = upgraded_tree_nodes(nodes, NODE_DTYPE)
    return upgraded if upgraded is not None else array(nodes, "Tree nodes", NODE_DTYPE, 1, copy=False)


def nodes_before_1_3() -> np.dtype:
    """scikit-learn's decision tree node layout before 1.3."""
    return _nodes_before_1_3(_dtype_of("sklearn.tree._tree", "NODE_DTYPE"))


def upgraded_tree_nodes(nodes: Any, node_dtype: np.dtype | None = None) -> np.ndarray | None:
    """``nodes`` in this scikit-learn's layout if they are in the layout before 1.3, else None. Before
    1.3 a node had no ``missing_go_to_left`` (those trees never saw a missing value) and scikit-learn
    refuses their nodes since; the node is the same with the field added as 0, which sends a missing
    value right, as ``nan <= threshold`` did. So such a tree predicts what it predicted in the
    scikit-learn that pickled it."""
    if node_dtype is None:
        node_dtype = _dtype_of("sklearn.tree._tree", "NODE_DTYPE")
    old = _nodes_before_1_3(node_dtype)
    if type(nodes) is not np.ndarray or nodes.dtype != old:
        return None
    upgraded = np.zeros(array(nodes, "Tree nodes", ndim=1, copy=False).shape, dtype=node_dtype)
    for name in old.names or ():
        upgraded[name] = nodes[name]
    return upgraded


@functools.cache
def _nodes_before_1_3(node_dtype: np.dtype) -> np.dtype:
    """scikit-learn's node layout before ``missing_go_to_left``, its last field, was added."""
    fields: Any = node_dtype.fields
    names = [n for n in fields if n != "missing_go_to_left"]
    layout: Any = {"names": names, "formats": [fields[n][0] for n in names], "offsets": [fields[n][1] for n in names],
                   "itemsize": fields["missing_go_to_left"][1]}
    return np.dtype(layout)


def _check_tree_nodes(checked: list[dict[str, Any]], trees: list[Any]) -> None:
    counts = [c["node_count"] for c in checked]
    # Field by field: concatenating the records themselves promotes their dtype once per tree (6x slower).
    left, right, feature, missing = (np.concatenate([c["nodes"][name] for c in checked])
                                     for name in ("left_child", "right_child", "feature", "missing_go_to_left"))
    depths = _descending_trees(left, right, counts, "decision tree")
    inner = left != -1
    n_features = np.repeat(np.array([tree.n_features for tree in trees], dtype=np.intp), counts)[inner]
    feature = feature[inner]
    require(bool(np.all((feature >= 0) & (feature < n_features))),
            "a decision tree splits on a feature it does not have")
    require(bool(np.all(missing <= 1)), "a decision tree's missing_go_to_left is not 0 or 1")
    for state, depth in zip(checked, depths.tolist()):
        require(state["max_depth"] == depth, f"a decision tree claims depth {state['max_depth']}, it has {depth}")


def build_tree(inst: Any, state: Any, pending: dict[int, tuple[Any, Any]]) -> Any:
    """A tree's state is checked and set when the load ends (:func:`set_trees`), with every other
    tree's: until then the tree is empty, and nothing in a load calls it."""
    require(inst.node_count == 0 and id(inst) not in pending, "a decision tree's state is set twice")
    pending[id(inst)] = (inst, state)
    return inst


def set_trees(pending: dict[int, tuple[Any, Any]], charge: Any) -> None:
    """Check the trees a load built (:func:`build_tree`) and only then set their states."""
    trees = list(pending.values())
    for (tree, _), state in zip(trees, check_tree_states(trees, charge)):
        tree.__setstate__(state)
    pending.clear()


def check_tree_predictors(predictors: list[Any]) -> list[dict[str, np.ndarray]]:
    """HistGradientBoosting's TreePredictors' states: Cython follows left/right and bitset_idx
    unchecked. As for decision trees, the per-node checks run over all their nodes at once (a model
    has one predictor per iteration and class), in rounds of up to :data:`TREE_NODES_CHECKED` nodes.
    The arrays are private read-only copies: a predictor keeps them as they are."""
    PREDICTOR_RECORD_DTYPE = _dtype_of("sklearn.ensemble._hist_gradient_boosting.common", "PREDICTOR_RECORD_DTYPE")

    checked: list[dict[str, np.ndarray]] = []
    for state in predictors:
        require(type(state) is dict and set(state) == {"nodes", "binned_left_cat_bitsets", "raw_left_cat_bitsets"},
                "a TreePredictor's state is not scikit-learn's")
        nodes = state["nodes"]
        if type(nodes) is np.ndarray and nodes.dtype != PREDICTOR_RECORD_DTYPE and \
                nodes.dtype.names == PREDICTOR_RECORD_DTYPE.names and \
                np.can_cast(nodes.dtype, PREDICTOR_RECORD_DTYPE, casting="same_kind"):
            # scikit-learn's own __setstate__ casts so (feature_idx was uint32 before 1.3, and is intp)
            nodes = nodes.astype(PREDICTOR_RECORD_DTYPE, casting="same_kind")
        nodes = array(nodes, "TreePredictor nodes", PREDICTOR_RECORD_DTYPE, 1)
        raw = array(state["raw_left_cat_bitsets"], "TreePredictor bitsets", np.uint32, 2)
        binned = array(state["binned_left_cat_bitsets"], "TreePredictor bitsets", np.uint32, 2)
        require(raw.shape == binned.shape and raw.shape[1:] == (8,), "TreePredictor bitsets are malformed")
        require(len(nodes) >= 1, "TreePredictor nodes are malformed")
        for array_ in (nodes, raw, binned):
            array_.flags.writeable = False
        checked.append({"nodes": nodes, "raw_left_cat_bitsets": raw, "binned_left_cat_bitsets": binned})
    for group in _rounds([len(c["nodes"]) for c in checked]):
        _check_predictor_nodes([checked[i] for i in group])
    return checked


def _rounds(counts: list[int]) -> Iterator[list[int]]:
    """Indices of consecutive trees, grouped up to :data:`TREE_NODES_CHECKED` nodes a group (a tree
    bigger than that is a group of its own)."""
    group: list[int] = []
    total = 0
    for i, count in enumerate(counts):
        if group and total + count > TREE_NODES_CHECKED:
            yield group
            group, total = [], 0
        group.append(i)
        total += count
    if group:
        yield group


def _check_predictor_nodes(checked: list[dict[str, np.ndarray]]) -> None:
    counts = [len(c["nodes"]) for c in checked]
    is_leaf, left, right, feature, bitset, missing, categorical = (
        np.concatenate([c["nodes"][name] for c in checked])
        for name in ("is_leaf", "left", "right", "feature_idx", "bitset_idx", "missing_go_to_left", "is_categorical"))
    require(bool(np.all(is_leaf <= 1)), "TreePredictor nodes are malformed")
    leaf = is_leaf == 1
    _descending_trees(np.where(leaf, -1, left.astype(np.int64)), np.where(leaf, -1, right.astype(np.int64)), counts,
                      "gradient-boosting tree")
    inner = ~leaf
    bitsets = np.repeat(np.array([len(c["raw_left_cat_bitsets"]) for c in checked], dtype=np.int64), counts)
    is_categorical = inner & (categorical == 1)
    require(bool(np.all(feature[inner] >= 0)), "a gradient-boosting tree splits on a negative feature")
    require(bool(np.all(bitset[is_categorical] < bitsets[is_categorical])),
            "a gradient-boosting tree's bitset index is out of range")
    require(bool(np.all(missing <= 1)) and bool(np.all(categorical <= 1)), "TreePredictor flags are not 0 or 1")


def build_tree_predictor(inst: Any, state: Any, pending: dict[int, tuple[Any, Any]]) -> Any:
    """Checked and set when the load ends, with every other predictor (:func:`set_tree_predictors`)."""
    require("nodes" not in inst.__dict__ and id(inst) not in pending, "a TreePredictor's state is set twice")
    pending[id(inst)] = (inst, state)
    return inst


def set_tree_predictors(pending: dict[int, tuple[Any, Any]]) -> None:
    predictors = list(pending.values())
    for (inst, _), state in zip(predictors, check_tree_predictors([state for _, state in predictors])):
        inst.__dict__.update(state)
    pending.clear()


# --- scikit-learn: neighbours trees and distance metrics ----------------------------------------------

SAFE_METRICS = ("EuclideanDistance64", "SEuclideanDistance64", "ManhattanDistance64", "ChebyshevDistance64",
                "MinkowskiDistance64", "EuclideanDistance32", "ManhattanDistance32", "ChebyshevDistance32",
                "MinkowskiDistance32")


def build_distance_metric(inst: Any, state: Any) -> Any:
    require(type(inst).__name__ in SAFE_METRICS, f"distance metric {type(inst).__name__} is not admitted")
    require(type(state) is tuple and len(state) == 3, "a distance metric's state is malformed")
    p = state[0]
    require(isinstance(p, (float, int)) and p >= 1, "a distance metric's p is below 1")
    vec = array(state[1], "distance metric weights", np.float64, 1)
    mat = array(state[2], "distance metric matrix", np.float64, 2)
    inst.__setstate__((float(p), vec, mat))
    return inst


def build_binary_tree(inst: Any, state: Any, charge: Any) -> Any:
    """KDTree/BallTree: Cython walks node_data and idx_array as an implicit binary heap, unchecked."""
    require(type(state) is tuple and len(state) == 13, "a neighbours tree's state is not scikit-learn's")
    data = array(state[0], "tree data", np.float64, 2)
    n_samples, n_features = data.shape
    charge(data.nbytes * 2, "a neighbours tree")
    idx = array(state[1], "tree idx_array", np.intp, 1)
    require(len(idx) == n_samples and n_samples >= 1 and bool(np.all((idx >= 0) & (idx < n_samples))),
            "a neighbours tree's indices are out of range")
    node_data = state[2]
    require(type(node_data) is np.ndarray and node_data.dtype.names == ("idx_start", "idx_end", "is_leaf", "radius"),
            "a neighbours tree's node data is malformed")
    node_data = np.array(node_data, copy=True)
    leaf_size, n_levels, n_nodes = (_int(state[i], "tree size field", 0, 1 << 40) for i in (4, 5, 6))
    require(leaf_size >= 1 and 1 <= n_levels <= 64 and n_nodes == (1 << n_levels) - 1 == len(node_data),
            "a neighbours tree's node count does not match its levels")
    start, end = node_data["idx_start"], node_data["idx_end"]
    require(bool(np.all((start >= 0) & (start <= end) & (end <= n_samples))), "a neighbours tree's node ranges are out of range")
    inner = np.flatnonzero(node_data["is_leaf"] == 0)
    require(bool(np.all(2 * inner + 2 < n_nodes)), "a neighbours tree's inner node has no children")
    bounds = array(state[3], "tree node_bounds", np.float64, 3)
    require(bounds.shape[1:] == (n_nodes, n_features) and bounds.shape[0] in (1, 2), "a neighbours tree's bounds do not match")
    counters = tuple(_int(state[i], "tree counter", 0, 1 << 62) for i in range(7, 11))
    metric = state[11]
    require(type(metric).__name__ in SAFE_METRICS and type(metric).__module__ == "sklearn.metrics._dist_metrics",
            "a neighbours tree's metric is not admitted")
    vec_size = len(metric.vec) if getattr(metric, "vec", None) is not None else 0
    require(vec_size in (0, n_features), "a distance metric's weights do not match the data")
    weight = state[12]
    if weight is not None:
        weight = array(weight, "tree sample_weight", np.float64, 1)
        require(len(weight) == n_samples, "a neighbours tree's weights do not match its data")
    inst.__setstate__((data, idx, node_data, bounds, leaf_size, n_levels, n_nodes, *counters, metric, weight))
    return inst


# --- scikit-learn: Cython loss objects ----------------------------------------------------------------


def call_pyx_unpickle(func: Any, args: tuple[Any, ...], cls: Any) -> Any:
    """Cython's __pyx_unpickle_X(type, checksum, state): X's own type and scalar fields only."""
    require(len(args) == 3 and args[0] is cls and isinstance(args[1], int), f"{cls.__name__} state is malformed")
    state = args[2]
    require(state is None or (type(state) is tuple and len(state) <= 16), f"{cls.__name__} state is malformed")
    for value in state or ():
        require(isinstance(value, (int, float, type(None))) or (type(value) is dict and not value),
                f"{cls.__name__} state holds {a_or_an(type(value).__name__)}")
    return func(*args)


def rebuild_cython_object(cls: Any, checksum: int, state: Any) -> Any:
    """What Cython's ``__pyx_unpickle_X(cls, checksum, state)`` built, for one of scikit-learn's loss
    classes that this scikit-learn pickles by its constructor instead: their fields are their
    constructor's arguments, in order (``CyPinballLoss(quantile)``; most have none). The state was
    checked by :func:`call_pyx_unpickle` (numbers, and an empty dict where Cython adds one)."""
    return cls(*(value for value in state or () if not isinstance(value, dict)))


#: What scipy's compressed sparse matrices keep in their ``__dict__`` (the arrays, the shape, flags).
SPARSE_FIELDS = {"_shape", "maxprint", "indices", "indptr", "data", "_has_sorted_indices",
                 "_has_canonical_format", "has_sorted_indices", "has_canonical_format"}


def build_sparse_matrix(inst: Any, state: Any) -> Any:
    """A CSR matrix (SparseRandomProjection's components, sparse support vectors): scipy's C++ kernels
    index ``data`` by ``indptr`` and the other operand by ``indices`` without bounds checks (a file
    with column indices past the matrix's width crashed ``transform``). Its arrays must be integer
    index arrays and numbers, and pass scipy's own full format check: ``indptr`` starts at 0, does not
    decrease and ends within the data; every index is within the shape."""
    require(type(state) is dict and set(state) <= SPARSE_FIELDS and {"_shape", "indices", "indptr", "data"} <= set(state),
            "a sparse matrix's state is malformed")
    shape = state["_shape"]
    require(type(shape) is tuple and len(shape) == 2, "a sparse matrix's shape is not two numbers")
    for size in shape:
        _int(size, "a sparse matrix's dimension", 0, 1 << 40)
    indices, indptr, data = state["indices"], state["indptr"], state["data"]
    require(all(type(a) is np.ndarray and a.ndim == 1 for a in (indices, indptr, data))
            and indices.dtype.kind == "i" and indptr.dtype.kind == "i" and data.dtype.kind in "biufc",
            "a sparse matrix's arrays are not one-dimensional index and number arrays")
    plain_data({k: v for k, v in state.items() if k not in ("indices", "indptr", "data", "_shape")},
               "a sparse matrix's flags")
    inst.__dict__.update(state)
    try:
        inst.check_format(full_check=True)
    except ValueError as exc:
        raise Refused(f"a sparse matrix's arrays do not agree: {exc}") from None
    return inst


def new_imputer_triplet(cls: Any, args: tuple[Any, ...]) -> Any:
    """IterativeImputer's ``_ImputerTriplet(feat_idx, neighbor_feat_idx, estimator)``, a named tuple: the
    column it imputes, the columns it predicts it from (numpy indexes them, with bounds checks), and the
    estimator, which the pickle machine made and checks as any other."""
    require(len(args) == 3, "an IterativeImputer step has three fields")
    feature, neighbours, estimator = args
    _int(feature, "the feature an IterativeImputer step imputes", 0, 1 << 24)
    require(isinstance(neighbours, np.ndarray) and neighbours.ndim == 1 and neighbours.dtype.kind in "iu",
            "the features an IterativeImputer step reads are not an array of indices")
    require(not isinstance(estimator, _PRIMITIVE) and hasattr(estimator, "predict"),
            "an IterativeImputer step's estimator does not predict")
    return tuple.__new__(cls, (feature, neighbours, estimator))


class RemainderColumns(list):  # type: ignore[type-arg]
    """scikit-learn 1.5-1.6's ``_RemainderColsList``, as the plain list of remainder columns that 1.7
    and later keep; pickled again, it is that plain list."""

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (list(self),)


def build_remainder_columns(inst: Any, state: Any) -> Any:
    """A ``_RemainderColsList``'s state: its columns (``data``: names, indices or a boolean mask) and
    the flags of its warning."""
    require(type(state) is dict and type(state.get("data")) is list and len(state["data"]) <= 1 << 20,
            "a ColumnTransformer's remainder columns are malformed")
    require(all(type(c) in (int, str, bool) for c in state["data"]), "a ColumnTransformer's remainder columns "
            "are not column names, indices or a mask")
    extra = {k: v for k, v in state.items() if k != "data"}
    require(set(extra) <= {"future_dtype", "warning_was_emitted", "warning_enabled"}, "a ColumnTransformer's "
            "remainder columns carry unknown fields")
    plain_data(extra, "a ColumnTransformer's remainder columns")
    if isinstance(inst, RemainderColumns):
        inst[:] = state["data"]
    else:  # this scikit-learn still has the class (1.5, 1.6): its own state
        inst.__dict__.update({"data": list(state["data"]), **extra})
    return inst


# scikit-learn before 1.4 kept GradientBoosting's loss as an object of sklearn.ensemble._gb_losses, a module
# 1.4 removed (with it, every such pickle failed to load): read as its name and numbers, which the upgrade
# in formats/_sklearn_versions.py replaces with the sklearn._loss object that 1.4 keeps.
OLD_BOOSTING_LOSSES = ("LeastSquaresError", "LeastAbsoluteError", "HuberLossFunction", "QuantileLossFunction",
                       "BinomialDeviance", "MultinomialDeviance", "ExponentialLoss")


class OldBoostingLoss:
    """A loss of GradientBoosting before scikit-learn 1.4: ``name``, and ``K`` (trees per stage) and, for
    Huber and quantile losses, ``alpha``, as it stored them."""

    name = ""

    def __reduce__(self) -> Any:
        raise TypeError(f"scikit-learn {self.name} from before 1.4 is read, never written again")


OLD_BOOSTING_LOSS_CLASSES = {name: type(name, (OldBoostingLoss,), {"name": name, "__module__": __name__})
                             for name in OLD_BOOSTING_LOSSES}


def build_old_boosting_loss(inst: Any, state: Any) -> Any:
    require(type(state) is dict and set(state) <= {"K", "alpha", "gamma", "percentile"},
            "a GradientBoosting loss from before scikit-learn 1.4 has unknown fields")
    _int(state.get("K"), "its number of trees per stage", 1, 1 << 20)
    for key in ("alpha", "gamma", "percentile"):
        value = state.get(key)
        require(value is None or (isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
                                  and bool(np.isfinite(value))), f"its {key} is not a number")
    require(not isinstance(inst, OldBoostingLoss) or 0 < float(state.get("alpha", 0.5)) < 1,
            "its alpha is not a quantile")
    inst.__dict__.update(state)
    return inst


def is_gradient_boosting(obj: Any) -> bool:
    """scikit-learn's GradientBoostingClassifier or Regressor (a subclass of its BaseGradientBoosting)."""
    return any(c.__module__ == "sklearn.ensemble._gb" and c.__qualname__ == "BaseGradientBoosting"
               for c in type(obj).__mro__)


def check_gradient_boosting(gb: Any) -> None:
    """GradientBoosting's Cython ``predict_stages`` adds tree ``k`` of each stage to column ``k`` of the
    initial predictions without bounds checks: a file whose ``estimators_`` has more columns than those
    predictions wrote past their end (a segmentation fault, found by a test). So the number of trees per
    stage must be what the model says, and the initial predictions, computed as scikit-learn computes them
    for two rows of zeros, one row each and a column per tree. Run when every object has been checked;
    a loss from before scikit-learn 1.4 is checked once the upgrade has replaced it."""
    import warnings

    state = vars(gb)
    stages = state.get("estimators_")
    require(isinstance(stages, np.ndarray) and stages.dtype == object and stages.ndim == 2 and stages.size > 0,
            "its estimators_ is not a table of trees, one row per stage")
    per_stage = stages.shape[1]
    classes = state.get("classes_")  # a regressor and a binary classifier grow one tree per stage
    expected = 1 if classes is None or len(classes) <= 2 else len(classes)
    require(per_stage == expected, f"it has {per_stage} trees per stage, where it needs {expected} (one, or one "
            "per class of a multiclass classifier)")
    loss = state.get("_loss")
    if isinstance(loss, OldBoostingLoss):
        require(vars(loss).get("K") == per_stage, "its loss expects another number of trees per stage")
        return
    require(state.get("n_trees_per_iteration_") == per_stage,
            "its n_trees_per_iteration_ is not the number of trees in each stage")
    n_features = state.get("n_features_in_", getattr(stages[0, 0], "n_features_in_", None))
    require(isinstance(n_features, (int, np.integer)) and 0 < n_features <= 1 << 24, "it does not say how many features it takes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = gb._raw_predict_init(np.zeros((2, int(n_features)), dtype=np.float32))
    except Exception as exc:
        raise Refused(f"its initial predictions cannot be computed ({type(exc).__name__}: {exc})") from None
    require(isinstance(first, np.ndarray) and first.shape == (2, per_stage),
            f"its initial predictions have shape {getattr(first, 'shape', None)} for two rows, where its "
            f"{per_stage} tree(s) per stage need (2, {per_stage})")


# --- gradient-boosting libraries ---------------------------------------------------------------------


def build_xgboost_booster(inst: Any, state: Any) -> Any:
    """Built from the model bytes in the file, never from a path (Booster(model_file=...) is a call, refused)."""
    require(type(state) is dict and isinstance(state.get("handle"), (bytearray, type(None))),
            "an XGBoost Booster's state must hold its model as bytes")
    for key, value in state.items():
        if key != "handle":
            plain_data(value, f"XGBoost Booster {key}")
    inst.__setstate__(state)
    return inst


def build_lightgbm_booster(inst: Any, state: Any) -> Any:
    require(type(state) is dict, "a LightGBM Booster's state is malformed")
    model = state.get("_handle", state.get("handle"))
    require(isinstance(model, (str, type(None))), "a LightGBM Booster's state must hold its model as text")
    for key, value in state.items():
        plain_data(value, f"LightGBM Booster {key}")
    inst.__setstate__(state)
    return inst
