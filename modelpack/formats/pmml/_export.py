"""Writing PMML with sklearn2pmml: the pipeline wrapped for the user, Java's failure in one line."""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any

from ...errors import ConversionError, UnsupportedModelError, first_line, spelled
from ...metadata import Metadata, sample_rows
from ._java import find_java
from ._xml import insert_extension

#: Rows embedded as ModelVerification, which JPMML checks itself (``modelpack verify`` runs it).
VERIFICATION_ROWS = 20
_JAVA_EXCEPTION = re.compile(r"^\s*(?:Caused by: )?([\w.$]+(?:Exception|Error)): (.+)$", re.MULTILINE)


def write(model: Any, path: Path, metadata: Metadata, *, sample: Any, target: str) -> Metadata:
    from sklearn2pmml import make_pmml_pipeline, sklearn2pmml

    schema = metadata.input_schema
    if schema is None:
        raise UnsupportedModelError(
            f"cannot name the PMML fields of {metadata.model_type}: pass {spelled('sample=X', '--data FILE')} "
            "(a few training rows)"
        )
    if metadata.task == "transformer":
        raise UnsupportedModelError(
            f"PMML cannot hold a bare transformer ({metadata.model_type.rsplit('.', 1)[-1]}): it needs a model "
            "at the end of the pipeline; save it as joblib, skops or ONNX instead"
        )
    pipeline = make_pmml_pipeline(model, active_fields=schema.names, target_fields=[target])
    if sample is not None and metadata.task != "clusterer":
        rows = sample_rows(sample, VERIFICATION_ROWS)
        if not hasattr(rows, "columns"):
            import pandas as pd

            rows = pd.DataFrame(rows, columns=schema.names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.verify(rows)
    java = find_java()
    captured = io.StringIO()
    # sklearn2pmml prints Java's output (and a banner) to stdout: keep it for the error message.
    os.environ.setdefault("SKLEARN2PMML_BANNER", _dt.date.today().isoformat())
    try:
        with contextlib.redirect_stdout(captured), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sklearn2pmml(pipeline, str(path), java_home=str(java.home))
    except Exception as exc:
        raise _translate(captured.getvalue(), exc, model) from exc
    extra = {**metadata.extra, "pmml_target": target, "java": java.version}
    metadata = metadata.replace(extra=extra)
    path.write_bytes(insert_extension(path.read_bytes(), metadata.to_json()))
    return metadata


def _translate(java_output: str, exc: Exception, model: Any) -> Exception:
    """The Java stack trace, as one line: which part is unsupported, or what failed."""
    match = _JAVA_EXCEPTION.search(java_output)
    if match is None:
        return ConversionError(f"sklearn2pmml could not convert {type(model).__name__}: {first_line(exc)}")
    message = match.group(2).strip()
    message = re.sub(r"\(Python class ([\w.]+)\)", lambda m: m.group(1).rsplit(".", 1)[-1], message)
    if "not supported" in message or "not a supported" in message:
        return UnsupportedModelError(
            f"sklearn2pmml cannot convert {type(model).__name__}: {message}; "
            "save it as joblib, skops or ONNX instead, or replace that step"
        )
    return ConversionError(f"sklearn2pmml could not convert {type(model).__name__}: {message[:300]}")
