"""convert: write a model in another format, then prove it predicts what the original does."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .check import EquivalenceReport, check
from .core import load, save
from .data import conform, read_data, synthesize
from .errors import UnsupportedModelError, a_or_an, spelled
from .metadata import Metadata
from .model import Model
from .registry import format_for_save

PathLike = str | os.PathLike[str]
#: Rows of a --data file used for the check; enough to catch flips, small enough to be quick.
CHECK_ROWS = 10_000


@dataclass
class ConversionResult:
    path: Path
    format: str
    report: EquivalenceReport | None  # None when the check was skipped
    metadata: Metadata | None = None  # what was recorded in the written file

    @property
    def passed(self) -> bool:
        return self.report is None or self.report.passed


def check_data(model: Model, data: PathLike | Any | None, limit: int = CHECK_ROWS) -> tuple[Any, str]:
    """Rows to check ``model`` on and where they came from: the data given, else the sample
    rows recorded in its metadata, else rows synthesized from its input schema."""
    schema = model.metadata.input_schema
    if data is not None:
        if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
            from .images import iter_image_batches, preprocess_of

            batches, total = [], 0
            for pixels, _ in iter_image_batches(Path(data), preprocess_of(model.metadata), min(limit, 256)):
                batches.append(pixels)
                total += len(pixels)
                if total >= limit:  # as read_data does for tables: no image past the limit is decoded
                    break
            return np.concatenate(batches)[:limit], f"images in {Path(data).name}"
        if isinstance(data, (str, os.PathLike)):
            name = Path(data).name
            return conform(read_data(Path(data), limit, schema), schema, name, model.text_missing), f"data file {name}"
        return conform(data, schema, "the data", model.text_missing), "data passed in"
    if model.metadata.sample and schema is not None and model.metadata.sample.inputs:
        where = model.path.name if model.path else "the source"
        return model.metadata.sample.frame(schema), f"sample rows recorded in {where}"
    if schema is not None:
        return synthesize(schema), "rows synthesized from the input schema (no data and no sample rows)"
    raise UnsupportedModelError(
        f"nothing to check on: the source records no input schema; pass {spelled('data=', '--data FILE')}"
    )


def convert(
    src: PathLike,
    dst: PathLike,
    *,
    to: str | None = None,
    data: PathLike | Any | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    min_agreement: float = 1.0,
    accept_missing: Collection[str] = (),
    trust: bool | list[str] = False,
    max_memory: int | str | None = None,
    overwrite: bool = False,
    check_result: bool = True,
    **options: Any,
) -> ConversionResult:
    """Write ``src`` as ``dst`` (format from ``to`` or the extension) and check the result.

    Args:
        src: a model file in any format that can be turned into a scikit-learn estimator
            (pickle, joblib, skops; PMML for the model types sklearn-pmml-model reads).
        dst: where to write; kept unless ``overwrite``.
        data: rows to check on (a CSV/Parquet/JSON lines/.npy path, or a DataFrame/array);
            default: the sample rows recorded in ``src``, else rows synthesized from its schema.
        rtol: the check's relative tolerance (default: what the formats can hold).
        atol: the check's absolute tolerance (default: what the formats can hold).
        min_agreement: the share of equal labels required (default 1.0: all).
        accept_missing: methods of ``src`` the target format may lack (``["predict_proba"]``);
            any other method the converted model lacks fails the check.
        trust: as for :func:`modelpack.load` of ``src``.
        max_memory: as for :func:`modelpack.load` of ``src``.
        **options: the destination format's options, e.g. ``precision="double"``.

    Returns:
        A :class:`ConversionResult`; ``result.report.passed`` is the verdict. The written
        file stays in place when the check fails, so it can be inspected.
    """
    source = load(src, trust=trust, max_memory=max_memory)
    return convert_model(source, dst, to=to, data=data, rtol=rtol, atol=atol, min_agreement=min_agreement,
                         accept_missing=accept_missing, overwrite=overwrite, check_result=check_result, **options)


def convert_model(
    source: Model,
    dst: PathLike,
    *,
    to: str | None = None,
    data: PathLike | Any | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    min_agreement: float = 1.0,
    accept_missing: Collection[str] = (),
    overwrite: bool = False,
    check_result: bool = True,
    **options: Any,
) -> ConversionResult:
    """:func:`convert` for a model already loaded (``serve --runtime onnx`` converts the one it serves)."""
    dst = Path(dst)
    fmt = format_for_save(dst, to)
    fmt.ensure_available()
    refused = f"cannot convert {source.path.name if source.path else 'the model'} ({source.format}) to {fmt.name}"
    if source.convertible_to is not None and fmt.name not in source.convertible_to:
        targets = ", ".join(sorted(source.convertible_to))
        raise UnsupportedModelError(
            f"{refused}: {a_or_an(source.format)} file converts only to {targets}" if targets else
            f"{refused}: {a_or_an(source.format)} file holds no estimator another format can be written from; "
            "serve, predict and check it as it is"
        )
    try:
        source.to_sklearn()
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(
            f"{refused}: {exc}; convert from the original pickle, joblib or skops file instead"
        ) from exc
    X, origin = check_data(source, data)
    sample = X if data is not None else None  # recorded in dst, so `verify` can rerun it
    metadata = save(source, dst, format=fmt.name, sample=sample, overwrite=overwrite, **options)
    if not check_result:
        return ConversionResult(dst, fmt.name, None, metadata)
    converted = load(dst, format=fmt.name)
    report = check(source, converted, X, rtol=rtol, atol=atol, min_agreement=min_agreement, data_source=origin,
                   accept_missing=accept_missing)
    return ConversionResult(dst, fmt.name, report, metadata)
