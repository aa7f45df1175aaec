"""Python's pickle, loaded through modelpack's restricted unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from ..metadata import Metadata
from ..model import SklearnModel
from ..registry import NotThisFormat
from ..safety import Allowlist, RestrictedUnpickler
from ._object import ObjectFormat

JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")


def is_pickle(head: bytes) -> bool:
    """Protocol 2+ pickles open with the PROTO opcode and a protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


class _PickleAllowlist(Allowlist):
    def resolve(self, module: str, name: str) -> Any:
        if (module, name) == JOBLIB_WRAPPER:
            raise NotThisFormat("joblib")  # arrays follow the pickle stream raw: joblib must read it
        return super().resolve(module, name)


class PickleFormat(ObjectFormat):
    name = "pickle"
    extensions = (".pkl", ".pickle")
    sniff_priority = 60

    def sniff(self, head: bytes) -> bool:
        return is_pickle(head)

    def save(self, model: Any, path: Path, metadata: Metadata, protocol: int = pickle.HIGHEST_PROTOCOL, **options: Any) -> Metadata:
        self.reject_options(options, ("protocol",))
        with open(path, "wb") as fh:
            pickle.dump(model, fh, protocol=protocol)
        return metadata

    def list_globals(self, path: Path) -> list[str]:
        from ..safety import pickle_globals

        with open(path, "rb") as fh:
            return pickle_globals(fh)

    def load(self, path: Path, metadata: Metadata | None, trust: Any = False, **options: Any) -> SklearnModel:
        with open(path, "rb") as fh:
            estimator = RestrictedUnpickler(fh, _PickleAllowlist(path.name, trust)).load()
        return self.wrap(estimator, path, metadata)
