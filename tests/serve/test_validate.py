"""The request checker's fast path decides exactly as its full path, for any JSON value."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.metadata import Feature
from modelpack.serve._validate import RequestError, _json_value, _value

KINDS = ["float64", "float32", "int64", "bool", "string"]
JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(), st.integers(min_value=-(2**80), max_value=2**80), st.integers(min_value=10**300, max_value=10**320),
    st.sampled_from([2**53, 2**53 + 1, -(2**63), 2**63 - 1, 2**63, 3.4e38, 3.5e38, 1e308, -0.0, 5e-324]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def _outcome(fn, *args):
    try:
        value = fn(*args)
    except RequestError as exc:
        return ("refused", exc.status, exc.message, exc.field)
    return ("nan",) if isinstance(value, float) and math.isnan(value) else (type(value), value)


@settings(max_examples=3000, deadline=None)
@given(kind=st.sampled_from(KINDS), value=JSON_VALUES)
def test_the_fast_path_answers_as_the_full_checks(kind, value):
    feature = Feature("f", kind)
    assert _outcome(_json_value, feature, value, 3) == _outcome(_value, feature, value, 3, False)


def test_what_each_kind_takes_and_refuses():
    assert _json_value(Feature("f", "int64"), 2**53 + 1, 0) == 2**53 + 1
    assert _json_value(Feature("f", "float64"), 7, 0) == 7.0 and type(_json_value(Feature("f", "float64"), 7, 0)) is float
    assert _json_value(Feature("f", "string"), None, 0) is None and math.isnan(_json_value(Feature("f", "float64"), None, 0))
    for kind, value, message in [("int64", 10**400, "64-bit integer range"), ("float64", -(10**400), "float64 range"),
                                 ("float32", 10**39, "float32 range"), ("int64", 2.5, "whole number"),
                                 ("float64", True, "expected a number"), ("bool", None, "a value is required")]:
        outcome = _outcome(_json_value, Feature("f", kind), value, 0)
        assert outcome[0] == "refused" and outcome[1] == 422 and message in outcome[2], (kind, value, outcome)
