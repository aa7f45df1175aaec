"""skops' secure format: a zip of JSON and arrays, nothing constructed unless its type is trusted."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError, UntrustedContentError
from ..metadata import Metadata
from ..model import SklearnModel
from ..safety import TRUST_HINT, untrusted_globals
from ._object import ObjectFormat

MEMBER = "modelpack.json"


class SkopsFormat(ObjectFormat):
    name = "skops"
    extensions = (".skops",)
    requires = "skops"
    dependencies = ("skops",)
    sniff_priority = 30

    def sniff(self, head: bytes) -> bool:
        # The zip's members may come in any order; ``load`` checks for skops' schema.json.
        return head.startswith(b"PK\x03\x04")

    def save(self, model: Any, path: Path, metadata: Metadata, compression: int = zipfile.ZIP_DEFLATED, **options: Any) -> Metadata:
        self.reject_options(options, ("compression",))
        import skops.io as sio

        sio.dump(model, path, compression=compression)
        # The zip has room for our metadata; skops ignores members its schema does not name.
        with zipfile.ZipFile(path, "a", compression=compression) as zf:
            zf.writestr(MEMBER, metadata.to_json())
        return metadata

    def read_metadata(self, path: Path) -> Metadata | None:
        try:
            with zipfile.ZipFile(path) as zf:
                if MEMBER not in zf.namelist():
                    return None
                return Metadata.from_json(zf.read(MEMBER))
        except zipfile.BadZipFile as exc:
            raise CorruptFileError(f"{path} is not a valid skops file: {exc}") from exc

    def load(self, path: Path, metadata: Metadata | None, trust: Any = False, **options: Any) -> SklearnModel:
        import skops.io as sio

        metadata = metadata or self.read_metadata(path)
        with zipfile.ZipFile(path) as zf:
            if "schema.json" not in zf.namelist():
                raise CorruptFileError(f"{path} is a zip file but not a skops file (no schema.json)")
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise CorruptFileError(f"{path} is not a valid skops file: {exc}") from exc
        if trust is True:
            trusted = untrusted
        else:
            # One trust policy for every format: what modelpack's allowlist admits in a
            # pickle is admitted here too (skops alone distrusts e.g. sklearn.tree._tree.Tree).
            allowed = set() if trust is False else set(trust)
            refused = [t for t in untrusted_globals(untrusted) if t not in allowed]
            if refused:
                raise UntrustedContentError(
                    f"{path.name} contains types skops does not trust by default: {', '.join(refused)}; "
                    f"{TRUST_HINT}, or pass trust=[...] naming exactly those types"
                )
            trusted = untrusted
        estimator = sio.load(path, trusted=trusted)
        return self.wrap(estimator, path, metadata)
