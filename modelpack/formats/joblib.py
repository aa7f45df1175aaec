"""joblib's pickles (plain or compressed), loaded with joblib's unpickler restricted to the allowlist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..metadata import Metadata
from ..model import SklearnModel
from ..safety import Allowlist, AuditingAllowlist
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

        joblib.dump(model, path, compress=compress)
        return metadata.replace(extra={**metadata.extra, "compress": compress})

    def list_globals(self, path: Path) -> list[str]:
        # joblib interleaves raw array bytes with the opcodes, so a static scan stops early;
        # an audit run resolves only allowlisted globals and stubs out the rest.
        allowlist = AuditingAllowlist(path.name)
        try:
            _restricted_load(path, allowlist)
        except Exception:  # a placeholder upset an allowed constructor: what was seen stands
            pass
        return list(dict.fromkeys(allowlist.seen))

    def load(self, path: Path, metadata: Metadata | None, trust: Any = False, **options: Any) -> SklearnModel:
        return self.wrap(_restricted_load(path, Allowlist(path.name, trust)), path, metadata)


def _restricted_load(path: Path, allowlist: Allowlist) -> Any:
    """What joblib.load does, with find_class going through ``allowlist``."""
    from joblib.numpy_pickle import NumpyUnpickler
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    class RestrictedNumpyUnpickler(NumpyUnpickler):  # type: ignore[misc]
        # joblib >= 1.6 routes nested object-array pickles through this same find_class.
        def find_class(self, module: str, name: str) -> Any:
            return allowlist.resolve(module, name)

    with open(path, "rb") as fh, _validate_fileobject_and_memmap(fh, str(path)) as (fobj, _):
        return RestrictedNumpyUnpickler(str(path), fobj, ensure_native_byte_order=True).load()
