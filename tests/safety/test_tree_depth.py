"""The tree check's depth (pointer jumping) is the depth a walk from the root finds, on any valid tree,
checked alone or with other trees in one round; and a forest's trees are set only once all are checked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier

from modelpack.safety._guards import Refused, _descending_trees, build_tree, set_trees


def _descending_tree(left: np.ndarray, right: np.ndarray, what: str) -> int:
    """One tree's depth, checked as a forest of one."""
    return int(_descending_trees(left, right, [len(left)], what)[0])


def _walked_depth(left: np.ndarray, right: np.ndarray) -> int:
    depth, level = 0, [0]
    while True:
        level = [c for node in level for c in (left[node], right[node]) if c >= 0]
        if not level:
            return depth
        depth += 1


@st.composite
def trees(draw):
    """Valid trees in scikit-learn's layout: children numbered after their parent, depth first or not."""
    splits = draw(st.integers(0, 60))
    left, right = [-1], [-1]
    leaves = [0]
    for _ in range(splits):
        node = leaves.pop(draw(st.integers(0, len(leaves) - 1)))
        left[node], right[node] = len(left), len(left) + 1
        left += [-1, -1]
        right += [-1, -1]
        leaves += [left[node], right[node]]
    return np.array(left, dtype=np.intp), np.array(right, dtype=np.intp)


@settings(max_examples=500, deadline=None)
@given(trees())
def test_the_depth_is_the_walks(tree):
    left, right = tree
    assert _descending_tree(left, right, "tree") == _walked_depth(left, right)


def test_the_depth_of_fitted_trees():
    X, y = make_classification(3000, 10, random_state=0)
    for depth in (1, 3, None):
        tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y).tree_
        assert _descending_tree(tree.children_left, tree.children_right, "tree") == tree.max_depth
    chain = np.arange(1, 2001, 2)  # a 1,000-level chain: each node's right child splits again
    left = np.full(2001, -1)
    right = np.full(2001, -1)
    left[np.arange(0, 2000, 2)], right[np.arange(0, 2000, 2)] = chain, chain + 1
    assert _descending_tree(left, right, "chain") == 1000


@settings(max_examples=300, deadline=None)
@given(st.lists(trees(), min_size=1, max_size=8))
def test_trees_checked_together_have_the_depths_of_their_walks(forest):
    left = np.concatenate([tree[0] for tree in forest])
    right = np.concatenate([tree[1] for tree in forest])
    depths = _descending_trees(left, right, [len(tree[0]) for tree in forest], "tree")
    assert depths.tolist() == [_walked_depth(*tree) for tree in forest]


@settings(max_examples=300, deadline=None)
@given(st.lists(trees(), min_size=2, max_size=6), st.data())
def test_a_child_outside_its_own_tree_is_refused_when_checked_together(forest, data):
    """Counted from its own tree's first node, a child past that tree's end lands in the next tree's
    nodes: valid for the concatenation, out of range for the tree."""
    which = data.draw(st.sampled_from([i for i, tree in enumerate(forest[:-1]) if len(tree[0]) > 1] or [None]))
    if which is None:
        return
    lefts = [np.array(tree[0]) for tree in forest]
    rights = [np.array(tree[1]) for tree in forest]
    inner = np.flatnonzero(lefts[which] != -1)
    node = data.draw(st.sampled_from(inner.tolist()))
    side = data.draw(st.sampled_from([lefts, rights]))
    side[which][node] = len(lefts[which]) + data.draw(st.integers(0, len(lefts[which + 1]) - 1))
    with pytest.raises(Refused, match="out of range or points backwards"):
        _descending_trees(np.concatenate(lefts), np.concatenate(rights), [len(t) for t in lefts], "tree")


def test_trees_are_set_only_when_checked_and_once():
    X, y = make_classification(300, 6, random_state=0)
    fitted = [DecisionTreeClassifier(max_depth=d, random_state=0).fit(X, y).tree_ for d in (2, 4)]
    from sklearn.tree._tree import Tree

    pending: dict = {}
    empty = [Tree(*tree.__reduce__()[1]) for tree in fitted]
    for tree, source in zip(empty, fitted):
        assert build_tree(tree, source.__getstate__(), pending) is tree
        assert tree.node_count == 0  # not yet: the load has not ended
    with pytest.raises(Refused, match="set twice"):
        build_tree(empty[0], fitted[0].__getstate__(), pending)
    set_trees(pending, lambda n, what: None)
    assert [t.node_count for t in empty] == [t.node_count for t in fitted] and not pending
    assert all(np.array_equal(a.value, b.value) and a.max_depth == b.max_depth for a, b in zip(empty, fitted))
    with pytest.raises(Refused, match="set twice"):
        build_tree(empty[1], fitted[1].__getstate__(), pending)


def test_gradient_boosting_predictors_are_set_only_when_checked_and_once():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from modelpack.safety._guards import build_tree_predictor, set_tree_predictors

    X, y = make_classification(300, 6, random_state=0)
    fitted = [p for (p,) in HistGradientBoostingClassifier(max_iter=4, random_state=0).fit(X, y)._predictors]
    pending: dict = {}
    empty = [type(p).__new__(type(p)) for p in fitted]
    for predictor, source in zip(empty, fitted):
        build_tree_predictor(predictor, dict(source.__dict__), pending)
        assert "nodes" not in predictor.__dict__  # not yet: the load has not ended
    with pytest.raises(Refused, match="set twice"):
        build_tree_predictor(empty[0], dict(fitted[0].__dict__), pending)
    set_tree_predictors(pending)
    for predictor, source in zip(empty, fitted):
        assert np.array_equal(predictor.nodes, source.nodes) and not predictor.nodes.flags.writeable
        assert predictor.nodes is not source.nodes  # a private copy
        args = (X.astype(np.float64), np.zeros((0, 8), np.uint32), np.zeros(6, np.uint32), 1)
        np.testing.assert_array_equal(predictor.predict(*args), source.predict(*args))
