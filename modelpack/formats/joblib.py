"""joblib's pickles (plain or compressed), on modelpack's restricted pickle machine unless trusted."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..metadata import Metadata
from ..model import SklearnModel
from ..safety import Audit, Budget, audit_stream, load_stream
from ._object import ObjectFormat
from .pickle import is_pickle

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

    def save(self, model: Any, path: Path, metadata: Metadata, compress: int | bool | tuple[str, int] = 0, **options: Any) -> Metadata:
        self.reject_options(options, ("compress",))
        import joblib

        with _pristine_pickler():
            joblib.dump(model, path, compress=compress)
        return metadata.replace(extra={**metadata.extra, "compress": compress})

    def audit(self, path: Path, max_memory: int | str | None = None) -> Audit:
        budget = Budget.for_file(path.name, path.stat().st_size, max_memory)
        with _decompressed(path) as stream:
            return audit_stream(stream, path.name, budget, joblib=True)

    def load(self, path: Path, metadata: Metadata | None, trust: Any = False, max_memory: int | str | None = None,
             **options: Any) -> SklearnModel:
        self.reject_options(options)
        if trust is True:
            import joblib

            return self.wrap(self.unpickle(path, lambda: joblib.load(path)), path, metadata)
        # Decompressed bytes are charged to the budget as they are read: a bomb stops at the limit.
        budget = Budget.for_file(path.name, path.stat().st_size, max_memory)

        def restricted() -> Any:
            with _decompressed(path) as stream:
                return load_stream(stream, path.name, budget, trust=trust or (), joblib=True)

        return self.wrap(self.unpickle(path, restricted), path, metadata)


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
def _decompressed(path: Path) -> Iterator[Any]:
    """joblib's own detection of its compressors, as a stream; nothing is unpickled here."""
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    with open(path, "rb") as fh, _validate_fileobject_and_memmap(fh, str(path)) as (stream, _):
        yield stream
