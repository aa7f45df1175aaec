"""ONNX: exported with skl2onnx (onnxmltools for XGBoost/LightGBM), run with onnxruntime.

Loading and predicting import onnxruntime and numpy only — never scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import MissingDependencyError, _Spelled
from ...metadata import Metadata
from ...registry import Format

METADATA_KEY = "modelpack"
PRECISIONS = ("auto", "float", "double")


class PrecisionWarning(_Spelled, UserWarning):
    """A float32 export predicts differently from the original on the sample rows."""


class OnnxFormat(Format):
    name = "onnx"
    extensions = (".onnx",)
    requires = "onnx"
    dependencies = ("onnxruntime",)
    writes = frozenset({"estimators", "networks"})
    sniff_priority = 20

    def sniff(self, head: bytes) -> bool:
        # ModelProto starts with field 1 (ir_version, varint: tag 0x08) and a small version,
        # followed by another known field (producer_name 0x12, graph 0x3a, opset 0x42, ...).
        return (
            len(head) >= 3
            and head[0] == 0x08
            and 1 <= head[1] <= 20
            and head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42, 0x52, 0x72)
        )

    save_options = ("precision", "target_opset")

    def save(
        self,
        model: Any,
        path: Path,
        metadata: Metadata,
        *,
        sample: Any = None,
        precision: str = "auto",
        target_opset: int | None = None,
        check_precision: bool = True,
        **options: Any,
    ) -> Metadata:
        self.reject_options(options, self.save_options)
        try:
            from . import _export
        except ImportError as exc:
            raise MissingDependencyError(
                f"writing ONNX needs skl2onnx ({exc.name} is missing); run: pip install 'modelpack-ml[onnx]'"
            ) from exc
        return _export.write(model, path, metadata, sample=sample, precision=precision,
                             target_opset=target_opset, check_precision=check_precision)

    def cooperative_options(self, *, one_thread: bool) -> dict[str, Any]:
        # onnxruntime's intra-op pool spins while it waits, starving serve's other worker
        # processes or predict's reader thread on few cores (docs/benchmarks.md).
        return {"threads": 1} if one_thread else {"spin": False}

    def read_metadata(self, path: Path) -> Metadata | None:
        props = _metadata_props(path)
        text = props.get(METADATA_KEY)
        return Metadata.from_json(text) if text else None

    def describe(self, path: Path) -> dict[str, Any] | None:
        from ._describe import describe_graph

        return describe_graph(path)

    def companion_files(self, path: Path) -> list[str]:
        from ._external import data_files

        return data_files(path)

    def load(self, path: Path, metadata: Metadata | None, **options: Any) -> Any:
        from ._external import check_external_data
        from ._runtime import OnnxModel, open_session

        options.pop("trust", None)  # an ONNX graph runs no Python code: nothing to trust
        self.reject_options(options, ("providers", "threads", "spin"))
        check_external_data(path)  # before onnxruntime opens any file the graph names
        session = open_session(path, options.get("providers"), options.get("threads"), options.get("spin", True))
        text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        recorded = Metadata.from_json(text) if text else metadata
        return OnnxModel(session, recorded, path)


def _metadata_props(path: Path) -> dict[str, str]:
    """metadata_props, read from the protobuf by modelpack's reader: no session, no kernels, no weights."""
    from ._proto import read_model

    return read_model(path).metadata_props
