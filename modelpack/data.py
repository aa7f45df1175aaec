"""Reading the data models are checked and scored on: CSV, Parquet, JSON lines, .npy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError
from .metadata import STRING, InputSchema

READERS = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".npy")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InvalidInputError(
            f"cannot read {path.name}: use a data file ending in {', '.join(READERS)}"
        )
    return {".tsv": ".csv", ".pq": ".parquet", ".ndjson": ".jsonl", ".json": ".jsonl"}.get(suffix, suffix)


def iter_batches(path: str | Path, batch_size: int = 10_000) -> Iterator[Any]:
    """Yield the file's rows in batches (DataFrames, or arrays for .npy), in constant memory."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such data file")
    kind = _kind(path)
    if kind == ".npy":
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        for start in range(0, len(arr), batch_size):
            yield np.asarray(arr[start : start + batch_size])
        return
    import pandas as pd

    if kind == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise InvalidInputError("reading Parquet needs pyarrow: pip install 'modelpack[parquet]'") from exc
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            yield batch.to_pandas()
        return
    try:
        if kind == ".csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            reader = pd.read_csv(path, sep=sep, chunksize=batch_size)
        else:
            reader = pd.read_json(path, lines=True, chunksize=batch_size)
        yield from reader
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{path.name} is empty: it has no header and no rows") from exc
    except ValueError as exc:
        raise InvalidInputError(f"{path.name} cannot be parsed: {exc}") from exc


def read_data(path: str | Path, limit: int | None = None) -> Any:
    """The whole file (or its first ``limit`` rows) as one DataFrame or array."""
    batches = []
    total = 0
    for batch in iter_batches(path, batch_size=min(limit or 50_000, 50_000)):
        batches.append(batch)
        total += len(batch)
        if limit is not None and total >= limit:
            break
    if not batches or total == 0:
        raise InvalidInputError(f"{Path(path).name} has no rows")
    if isinstance(batches[0], np.ndarray):
        data = np.concatenate(batches)
    else:
        import pandas as pd

        data = pd.concat(batches, ignore_index=True)
    return data[:limit] if limit is not None else data


def conform(data: Any, schema: InputSchema | None, source: str = "the data") -> Any:
    """Select and type ``data``'s columns as the model's schema says, or explain what does not fit."""
    if schema is None:
        return data
    if not hasattr(data, "columns"):
        arr = np.asarray(data)
        if arr.ndim != 2 or arr.shape[1] != schema.n_features:
            raise InvalidInputError(
                f"{source} has shape {arr.shape}; the model expects {schema.n_features} columns"
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
    missing = [n for n in schema.names if n not in columns]
    if missing:
        raise InvalidInputError(
            f"{source} lacks column(s) {', '.join(missing)}; the model expects {', '.join(schema.names)}"
        )
    frame = data[schema.names].copy()
    for f in schema.features:
        if f.dtype == STRING:
            frame[f.name] = frame[f.name].astype(object).where(frame[f.name].notna(), None)
        else:
            try:
                frame[f.name] = frame[f.name].astype(np.float64 if frame[f.name].isna().any() or f.dtype.startswith("float") else f.dtype)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"column {f.name!r} of {source} is not {f.dtype}: {exc}") from exc
    return frame


def _frame(arr: np.ndarray, schema: InputSchema) -> Any:
    import pandas as pd

    return conform(pd.DataFrame(arr, columns=schema.names), schema)


def synthesize(schema: InputSchema, n: int = 100, seed: int = 0) -> Any:
    """Rows drawn from the schema alone, for checks when no data and no sample rows exist."""
    rng = np.random.default_rng(seed)
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
