"""The format registry: built-ins and plugins found the same way, through entry points.

A format is a :class:`Format` subclass registered in the ``modelpack.formats`` entry-point
group. modelpack's own formats are registered in its ``pyproject.toml`` exactly like a
third party's would be, and each is imported only when first needed.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import (
    CorruptFileError,
    MissingDependencyError,
    ModelFileNotFoundError,
    UnknownFormatError,
    UnknownOptionError,
    a_or_an,
    spelled,
)

if TYPE_CHECKING:
    from .metadata import Metadata
    from .model import Model

ENTRY_POINT_GROUP = "modelpack.formats"
HEAD_BYTES = 4096


class Format(ABC):
    """What a model format implements. Subclass it and register the class as an entry point.

    Class attributes describe the format without importing anything heavy; ``save``,
    ``load`` and ``read_metadata`` import their libraries when called.
    """

    #: Short name, used for ``format=`` and ``--to``.
    name: ClassVar[str]
    #: File extensions, with the dot, most usual first.
    extensions: ClassVar[tuple[str, ...]]
    #: The pip extra that installs what this format needs (``pip install modelpack-ml[extra]``).
    requires: ClassVar[str | None] = None
    #: Importable module names the format needs; all must be installed for it to be usable.
    dependencies: ClassVar[tuple[str, ...]] = ()
    #: True when the file holds the Python object itself, so it can be converted to any format.
    holds_python_object: ClassVar[bool] = False
    #: What the format writes from: fitted scikit-learn-style estimators, Keras networks, or both.
    writes: ClassVar[frozenset[str]] = frozenset({"estimators"})
    #: Detection order when content is sniffed: lower goes first (specific before generic).
    sniff_priority: ClassVar[int] = 50
    #: The options ``save`` takes, which ``modelpack.save`` checks before it computes anything or
    #: looks at the target; None: ``save`` checks its own.
    save_options: ClassVar[tuple[str, ...] | None] = None

    @abstractmethod
    def sniff(self, head: bytes) -> bool:
        """Whether the first bytes of a file look like this format."""

    @abstractmethod
    def save(self, model: Any, path: Path, metadata: Metadata, **options: Any) -> Metadata:
        """Write ``model`` to ``path`` (a fresh temporary file) and return the metadata recorded.

        ``options`` always holds ``sample`` (the rows the caller passed, or None) beside the
        user's format options; formats that do not need it ignore it.
        """

    @abstractmethod
    def load(self, path: Path, metadata: Metadata | None, **options: Any) -> Model:
        """Read ``path`` into a :class:`~modelpack.Model`."""

    def load_bytes(self, data: bytes, path: Path, metadata: Metadata | None, **options: Any) -> Model:
        """``load`` from the file's bytes, which ``modelpack.load`` has already read whole to check them
        against the sidecar's sha256: reading them once is faster, and the bytes checked are the bytes
        loaded. ``path`` names the file. This default reads ``path`` again."""
        return self.load(path, metadata, **options)

    def read_metadata(self, path: Path) -> Metadata | None:
        """The metadata stored inside the file, read without running any of its code."""
        return None

    def companion_files(self, path: Path) -> list[str]:
        """The other files that loading ``path`` reads (an ONNX file's external data), as paths
        relative to its folder, each already checked as ``load`` checks it: Spark and Dask send them
        to their workers with the model."""
        return []

    def describe(self, path: Path) -> dict[str, Any] | None:
        """What the file says about itself in the format's own terms (producer, inputs, outputs,
        embedded verification data), read without running it; for ``modelpack info``."""
        return None

    def audit(self, path: Path, max_memory: int | str | None = None) -> Any:
        """For formats that hold code references (pickles): a :class:`modelpack.safety.Audit` of
        what loading would import and refuse, made without importing or running any of it."""
        return None

    def cooperative_options(self, *, one_thread: bool) -> dict[str, Any]:
        """Options for ``load`` when the model shares the cores with other busy work: with
        ``one_thread``, it computes on one thread (``serve``'s worker processes); without, it
        may use several but must not hog idle cores (``predict``'s reader thread)."""
        return {}

    def environment_notes(self) -> str:
        """One line about the runtime this format found here (e.g. which Java), for ``modelpack formats``."""
        return ""

    def stores_metadata_inside(self) -> bool:
        """Whether ``save`` puts the metadata inside the file (else a sidecar is written)."""
        return type(self).read_metadata is not Format.read_metadata

    def reject_options(self, options: dict[str, Any], accepted: tuple[str, ...] = ()) -> None:
        """Raise for options this format does not take (``sample`` is always accepted)."""
        unknown = sorted(set(options) - {"sample", *accepted})
        if unknown:
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
            raise UnknownOptionError(f"the {self.name} format has no option {', '.join(unknown)}; {takes}")

    def missing_dependencies(self) -> list[str]:
        return [m for m in self.dependencies if importlib.util.find_spec(m) is None]

    def ensure_available(self) -> None:
        missing = self.missing_dependencies()
        if missing:
            hint = f"pip install 'modelpack-ml[{self.requires}]'" if self.requires else f"pip install {' '.join(missing)}"
            raise MissingDependencyError(
                f"the {self.name} format needs {', '.join(missing)}, which is not installed; run: {hint}"
            )


class NotThisFormat(Exception):
    """Raised by a format's ``load`` when the file turns out to be another format's; the next candidate is tried."""


@cache
def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points  # 20 ms to import: only when formats are needed

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@cache
def get_format(name: str) -> Format:
    """The format called ``name``; raises :class:`UnknownFormatError` listing the choices."""
    eps = _entry_points()
    if name not in eps:
        raise UnknownFormatError(f"unknown format {name!r}; pick one of {', '.join(sorted(eps))}")
    cls = eps[name].load()
    return cls()


def formats_that_write(kind: str) -> list[str]:
    """Names of the formats that write ``kind`` ("estimators" or "networks")."""
    return [f.name for f in all_formats() if kind in f.writes]


def format_names() -> list[str]:
    return sorted(_entry_points())


def all_formats() -> list[Format]:
    """Every registered format that imports; a broken plugin is skipped with a warning, not fatal."""
    found = []
    for name in format_names():
        try:
            found.append(get_format(name))
        except Exception as exc:  # an installed plugin that fails to import must not break every load
            warnings.warn(f"the {name!r} format plugin cannot be loaded and is skipped: {exc}", stacklevel=2)
    return found


def formats_for_extension(path: Path) -> list[Format]:
    name = path.name.lower()
    return [f for f in all_formats() if any(name.endswith(ext) for ext in f.extensions)]


def format_for_save(path: Path, format_name: str | None) -> Format:
    if format_name:
        return get_format(format_name)
    candidates = formats_for_extension(path)
    if not candidates:
        raise UnknownFormatError(
            f"could not deduce a format from the extension of {path.name!r}; "
            f"pass {spelled('format=', '--to')} with one of {', '.join(format_names())}"
        )
    return candidates[0]


def read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def sniff(head: bytes) -> list[Format]:
    """The formats whose content signature matches ``head``, most specific first."""
    matches = [f for f in all_formats() if _safe_sniff(f, head)]
    return sorted(matches, key=lambda f: f.sniff_priority)


def _safe_sniff(fmt: Format, head: bytes) -> bool:
    try:
        return bool(fmt.sniff(head))
    except Exception:  # a plugin's broken sniffer must not make every load fail
        return False


def candidates_for_load(path: Path, format_name: str | None = None) -> list[Format]:
    """Formats to try for ``path``: the named one, else by content, else by extension."""
    if format_name:
        return [get_format(format_name)]
    if not path.exists():
        raise ModelFileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise CorruptFileError(f"{path} is a folder, not a model file")
    if os.path.getsize(path) == 0:
        raise CorruptFileError(f"{path} is empty; it is not a model file (was the save interrupted?)")
    by_content = sniff(read_head(path))
    by_extension = formats_for_extension(path)
    if by_content:
        # Content wins over a lying extension; among content matches prefer the extension's.
        return _unique([f for f in by_content if f in by_extension] + by_content)
    if by_extension:
        names = ", ".join(f.name for f in by_extension)
        raise CorruptFileError(
            f"{path} has {a_or_an(names)} extension but its content is not {names}; the file is corrupt or mislabelled"
        )
    raise UnknownFormatError(
        f"could not deduce the format of {path.name!r} from its extension or its content; "
        f"known formats: {', '.join(format_names())}"
    )


def _unique(formats: Iterable[Format]) -> list[Format]:
    return list(dict.fromkeys(formats))
