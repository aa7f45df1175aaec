"""H2O models as MOJO files: scored in-process by H2O's genmodel, described without Java.

A MOJO is H2O's own export (a zip of the model's trees or coefficients and its domains); it needs
no cluster to score. Saving takes a trained H2O estimator (which needs its running cluster) and
checks the MOJO against the cluster's predictions on the sample rows. POJOs (Java source to
compile) are refused: loading never compiles or runs code from a file.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ...errors import ConversionError, UnsupportedModelError, a_or_an, first_line
from ...metadata import Metadata
from ...registry import Format

MEMBER = "modelpack.json"
POJO_HINT = ("an H2O POJO is Java source that must be compiled and run, which modelpack never does with a "
             "file's code; export a MOJO instead: model.download_mojo() (or modelpack.save(model, 'model.zip'))")


class H2oFormat(Format):
    name = "h2o"
    extensions = (".zip", ".mojo", ".java")
    requires = "h2o"
    dependencies = ("jpype",)
    writes = frozenset({"h2o"})
    sniff_priority = 30  # before skops, which takes any zip

    def sniff(self, head: bytes) -> bool:
        if head.startswith(b"PK\x03\x04"):
            return any(name in head for name in (b"model.ini", b"domains/d0", b"trees/t00"))
        return b"hex.genmodel" in head and b"class " in head  # a POJO: recognised to be refused

    save_options = ()

    def save(self, model: Any, path: Path, metadata: Metadata, **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        from ._adapter import H2oPredictor

        if not isinstance(model, H2oPredictor):
            raise UnsupportedModelError(f"H2O MOJO files are written from trained H2O models; "
                                        f"{a_or_an(type(model).__name__)} is not one")
        with tempfile.TemporaryDirectory() as folder:
            try:
                written = Path(model.estimator.download_mojo(path=folder))
            except Exception as exc:  # the client's refusal (H2O-3 Secure gate), a model without MOJO support
                raise ConversionError(f"H2O could not export this {model.estimator.algo} model as a MOJO: "
                                      f"{first_line(exc)}") from exc
            with zipfile.ZipFile(written, "a") as zf:
                zf.writestr(MEMBER, metadata.to_json())
            shutil.copyfile(written, path)
        return metadata

    def read_metadata(self, path: Path) -> Metadata | None:
        if _is_pojo(path):
            return None
        from .._zipped import metadata_member

        return metadata_member(path, MEMBER, "H2O MOJO")

    def describe(self, path: Path) -> dict[str, Any] | None:
        if _is_pojo(path):
            return {"producer": "H2O POJO (Java source)", "refused without trust": [POJO_HINT]}
        from ._mojo import read_mojo

        return read_mojo(path).describe()

    def load(self, path: Path, metadata: Metadata | None, **options: Any) -> Any:
        options.pop("trust", None)  # a MOJO is data (trees, coefficients) read by genmodel: nothing to trust
        self.reject_options(options, ("max_memory",))
        if _is_pojo(path):
            raise UnsupportedModelError(f"{path.name}: {POJO_HINT}")
        from .._zipped import charge_members
        from ._mojo import read_mojo
        from ._runtime import H2oModel

        charge_members(path, options.get("max_memory"), "H2O MOJO")
        mojo = read_mojo(path)
        return H2oModel(path, mojo, self.read_metadata(path) or metadata)

    def cooperative_options(self, *, one_thread: bool) -> dict[str, Any]:
        return {}


def _is_pojo(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return not head.startswith(b"PK") and b"hex.genmodel" in head
