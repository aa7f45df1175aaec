"""predict_file's reader thread: order kept, errors surfaced, thread gone when scoring stops."""

from __future__ import annotations

import threading

import pytest

from modelpack.batch import _prefetched


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
