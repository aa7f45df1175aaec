"""Scoring on Dask: a dask DataFrame in, a dask DataFrame with the model's outputs out.

    import modelpack.dask
    scored = modelpack.dask.predict(ddf, "churn.onnx", proba=True)

The model file's bytes are scattered once to every worker of the current ``distributed``
client (without a client, Dask's local scheduler runs the tasks in this process); each
worker process loads them through modelpack's loader once, re-runs the sample rows recorded
in the file, then scores each partition through the same typed-input contract as
``modelpack predict``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ._shipped import ShippedModel
from .errors import MissingDependencyError, ModelpackError, first_line

#: Labels as pandas' string dtype, not object: Arrow (to_parquet) cannot type an empty object column.
_PANDAS_DTYPES = {"string": "string", "int64": "int64", "float64": "float64", "bool": "bool"}


def _require_dask() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise MissingDependencyError("scoring on Dask needs dask; run: pip install 'modelpack-ml[dask]'") from exc
    return dd


def predict(ddf: Any, path: str | os.PathLike[str], *, proba: bool = False, trust: bool | list[str] = False,
            max_memory: int | str | None = None, keep_columns: bool = False) -> Any:
    """The model's predictions (and with ``proba`` one ``proba_<class>`` column per class) for
    every partition of ``ddf``; with ``keep_columns`` beside the input's columns."""
    _require_dask()
    import pandas as pd

    shipped = ShippedModel(path, trust=trust, max_memory=max_memory)
    columns = shipped.output_columns(proba)
    meta = pd.DataFrame({name: pd.Series(dtype=_PANDAS_DTYPES[kind]) for name, kind in columns})
    if keep_columns:
        meta = pd.concat([ddf._meta, meta], axis=1)
    model = _scattered(shipped)
    return ddf.map_partitions(_score_partition, model, proba, keep_columns, meta=meta)


def _scattered(shipped: ShippedModel) -> Any:
    """The model on every worker of the current client (one copy each), or itself without one."""
    try:
        from distributed import get_client
    except ImportError:
        return shipped
    import dask

    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return shipped  # the caller chose a local scheduler although a client exists
    try:
        client = get_client()
    except ValueError:  # no client: the local scheduler runs the tasks in this process
        return shipped
    return client.scatter(shipped, broadcast=True, hash=False)


def _score_partition(partition: Any, shipped: ShippedModel, proba: bool, keep_columns: bool) -> Any:
    import pandas as pd

    if len(partition) == 0:
        out = pd.DataFrame({name: pd.Series(dtype=_PANDAS_DTYPES[kind]) for name, kind in shipped.output_columns(proba)})
    else:
        out = shipped.score(partition, proba).astype({n: _PANDAS_DTYPES[k] for n, k in shipped.output_columns(proba)})
        out.index = partition.index
    return pd.concat([partition, out], axis=1) if keep_columns else out


def predict_files(model_path: str | os.PathLike[str], data: str, output: str | os.PathLike[str], *,
                  proba: bool = False, trust: bool | list[str] = False, scheduler: str | None = None,
                  workers: int = 2, overwrite: bool = False, max_memory: int | str | None = None,
                  quiet: bool = True) -> int:
    """``modelpack predict --engine dask``: Parquet/CSV files in, a folder of Parquet files out.

    Without ``scheduler``, a local cluster of ``workers`` processes; the output is written to a
    temporary folder and renamed into place when the job succeeds.
    """
    dd = _require_dask()
    from distributed import Client, LocalCluster

    from ._atomic import atomic_folder
    from .batch import parquet_rows

    # the workers' logs (a failed task's traceback) are not the CLI user's: the error reaches them in one line
    silence = logging.CRITICAL if quiet else logging.WARNING
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None, silence_logs=silence)
    try:
        with Client(scheduler or cluster):
            ddf = dd.read_csv(data, dtype=str) if data.endswith(".csv") else dd.read_parquet(data)
            scored = predict(ddf, model_path, proba=proba, trust=trust, max_memory=max_memory, keep_columns=True)
            with atomic_folder(Path(output), overwrite=overwrite) as temp:
                scored.to_parquet(str(temp), write_index=False)
        return parquet_rows(Path(output))
    except ModelpackError:
        raise
    except (OSError, TimeoutError) as exc:
        raise ModelpackError(f"the Dask job failed: {type(exc).__name__}: {first_line(exc)}") from exc
    finally:
        if cluster is not None:
            cluster.close()
