"""What modelpack does with a foreign file, and the rows each file is scored on.

Shared by the corpus builder (tools/foreign/build_corpus.py, which records the outcome in
the manifest) and the suite (which checks the outcome still holds, and that a scored file
scores as its own runtime does).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import modelpack
from modelpack.errors import ModelpackError

from .rows import rows_for


def rows_of(path: Path) -> Any:
    """The rows a corpus file is scored on: written beside it, or drawn from a PMML DataDictionary."""
    stem = path.name[: -len(path.suffix)]
    for suffix, read in ((".X.npy", np.load), (".rows.json", lambda p: json.loads(Path(p).read_text()))):
        beside = path.with_name(stem + suffix)
        if beside.exists():
            return read(beside)
    if path.parent.name == "pmml":
        from modelpack.formats.pmml._describe import describe_document

        return rows_for(describe_document(path))
    raise FileNotFoundError(f"no rows beside {path}")


def expected_of(path: Path) -> dict[str, Any] | None:
    """What the library that made the file predicted on its rows, where it was recorded."""
    beside = path.with_name(path.name[: -len(path.suffix)] + ".expected.json")
    return json.loads(beside.read_text()) if beside.exists() else None


def producer_of(path: Path) -> str:
    info = modelpack.describe(path)
    producer = info.details.get("producer")
    if producer:
        return str(producer)
    if info.recorded_versions.get("sklearn"):
        return f"scikit-learn {info.recorded_versions['sklearn']} ({info.format})"
    if info.details.get("skops_version"):
        return f"skops {info.details['skops_version']}"
    return "unknown"


def outcome_of(path: Path) -> dict[str, Any]:
    """``scores``, or ``refused`` with modelpack's one-line reason (without the file's name)."""
    entry: dict[str, Any] = {"producer": producer_of(path)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = modelpack.load(path)
            model.predict(rows_of(path))
    except ModelpackError as exc:
        return entry | {"expect": "refused", "reason": without_name(str(exc), path)[:100]}
    withheld = sorted(getattr(model, "withheld", {}))  # methods this library version would compute otherwise
    return entry | {"expect": "scores"} | ({"withheld": withheld} if withheld else {})


def without_name(message: str, path: Path) -> str:
    """A message with the file's path and name as FILE, so the manifest does not depend on where it lies."""
    return message.replace(str(path), "FILE").replace(path.name, "FILE")
