"""Writing ONNX: input types inferred from the schema, no ZipMap, double precision done right."""

from __future__ import annotations

import functools
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConversionError, InvalidInputError, UnsupportedModelError, first_line, spelled
from ...metadata import STRING, InputSchema, Metadata, as_dense, sample_rows
from . import METADATA_KEY, PRECISIONS, PrecisionWarning

#: Default main-domain opset: the newest skl2onnx 1.17+ is tested with that onnxruntime >= 1.17 runs.
DEFAULT_OPSET = 18
#: ai.onnx.ml opset 3 is the first whose tree ensembles take double thresholds (``*_as_tensor``).
ML_OPSET = 3
#: How many of the caller's sample rows the float32 check runs through the export.
PRECISION_CHECK_ROWS = 2000
DOUBLE_OR_AUTO = "precision='double' or 'auto'"
DOUBLE_OR_FLOAT = "precision='double' or 'float'"

_registered = threading.Lock()
_done = False


def write(
    model: Any,
    path: Path,
    metadata: Metadata,
    *,
    sample: Any,
    precision: str,
    target_opset: int | None,
    check_precision: bool,
) -> Metadata:
    """Export, validate in onnxruntime, and write. ``precision="auto"`` exports in float32 and keeps
    it only if it predicts what the model does on the sample rows, within float32's resolution;
    otherwise it exports in double. The choice and its reason are recorded in the metadata."""
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if hasattr(model, "network") and hasattr(model, "__modelpack__"):  # a Keras or PyTorch network's adapter
        from ._network import write as write_network

        return write_network(model, path, metadata, precision=precision, target_opset=target_opset)
    if metadata.input_schema is None:
        raise UnsupportedModelError(
            f"cannot infer the ONNX input types of {metadata.model_type}: pass {spelled('sample=X', '--data FILE')} "
            "(a few training rows)"
        )
    register_converters()
    opset = target_opset or DEFAULT_OPSET
    if precision != "auto":
        proto, metadata, session = _build(model, metadata, precision, opset)
        checked = precision == "float" and check_precision
        difference = float32_difference(model, session, metadata, sample) if checked else ""
        if difference:
            warnings.warn(
                f"the float32 ONNX export of {type(model).__name__} {difference} on the sample rows "
                "(float32 rounds inputs and thresholds); export with "
                f"{spelled(DOUBLE_OR_AUTO, '--precision double or auto')}",
                PrecisionWarning,
                stacklevel=5,
            )
    else:
        proto, metadata_float, session = _build(model, metadata, "float", opset)
        difference = float32_difference(model, session, metadata_float, sample)
        if difference:
            proto, metadata, _ = _build(model, metadata, "double", opset)
            choice = f"double: float32 {difference} on the sample rows"
        else:
            metadata = metadata_float
            choice = ("float: equal to the original on the sample rows, within float32's resolution" if sample is not None
                      else "float: no sample rows to check float32 on (pass sample=X to let modelpack choose)")
        metadata = metadata.replace(extra={**metadata.extra, "precision_choice": choice})
        _set_metadata(proto, metadata)
    path.write_bytes(proto.SerializeToString())
    return metadata


def _build(model: Any, metadata: Metadata, precision: str, opset: int) -> tuple[Any, Metadata, Any]:
    """The graph in ``precision``, its metadata, and an onnxruntime session that loaded it."""
    schema = metadata.input_schema
    assert schema is not None
    per_column = needs_per_column_inputs(model, schema)
    proto = _convert(model, schema, precision, opset, per_column)
    if precision == "double":
        _float_outputs_as_double(proto)
    outputs = output_roles(metadata.task, [o.name for o in proto.graph.output])
    extra = {
        **metadata.extra,
        "onnx_inputs": "columns" if per_column else "tensor",
        "onnx_outputs": outputs,
        "precision": precision,
        "opsets": {(op.domain or "ai.onnx"): op.version for op in proto.opset_import},
    }
    metadata = metadata.replace(extra=extra)
    _set_metadata(proto, metadata)
    return proto, metadata, _validated_session(proto.SerializeToString(), model)


#: Within this, a float32 export's numbers match the original's (float32 has about 7 digits).
FLOAT32_TOLERANCE = (1e-4, 1e-5)


def float32_difference(model: Any, session: Any, metadata: Metadata, sample: Any) -> str:
    """How a float32 export's outputs differ from the model's on the sample rows, or '' (also without rows)."""
    from ._runtime import OnnxModel

    if sample is None:
        return ""
    rows = sample_rows(sample, PRECISION_CHECK_ROWS)
    exported = OnnxModel(session, metadata, None)
    rtol, atol = FLOAT32_TOLERANCE
    withheld = metadata.extra.get("withheld_by_source", {})  # the model's own answers are not known
    for method in ("predict", "predict_proba", "transform"):
        if not (hasattr(exported, method) and hasattr(model, method)) or method in withheld:
            continue
        try:
            expected = np.asarray(as_dense(getattr(model, method)(rows)))
            got = np.asarray(getattr(exported, method)(rows))
        except (AttributeError, NotImplementedError):
            continue
        if method == "predict" and metadata.task in ("classifier", "clusterer"):
            flipped = int(np.sum(expected != got))
            if flipped:
                return f"predicts another label on {flipped} of {len(rows)} rows"
            continue
        diff = np.abs(expected.astype(np.float64) - got.astype(np.float64))
        if expected.shape != got.shape or np.any(diff > atol + rtol * np.abs(expected.astype(np.float64))):
            return f"moves {method} by up to {float(np.max(diff)):.3g}" if expected.shape == got.shape else \
                f"returns {method} of shape {got.shape}, not {expected.shape}"
    return ""


def _validated_session(data: bytes, model: Any) -> Any:
    """Refuse to write a graph onnxruntime cannot load (a converter bug, not the user's)."""
    from ...errors import CorruptFileError
    from ._runtime import open_session

    try:
        return open_session(data)
    except CorruptFileError as exc:
        exporter = getattr(model, "__modelpack__", {}).get("onnx_exporter")
        if exporter:  # a network's own exporter: the precision options are not the way out
            raise ConversionError(f"{exporter} produced a graph that onnxruntime rejects ({exc}); "
                                  "keep the native file, or try another target_opset") from exc
        raise ConversionError(
            f"skl2onnx produced a graph for {type(model).__name__} that onnxruntime rejects ({exc}); "
            f"try {spelled(DOUBLE_OR_FLOAT, '--precision double or float')}, another "
            f"{spelled('target_opset', '--target-opset')}, or a joblib/skops file"
        ) from exc


def needs_per_column_inputs(model: Any, schema: InputSchema) -> bool:
    """A frame gets one input per column when it has string columns or a ColumnTransformer
    selects its columns by name; everything else is one 2-D tensor."""
    return schema.kind == "dataframe" and (not schema.all_numeric or _selects_columns_by_name(model))


def _selects_columns_by_name(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    from ...metadata import _estimators_in

    return any(isinstance(e, ColumnTransformer) for e in _estimators_in(model))


def input_types(schema: InputSchema, precision: str, per_column: bool) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    real = DoubleTensorType if precision == "double" else FloatTensorType
    if not per_column:
        whole = StringTensorType if not schema.all_numeric else real
        return [("input", whole([None, schema.n_features]))]
    # In double mode integer columns go in as doubles too: skl2onnx casts int64 inputs to
    # float32, which a double graph then cannot concatenate with its double columns.
    integer = real if precision == "double" else Int64TensorType
    kinds = {STRING: StringTensorType, "int64": integer, "bool": integer}
    return [(f.name, kinds.get(f.dtype, real)([None, 1])) for f in schema.features]


def _convert(model: Any, schema: InputSchema, precision: str, opset: int, per_column: bool) -> Any:
    from skl2onnx import to_onnx

    model = _imputers_onnxruntime_runs(model, precision)
    options = {id(e): {"zipmap": False} for e in _classifiers_in(model)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return to_onnx(
                model,
                initial_types=input_types(schema, precision, per_column),
                options=options,
                target_opset={"": opset, "ai.onnx.ml": ML_OPSET},
            )
    except Exception as exc:
        raise _translate(exc, model) from exc


def _imputers_onnxruntime_runs(model: Any, precision: str) -> Any:
    """``model`` as it can be converted where onnxruntime cannot run skl2onnx's ``Imputer`` node: a
    SimpleImputer of text (the commonest DataFrame pipeline: imputer, then one-hot encoder), which
    skl2onnx converts only when its missing value is a string (a fitted one's is NaN or None, which a
    string tensor cannot hold), and a numeric one in a double graph (onnxruntime's Imputer takes
    float only). The graph is converted from a copy in which each is a ``FilledImputer``: where the
    input is "" (how modelpack feeds a missing text value to a graph: the runtime's ``_cast_column``)
    or NaN, the value the imputer learned. The model itself is not changed; the check compares the
    two on the data."""
    import copy

    from .._sklearn_versions import estimators_below

    def replaceable(e: Any) -> bool:
        statistics = getattr(e, "statistics_", None)
        if type(e).__name__ != "SimpleImputer" or e.add_indicator or not isinstance(statistics, np.ndarray):
            return False
        if statistics.dtype.kind == "O":  # text: every learned value a string
            return not isinstance(e.missing_values, str) and all(isinstance(v, str) for v in statistics.tolist())
        return precision == "double" and statistics.dtype.kind == "f" and _is_nan(e.missing_values) \
            and not np.isnan(statistics).any()  # (a column it could not fill is dropped: not this graph)

    if not any(replaceable(e) for e in estimators_below(model)):
        return model
    from ._imputer import FilledImputer, register

    register()
    converted = copy.deepcopy(model)
    for parent in estimators_below(converted):
        state = vars(parent)
        for key in ("steps", "transformers", "transformers_"):
            items = state.get(key)
            if isinstance(items, list):
                state[key] = [tuple(FilledImputer(v.statistics_) if i == 1 and replaceable(v) else v
                                    for i, v in enumerate(item)) if isinstance(item, tuple) else item
                              for item in items]
    return converted


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _classifiers_in(model: Any) -> list[Any]:
    from sklearn.base import is_classifier
    from sklearn.pipeline import Pipeline

    from ...metadata import _estimators_in

    return [e for e in _estimators_in(model) if is_classifier(e) and not isinstance(e, Pipeline)]


_NO_CONVERTER = re.compile(r"(?:shape calculator|converter) for (?:type )?'?<class '([\w.]+)'>")


def _translate(exc: Exception, model: Any) -> Exception:
    """skl2onnx's errors can run to megabytes (it prints whole attribute arrays): keep one line."""
    text = str(exc)
    match = _NO_CONVERTER.search(text)
    if match or type(exc).__name__ == "MissingShapeCalculator":
        name = match.group(1).rsplit(".", 1)[-1] if match else "an estimator in the model"
        return UnsupportedModelError(
            f"{name} has no ONNX converter (skl2onnx), so {type(model).__name__} cannot be written as ONNX; "
            "save it as joblib, skops or pickle instead, or replace that step"
        )
    return ConversionError(f"skl2onnx could not convert {type(model).__name__}: {first_line(exc)}")


def output_roles(task: str, names: list[str]) -> dict[str, str]:
    """Which ONNX output answers predict, predict_proba and transform."""
    if task == "classifier" and len(names) >= 2:
        return {"predict": names[0], "predict_proba": names[1]}
    if task == "clusterer" and len(names) >= 2:
        return {"predict": names[0], "transform": names[1]}
    if task in ("transformer", "unknown") and len(names) == 1:
        return {"transform": names[0]}
    return {"predict": names[0]}


def _float_outputs_as_double(proto: Any) -> None:
    """Make every float output of a double export a double, through a Cast.

    skl2onnx sometimes declares ``probabilities`` as float while the node computing it works
    in double (binary LogisticRegression after a ColumnTransformer), and tree ensembles
    output float whatever their input; onnxruntime refuses the first, users are surprised
    by the second. A Cast in front of each float output settles both.
    """
    from onnx import TensorProto, helper

    for output in proto.graph.output:
        tensor = output.type.tensor_type
        if not output.type.HasField("tensor_type") or tensor.elem_type != TensorProto.FLOAT:
            continue
        raw = output.name + "_before_double"
        for node in proto.graph.node:
            node.output[:] = [raw if o == output.name else o for o in node.output]
            node.input[:] = [raw if i == output.name else i for i in node.input]
        proto.graph.node.append(helper.make_node("Cast", [raw], [output.name], to=TensorProto.DOUBLE))
        tensor.elem_type = TensorProto.DOUBLE


def _set_metadata(proto: Any, metadata: Metadata) -> None:
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    proto.doc_string = f"{metadata.model_type} exported by modelpack {metadata.versions.get('modelpack', '')}"


# --- converter registration ---------------------------------------------------------------

_TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
_DOUBLE_ATTRS = ("nodes_values", "class_weights", "target_weights", "base_values", "nodes_hitrates")
_TREE_CONVERTERS = ("RandomForest", "ExtraTrees", "DecisionTree", "GradientBoosting", "HistGradientBoosting")


def register_converters() -> None:
    """Once per process: XGBoost/LightGBM converters, and the tree-converter fixes below."""
    global _done
    with _registered:
        if _done:
            return
        from skl2onnx.common._registration import _converter_pool

        for alias, converter in _converter_pool.items():
            if isinstance(alias, str) and any(t in alias for t in _TREE_CONVERTERS):
                converter._fct = _fixed_tree_converter(converter._fct)
        _register_boosters()
        _register_pmml_readback()
        _done = True


def _fixed_tree_converter(convert: Any) -> Any:
    """Wrap a skl2onnx tree converter so that

    * with double inputs, thresholds and weights are written as ``*_as_tensor`` doubles
      (ai.onnx.ml opset 3) instead of being rounded to float32 — skl2onnx always calls its
      tree converters with op_version=1, which makes double exports of trees flip decisions;
      the ensemble ops output float32 whatever the input, so a Cast restores the declared type;
    * ``nodes_missing_value_tracks_true`` is written as ints (onnx >= 1.18 refuses the
      bools skl2onnx passes for HistGradientBoosting).
    """

    @functools.wraps(convert)
    def wrapper(scope: Any, operator: Any, container: Any) -> Any:
        from onnx import TensorProto, numpy_helper
        from skl2onnx.common.data_types import guess_numpy_type

        double = guess_numpy_type(operator.inputs[0].type) == np.float64
        declared = {v.full_name: guess_numpy_type(v.type) for v in operator.outputs}
        add_node = container.add_node

        def add_tree_node(op_type: str, inputs: Any, outputs: Any, op_domain: str = "", op_version: Any = None, **attrs: Any) -> Any:
            if op_type not in _TREE_OPS or op_domain != "ai.onnx.ml":
                return add_node(op_type, inputs, outputs, op_domain=op_domain, op_version=op_version, **attrs)
            if "nodes_missing_value_tracks_true" in attrs:
                attrs["nodes_missing_value_tracks_true"] = [int(v) for v in attrs["nodes_missing_value_tracks_true"]]
            if not double:
                return add_node(op_type, inputs, outputs, op_domain=op_domain, op_version=op_version, **attrs)
            for key in _DOUBLE_ATTRS:
                if key in attrs:
                    values = np.asarray(attrs.pop(key), dtype=np.float64).ravel()
                    attrs[key + "_as_tensor"] = numpy_helper.from_array(values, name=key)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            casts = []
            for i, name in enumerate(outputs):
                if declared.get(name) == np.float64:
                    outputs[i] = scope.get_unique_variable_name(name + "_float")
                    casts.append((outputs[i], name))
            result = add_node(op_type, inputs, outputs, op_domain=op_domain, op_version=ML_OPSET, **attrs)
            for src, dst in casts:
                add_node("Cast", [src], [dst], to=TensorProto.DOUBLE, op_version=13)
            return result

        container.add_node = add_tree_node
        try:
            if double:
                return convert(scope, operator, container, op_version=ML_OPSET)
            return convert(scope, operator, container)
        finally:
            del container.add_node

    return wrapper


# (library, classifier, regressor, onnxmltools converter module, function, alias prefix)
_BOOSTERS = [
    ("xgboost", "XGBClassifier", "XGBRegressor", "onnxmltools.convert.xgboost.operator_converters.XGBoost",
     "convert_xgboost", "XGBoost"),
    ("lightgbm", "LGBMClassifier", "LGBMRegressor", "onnxmltools.convert.lightgbm.operator_converters.LightGbm",
     "convert_lightgbm", "LightGbm"),
]


def _register_boosters() -> None:
    """XGBoost and LightGBM through onnxmltools' converters, as skl2onnx documents."""
    import importlib

    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for library, classifier, regressor, module, function, prefix in _BOOSTERS:
        try:
            lib = importlib.import_module(library)
            convert = getattr(importlib.import_module(module), function)
        except ImportError:
            continue  # that library is not installed: nothing of it to convert
        update_registered_converter(getattr(lib, classifier), f"{prefix}{classifier}",
                                    calculate_linear_classifier_output_shapes, convert, options=classifier_options)
        update_registered_converter(getattr(lib, regressor), f"{prefix}{regressor}",
                                    calculate_linear_regressor_output_shapes, convert)


def _register_pmml_readback() -> None:
    """sklearn-pmml-model's estimators mimic scikit-learn's attributes: convert them with
    scikit-learn's converters, so a PMML file can become ONNX."""
    try:
        from sklearn.linear_model import LinearRegression, LogisticRegression
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
        from sklearn_pmml_model.linear_model import PMMLLinearRegression, PMMLLogisticRegression
        from sklearn_pmml_model.tree import PMMLTreeClassifier, PMMLTreeRegressor
    except ImportError:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter, get_shape_calculator

    pairs = [
        (PMMLLogisticRegression, LogisticRegression),
        (PMMLLinearRegression, LinearRegression),
        (PMMLTreeClassifier, DecisionTreeClassifier),
        (PMMLTreeRegressor, DecisionTreeRegressor),
    ]
    for readback, original in pairs:
        alias = sklearn_operator_name_map[original]
        converter = get_converter(alias)
        update_registered_converter(
            readback, f"Pmml{readback.__name__}", get_shape_calculator(alias), converter._fct,
            options=converter.get_allowed_options(),
        )
