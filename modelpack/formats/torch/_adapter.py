"""A PyTorch module or exported program seen as a scikit-learn estimator.

A PyTorch classifier outputs logits. With ``classes=[...]`` at save time modelpack treats the
outputs as logits: ``predict_proba`` is their softmax (a sigmoid for one output), ``predict`` the
label of the largest. Without classes the outputs are values (a regressor, or raw outputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchPredictor:
    """``predict``/``predict_proba`` over ``network``: an ``nn.Module`` or a ``torch.export`` program."""

    def __init__(self, network: Any, classes: list[Any] | None = None, example: Any = None,
                 sigmoid: bool | None = None) -> None:
        import torch

        self.network = network
        self.module = network.module() if isinstance(network, torch.export.ExportedProgram) else network.eval()
        self.example = example  # one batch of inputs, for torch.export
        self.classes_ = np.asarray(classes) if classes is not None else None
        #: what rows are fed as: integers for a network that takes them (an Embedding's token ids), which
        #: float32 would refuse (torch's embedding wants Long) or round past 2**24; else float32
        self._dtype = _input_dtype(network, example)
        if sigmoid is None:  # one logit for two classes: a sigmoid head
            sigmoid = classes is not None and len(classes) == 2 and self._units() == 1
        self._sigmoid = sigmoid
        self.__modelpack__: dict[str, Any] = {
            "task": "classifier" if self.classes_ is not None else "regressor",
            "model_type": f"torch.{type(network).__name__}" if not isinstance(network, torch.export.ExportedProgram)
            else "torch.export.ExportedProgram",
            "library": "PyTorch",
            "onnx_exporter": "torch.onnx.export (dynamo)",
            "versions": {"torch": torch.__version__.split("+")[0]},
            "extra": {"network_output": ("logits-sigmoid" if self._sigmoid else "logits")
                      if self.classes_ is not None else "values"},
        }

    def _units(self) -> int | None:
        if self.example is None:
            return None
        return int(np.asarray(self.scores(self.example[:1])).shape[-1])

    def scores(self, X: Any) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.module(torch.as_tensor(np.asarray(X, dtype=self._dtype)))
        return out.numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.classes_ is None:
            raise AttributeError("a network saved without classes has no predict_proba")
        z = self.scores(X).astype(np.float64)
        if self._sigmoid:
            p = 1 / (1 + np.exp(-z))
            return np.hstack([1 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        if self.classes_ is None:
            out = self.scores(X)
            return out.reshape(len(out)) if out.ndim == 2 and out.shape[1] == 1 else out
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def exported(self) -> Any:
        """The network as a ``torch.export`` program with a dynamic batch dimension."""
        import torch

        if isinstance(self.network, torch.export.ExportedProgram):
            return self.network
        if self.example is None:
            from ...errors import InvalidInputError

            raise InvalidInputError("saving a PyTorch module needs sample=X (a batch of inputs) to trace it")
        example = torch.as_tensor(np.asarray(self.example, dtype=self._dtype))
        batch = torch.export.Dim("batch", min=1)
        return torch.export.export(self.module, (example,), dynamic_shapes=({0: batch},))

    def export_onnx(self, path: Any, opset: int | None) -> None:
        import logging

        import torch

        program = self.exported()
        example = tuple(program.example_inputs[0]) if program.example_inputs else None
        quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed. Skipping ..." on every export
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            torch.onnx.export(program, example or (), str(path), dynamo=True, verbose=False, opset_version=opset)
        finally:
            quiet.setLevel(level)

    def ensure_called(self) -> None:
        """Nothing to build: a module is ready (Keras' adapter has to call its network once)."""


def _input_dtype(network: Any, example: Any) -> Any:
    """What rows are fed as (:func:`feed_dtype`), by an exported program's input type, or by the sample
    a module is saved with."""
    import torch

    from .._network import feed_dtype

    kind = "f"
    if isinstance(network, torch.export.ExportedProgram):
        inputs = set(network.graph_signature.user_inputs)
        for node in network.graph.nodes:
            value = node.meta.get("val") if node.op == "placeholder" and node.name in inputs else None
            if value is not None and hasattr(value, "dtype"):
                kind = "b" if value.dtype == torch.bool else "f" if value.dtype.is_floating_point else "i"
                break
    elif example is not None:
        kind = np.asarray(example).dtype.kind
    return feed_dtype(kind)


def is_torch_model(model: Any) -> bool:
    """Whether ``model`` is a PyTorch module or exported program, without importing torch."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, (torch.nn.Module, torch.export.ExportedProgram))
