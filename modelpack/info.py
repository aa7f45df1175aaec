"""What is in a model file, read without running any of its code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._tree import stub_tree
from .errors import CorruptFileError
from .metadata import Metadata, read_sidecar, sha256_of
from .registry import NotThisFormat, candidates_for_load


@dataclass(frozen=True)
class FileInfo:
    path: Path
    format: str
    size: int
    sha256: str
    metadata: Metadata | None
    metadata_source: str  # "inside", "sidecar" or "none"
    globals: list[str] = field(default_factory=list)
    untrusted: list[str] = field(default_factory=list)
    audited: bool = True  # False: the pickle could not be read to its end (see ``untrusted``)
    recorded_versions: dict[str, str] = field(default_factory=dict)
    model_class: str | None = None
    #: what the file says about itself in its format's terms (producer, inputs, outputs, ...)
    details: dict[str, Any] = field(default_factory=dict)
    #: a pickled or skops-saved model's estimators, as the file records them
    tree: dict[str, Any] | None = None

    @property
    def model_type(self) -> str:
        if self.metadata is not None:
            return self.metadata.model_type
        if self.model_class or self.globals:
            return self.model_class or self.globals[0]
        if self.tree is not None:
            return str(self.tree["class"])
        if self.details.get("model_element"):
            return f"PMML {self.details['model_element']} ({self.details.get('function') or 'no function'})"
        if self.details.get("model_type"):  # formats that name it themselves (an H2O MOJO's algorithm)
            return str(self.details["model_type"])
        if "opsets" in self.details:
            return f"ONNX graph from {self.details.get('producer') or 'an unknown producer'}"
        return "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "size": self.size,
            "sha256": self.sha256,
            "model_type": self.model_type,
            "metadata_source": self.metadata_source,
            "metadata": self.metadata.to_dict() if self.metadata else None,
            "globals": self.globals,
            "untrusted_globals": self.untrusted,
            "fully_read": self.audited,
            "recorded_versions": self.recorded_versions,
            "details": self.details,
            "estimators": self.tree,
        }


def describe(path: str | os.PathLike[str], format: str | None = None) -> FileInfo:
    """Format, model type, schema, classes, versions, size and sha256 of a model file.

    Nothing in the file is executed or imported: pickles run on modelpack's own pickle
    machine with every global replaced by an inert stub (the same machine ``load`` uses, so
    what it reports is what ``load`` would refuse), XML is read without entity expansion,
    ONNX as protobuf.
    """
    path = Path(path)
    candidates = candidates_for_load(path, format)
    for fmt in candidates:  # a joblib file named .sav or .pkl sniffs as pickle; joblib's reader takes it
        try:
            audit = fmt.audit(path)
            break
        except NotThisFormat:
            continue
    else:
        raise CorruptFileError(f"{path} could not be read as {', '.join(f.name for f in candidates)}")
    sha256 = sha256_of(path)
    metadata, source = read_sidecar(path, sha256), "sidecar"
    if metadata is None:
        metadata, source = fmt.read_metadata(path), "inside"
    if metadata is None:
        source = "none"
    extra: dict[str, Any] = {"details": fmt.describe(path) or {}}
    if audit is not None:
        extra |= {"globals": audit.globals, "untrusted": audit.refused, "audited": audit.complete,
                  "recorded_versions": audit.versions, "model_class": audit.model_class,
                  "tree": stub_tree(audit.root)}
    tree = extra["details"].pop("estimators", None)
    if tree is not None:
        extra["tree"] = tree
    return FileInfo(path, fmt.name, path.stat().st_size, sha256, metadata, source, **extra)
