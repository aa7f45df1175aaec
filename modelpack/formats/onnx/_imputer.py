"""A fitted SimpleImputer as an onnxruntime graph can run it (see ``_export._imputers_onnxruntime_runs``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class FilledImputer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted SimpleImputer as its graph computes it: ``statistics_[j]`` wherever column j holds a
    missing value, "" for text (as modelpack feeds one to a graph) and NaN for numbers."""

    def __init__(self, statistics: Any) -> None:
        self.statistics = statistics  # a parameter, as get_params (skl2onnx's walk) reads it
        self.statistics_ = np.asarray(statistics)

    def fit(self, X: Any, y: Any = None) -> FilledImputer:
        return self

    def transform(self, X: Any) -> Any:
        values = np.asarray(X, dtype=self.statistics_.dtype)
        missing = values == "" if self.statistics_.dtype.kind == "O" else np.isnan(values)
        return np.where(missing, self.statistics_[np.newaxis, :], values)


_REGISTERED: list[bool] = []


def register() -> None:
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter

    update_registered_converter(FilledImputer, "ModelpackFilledImputer", _shape, _convert)
    _REGISTERED.append(True)


def _shape(operator: Any) -> None:
    rows = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = type(operator.inputs[0].type)([rows, len(operator.raw_operator.statistics_)])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    """Where(missing, statistics, x). Text is missing where LabelEncoder maps it to 1 ("" -> 1, else 0;
    ai.onnx.ml opset 2), since Equal takes strings only from opset 19; numbers where IsNaN. onnxruntime
    runs Where on strings and doubles at the default opsets."""
    from onnx import TensorProto

    statistics = operator.raw_operator.statistics_
    names = [i.full_name for i in operator.inputs]
    if len(names) > 1:
        joined = scope.get_unique_variable_name("imputed_columns")
        container.add_node("Concat", names, joined, axis=1, name=scope.get_unique_operator_name("Concat"))
        names = [joined]
    fill = scope.get_unique_variable_name("imputed_values")
    missing = scope.get_unique_variable_name("missing")
    if statistics.dtype.kind == "O":
        container.add_initializer(fill, TensorProto.STRING, [len(statistics)],
                                  [str(v).encode("utf-8") for v in statistics.tolist()])
        flags = scope.get_unique_variable_name("missing_flags")
        container.add_node("LabelEncoder", names[0], flags, op_domain="ai.onnx.ml", op_version=2, keys_strings=[""],
                           values_int64s=[1], default_int64=0, name=scope.get_unique_operator_name("LabelEncoder"))
        container.add_node("Cast", flags, missing, to=TensorProto.BOOL, name=scope.get_unique_operator_name("Cast"))
    else:
        element = TensorProto.DOUBLE if operator.inputs[0].type.to_onnx_type().tensor_type.elem_type == \
            TensorProto.DOUBLE else TensorProto.FLOAT
        container.add_initializer(fill, element, [len(statistics)], statistics.astype(np.float64).tolist())
        container.add_node("IsNaN", names[0], missing, name=scope.get_unique_operator_name("IsNaN"))
    container.add_node("Where", [missing, fill, names[0]], operator.outputs[0].full_name,
                       name=scope.get_unique_operator_name("Where"))
