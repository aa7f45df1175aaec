"""An ONNX file's external data: weights it says are in other files, read by onnxruntime at load.

A tensor's ``location`` is a path that onnxruntime opens and reads ``length`` bytes of, from
``offset``, into the model's weights, which a graph can return as they are. Before onnxruntime 1.24 it
opened any path, ``../../etc/passwd`` or a symlink to it; and a sparse tensor located at its tag
``*/_ORT_MEM_ADDR_/*`` was read from the memory address its offset names, in its own process. So
modelpack checks every location before onnxruntime sees the file, whichever version is installed: a
relative path to a regular file in the model's folder (or in the folder of the file the model's path
is a link to, where caches keep weights), and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ...errors import CorruptFileError, ModelpackError, UntrustedContentError
from ._proto import ExternalTensor, external_tensors

#: onnxruntime's location for data at a memory address (``offset``), not in a file.
ORT_MEMORY_TAG = "*/_ORT_MEM_ADDR_/*"


def check_external_data(path: Path) -> None:
    """Raise the first reason not to load the file at ``path`` for its external data: a tensor that
    reads from outside its folder, from memory, or from a file that is not there."""
    data_files(path)


def data_files(path: Path) -> list[str]:
    """The locations the file at ``path`` reads external data from, once each, in order, once every one
    has been checked as :func:`check_external_data` checks them (raising the first reason not to read)."""
    tensors = external_tensors(path)
    for problem in problems(path, tensors):
        raise problem
    return list(dict.fromkeys(value for tensor in tensors for key, value in tensor.entries if key == "location"))


def problems(path: Path, tensors: list[ExternalTensor]) -> Iterator[ModelpackError]:
    """Why each of ``tensors`` (the file's, at ``path``) may not be loaded, as the error to raise."""
    if not tensors:  # nearly every file: no folder to resolve
        return
    folders = (Path(os.path.realpath(path.parent)), Path(os.path.realpath(path)).parent)
    for tensor in tensors:
        name = repr(tensor.name) if tensor.name else "without a name"
        for location in (value for key, value in tensor.entries if key == "location"):
            why = _refused(location, path.parent, folders)
            if why:
                yield UntrustedContentError(
                    f"{path.name}: tensor {name} reads its data from {location!r}, {why}; modelpack reads a model's "
                    "external data only from files in the model's own folder, named by a relative path")
                continue
            target = os.path.join(path.parent, location)
            if not os.path.isfile(target):
                yield CorruptFileError(f"{path.name}: tensor {name} reads its data from {location!r}, which is not "
                                       f"in {path.parent}; copy that file beside the model")
                continue
            span = _span(path, name, tensor.entries, os.path.getsize(target), location)
            if span is not None:
                yield span


def _refused(location: str, parent: Path, folders: tuple[Path, ...]) -> str | None:
    """Why ``location`` may not be read, or None."""
    if location == ORT_MEMORY_TAG or "_ORT_MEM_ADDR_" in location:
        return "onnxruntime's tag for data at a memory address"
    if not location or "\x00" in location:
        return "which is no file name"
    parts = location.replace("\\", "/").split("/")
    if os.path.isabs(location) or location.startswith(("/", "\\")) or (len(parts[0]) == 2 and parts[0][1] == ":"):
        return "an absolute path"
    if ".." in parts:
        return "a path through a parent folder"
    resolved = Path(os.path.realpath(os.path.join(parent, location)))
    if not any(resolved == folder or folder in resolved.parents for folder in folders):
        return f"a link to {resolved}, outside the model's folder"
    return None


def _span(path: Path, name: str, entries: tuple[tuple[str, str], ...], size: int, location: str) -> CorruptFileError | None:
    """What is wrong with ``offset`` and ``length``, if they are not whole numbers within the data file."""
    numbers = {}
    for key, value in entries:
        if key in ("offset", "length"):
            numbers[key] = int(value) if value.isascii() and value.isdigit() else -1
            if numbers[key] < 0:
                return CorruptFileError(f"{path.name}: tensor {name} gives its data's {key} as {value!r}, not a "
                                        "whole number of bytes; the file is damaged, export the model again")
    offset, length = numbers.get("offset", 0), numbers.get("length", 0)
    if offset + length > size:
        return CorruptFileError(f"{path.name}: tensor {name} reads bytes {offset} to {offset + length} of "
                                f"{location!r}, which holds {size}; the data file is not the one exported with the model")
    return None
