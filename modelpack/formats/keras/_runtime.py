"""A loaded Keras network behind the :class:`~modelpack.Model` interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import CorruptFileError, UntrustedContentError, first_line
from ...metadata import Metadata
from .._network import NetworkModel
from ._adapter import KerasPredictor


def load_network(path: Path, safe: bool) -> Any:
    from ..._native import import_tensorflow, native_stderr

    import_tensorflow()  # before Keras does, without TensorFlow's start-up chatter
    import keras

    try:
        with native_stderr():  # the first graph built says its INFO lines too
            return keras.saving.load_model(path, safe_mode=safe, compile=False)
    except Exception as exc:  # Keras raises ValueError/TypeError for what it refuses or cannot read
        message = first_line(exc, 400)
        if "safe_mode" in message or "Lambda" in message:
            raise UntrustedContentError(f"Keras refused {path.name} in safe mode: {message}") from exc
        raise CorruptFileError(f"Keras cannot load {path.name}: {message}") from exc


class KerasModel(NetworkModel):
    """A Keras network: labels (classes from the metadata, else 0..k-1), probabilities, raw outputs."""

    def __init__(self, network: Any, metadata: Metadata | None, path: Path | None) -> None:
        adapter = KerasPredictor(network, metadata.classes if metadata is not None else None)
        super().__init__(adapter, format="keras", path=path, metadata=metadata or _describe(adapter))


def _describe(adapter: KerasPredictor) -> Metadata:
    schema = adapter.modelpack_input_schema()
    info = adapter.__modelpack__
    classes = adapter.classes_.tolist() if adapter.classes_ is not None else None
    return Metadata(format="keras", task=info["task"], model_type=info["model_type"], input_schema=schema,
                    classes=classes, versions=dict(info["versions"]))
