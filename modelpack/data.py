"""Reading the data models are checked and scored on: CSV, Parquet, JSON lines, .npy."""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError, ModelFileNotFoundError, UnknownCategoryWarning, first_line
from .metadata import STRING, InputSchema, numpy_dtype

READERS = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".npy", ".npz")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InvalidInputError(
            f"cannot read {path.name}: use a data file ending in {', '.join(READERS)}"
        )
    return {".tsv": ".csv", ".pq": ".parquet", ".ndjson": ".jsonl", ".json": ".jsonl"}.get(suffix, suffix)


def text_columns(schema: InputSchema | None) -> dict[str, Any]:
    """Columns to read as text whatever they look like: a route "501" or a code "007" is a string
    where the model learned strings, and a reader that guesses numbers changes what it means."""
    if schema is None or schema.kind != "dataframe":
        return {}
    return {f.name: str for f in schema.features if f.dtype == STRING}


def iter_batches(path: str | Path, batch_size: int = 10_000, schema: InputSchema | None = None) -> Iterator[Any]:
    """Yield the file's rows in batches (DataFrames, or arrays for .npy), in constant memory,
    with the string columns of ``schema`` read as text."""
    path = Path(path)
    if not path.exists():
        raise ModelFileNotFoundError(f"{path}: no such data file")
    kind = _kind(path)
    if kind == ".npy":
        yield from _npy_batches(path, batch_size)
        return
    if kind == ".npz":  # one array per model input, by name, rows along the first axis
        arrays = _npz_arrays(path)
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise InvalidInputError(f"{path.name}: its arrays have different numbers of rows ({sorted(lengths)})")
        for start in range(0, lengths.pop(), batch_size):
            yield {name: a[start : start + batch_size] for name, a in arrays.items()}
        return
    import pandas as pd

    if kind == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise InvalidInputError("reading Parquet needs pyarrow: pip install 'modelpack-ml[parquet]'") from exc
        try:
            batches = pq.ParquetFile(path).iter_batches(batch_size=batch_size)
            for batch in batches:
                yield batch.to_pandas()
        except (ValueError, OSError) as exc:  # Arrow's ArrowInvalid and ArrowIOError: not Parquet, or cut short
            raise InvalidInputError(f"{path.name} is not a valid Parquet file: {first_line(exc)}") from None
        return
    try:
        if kind == ".csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            reader = pd.read_csv(path, sep=sep, chunksize=batch_size, dtype=text_columns(schema) or None)
        else:
            reader = pd.read_json(path, lines=True, chunksize=batch_size, dtype=text_columns(schema) or True)
        yield from reader
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{path.name} is empty: it has no header and no rows") from exc
    except ValueError as exc:
        raise InvalidInputError(f"{path.name} cannot be parsed: {exc}") from exc


_HOLDS_OBJECTS = ("holds Python objects, which modelpack does not unpickle from a data file; save plain numbers "
                  "(numpy arrays of numbers or strings)")


def _refused(path: Path, kind: str, exc: Exception) -> InvalidInputError:
    """numpy's refusal to read a data file, in one line naming it."""
    if isinstance(exc, ValueError) and "allow_pickle" in str(exc):
        return InvalidInputError(f"{path.name} {_HOLDS_OBJECTS}")
    return InvalidInputError(f"{path.name} is not a valid {kind} file: {first_line(exc)}")


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """An .npz file's arrays, by name: each must have rows, and none may hold Python objects."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _refused(path, ".npz", exc) from None
    if not arrays:
        raise InvalidInputError(f"{path.name} holds no arrays; save one per model input: np.savez(path, name=array)")
    for name, array in arrays.items():
        if array.ndim == 0:
            raise InvalidInputError(f"{path.name}: its array {name!r} holds a single value, not rows; "
                                    "save an array with one row per example")
    return arrays


def _npy_batches(path: Path, batch_size: int) -> Iterator[np.ndarray]:
    """An .npy file's rows in batches, read from the file (not mapped: a mapped file that something
    shortens kills the process with SIGBUS), after its header is checked against the file's size."""
    from numpy.lib import format as npy

    with open(path, "rb") as fh:
        try:
            version = npy.read_magic(fh)
            read_header = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
            if read_header is None:  # 3.0: a header in UTF-8, rare; read by numpy whole
                fh.seek(0)
                whole = np.load(fh, allow_pickle=False)
                shape, fortran, dtype = whole.shape, False, whole.dtype
            else:
                shape, fortran, dtype = read_header(fh)
                whole = None
        except ValueError as exc:  # not an .npy file, a header numpy cannot read, or (3.0) objects
            raise _refused(path, ".npy", exc) from None
        if dtype.hasobject:
            raise InvalidInputError(f"{path.name} {_HOLDS_OBJECTS}")
        if len(shape) == 0:
            raise InvalidInputError(f"{path.name} holds a single value, not rows; save an array with one row per example")
        if whole is not None:
            for start in range(0, shape[0], batch_size):
                yield whole[start : start + batch_size]
            return
        row_shape = shape[1:]
        row_bytes = dtype.itemsize * math.prod(row_shape)
        held = os.fstat(fh.fileno()).st_size - fh.tell()
        if held < shape[0] * row_bytes:
            raise InvalidInputError(f"{path.name} is truncated: its header declares {shape[0]:,} rows "
                                    f"({shape[0] * row_bytes:,} bytes), the file holds {held:,}; write it again")
        if fortran and len(shape) > 1:  # column by column on disk: rows are not contiguous, read it whole
            data = _read_exactly(fh, shape[0] * row_bytes, path)
            columns = np.frombuffer(data, dtype=dtype).reshape(shape[::-1]).T
            for start in range(0, shape[0], batch_size):
                yield np.ascontiguousarray(columns[start : start + batch_size])
            return
        for start in range(0, shape[0], batch_size):
            n = min(batch_size, shape[0] - start)
            yield np.frombuffer(_read_exactly(fh, n * row_bytes, path), dtype=dtype).reshape((n, *row_shape))


def _read_exactly(fh: Any, n: int, path: Path) -> bytearray:
    data = bytearray(n)
    if fh.readinto(data) != n:
        raise InvalidInputError(f"{path.name} became shorter while it was read (something is writing it); "
                                "read it again once it is written")
    return data


#: A CSV this small is read without pandas when its cells are plain numbers (see small_numeric_csv):
#: importing pandas costs more than scoring it.
SMALL_CSV = 1 << 20
#: A plain decimal number. Unambiguous and possessive: a long run of digits with a bad end fails in linear time.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:(\d++)(?:\.(\d*+))?|\.(\d++))(?:[eE]([+-]?\d{1,4}+))?")


@functools.cache
def _pandas_rounds_correctly() -> bool:
    """pandas 3.1 parses CSV numbers with fast_float (correctly rounded), read without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = re.match(r"(\d+)\.(\d+)", version("pandas"))
    except PackageNotFoundError:
        return False
    return found is not None and (int(found.group(1)), int(found.group(2))) >= (3, 1)


def small_numeric_csv(path: str | Path, schema: InputSchema | None) -> Any:
    """A small CSV of plain numbers for an all-numeric model, read with the csv module: a 2-D float64
    array for an array schema, columns by name for a table; None whenever pandas might read it
    differently, and pandas reads it (a missing value, text, a quoted or spaced cell, a header that
    is not the model's columns, more than 15 significant digits, a big exponent, a file over 1 MiB).

    Python's float() rounds correctly, and so does pandas' C parser from 3.1 (fast_float): every plain
    number reads the same both ways. Before 3.1 pandas scaled by powers of ten in floating point; there
    only numbers of at most 15 significant digits with a decimal exponent within ±22 are taken (a whole
    number below 2**53 times an exact power of ten: one correctly rounded operation either way). A
    hypothesis test compares the two readers.
    """
    import csv

    path = Path(path)
    if schema is None or schema.kind == "tensor" or not schema.all_numeric or path.suffix.lower() != ".csv":
        return None
    try:
        if path.stat().st_size > SMALL_CSV:
            return None
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [row for row in csv.reader(fh) if row]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(rows) < 2:
        return None
    header, body = rows[0], rows[1:]
    if len(set(header)) != len(header) or not all(n in header for n in schema.names):
        return None
    if schema.kind == "array" and header != schema.names:
        return None  # conform's own rules pick or refuse the columns of an array model
    exact = _pandas_rounds_correctly()
    width = len(header)
    picks = [header.index(n) for n in schema.names]
    columns: list[list[float]] = [[] for _ in picks]
    for row in body:
        if len(row) != width:
            return None
        for out, i in zip(columns, picks):
            cell = row[i]
            m = _PLAIN_NUMBER.fullmatch(cell)
            if m is None:
                return None
            if not exact:
                whole, fraction = m.group(1) or "", m.group(2) or m.group(3) or ""
                digits = (whole + fraction).lstrip("0")
                trimmed = digits.rstrip("0")
                exponent = int(m.group(4) or 0) - len(fraction) + (len(digits) - len(trimmed))
                if len(trimmed) > 15 or (trimmed and abs(exponent) > 22):
                    return None
            out.append(float(cell))
    arrays = [np.array(c, dtype=np.float64) for c in columns]
    if schema.kind == "array":
        return np.column_stack(arrays)
    return dict(zip(schema.names, arrays))


def n_rows(batch: Any) -> int:
    """Rows in a batch: a DataFrame's, an array's, or those of the arrays of an .npz file's dict."""
    if isinstance(batch, dict):
        return len(next(iter(batch.values()))) if batch else 0
    return len(batch)


def read_data(path: str | Path, limit: int | None = None, schema: InputSchema | None = None) -> Any:
    """The whole file (or its first ``limit`` rows) as one DataFrame or array, typed by ``schema``."""
    batches = []
    total = 0
    for batch in iter_batches(path, batch_size=min(limit or 50_000, 50_000), schema=schema):
        batches.append(batch)
        total += n_rows(batch)
        if limit is not None and total >= limit:
            break
    if not batches or total == 0:
        raise InvalidInputError(f"{Path(path).name} has no rows")
    if isinstance(batches[0], dict):
        arrays = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
        return {k: v[:limit] for k, v in arrays.items()} if limit is not None else arrays
    if isinstance(batches[0], np.ndarray):
        data = np.concatenate(batches)
    else:
        import pandas as pd

        data = pd.concat(batches, ignore_index=True)
    return data[:limit] if limit is not None else data


def conform(data: Any, schema: InputSchema | None, source: str = "the data", text_missing: Any = None) -> Any:
    """Select and type ``data``'s columns as the model's schema says, or explain what does not fit.
    A missing value in a text column becomes ``text_missing`` (see ``Model.text_missing``)."""
    if schema is None:
        return data
    if schema.kind == "tensor":
        return _tensor(data, schema, source)
    if isinstance(data, dict) and schema.kind == "array":  # an .npz file's arrays: the model takes one
        if len(data) != 1:
            raise InvalidInputError(f"{source} holds {len(data)} arrays ({', '.join(list(data)[:8])}); the model takes "
                                    f"one array of {schema.n_features} features per row: save just that one")
        data = next(iter(data.values()))
    if not hasattr(data, "columns"):
        arr = np.asarray(data)
        if arr.ndim == 1 and arr.shape[0] == schema.n_features:  # one row
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != schema.n_features:
            raise InvalidInputError(
                f"{source}: the model expects {schema.n_features} features per row, got an input of shape {arr.shape}"
            )
        return arr if schema.kind == "array" else _frame(arr, schema)
    columns = [str(c) for c in data.columns]
    if schema.kind == "array":
        names = schema.names
        if all(n in columns for n in names):
            picked = data[names]
        elif len(columns) == schema.n_features:
            picked = data
        else:
            raise InvalidInputError(
                f"{source} has {len(columns)} columns ({', '.join(columns[:8])}); the model expects "
                f"{schema.n_features} numeric features (name them {names[0]}..{names[-1]} to pick them)"
            )
        dtype = np.float64 if schema.all_numeric else object
        try:
            return picked.to_numpy(dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{source} has non-numeric values: {exc}") from exc
    refuse_missing(columns, schema, source)  # extra columns (an id, the target) are ignored, for every format
    frame = data[schema.names].copy()
    for f in schema.features:
        if f.dtype == STRING:
            frame[f.name] = as_text(frame[f.name], text_missing)
            if f.categories:
                _report_unknown(frame[f.name], f.name, f.categories, source)
        else:
            frame[f.name] = _as_number(frame[f.name], f.dtype, f.name, source)
    return frame


def refuse_missing(given: list[str], schema: InputSchema, source: str) -> None:
    """One line naming the schema's columns ``given`` lacks (and what it has instead), if any."""
    names = schema.names
    if given == names:
        return
    present = set(given)  # linear in the width, not quadratic: a model may take thousands of columns
    missing = [n for n in names if n not in present]
    if missing:
        extra = [c for c in given if c not in schema.name_set]
        hint = f"; unexpected column(s) {', '.join(extra[:8])}" if extra else ""
        raise InvalidInputError(
            f"{source}: missing column(s) {', '.join(missing)}{hint}; the model expects {', '.join(schema.names)}"
        )


class TypedColumns(dict):
    """Columns typed by ``schema`` (what :func:`conform_columns` returns): a model given them again
    does not type them again, so a batch typed before it is scored is typed once, not twice."""

    __slots__ = ("schema", "complete")

    def __init__(self, columns: dict[str, np.ndarray], schema: InputSchema, complete: bool = False) -> None:
        super().__init__(columns)
        self.schema = schema
        self.complete = complete  # known to hold no missing value (else: not known either way)


def conform_columns(columns: Any, schema: InputSchema, source: str = "the data") -> TypedColumns:
    """:func:`conform` for columns by name (what ``serve`` builds from a request) and a table schema,
    in numpy alone: the same checks, types and warnings, without building a DataFrame, whose cost
    (a millisecond a request) was most of a one-row prediction's."""
    if type(columns) is TypedColumns and columns.schema is schema:
        return columns
    refuse_missing([str(c) for c in columns], schema, source)
    typed = {}
    for f in schema.features:
        values = np.asarray(columns[f.name], dtype=object if f.dtype == STRING else None)
        if values.ndim != 1:
            raise InvalidInputError(f"column {f.name!r} of {source} is not one value per row")
        if f.dtype == STRING:
            if all(type(v) is str for v in values):  # what serve sends: text already
                text = values
            else:
                text = np.array([None if _is_missing(v) else _text(v) for v in values], dtype=object)
            if f.categories:
                known = f.category_set
                unknown = [v for v in text if v is not None and v not in known]
                if unknown:
                    _warn_unknown(f.name, len(unknown), len(text), list(dict.fromkeys(unknown)), source)
            typed[f.name] = text
        else:
            typed[f.name] = _number_array(values, f.dtype, f.name, source)
    return TypedColumns(typed, schema)


def _is_missing(value: Any) -> bool:
    """Missing as pandas' ``notna`` sees it: None, NaN, and pandas' NA and NaT (named, not imported)."""
    return value is None or (isinstance(value, (float, np.floating)) and value != value) \
        or type(value).__name__ in ("NAType", "NaTType")


def frame_columns(data: Any, schema: InputSchema) -> dict[str, np.ndarray] | None:
    """A DataFrame's columns of ``schema`` as numpy arrays, for :func:`conform_columns` (which types them
    as :func:`conform` does, without pandas' per-column cost); None when only :func:`conform` can say
    what to do: not a DataFrame, a column missing, or a dtype numpy does not hold (nullable integers,
    categoricals, dates)."""
    if type(data).__name__ != "DataFrame" or type(data).__module__.partition(".")[0] != "pandas":
        return None
    columns = data.columns
    # The values pandas holds for a column, without building a Series around them: ``data[name]``
    # costs 10-15 µs a column (its __finalize__ alone half of that), most of a one-row prediction.
    # Read-only views, which is all typing needs. Where pandas lacks the accessor: Series, as before.
    values_of = getattr(data, "_get_column_array", None)
    picked = {}
    for name in schema.names:
        if name not in columns:
            return None
        if values_of is not None:
            position = columns.get_loc(name)
            if not isinstance(position, (int, np.integer)):  # a repeated column name
                return None
            values = values_of(int(position))
        else:
            values = data[name]
            if values.ndim != 1:  # a repeated column name
                return None
        dtype = values.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biufO":
            picked[name] = np.asarray(values)
        elif type(dtype).__name__ == "StringDtype":  # text: its missing values are NaN or NA, both seen above
            picked[name] = values.to_numpy(dtype=object)
        else:
            return None
    return picked


#: The dtype :func:`conform_columns` gives a column of each kind when none of its values is missing.
TYPED_DTYPES = {STRING: np.dtype(object), "int64": np.dtype(np.int64), "float64": np.dtype(np.float64),
                "float32": np.dtype(np.float32), "bool": np.dtype(bool)}


def _number_array(values: np.ndarray, kind: str, name: str, source: str) -> np.ndarray:
    """:func:`_as_number` on a numpy column: None is missing (NaN), as pandas reads it."""
    if values.dtype == TYPED_DTYPES.get(kind, object):
        return values  # typed already (what serve sends): nothing to check
    if values.dtype == object:
        values = np.array([np.nan if v is None else v for v in values], dtype=object)
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"column {name!r} of {source} cannot be read as {kind}: {exc}") from exc
    absent = np.isnan(numbers)
    if kind == "int64":
        fraction = ~absent & (numbers != np.floor(numbers))
        if fraction.any():
            raise InvalidInputError(f"column {name!r} of {source} holds {float(numbers[fraction][0]):g}, not a whole "
                                    "number, where the model takes integers")
        _refuse_beyond_int64(numbers[~absent], name, source)
        return numbers if absent.any() else numbers.astype(np.int64)
    if kind == "bool":
        return numbers if absent.any() else numbers.astype(bool)
    return numbers.astype(np.float32) if kind == "float32" else numbers


def _refuse_beyond_int64(numbers: np.ndarray, name: str, source: str) -> None:
    """A whole number too big for the model's 64-bit integers is refused: a cast would wrap it silently."""
    beyond = np.abs(numbers) >= 2.0**63
    if beyond.any():
        raise InvalidInputError(f"column {name!r} of {source} holds {float(numbers[beyond][0]):g}, outside the 64-bit "
                                "integer range the model takes")


def _as_number(column: Any, kind: str, name: str, source: str) -> Any:
    """A numeric feature in the model's type. Whole numbers for an integer feature (7.5 is refused,
    never truncated); a missing value stays NaN (the column becomes float64) and the model decides."""
    try:
        values = column.astype(np.float64) if kind != "bool" else column
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"column {name!r} of {source} cannot be read as {kind}: {exc}") from exc
    if kind == "int64":
        fraction = values.notna() & (values != np.floor(values))
        if fraction.any():
            raise InvalidInputError(f"column {name!r} of {source} holds {float(values[fraction].iloc[0]):g}, not a whole "
                                    "number, where the model takes integers")
        _refuse_beyond_int64(values.dropna().to_numpy(), name, source)
        return values if values.isna().any() else values.astype(np.int64)
    if kind == "bool":
        return values.astype(np.float64) if values.isna().any() else values.astype(bool)
    return values.astype(np.float32) if kind == "float32" else values


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return str(int(value))  # 501 read as a number, or as 501.0 beside a missing value
    return str(value)


def as_text(column: Any, missing: Any = None) -> Any:
    """A string feature as Python strings, missing values as ``missing``: what the model learned
    them as (NaN where pandas read them, for a scikit-learn model; see ``Model.text_missing``).

    Numbers in it (a reader or a caller that guessed) become their text: 501 and 501.0 become "501".
    """
    import pandas as pd

    if not pd.api.types.is_string_dtype(column):  # on a Series, pandas looks at the values
        column = column.map(_text, na_action="ignore")
    return column.astype(object).where(column.notna(), missing)


def _report_unknown(column: Any, name: str, categories: tuple[Any, ...], source: str) -> None:
    unknown = column.notna() & ~column.isin(categories)
    count = int(unknown.sum())
    if count:
        _warn_unknown(name, count, len(column), list(column[unknown].unique()), source)


def _warn_unknown(name: str, count: int, rows: int, values: list[Any], source: str) -> None:
    import warnings

    examples = ", ".join(repr(v) for v in values[:3])
    warnings.warn(
        f"column {name!r} of {source}: {count} of {rows} rows hold categories the model never saw "
        f"({examples}); they are scored as the model scores unknown values (if a reader turned codes like "
        f"'007' into numbers, read {name!r} as text, e.g. pandas dtype={{{name!r}: str}})",
        UnknownCategoryWarning, stacklevel=4,
    )


def _frame(arr: np.ndarray, schema: InputSchema) -> Any:
    import pandas as pd

    return conform(pd.DataFrame(arr, columns=schema.names), schema)


def _tensor(data: Any, schema: InputSchema, source: str) -> Any:
    """Examples of the recorded shape (one without its batch axis is taken as a batch of one)."""
    shape = schema.shape or ()
    wanted = "[N, " + ", ".join(map(str, shape)) + "]"
    if hasattr(data, "columns"):
        raise InvalidInputError(f"{source}: the model takes tensors of shape {wanted}, which a table cannot hold; "
                                "pass a NumPy array (.npy), or a folder of images for a model saved with preprocess=")
    try:
        arr = np.asarray(data, dtype=numpy_dtype(schema.features[0].dtype))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{source} cannot be read as numbers: {exc}") from exc
    if arr.shape == shape:
        arr = arr[np.newaxis]
    if arr.shape[1:] != shape:
        raise InvalidInputError(f"{source}: the model takes tensors of shape {wanted}, got {list(arr.shape)}")
    return arr


def synthesize(schema: InputSchema, n: int = 100, seed: int = 0) -> Any:
    """Rows drawn from the schema alone, for checks when no data and no sample rows exist."""
    rng = np.random.default_rng(seed)
    if schema.kind == "tensor":
        return rng.normal(size=(n, *(schema.shape or ()))).astype(numpy_dtype(schema.features[0].dtype))
    columns: dict[str, Any] = {}
    for f in schema.features:
        if f.dtype == STRING:
            choices = list(f.categories) if f.categories else ["a", "b", "c"]
            columns[f.name] = np.array(rng.choice(choices, n), dtype=object)
        elif f.dtype == "int64":
            columns[f.name] = rng.integers(0, 10, n)
        elif f.dtype == "bool":
            columns[f.name] = rng.integers(0, 2, n).astype(bool)
        else:
            columns[f.name] = rng.normal(size=n)
    if schema.kind == "array":
        return np.column_stack([columns[f.name] for f in schema.features]).astype(
            np.float64 if schema.all_numeric else object
        )
    import pandas as pd

    return pd.DataFrame(columns)
