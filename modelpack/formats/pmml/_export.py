"""Writing PMML with sklearn2pmml: the pipeline wrapped for the user, Java's failure in one line."""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
import re
import types
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
    odd = _text_xml_cannot_hold(metadata.classes, schema.names, [f.categories for f in schema.features], target, model)
    if odd is not None:
        what = "a lone surrogate, as text read with surrogateescape has" if _SURROGATE.search(odd) else "a control character"
        raise UnsupportedModelError(f"PMML is XML, which cannot hold the text {odd!r} of this model (a label, name or "
                                    f"category with {what}); clean it before saving, or save as joblib or skops")
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


# What XML 1.0 cannot carry, even as a character reference: control characters but tab and line
# ends, lone surrogates, U+FFFE and U+FFFF. sklearn2pmml wrote control characters as they were (a file
# no XML parser reads) and surrogates as U+FFFD (other labels than the model's).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_xml_cannot_hold(*roots: Any) -> str | None:
    """The first text among ``roots``, and in the attributes of the objects they hold (a fitted
    pipeline's classes, categories, feature names), that XML cannot carry; None if all can."""
    import numpy as np

    stack, seen = list(roots), set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _NOT_XML.search(item):
                return item
        elif isinstance(item, (bytes, int, float, bool, type, types.ModuleType)) or item is None or id(item) in seen:
            continue
        elif isinstance(item, np.ndarray):
            seen.add(id(item))
            if item.dtype.kind in "OU":
                stack.extend(item.ravel().tolist())
        elif isinstance(item, dict):
            seen.add(id(item))
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            seen.add(id(item))
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            seen.add(id(item))
            stack.extend(vars(item).values())
    return None


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
