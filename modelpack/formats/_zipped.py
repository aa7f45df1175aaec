"""Formats that are zips (skops, Keras, H2O MOJOs) and keep modelpack's metadata in a member."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import CorruptFileError, ResourceLimitError
from ..metadata import Metadata
from ..safety import human
from ..safety._limits import MAX_MEMBER, Budget


def read_member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """A member read whole, refused past MAX_MEMBER whatever its header claims: a bomb costs nothing."""
    with zf.open(name) as fh:
        data = fh.read(MAX_MEMBER + 1)
    if len(data) > MAX_MEMBER:
        raise ResourceLimitError(f"{path.name}: its {name} member is over {human(MAX_MEMBER)}; the member "
                                 "modelpack reads there is a few kilobytes, so this file is not one it wrote")
    return data


def metadata_member(path: Path, member: str, kind: str) -> Metadata | None:
    """The metadata modelpack wrote into the zip at ``member``, or None when there is none."""
    try:
        with zipfile.ZipFile(path) as zf:
            if member not in zf.namelist():
                return None
            return Metadata.from_json(read_member(zf, member, path))
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path.name} is not a valid {kind} (a zip): {exc}") from exc


def charge_members(path: Path, max_memory: int | str | None, kind: str) -> None:
    """Charge every member's declared size to the file's budget (``max_memory``, by default 100 times
    the file's size) before the format's library reads or extracts any: Python's zipfile and torch's
    reader never inflate a member past its declared size, and H2O's genmodel reads a member into an
    array of its declared size, so a bomb is refused for what it claims.
    Keras 3.11 reads its weights member into memory and extracts every member to a temporary folder
    without a limit (3.15 refuses bombs itself)."""
    budget = Budget.for_file(path.name, path.stat().st_size, max_memory)
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                budget.charge(info.file_size, f"zip member {info.filename}")
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path.name} is not a valid {kind} (a zip): {exc}") from exc
