"""The request checker's fast paths decide exactly as its full path, for any JSON value and any one record."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelpack.data import TypedColumns, conform_columns
from modelpack.errors import ModelpackError
from modelpack.metadata import Feature, InputSchema, to_jsonable
from modelpack.serve._validate import (
    RequestError,
    _json_value,
    _value,
    columns_from_json,
    plain_record,
    rows_with_missing,
)

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


# One record of plain values takes a one-pass path (plain_record); anything else, the general one.
PLAIN_SCHEMA = InputSchema((Feature("age", "int64"), Feature("income", "float64"),
                            Feature("city", "string", ("Paris", "Lagos")), Feature("note", "string"),
                            Feature("member", "bool")), "dataframe")
WITH_FLOAT32 = InputSchema((*PLAIN_SCHEMA.features, Feature("ratio", "float32")), "dataframe")
TEXTS = st.one_of(st.sampled_from(["Paris", "Lagos", "Zurich", "", "501"]), st.text(max_size=3))


def _record(schema: InputSchema) -> st.SearchStrategy[dict]:
    plain = {"age": st.integers(-(2**64), 2**64), "income": st.one_of(st.floats(), st.integers(-(2**60), 2**60)),
             "city": st.one_of(st.sampled_from(["Paris", "Lagos"]), TEXTS), "note": TEXTS, "member": st.booleans(),
             "ratio": st.floats()}
    # mostly values of the field's own kind (edge cases among them), sometimes any JSON value
    value = {name: st.integers(0, 7).flatmap(lambda i, s=strategy: JSON_VALUES if i == 0 else s)
             for name, strategy in plain.items()}
    fields = st.fixed_dictionaries({f.name: value[f.name] for f in schema.features})
    return st.integers(0, 7).flatmap(lambda i: fields if i > 1 else fields.map(lambda r: r | {"extra": 1}) if i
                                     else fields.map(lambda r: {k: v for k, v in list(r.items())[1:]}))


def _typed_by_the_general_path(record: dict, schema: InputSchema) -> tuple[object, list[str]]:
    """What a list of that one record becomes through the general path, then conform_columns (as
    Model.run types it), and the warnings raised on the way; or the refusal."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            typed = conform_columns(columns_from_json([record], schema, 10), schema, "the request")
        except (RequestError, ModelpackError) as exc:
            typed = exc
    return typed, [str(w.message) for w in caught]


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), schema=st.sampled_from([PLAIN_SCHEMA, WITH_FLOAT32]))
def test_one_plain_record_is_typed_as_the_general_path_and_conform_type_it(data, schema):
    record = data.draw(_record(schema))
    fast = plain_record(record, schema)
    if fast is None:  # the general path decides it, as before
        return
    assert type(columns_from_json(record, schema, 10)) is TypedColumns  # what the server takes
    general, warned = _typed_by_the_general_path(record, schema)
    assert not warned and isinstance(general, TypedColumns), (general, warned)
    assert list(fast) == list(general)
    for name in fast:
        assert fast[name].dtype == general[name].dtype and fast[name].tolist() == general[name].tolist(), name
    assert conform_columns(fast, schema, "the request") is fast  # typed once: Model.run does not type it again
    assert fast.complete and rows_with_missing(fast) is None and rows_with_missing(dict(general)) is None


def test_which_records_take_the_one_pass_path():
    row = {"age": 42, "income": 51234.5, "city": "Paris", "note": "x", "member": True}
    typed = plain_record(row, PLAIN_SCHEMA)
    assert isinstance(typed, TypedColumns) and typed.schema is PLAIN_SCHEMA
    assert [a.dtype.name for a in typed.values()] == ["int64", "float64", "object", "object", "bool"]
    assert plain_record(row | {"income": 51234}, PLAIN_SCHEMA)["income"].tolist() == [51234.0]
    for other in [row | {"city": "Zurich"},  # an unknown category: the general path warns about it
                  row | {"income": None}, row | {"age": 4.0}, row | {"age": 2**63}, row | {"member": 1},
                  row | {"income": math.inf}, row | {"note": None}, {**row, "extra": 1},
                  {k: v for k, v in row.items() if k != "age"}]:
        assert plain_record(other, PLAIN_SCHEMA) is None, other
    assert plain_record(row | {"ratio": 0.5}, WITH_FLOAT32) is None  # float32 is the general path's to range-check
    assert plain_record({k: [v] for k, v in row.items()}, PLAIN_SCHEMA) is None  # columns, not a record
    with pytest.raises(RequestError, match="too many rows"):
        columns_from_json(row, PLAIN_SCHEMA, 0)


OBJECTS = st.one_of(st.text(max_size=3), st.floats(), st.integers(), st.none(), st.booleans())


@settings(max_examples=500, deadline=None)
@given(array=st.one_of(
    hnp.arrays(st.sampled_from([np.int64, np.int32, np.uint8, np.bool_, np.float64, np.float32, np.float16]),
               st.integers(0, 6)),
    st.lists(OBJECTS, max_size=6).map(lambda values: np.array(values + [None], dtype=object)[:-1]),
    st.lists(st.text(max_size=3), max_size=4).map(lambda values: np.array(values, dtype=object))))
@example(array=np.array([1.5, np.nan, -np.inf]))
@example(array=np.array([np.float32(2.5), np.float64("nan"), "a", np.int64(3)], dtype=object))
@example(array=np.array(["a", np.str_("b")], dtype=object))
def test_an_answer_array_is_made_json_as_its_values_one_by_one(array):
    """to_jsonable decides a 1-D array of predictions at once (integers, finite floats, text); the
    answer is the one its values give one by one: NaN and infinities as null, numpy's scalars as Python's."""
    assert json.dumps(to_jsonable(array)) == json.dumps(to_jsonable(array.tolist()))


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(st.tuples(st.sampled_from([b"content-type", b"content-length", b"host", b"x-content-type"]),
                              st.sampled_from([b"", b"application/json", b"text/plain", b"12", b"\xe9"])), max_size=4),
       name=st.sampled_from(["content-type", "content-length"]), default=st.sampled_from([None, "", "application/json"]))
def test_a_request_header_is_read_as_starlettes_headers_read_it(raw, name, default):
    """The first of its name, latin-1, and the default only when absent (an empty header is empty)."""
    from starlette.datastructures import Headers

    from modelpack.serve import _header

    assert _header({"headers": raw}, name.encode(), default) == Headers(raw=raw).get(name, default)
