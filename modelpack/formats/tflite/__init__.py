"""TF Lite (LiteRT): written from Keras networks, run by LiteRT (``ai-edge-litert``) without TensorFlow.

A ``.tflite`` flatbuffer holds no Python and runs no Python: loading needs no trust. The
metadata lives in a sidecar (``model.tflite.modelpack.json``), which a phone app can ignore.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ...errors import ConversionError, UnsupportedModelError, a_or_an, first_line
from ...metadata import Metadata
from ...registry import Format


class TfliteFormat(Format):
    name = "tflite"
    extensions = (".tflite",)
    requires = "tflite"
    dependencies = ("ai_edge_litert",)
    writes = frozenset({"networks"})
    sniff_priority = 20

    def sniff(self, head: bytes) -> bool:
        return head[4:8] == b"TFL3"  # the flatbuffer's file identifier

    save_options = ()

    def save(self, model: Any, path: Path, metadata: Metadata, **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        network = getattr(model, "network", None)
        if network is None or not hasattr(model, "__modelpack__"):
            raise UnsupportedModelError(
                f"TF Lite files are written from Keras networks; {a_or_an(type(model).__name__)} is not one "
                "(for scikit-learn models use onnx)")
        with tempfile.TemporaryDirectory() as folder:
            written = Path(folder) / "model.tflite"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.ensure_called()
                    network.export(str(written), format="litert", verbose=False)
            except Exception as exc:  # the converter's refusals: an op TF Lite lacks
                raise ConversionError(f"Keras could not export this network to TF Lite: {first_line(exc)}") from exc
            shutil.copyfile(written, path)
        return metadata.replace(extra={**metadata.extra, "exporter": "keras.Model.export (LiteRT)"})

    def load(self, path: Path, metadata: Metadata | None, **options: Any) -> Any:
        options.pop("trust", None)  # a flatbuffer of operators: nothing to trust
        self.reject_options(options, ("max_memory", "threads"))
        from ._runtime import TfliteModel, open_interpreter

        return TfliteModel(open_interpreter(path, options.get("threads")), metadata, path)

    def cooperative_options(self, *, one_thread: bool) -> dict[str, Any]:
        return {"threads": 1} if one_thread else {}

    def describe(self, path: Path) -> dict[str, Any] | None:
        from ._flatbuffer import describe_file  # read, not run: no LiteRT, no tensors allocated

        return describe_file(path)
