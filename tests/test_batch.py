"""predict_file's reader thread (order kept, errors surfaced, thread gone when scoring stops) and its CSV writer."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.batch import _bulk_text, _prefetched, csv_text


def test_prefetched_keeps_order_and_ends():
    assert list(_prefetched(iter(range(50)))) == list(range(50))


def test_a_reader_error_reaches_the_consumer():
    def broken():
        yield 1
        raise ValueError("line 3 cannot be parsed")

    got = []
    with pytest.raises(ValueError, match="line 3"):
        for item in _prefetched(broken()):
            got.append(item)
    assert got == [1]


def test_stopping_early_stops_the_reader():
    before = threading.active_count()
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    for item in _prefetched(endless(), depth=2):
        if item == 3:
            break
    assert threading.active_count() == before
    assert len(produced) <= 3 + 1 + 2 + 1  # consumed, the one in hand, the queue, the blocked put


# -- the CSV writer: Arrow's bulk formatting where it can, byte for byte what pandas writes -------------

_texts = st.lists(st.one_of(st.text(), st.sampled_from(["yes", "no", "a,b", 'say "hi"', "", " x", "501"]), st.none()),
                  min_size=0, max_size=12)
_columns = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=12).map(lambda v: np.array(v, dtype=np.int64)),
    st.lists(st.booleans(), max_size=12).map(lambda v: np.array(v, dtype=bool)),
    st.lists(st.floats(allow_nan=True, width=64), max_size=12).map(lambda v: np.array(v, dtype=np.float64)),
    _texts.map(lambda v: np.array(v, dtype=object)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_columns, min_size=1, max_size=3), st.booleans())
def test_csv_text_is_what_pandas_writes(columns, header):
    n = min(len(c) for c in columns)
    named = {["prediction", "proba_a,b", "proba_no"][i]: c[:n] for i, c in enumerate(columns)}
    assert csv_text(named, header) == pd.DataFrame(named).to_csv(index=False, header=header, lineterminator="\n")


def test_the_bulk_path_takes_labels_and_leaves_floats_to_pandas():
    """The commonest outputs (integer or plain text labels) are formatted in bulk; the rest fall back."""
    assert _bulk_text(np.array([0, 1, 1])) is not None
    assert _bulk_text(np.array(["yes", "no"], dtype=object)) is not None
    assert _bulk_text(np.array([0.5, 1.0])) is None  # Python's repr decides a float's digits
    assert _bulk_text(np.array(["a,b"], dtype=object)) is None  # quoted by the csv module
    assert _bulk_text(np.array([None, "x"], dtype=object)) is None
