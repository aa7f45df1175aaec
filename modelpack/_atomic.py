"""Atomic, no-clobber writes: a crash mid-save never leaves a half-written file or a mismatched pair.

A model and its sidecar are published as a pair. Under a lock on their folder, the new sidecar
first becomes a *pending* sidecar (``.NAME.<pid>-<random>.pending.modelpack.json``), then the
model is put in place, then the pending sidecar replaces the old one. A kill between the last
two steps leaves the new model beside the old sidecar and the pending one, and ``load`` takes
the pending sidecar whose checksum matches the model: after a kill at any moment, loading gives
the old model with its metadata or the new with its own. Without ``overwrite`` the model is
placed with ``link()``, which fails if the name exists, so of two concurrent saves exactly one
wins. Temporaries are created with the user's umask and carry the writer's pid, so the next
save removes those whose writer is gone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from .errors import FileExistsModelpackError, spelled

PENDING_SUFFIX = ".pending.modelpack.json"


def refuse_overwrite(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise FileExistsModelpackError(f"{path} already exists; pass {spelled('overwrite=True', '--force')} to replace it")


def _token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _create_temp(path: Path) -> Path:
    """An empty file beside ``path``, created as ``open()`` would (mode 0666 less the umask)."""
    while True:
        temp = path.with_name(f".{path.name}.{_token()}.part{path.suffix}")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temp
        except FileExistsError:
            continue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path: Path, pattern: str = ".part*") -> None:
    """Temporaries (or pending sidecars) for ``path`` left by writers that no longer run."""
    for leftover in path.parent.glob(f".{path.name}.*-*{pattern}"):
        pid = leftover.name[len(path.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def pending_sidecars(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*{PENDING_SUFFIX}"))


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: renames are still atomic one by one
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(fd)


def _place(temp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)  # fails if path exists, atomically
    except FileExistsError:
        raise FileExistsModelpackError(
            f"{path} already exists (another save got there first); pass {spelled('overwrite=True', '--force')} to replace it"
        ) from None
    except OSError:  # a file system without hard links: check, then rename
        refuse_overwrite(path, overwrite)
        os.replace(temp, path)
        return
    temp.unlink()


@contextlib.contextmanager
def atomic_paths(*paths: Path, overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``paths``; on success publish them, the first last but one.

    The first path is the file the caller asked for and is never replaced unless ``overwrite``;
    a second is its sidecar and is published with it as described in the module docstring.
    On any exception, KeyboardInterrupt included, the temporaries are removed and the targets
    are untouched.
    """
    refuse_overwrite(paths[0], overwrite)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        remove_stale(path)
    temps: list[Path] = []
    try:
        temps = [_create_temp(p) for p in paths]
        yield temps
        for temp in temps:
            _fsync(temp)
        with _folder_lock(paths[0].parent):
            _publish(temps, list(paths), overwrite)
            # A dead writer's pending sidecar may be the metadata of the model it left in place:
            # kept until this save has replaced both.
            remove_stale(paths[0], PENDING_SUFFIX)
        _fsync(paths[0].parent, directory=True)
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _publish(temps: list[Path], paths: list[Path], overwrite: bool) -> None:
    if len(paths) == 1:
        _place(temps[0], paths[0], overwrite)
        return
    model, sidecar = paths
    refuse_overwrite(model, overwrite)  # it may have appeared meanwhile
    pending = model.with_name(f".{model.name}.{_token()}{PENDING_SUFFIX}")
    os.replace(temps[1], pending)
    try:
        _place(temps[0], model, overwrite)
    except BaseException:
        pending.unlink()
        raise
    os.replace(pending, sidecar)


@contextlib.contextmanager
def atomic_folder(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """A folder of output files (a Spark or Dask job's), published whole or not at all.

    The caller writes into a temporary folder beside ``path`` (which must not exist yet: the
    engines create it); on success it is renamed to ``path``, replacing an existing folder only
    with ``overwrite``. On failure it is removed, so nothing is left under ``path``.
    """
    import shutil

    path = Path(path)
    refuse_overwrite(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{_token()}.part")
    try:
        yield temp
        with _folder_lock(path.parent):
            refuse_overwrite(path, overwrite)
            if path.exists():
                old = path.with_name(f".{path.name}.{_token()}.old")
                os.rename(path, old)
                os.rename(temp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(temp, path)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
