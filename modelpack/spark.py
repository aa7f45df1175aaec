"""Scoring on Spark: a pandas UDF around a model file, loaded safely once per Python worker.

    from modelpack.spark import predict_udf
    udf = predict_udf(spark, "churn.onnx", proba=True)
    scored = df.withColumn("score", udf(*feature_columns))     # or udf(struct(*columns))

The file's bytes travel to the executors as a broadcast variable; each Python worker writes
them to a private temporary folder, loads them through modelpack's loader (with the trust
decision made here, on the driver), re-runs the sample rows recorded in the file, and then
scores the Arrow batches Spark hands it through the same typed-input contract as
``modelpack predict``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._shipped import ShippedModel
from .errors import InvalidInputError, MissingDependencyError, ModelpackError, first_line

# pyspark 4.0 warns on every call that it does not "fully support" pandas 3; the UDFs here pass
# Arrow batches through pandas' basic types only, which the suite checks against local predict.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

_SPARK_TYPES = {"string": "StringType", "int64": "LongType", "float64": "DoubleType", "bool": "BooleanType"}


def _require_pyspark() -> Any:
    try:
        import pyspark.sql.functions as functions
    except ImportError as exc:
        raise MissingDependencyError("scoring on Spark needs pyspark; run: pip install 'modelpack-ml[spark]'") from exc
    return functions


def output_type(shipped: ShippedModel, proba: bool) -> Any:
    """The UDF's return type: the prediction's type, or a struct with one field per output column."""
    from pyspark.sql import types

    columns = shipped.output_columns(proba)
    if len(columns) == 1:
        return getattr(types, _SPARK_TYPES[columns[0][1]])()
    return types.StructType([types.StructField(name, getattr(types, _SPARK_TYPES[kind])()) for name, kind in columns])


def predict_udf(spark: Any, path: str | os.PathLike[str], *, proba: bool = False,
                trust: bool | list[str] = False, max_memory: int | str | None = None) -> Any:
    """A pandas UDF scoring rows with the model in ``path``.

    Call it with the model's feature columns in the model's order (``udf(*columns)``), or with
    one struct of named columns (``udf(struct(*df.columns))``: picked by name, extra ones
    ignored). It returns the prediction, or with ``proba`` a struct of ``prediction`` and one
    ``proba_<class>`` field per class.
    """
    functions = _require_pyspark()
    import pandas as pd

    shipped = ShippedModel(path, trust=trust, max_memory=max_memory)
    broadcast = spark.sparkContext.broadcast(shipped)
    names = shipped.metadata.input_schema.names if shipped.metadata.input_schema is not None else None
    single = len(shipped.output_columns(proba)) == 1

    def score(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[Any]:
        model = broadcast.value
        for columns in batches:
            frame = _frame(columns, names)
            out = model.score(frame, proba)
            yield out["prediction"] if single else out

    score.__annotations__ = {"batches": Iterator[tuple[pd.Series, ...]], "return": Iterator[pd.Series]
                             if single else Iterator[pd.DataFrame]}
    return functions.pandas_udf(score, output_type(shipped, proba))


def _frame(columns: Any, names: list[str] | None) -> Any:
    """A batch as Spark hands it (a tuple of Series; with one argument, that Series or a
    struct's DataFrame alone) as a DataFrame with the model's column names."""
    import pandas as pd

    if isinstance(columns, pd.DataFrame):  # udf(struct(...)): named fields
        return columns
    if isinstance(columns, pd.Series):
        columns = (columns,)
    if len(columns) == 1 and isinstance(columns[0], pd.DataFrame):
        return columns[0]
    if names is None or len(columns) != len(names):
        expected = f"{len(names)} ({', '.join(names)})" if names else "a struct of named columns"
        raise InvalidInputError(f"the UDF was called with {len(columns)} columns; the model takes {expected}")
    return pd.concat(list(columns), axis=1, keys=names)


def predict_files(model_path: str | os.PathLike[str], data: str, output: str | os.PathLike[str], *,
                  proba: bool = False, trust: bool | list[str] = False, master: str | None = None,
                  overwrite: bool = False, max_memory: int | str | None = None, log_level: str = "OFF") -> int:
    """``modelpack predict --engine spark``: Parquet/CSV files in, a folder of Parquet files out.

    Spark's own log lines (start-up warnings, an executor's copy of a worker's traceback) are
    off by default: a failure reaches the caller as one :class:`ModelpackError` line.

    The output is written to a temporary folder beside ``output`` and renamed into place when
    the job succeeds: a failed job leaves nothing under ``output``.
    """
    _require_pyspark()
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException, PythonException
    from pyspark.sql import SparkSession

    from ._atomic import atomic_folder
    from .batch import parquet_rows

    builder = SparkSession.builder.appName("modelpack predict").config("spark.log.level", log_level)
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    try:
        reader = spark.read.option("header", True).option("inferSchema", False)
        frame = reader.csv(data) if data.endswith(".csv") else spark.read.parquet(data)
        udf = predict_udf(spark, model_path, proba=proba, trust=trust, max_memory=max_memory)
        scored = frame.select("*", udf(_struct(frame)).alias("modelpack"))
        scored = scored.select("*", "modelpack.*").drop("modelpack") if proba else \
            scored.withColumnRenamed("modelpack", "prediction")
        with atomic_folder(Path(output), overwrite=overwrite) as temp:
            scored.write.parquet(str(temp))
        return parquet_rows(Path(output))
    except PythonException as exc:  # a worker's one-line ModelpackError, under Spark's traceback
        raise _worker_error(exc) from exc
    except (PySparkException, Py4JError) as exc:  # a missing input, an unreachable master
        raise ModelpackError(f"the Spark job failed: {first_line(exc)}") from exc
    finally:
        if master:
            spark.stop()


def _struct(frame: Any) -> Any:
    import pyspark.sql.functions as functions

    return functions.struct(*[functions.col(f"`{c}`") for c in frame.columns])


def _worker_error(exc: Exception) -> ModelpackError:
    lines = [line for line in str(exc).splitlines() if "Error: " in line]
    last = lines[-1].split("Error: ", 1)[-1] if lines else first_line(exc)
    return ModelpackError(f"a Spark worker failed: {last.strip()}")
