"""What is in a model file, read without running any of its code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .metadata import Metadata, read_sidecar, sha256_of
from .registry import candidates_for_load
from .safety import untrusted_globals


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

    @property
    def model_type(self) -> str:
        if self.metadata is not None:
            return self.metadata.model_type
        return self.globals[0] if self.globals else "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "size": self.size,
            "sha256": self.sha256,
            "model_type": self.model_type,
            "metadata_source": self.metadata_source,
            "metadata": self.metadata.to_dict() if self.metadata else None,
            "untrusted_globals": self.untrusted,
        }


def describe(path: str | os.PathLike[str], format: str | None = None) -> FileInfo:
    """Format, model type, schema, classes, versions, size and sha256 of a model file.

    Nothing in the file is executed: pickles are read opcode by opcode, XML without
    entity expansion, ONNX as protobuf.
    """
    path = Path(path)
    fmt = candidates_for_load(path, format)[0]
    metadata, source = read_sidecar(path), "sidecar"
    if metadata is None:
        metadata, source = fmt.read_metadata(path), "inside"
    if metadata is None:
        source = "none"
    globals_ = fmt.list_globals(path)
    untrusted = untrusted_globals(globals_)
    return FileInfo(path, fmt.name, path.stat().st_size, sha256_of(path), metadata, source, globals_, untrusted)
