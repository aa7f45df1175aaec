"""Python's pickle, loaded on modelpack's restricted pickle machine (or, trusted, by pickle itself)."""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metadata import Metadata
from ..registry import NotThisFormat
from ._object import ObjectFormat

if TYPE_CHECKING:  # the pickle machine is imported when a pickle is read, not to list the formats
    from ..model import SklearnModel
    from ..safety import Audit

# Protocols 0 and 1 have no PROTO opcode: an object's pickle opens with GLOBAL (c) or MARK + INST
# ((i), naming a module and a class on two lines.
_OLD_PROTOCOL = re.compile(rb"(c|\(i)[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n")


def is_pickle(head: bytes) -> bool:
    """Protocol 2+ pickles open with the PROTO opcode and a protocol number."""
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or _OLD_PROTOCOL.match(head) is not None


class _TrustedUnpickler(pickle.Unpickler):
    """The user trusts the file: pickle itself, but a joblib file still goes to joblib's reader."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("joblib.numpy_pickle", "NumpyArrayWrapper"):
            raise NotThisFormat("joblib")
        return super().find_class(module, name)


class PickleFormat(ObjectFormat):
    name = "pickle"
    extensions = (".pkl", ".pickle")
    sniff_priority = 60

    def sniff(self, head: bytes) -> bool:
        return is_pickle(head)

    save_options = ("protocol",)

    def save(self, model: Any, path: Path, metadata: Metadata, protocol: int = pickle.HIGHEST_PROTOCOL, **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        with open(path, "wb") as fh:
            pickle.dump(model, fh, protocol=protocol)
        return metadata

    def audit(self, path: Path, max_memory: int | str | None = None) -> Audit:
        from ..safety import Budget, audit_stream

        data = path.read_bytes()
        return audit_stream(io.BytesIO(data), path.name, Budget.for_file(path.name, len(data), max_memory))

    def load(self, path: Path, metadata: Metadata | None, **options: Any) -> SklearnModel:
        return self.load_bytes(path.read_bytes(), path, metadata, **options)

    def load_bytes(self, data: bytes, path: Path, metadata: Metadata | None, trust: Any = False,
                   max_memory: int | str | None = None, **options: Any) -> SklearnModel:
        self.reject_options(options)
        if trust is True:
            loaded = self.unpickle(path, lambda: _TrustedUnpickler(io.BytesIO(data)).load())
        else:
            from ..safety import Budget, load_stream

            budget = Budget.for_file(path.name, len(data), max_memory)
            loaded = self.unpickle(path, lambda: load_stream(io.BytesIO(data), path.name, budget, trust=trust or ()))
        return self.wrap(loaded, path, metadata)
