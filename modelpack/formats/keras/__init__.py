"""Keras 3: native ``.keras`` files (legacy ``.h5`` read too), the metadata in a member of the zip.

Loading checks the architecture before Keras rebuilds it (no Lambda layer, no class from
outside Keras unless trusted) and then loads with Keras' own ``safe_mode``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ...errors import UnsupportedModelError, a_or_an, first_line
from ...metadata import Metadata
from ...registry import Format
from ._config import HDF5_MAGIC, is_hdf5

MEMBER = "modelpack.json"


class KerasFormat(Format):
    name = "keras"
    extensions = (".keras", ".h5", ".hdf5")
    requires = "keras"
    dependencies = ("keras",)
    writes = frozenset({"networks"})
    sniff_priority = 25  # before skops, which takes any zip

    def sniff(self, head: bytes) -> bool:
        # a .keras zip starts with its metadata.json member: {"keras_version": ...}
        zipped = head.startswith(b"PK\x03\x04") and b"metadata.json" in head[:64] and b'"keras_version"' in head[:200]
        return zipped or head.startswith(HDF5_MAGIC)

    save_options = ("classes",)

    def save(self, model: Any, path: Path, metadata: Metadata, **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        network = _network_of(model)
        metadata = metadata.replace(extra={**metadata.extra, "keras_version": _keras_version()})
        with tempfile.TemporaryDirectory() as folder:
            written = Path(folder) / "model.keras"  # Keras insists on the extension
            try:
                network.save(written)
            except Exception as exc:  # Keras' own refusals (unserializable custom objects)
                raise UnsupportedModelError(f"Keras cannot save this model: {first_line(exc)}") from exc
            with zipfile.ZipFile(written, "a") as zf:
                zf.writestr(MEMBER, metadata.to_json())
            shutil.copyfile(written, path)
        return metadata

    def read_metadata(self, path: Path) -> Metadata | None:
        if is_hdf5(path):
            return None  # a legacy .h5 file: its metadata lives in a sidecar
        from .._zipped import metadata_member

        return metadata_member(path, MEMBER, ".keras file")

    def describe(self, path: Path) -> dict[str, Any] | None:
        from ._config import describe_config, read_config

        details = describe_config(read_config(path))
        if is_hdf5(path):
            details["producer"] = "Keras (legacy HDF5)"
            return details
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            small = "metadata.json" in names and zf.getinfo("metadata.json").file_size < 1 << 20
            keras_meta = json.loads(zf.read("metadata.json")) if small else {}
        details["producer"] = f"Keras {keras_meta.get('keras_version', '?')}"
        return details

    def load(self, path: Path, metadata: Metadata | None, trust: Any = False, **options: Any) -> Any:
        self.reject_options(options, ("max_memory",))
        from .._zipped import charge_members
        from ._config import check_config
        from ._runtime import KerasModel, load_network

        if not is_hdf5(path):
            charge_members(path, options.get("max_memory"), ".keras file")
        check_config(path, trust is True)
        network = load_network(path, safe=trust is not True)
        return KerasModel(network, self.read_metadata(path) or metadata, path)

    def cooperative_options(self, *, one_thread: bool) -> dict[str, Any]:
        return {}


def _network_of(model: Any) -> Any:
    from ._adapter import KerasPredictor, is_keras_model

    if isinstance(model, KerasPredictor):
        return model.network
    if is_keras_model(model):
        return model
    raise UnsupportedModelError(f"{a_or_an(type(model).__name__)} is not a Keras model; .keras files hold Keras models")


def _keras_version() -> str:
    import keras

    return str(keras.__version__)
