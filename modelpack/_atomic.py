"""Atomic, no-clobber writes: a crash mid-save never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import FileExistsModelpackError


def refuse_overwrite(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise FileExistsModelpackError(
            f"{path} already exists; pass overwrite=True (CLI: --force) to replace it"
        )


@contextlib.contextmanager
def atomic_paths(*paths: Path, overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``paths``; on success rename each onto its target.

    The first path is the file the caller asked for and is never replaced unless
    ``overwrite``; the others are its companions (a sidecar) and go with it.

    The temporaries live in the target's folder so the final ``os.replace`` is a rename
    on one file system, which POSIX and Windows make atomic. On any exception,
    KeyboardInterrupt included, the temporaries are removed and the targets are untouched.
    """
    refuse_overwrite(paths[0], overwrite)
    temps: list[Path] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent
            )
            os.close(fd)
            temps.append(Path(name))
        yield temps
        refuse_overwrite(paths[0], overwrite)  # it may have appeared meanwhile
        for temp, path in zip(temps, paths):
            os.replace(temp, path)
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
