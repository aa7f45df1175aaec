"""Every request is checked against the model's input schema before the model sees it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..data import TYPED_DTYPES, TypedColumns
from ..metadata import STRING, Feature, InputSchema


class RequestError(Exception):
    """A request the server refuses: an HTTP status and one line naming the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        # Field names come from the client: a lone surrogate must not break the JSON answer.
        self.status, self.message, self.field = status, _printable(message), _printable(field)
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message} | ({"field": self.field} if self.field else {})


def _printable(text: str | None) -> Any:
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if text is not None else None


_INT64 = (-(1 << 63), (1 << 63) - 1)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT64_MAX = float(np.finfo(np.float64).max)
_EXACT_INT = 1 << 53  # integers a float64 holds exactly


_NOT_PLAIN = object()


def _plain(kind: str, value: Any) -> Any:
    """What :func:`_value` returns for the common cases, decided by exact type alone: text for a text
    column, a finite float or an in-range integer for a number column, true or false for a flag;
    ``_NOT_PLAIN`` for anything else, which :func:`_value` decides (and names, when it refuses it)."""
    cls = type(value)
    if kind == STRING:
        if cls is str:
            return value
    elif cls is float:
        if kind == "float64" and value - value == 0.0:  # finite: inf - inf and nan - nan are nan
            return value
    elif cls is int:
        if kind == "int64" and _INT64[0] <= value <= _INT64[1]:
            return value
        if kind == "float64" and -_EXACT_INT <= value <= _EXACT_INT:
            return float(value)
    elif cls is bool and kind == "bool":
        return value
    return _NOT_PLAIN


def _json_value(feature: Feature, value: Any, row: int) -> Any:
    """A JSON value for ``feature``: what :func:`_value` returns, the common cases by exact type alone."""
    plain = _plain(feature.dtype, value)
    return plain if plain is not _NOT_PLAIN else _value(feature, value, row, from_text=False)


def _value(feature: Feature, value: Any, row: int, from_text: bool) -> Any:
    where = f"field {feature.name!r} (row {row})"
    kind = feature.dtype
    if value is None or (from_text and value == ""):
        if kind != "bool":
            return None if kind == STRING else math.nan  # missing: the model decides, as for a file
        raise RequestError(422, f"{where}: a value is required", feature.name)
    if kind == STRING:
        if not isinstance(value, str):
            raise RequestError(422, f"{where}: expected a string, got {type(value).__name__}", feature.name)
        return value
    if kind == "bool":
        if from_text and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            raise RequestError(422, f"{where}: expected true or false", feature.name)
        return value
    if from_text:
        try:
            value = int(value) if kind == "int64" else float(value)
        except ValueError:
            raise RequestError(422, f"{where}: expected a {'whole ' if kind == 'int64' else ''}number, got {value!r}", feature.name) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(422, f"{where}: expected a number, got {type(value).__name__}", feature.name)
    if isinstance(value, int):  # JSON's integers have no bound: compared as integers, never through a float
        if kind == "int64":
            if not _INT64[0] <= value <= _INT64[1]:
                raise RequestError(422, f"{where}: {_short(value)} is out of the 64-bit integer range", feature.name)
            return int(value)
        if abs(value) > (_FLOAT32_MAX if kind == "float32" else _FLOAT64_MAX):
            raise RequestError(422, f"{where}: {_short(value)} is out of the {kind} range this model computes in",
                               feature.name)
        return float(value)
    if not math.isfinite(value):
        raise RequestError(422, f"{where}: {value} is not a finite number (send null for a missing value)", feature.name)
    if kind == "int64":
        if not _INT64[0] <= value <= _INT64[1]:
            raise RequestError(422, f"{where}: {value} is out of the 64-bit integer range", feature.name)
        if not value.is_integer():
            raise RequestError(422, f"{where}: expected a whole number, got {value}", feature.name)
        return int(value)
    if kind == "float32" and abs(value) > _FLOAT32_MAX:
        raise RequestError(422, f"{where}: {value} is out of the float32 range this model computes in", feature.name)
    return float(value)


def _short(number: int) -> str:
    """A huge integer as a message can hold it: its sign, first digits and length."""
    text = str(number)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text.lstrip('-'))} digits)"


def _check_fields(given: Any, schema: InputSchema, row: int) -> None:
    """``given`` (a set, or a record's keys) must be the schema's names, no more, no less."""
    names = schema.name_set
    if given == names:
        return
    given = set(given)
    missing = sorted(names - given, key=schema.names.index)
    extra = sorted((k for k in given - names if isinstance(k, str)), key=str)
    if missing:
        raise RequestError(422, f"row {row}: missing field(s) {', '.join(missing)}", missing[0])
    if extra:
        raise RequestError(422, f"row {row}: unexpected field(s) {', '.join(extra)}; the model takes {', '.join(schema.names)}", extra[0])


def _column(feature: Feature, values: list[Any]) -> np.ndarray:
    if feature.dtype == STRING:
        return np.array(values, dtype=object)
    if feature.dtype == "int64":  # float64 when a value is missing (NaN), as when reading a file
        return np.array(values, dtype=np.float64 if any(v != v for v in values) else np.int64)
    if feature.dtype == "bool":
        return np.array(values, dtype=bool)
    return np.array(values, dtype=np.float64)


def plain_record(payload: dict[Any, Any], schema: InputSchema) -> TypedColumns | None:
    """One record (nearly every request) whose fields are the schema's and whose values are all plain
    (see :func:`_plain`), text among its column's known categories: typed as the general path, then
    :func:`~modelpack.data.conform_columns`, would type it, in one pass. None for any other record,
    which the general path decides, refuses or warns about (an unknown category)."""
    if payload.keys() != schema.name_set:
        return None
    columns = {}
    for feature in schema.features:
        value = _plain(feature.dtype, payload[feature.name])
        if value is _NOT_PLAIN or (feature.categories and feature.dtype == STRING and value not in feature.category_set):
            return None
        columns[feature.name] = np.array([value], dtype=TYPED_DTYPES[feature.dtype])
    return TypedColumns(columns, schema, complete=True)  # plain values: none is missing


def columns_from_json(payload: Any, schema: InputSchema, max_rows: int) -> dict[str, np.ndarray]:
    """Records (``[{...}, ...]``), one record (``{...}``) or columns (``{"f": [...], ...}``) → typed columns."""
    if type(payload) is dict and max_rows >= 1 and (typed := plain_record(payload, schema)) is not None:
        return typed
    records: list[Any]
    if isinstance(payload, Mapping) and payload and all(isinstance(v, list) for v in payload.values()):
        lengths = {len(v) for v in payload.values()}
        if len(lengths) != 1:
            raise RequestError(422, "columns have different lengths")
        n = lengths.pop()
        records = [{k: v[i] for k, v in payload.items()} for i in range(n)]
    elif isinstance(payload, Mapping):
        records = [payload]
    elif isinstance(payload, list):
        records = payload
    else:
        raise RequestError(422, "send a JSON object (one row), a list of objects (rows), or an object of equal-length lists (columns)")
    if not records:
        raise RequestError(422, "no rows to predict")
    if len(records) > max_rows:
        raise RequestError(413, f"too many rows: {len(records)} > {max_rows} (the server's --max-rows)")
    columns: dict[str, list[Any]] = {f.name: [] for f in schema.features}
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise RequestError(422, f"row {i}: expected an object of field: value")
        _check_fields(record.keys(), schema, i)
        for feature in schema.features:
            columns[feature.name].append(_json_value(feature, record[feature.name], i))
    return {f.name: _column(f, columns[f.name]) for f in schema.features}


def columns_from_query(params: Mapping[str, str], schema: InputSchema) -> dict[str, np.ndarray]:
    """One row from query parameters (all text), typed by the schema."""
    given = {k for k in params if k != "proba"}
    _check_fields(given, schema, 0)
    return {f.name: _column(f, [_value(f, params[f.name], 0, from_text=True)]) for f in schema.features}


def missing_mask(values: np.ndarray) -> np.ndarray:
    """Which entries of a typed column are missing (None in strings, NaN in floats)."""
    if values.dtype == object:
        return np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.zeros(len(values), dtype=bool)


def rows_with_missing(columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Which rows have a missing value, or None when no row has one: the common case, decided
    without numpy's reductions (a ``mask.any()`` costs microseconds of a request's hundred), or
    known already (one record of plain values)."""
    if type(columns) is TypedColumns and columns.complete:
        return None
    for values in columns.values():
        kind = values.dtype.kind
        if (kind == "O" and None in values.tolist()) or (kind == "f" and (
                any(v != v for v in values.tolist()) if len(values) <= 16 else np.isnan(values).any())):
            break
    else:
        return None
    return np.logical_or.reduce([missing_mask(values) for values in columns.values()])


def refuse_unscored(outputs: Mapping[str, Any], missing: np.ndarray | None, columns: Mapping[str, np.ndarray]) -> None:
    """A model that cannot handle a missing value may still return a number: NaN. Refused, naming
    the field, the same for every format (scikit-learn raises; ONNX returns NaN)."""
    if missing is None:
        return
    unscored = np.zeros(len(missing), dtype=bool)
    for values in outputs.values():
        array = np.asarray(values)
        if array.dtype.kind in "fc":
            unscored |= ~np.isfinite(array.reshape(len(missing), -1)).all(axis=1)
    rows = np.flatnonzero(unscored & missing)
    if len(rows):
        raise unscored_error(int(rows[0]), columns)


def unscored_error(row: int, columns: Mapping[str, np.ndarray], detail: str = "") -> RequestError:
    fields = [name for name, values in columns.items() if missing_mask(values[row:row + 1])[0]]
    return RequestError(422, f"row {row}: {', '.join(fields)} missing, and this model gives no answer without "
                             f"{'it' if len(fields) == 1 else 'them'}{f' ({detail})' if detail else ''}", fields[0])
