"""Networks (Keras, PyTorch) to ONNX, through their own exporters.

The exported graph outputs what the network outputs: probabilities for a Keras classifier,
logits for a PyTorch one (then a Softmax, or a Sigmoid for one unit, is added). modelpack
adds a ``label`` output (ArgMax, then the class labels as a constant), so the file answers
``predict`` with labels in any runtime, and a single unit becomes two columns of
probabilities, as scikit-learn's binary classifiers give them.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConversionError, InvalidInputError, a_or_an, first_line, spelled
from ...metadata import Metadata

DOUBLE = "precision='double'"


def write(adapter: Any, path: Path, metadata: Metadata, *, precision: str, target_opset: int | None) -> Metadata:
    import onnx

    from ._export import _set_metadata, _validated_session

    library = adapter.__modelpack__["library"]
    if precision == "double":
        raise InvalidInputError(f"{a_or_an(library)} network computes in float32, and so does its ONNX export; "
                                f"{spelled(DOUBLE, '--precision double')} is for scikit-learn models")
    with tempfile.TemporaryDirectory() as folder:
        written = Path(folder) / "model.onnx"
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")  # and the exporters' progress lines are not the user's
                adapter.export_onnx(written, target_opset)
        except Exception as exc:  # tf2onnx's, Keras' and torch.onnx's refusals (an op ONNX cannot express)
            raise ConversionError(f"{library} could not export this network to ONNX: {first_line(exc)}") from exc
        proto = onnx.load(str(written))
    if len(proto.graph.output) != 1:
        raise ConversionError(f"the ONNX export has {len(proto.graph.output)} outputs; modelpack converts "
                              "networks with one output")
    output = proto.graph.output[0].name
    roles = {"predict": output}
    if adapter.classes_ is not None:
        roles = _add_label(proto, output, adapter.classes_, sigmoid=adapter._sigmoid,
                           logits=adapter.__modelpack__["extra"].get("network_output", "").startswith("logits"))
    metadata = metadata.replace(extra={
        **metadata.extra, "onnx_inputs": "columns" if getattr(adapter, "columns", None) else "tensor", "onnx_outputs": roles, "precision": "float",
        "opsets": {(op.domain or "ai.onnx"): op.version for op in proto.opset_import},
        "exporter": adapter.__modelpack__["onnx_exporter"],
    })
    _set_metadata(proto, metadata)
    data = proto.SerializeToString()
    _validated_session(data, adapter)
    path.write_bytes(data)
    return metadata


def _add_label(proto: Any, output: str, classes: np.ndarray, sigmoid: bool, logits: bool) -> dict[str, str]:
    """ArgMax over the probabilities, then Gather from the labels: a ``label`` output."""
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    if logits:  # a PyTorch head: probabilities are computed here, as modelpack's predict_proba does
        name = "modelpack_p" if sigmoid else "probabilities"
        node = (helper.make_node("Sigmoid", [output], [name]) if sigmoid
                else helper.make_node("Softmax", [output], [name], axis=-1))
        graph.node.append(node)
        del graph.output[:]
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 1 if sigmoid else len(classes)]))
        output = name
    probabilities = output
    if sigmoid:  # p -> [1 - p, p]
        graph.initializer.append(numpy_helper.from_array(np.array([1.0], dtype=np.float32), "modelpack_one"))
        graph.node.extend([
            helper.make_node("Sub", ["modelpack_one", output], ["modelpack_not_p"]),
            helper.make_node("Concat", ["modelpack_not_p", output], ["probabilities"], axis=1),
        ])
        probabilities = "probabilities"
        del graph.output[:]
        graph.output.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]))
    labels = np.asarray(classes)
    as_text = labels.dtype.kind in "OUS"
    constant = labels.astype(object).astype(str) if as_text else labels.astype(np.int64)
    graph.initializer.append(numpy_helper.from_array(np.asarray(constant), "modelpack_classes"))
    graph.node.extend([
        helper.make_node("ArgMax", [probabilities], ["modelpack_index"], axis=1, keepdims=0),
        helper.make_node("Gather", ["modelpack_classes", "modelpack_index"], ["label"], axis=0),
    ])
    graph.output.insert(0, helper.make_tensor_value_info(
        "label", TensorProto.STRING if as_text else TensorProto.INT64, ["N"]))
    return {"predict": "label", "predict_proba": probabilities}
