"""The tree check's depth (pointer jumping) is the depth a walk from the root finds, on any valid tree."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier

from modelpack.safety._guards import _descending_tree


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
