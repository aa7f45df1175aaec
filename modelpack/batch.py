"""Batch scoring of data files in constant memory: read a batch, predict, append, repeat."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from queue import Full, Queue
from typing import IO, Any

import numpy as np

from ._atomic import atomic_paths
from .data import conform, conform_columns, frame_columns, iter_batches, n_rows, small_numeric_csv
from .errors import InvalidInputError
from .model import Model

WRITERS = (".csv", ".parquet", ".jsonl")


def predictions_columns(model: Model, X: Any, proba: bool) -> dict[str, np.ndarray]:
    """``prediction`` and, with ``proba``, one ``proba_<class>`` column per class, as arrays by name."""
    columns: dict[str, Any] = {}
    if hasattr(model, "predict"):
        out = model.predict(X)
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
            columns["prediction"] = out.reshape(-1)
        else:  # several outputs per row (a network's logits, a multi-output regressor): one column each
            flat = out.reshape(len(out), -1)
            columns.update({f"prediction_{i}": flat[:, i] for i in range(flat.shape[1])})
    elif hasattr(model, "transform"):
        out = model.transform(X)
        columns.update({f"component_{i}": out[:, i] for i in range(out.shape[1])})
    if proba:
        if not hasattr(model, "predict_proba"):
            raise InvalidInputError("--proba needs a classifier; this model has no predict_proba")
        p = model.predict_proba(X)
        classes = list(model.classes_) if model.metadata.classes is not None else list(range(p.shape[1]))
        columns.update({f"proba_{c}": p[:, i] for i, c in enumerate(classes)})
    return columns


def predictions_frame(model: Model, X: Any, proba: bool) -> Any:
    """:func:`predictions_columns` as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(predictions_columns(model, X, proba))


def csv_text(columns: dict[str, np.ndarray], header: bool) -> str:
    """``columns`` as CSV text, exactly as ``pandas.DataFrame.to_csv(index=False)`` writes them.

    Whole numbers, booleans and plain text (no separator, quote or line break, and neither empty nor
    missing: the csv module quotes or blanks those case by case) are formatted in bulk by Arrow's
    kernels; anything else (floats among them: Python's repr decides their digits) by pandas.
    """
    names = [str(n) for n in columns]
    head = ",".join(names) + "\n" if header else ""
    plain_names = all(map(_plain, names))
    if plain_names and n_rows(columns) <= SMALL_OUTPUT:  # a few rows: Python formats them, no Arrow to import
        cells = [_python_text(values) for values in columns.values()]
        if cells and all(c is not None for c in cells):
            return head + "".join(",".join(row) + "\n" for row in zip(*cells))  # type: ignore[arg-type]
    texts = [_bulk_text(values) for values in columns.values()] if plain_names else []
    if not texts or any(t is None for t in texts):
        import pandas as pd

        return pd.DataFrame(columns).to_csv(index=False, header=header, lineterminator="\n")
    import pyarrow.compute as pc

    lines = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, ",")
    return head + "".join(line + "\n" for line in lines.to_pylist())


#: Outputs of at most this many rows are formatted in Python (see csv_text).
SMALL_OUTPUT = 1000


def _python_text(values: np.ndarray) -> list[str] | None:
    """:func:`_bulk_text`'s rules in Python, for a few values."""
    if values.ndim != 1:
        return None
    if values.dtype.kind in "iu":
        return [str(v) for v in values.tolist()]
    if values.dtype.kind == "b":
        return ["True" if v else "False" for v in values.tolist()]
    if values.dtype == object and all(type(v) is str and _plain(v) for v in values):
        return list(values)
    return None


def _bulk_text(values: np.ndarray) -> Any:
    """An Arrow string array of ``values`` as pandas writes them, or None where only pandas knows how."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if values.ndim != 1:
        return None
    if values.dtype.kind in "iu":
        return pc.cast(pa.array(values), pa.string())
    if values.dtype.kind == "b":
        return pa.array(np.where(values, "True", "False"))
    if values.dtype == object and all(type(v) is str for v in values):
        text = pa.array(values, type=pa.string())
        if len(text) and (pc.any(pc.equal(pc.utf8_length(text), 0)).as_py()
                          or pc.any(pc.match_substring_regex(text, '[,"\r\n]')).as_py()):
            return None
        return text
    return None


def _plain(text: str) -> bool:
    """Text the csv module writes as it is: not empty, and without separator, quote or line break."""
    return bool(text) and not any(c in text for c in ',"\r\n')


class _Sink:
    """Appends prediction frames to a CSV, JSON lines or Parquet file (or a text stream)."""

    def __init__(self, kind: str, target: Path | IO[str]) -> None:
        self.kind = kind
        self.path = target if isinstance(target, Path) else None
        self.parquet: Any = None
        self.text: IO[str] | None = None
        if not isinstance(target, Path):
            self.text = target
        elif kind != ".parquet":
            self.text = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.first = True

    def write(self, columns: dict[str, np.ndarray]) -> None:
        if self.kind == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({name: pa.array(values) for name, values in columns.items()})
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(str(self.path), table.schema)
            self.parquet.write_table(table)
        elif self.kind == ".jsonl":
            import pandas as pd

            text = pd.DataFrame(columns).to_json(orient="records", lines=True, force_ascii=False)
            self._text().write(text if text.endswith("\n") else text + "\n")
        else:
            self._text().write(csv_text(columns, header=self.first))
        self.first = False

    def _text(self) -> IO[str]:
        assert self.text is not None
        return self.text

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.path is not None and self.text is not None:
            self.text.close()


def predict_file(
    model: Model,
    data: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    proba: bool = False,
    batch_size: int = 10_000,
    overwrite: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Score every row of ``data`` and write the predictions to ``output`` (stdout as CSV if None).

    Memory stays flat in the number of rows: a reader thread parses at most two batches
    ahead of the one being scored. For a model loaded with ``modelpack.core.load_cooperative``
    parsing and scoring overlap on the cores. The output is written atomically and not
    overwritten unless ``overwrite``. Returns the rows scored.
    """
    if batch_size < 1:
        raise InvalidInputError("batch size must be at least 1")
    schema = model.metadata.input_schema
    source = Path(data).name
    if output is None:
        return _score(model, data, _Sink(".csv", sys.stdout), schema, source, proba, batch_size, on_batch)
    out = Path(output)
    kind = out.suffix.lower() if out.suffix.lower() in WRITERS else None
    if kind is None:
        raise InvalidInputError(f"cannot write {out.name}: use an output ending in {', '.join(WRITERS)}")
    with atomic_paths(out, overwrite=overwrite) as (temp,):
        sink = _Sink(kind, temp)
        try:
            return _score(model, data, sink, schema, source, proba, batch_size, on_batch)
        finally:
            sink.close()


def _prefetched(batches: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Read the next batches in a thread while the caller scores this one.

    Parsing (pandas' C reader) and scoring (onnxruntime) both release the GIL, so on two
    cores they overlap; at most ``depth`` batches wait, so memory stays flat.
    """
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        queue.put(batch, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    reader = threading.Thread(target=produce, daemon=True)
    reader.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _score(model: Model, data: Any, sink: _Sink, schema: Any, source: str, proba: bool, batch_size: int,
           on_batch: Callable[[int], None] | None) -> int:
    if Path(data).is_dir():
        return _score_images(model, Path(data), sink, proba, batch_size, on_batch)
    rows = 0
    # A model that takes typed columns (ONNX) gets them typed in numpy, as Model.run would type them.
    fast = model.takes_columns and schema is not None and schema.kind == "dataframe"
    small = small_numeric_csv(data, schema)  # one row to score: no pandas to import
    batches = iter([small]) if small is not None else _prefetched(iter_batches(data, batch_size, schema))
    for batch in batches:
        if n_rows(batch) == 0:
            continue
        columns = batch if isinstance(batch, dict) and schema is not None and schema.kind == "dataframe" \
            else frame_columns(batch, schema) if fast else None
        X = conform_columns(columns, schema, source) if columns is not None else conform(batch, schema, source)
        n = n_rows(X)  # the rows scored: a vector of one row's features is one row, not one per value
        sink.write(predictions_columns(model, X, proba))
        rows += n
        if on_batch is not None:
            on_batch(n)
    if rows == 0:
        raise InvalidInputError(f"{source} has no rows; nothing was written")
    return rows




def _score_images(model: Model, folder: Path, sink: _Sink, proba: bool, batch_size: int,
                  on_batch: Callable[[int], None] | None) -> int:
    """A folder of images, prepared by the model's recorded recipe: one row per image, named."""
    from .images import iter_image_batches, preprocess_of

    rows = 0
    for pixels, names in iter_image_batches(folder, preprocess_of(model.metadata), min(batch_size, 256)):
        sink.write({"file": np.asarray(names, dtype=object)} | predictions_columns(model, pixels, proba))
        rows += len(names)
        if on_batch is not None:
            on_batch(len(names))
    return rows


def parquet_rows(folder: Path) -> int:
    """Rows written under ``folder`` by an engine, from the Parquet footers (no data read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(Path(folder).rglob("*.parquet")))
