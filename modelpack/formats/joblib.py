"""joblib's pickles (plain or compressed), on modelpack's restricted pickle machine unless trusted."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metadata import Metadata
from ._object import ObjectFormat
from .pickle import is_pickle

if TYPE_CHECKING:  # the pickle machine is imported when a file is read, not to list the formats
    from ..model import SklearnModel
    from ..safety import Audit

# joblib's compressor magic numbers (joblib/compressor.py); zlib's second byte is its level flag.
_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"]\x00\x00", b"\x04\x22\x4d\x18")
_ZLIB = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


class JoblibFormat(ObjectFormat):
    name = "joblib"
    extensions = (".joblib", ".jbl")
    dependencies = ("joblib",)
    # After pickle: an uncompressed joblib file *is* a pickle, and the pickle loader hands
    # it on (NotThisFormat) when it meets joblib's array wrapper.
    sniff_priority = 61

    def sniff(self, head: bytes) -> bool:
        return head.startswith(_MAGICS + _ZLIB) or is_pickle(head)

    save_options = ("compress",)

    def save(self, model: Any, path: Path, metadata: Metadata, compress: int | bool | tuple[str, int] = 0, **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        import joblib

        with _pristine_pickler():
            joblib.dump(model, path, compress=compress)
        return metadata.replace(extra={**metadata.extra, "compress": compress})

    def audit(self, path: Path, max_memory: int | str | None = None) -> Audit:
        from ..safety import Budget, audit_stream

        budget = Budget.for_file(path.name, path.stat().st_size, max_memory)
        with _decompressed(path) as stream:
            return audit_stream(stream, path.name, budget, joblib=True)

    def load(self, path: Path, metadata: Metadata | None, **options: Any) -> SklearnModel:
        return self._load(None, path, metadata, **options)

    def load_bytes(self, data: bytes, path: Path, metadata: Metadata | None, **options: Any) -> SklearnModel:
        return self._load(data, path, metadata, **options)

    def _load(self, data: bytes | None, path: Path, metadata: Metadata | None, trust: Any = False,
              max_memory: int | str | None = None, **options: Any) -> SklearnModel:
        self.reject_options(options)
        if trust is True:
            import joblib

            if data is not None and not _names_companions(data):  # the bytes read and checked already
                return self.wrap(self.unpickle(path, lambda: joblib.load(io.BytesIO(data))), path, metadata)
            # by its path: joblib < 0.10's files (arrays in companion files beside it) load only by name
            return self.wrap(self.unpickle(path, lambda: joblib.load(path)), path, metadata)
        from ..safety import Budget, load_stream

        # Decompressed bytes are charged to the budget as they are read: a bomb stops at the limit.
        budget = Budget.for_file(path.name, path.stat().st_size if data is None else len(data), max_memory)

        def restricted() -> Any:
            with _decompressed(path, data) as stream:
                return load_stream(stream, path.name, budget, trust=trust or (), joblib=True)

        return self.wrap(self.unpickle(path, restricted), path, metadata)


def _names_companions(data: bytes) -> bool:
    """Whether a joblib file may be one of joblib < 0.10's, whose arrays sit in companion files that
    joblib finds by the file's name (from bytes, it would look in the working directory): "ZF" zlib,
    or a pickle naming NDArrayWrapper. A label of that text only sends the file the slower way."""
    return data.startswith(b"ZF") or b"NDArrayWrapper" in data


_dumping = threading.Lock()


@contextlib.contextmanager
def _pristine_pickler() -> Iterator[None]:
    """joblib pickles with Python's pure-Python Pickler, whose dispatch table is one shared dict.

    Importing dill (TensorFlow and sklearn2pmml do) rewrites that table in place, and joblib,
    imported after it, copies the rewritten table: it then writes a ``type`` (a ``slice`` in a
    ColumnTransformer) through dill's reducers: the file needs dill to
    load, and modelpack's loader refuses ``dill._dill._load_type``. While modelpack dumps, the
    table is Python's own, taken from a fresh copy of the pickle module.
    """
    from joblib.numpy_pickle import NumpyPickler

    with _dumping:
        saved = NumpyPickler.dispatch
        NumpyPickler.dispatch = _pristine_dispatch()
        try:
            yield
        finally:
            NumpyPickler.dispatch = saved


@functools.cache
def _pristine_dispatch() -> dict[Any, Any]:
    spec = importlib.util.find_spec("pickle")
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    return dict(fresh._Pickler.dispatch)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _decompressed(path: Path, data: bytes | None = None) -> Iterator[Any]:
    """The file's pickle stream (from ``data``, its bytes, when they were read already), decompressed
    as joblib detects its compressors (by the same magic prefixes) with the standard library's
    readers, so reading one does not import joblib (``info`` imports no model library); lz4 and
    joblib < 0.10's "ZF" files go through joblib itself. Nothing is unpickled here."""
    import bz2
    import gzip
    import lzma

    with open(path, "rb") if data is None else io.BytesIO(data) as fh:
        head = fh.read(8)
        fh.seek(0)
        opener = next((open_ for prefix, open_ in _STDLIB_READERS if head.startswith(prefix)), None)
        if head.startswith(b"ZF") or head.startswith(b'\x04"M\x18'):
            from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

            with _validate_fileobject_and_memmap(fh, str(path)) as (stream, _):
                yield stream
            return
        if opener is None:  # not compressed: read whole when small, so the machine reads it at C speed
            if data is not None:
                yield fh
            else:
                yield io.BytesIO(fh.read()) if os.fstat(fh.fileno()).st_size <= IN_MEMORY else fh
            return
        readers: dict[str, Callable[[Any], Any]] = {"zlib": lambda f: io.BufferedReader(_ZlibReader(f)), "gzip": lambda f: gzip.GzipFile(fileobj=f),
                   "bz2": bz2.BZ2File, "lzma": lambda f: lzma.LZMAFile(f, format=lzma.FORMAT_ALONE),
                   "xz": lambda f: lzma.LZMAFile(f, format=lzma.FORMAT_XZ)}
        with readers[opener](fh) as stream:
            yield stream


#: An uncompressed joblib file up to this size is read into memory before it is unpickled (see
#: ``safety._vm.Machine.load``); a larger one is read from the file, as it streams.
IN_MEMORY = 64 << 20

#: joblib's compressor prefixes (joblib.compressor), most specific first.
_STDLIB_READERS = ((b"\xfd7zXZ", "xz"), (b"\x1f\x8b", "gzip"), (b"BZ", "bz2"), (b"]\x00", "lzma"), (b"x", "zlib"))


class _ZlibReader(io.RawIOBase):
    """A zlib stream (joblib's ``compress=("zlib", n)`` and its default ``compress=True``), read
    incrementally so that a bomb is charged to the load's budget as it inflates."""

    CHUNK = 1 << 16

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj()
        self._pending = b""
        self._position = 0  # decompressed bytes handed out: where a failure is reported

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._inflate.eof:
                return 0
            data = self._inflate.unconsumed_tail or self._raw.read(self.CHUNK)
            if not data:
                raise EOFError("the compressed stream ended before its end marker")
            self._pending = self._inflate.decompress(data, len(buffer))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._position += n
        return n
