"""Running ONNX with onnxruntime: the caller's DataFrame or array in, scikit-learn's shapes out.

Imports onnxruntime and numpy only (pandas when the caller passes records).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, InvalidInputError, first_line
from ...metadata import STRING, Feature, InputSchema, Metadata
from ...model import Model, check_columns

_NUMPY_OF = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": object,
    "tensor(bool)": np.bool_,
}
_KIND_OF = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
            "tensor(int32)": "int64", "tensor(string)": STRING, "tensor(bool)": "bool"}


def open_session(source: Path | bytes, providers: list[str] | None = None, threads: int | None = None,
                 spin: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    if not spin:
        # idle pool threads sleep instead of spinning: slower wake-ups (measured 1.4-1.9× on
        # single rows and 10k batches), but they leave the cores to other busy threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            source if isinstance(source, bytes) else str(source),
            options,
            providers=providers or ["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        where = "the exported model" if isinstance(source, bytes) else str(source)
        raise CorruptFileError(f"onnxruntime cannot load {where}: {first_line(exc)}") from exc


class OnnxModel(Model):
    """An ONNX graph behind the :class:`~modelpack.Model` interface."""

    def __init__(self, session: Any, metadata: Metadata | None, path: Path | None) -> None:
        self._session = session
        self._inputs = session.get_inputs()
        self._input_names = [i.name for i in self._inputs]
        self._input_dtypes = [_NUMPY_OF.get(i.type, np.float32) for i in self._inputs]
        outputs = session.get_outputs()
        if metadata is None:
            metadata = _describe_foreign(session)
        roles = metadata.extra.get("onnx_outputs") or _guess_roles(outputs)
        self._roles = {role: name for role, name in roles.items() if name in {o.name for o in outputs}}
        self._zipmap = {o.name for o in outputs if o.type.startswith("seq(map")}
        super().__init__(format="onnx", path=path, metadata=metadata, capabilities=set(self._roles))
        schema = metadata.input_schema
        self._names = schema.names if schema is not None else None
        self._per_column = len(self._inputs) > 1 or (
            schema is not None and schema.kind == "dataframe" and self._input_names == schema.names
            and len(self._inputs) == schema.n_features and _is_column(self._inputs[0])
        )
        self._width = _width(self._inputs[0]) if not self._per_column else None
        if any(d == np.float32 for d in self._input_dtypes) or metadata.extra.get("precision") != "double":
            self.tolerance, self.arithmetic = (1e-4, 1e-6), "the ONNX graph computes in float32"
        else:
            self.tolerance, self.arithmetic = (1e-6, 1e-9), "the ONNX graph computes in double (tree scores in float32)"

    @property
    def native(self) -> Any:
        return self._session

    # -- inputs -----------------------------------------------------------------------------

    def feeds(self, X: Any) -> dict[str, np.ndarray]:
        """The onnxruntime feed dict for ``X`` (DataFrame, 2-D array, dict of columns or records)."""
        if type(X) is np.ndarray and X.ndim == 2 and X.shape[1] == self._width:  # the hot path
            dtype = self._input_dtypes[0]
            return {self._input_names[0]: X if X.dtype == dtype else X.astype(dtype)}
        if isinstance(X, dict):  # columns by name: no pandas on this path (it is the server's)
            names = self._input_names if self._per_column else self._names
            if names is None:
                raise InvalidInputError("this ONNX file records no column names; pass an array")
            check_columns([str(k) for k in X], names)
            if self._per_column:
                return {n: _cast_column(np.asarray(X[n]), d, n).reshape(-1, 1)
                        for n, d in zip(self._input_names, self._input_dtypes)}
            return {self._input_names[0]: self._tensor(np.column_stack([np.asarray(X[n], dtype=np.float64) for n in names]))}
        X = self.as_model_input(X)
        if self._per_column:
            return self._column_feeds(X)
        return {self._input_names[0]: self._tensor(X)}

    def _tensor(self, X: Any) -> np.ndarray:
        dtype = self._input_dtypes[0]
        if hasattr(X, "columns") and self._names is not None and self.metadata.input_schema is not None \
                and self.metadata.input_schema.kind == "dataframe":
            check_columns(list(map(str, X.columns)), self._names)
            X = X[self._names]
        try:
            arr = X if type(X) is np.ndarray and X.dtype == dtype else np.asarray(X, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"input cannot be read as {np.dtype(dtype).name}: {exc}") from exc
        if arr.ndim == 1 and self._width is not None:
            arr = arr.reshape(1, -1) if arr.shape[0] == self._width else arr.reshape(-1, 1)
        if self._width is not None and (arr.ndim != 2 or arr.shape[1] != self._width):
            raise InvalidInputError(
                f"the model expects {self._width} features per row, got an input of shape {arr.shape}"
            )
        return arr

    def _column_feeds(self, X: Any) -> dict[str, np.ndarray]:
        if hasattr(X, "columns"):
            check_columns(list(map(str, X.columns)), self._input_names)
            columns = [X[name].to_numpy() for name in self._input_names]
        else:
            arr = np.asarray(X, dtype=object)
            if arr.ndim != 2 or arr.shape[1] != len(self._input_names):
                raise InvalidInputError(
                    f"the model expects columns {', '.join(self._input_names)}; pass a DataFrame with "
                    f"those columns (got an array of shape {arr.shape})"
                )
            columns = list(arr.T)
        return {
            name: _cast_column(col, dtype, name).reshape(-1, 1)
            for name, dtype, col in zip(self._input_names, self._input_dtypes, columns)
        }

    # -- outputs ----------------------------------------------------------------------------

    def _run(self, role: str, X: Any) -> np.ndarray:
        name = self._roles[role]
        out = self._session.run([name], self.feeds(X))[0]
        if name in self._zipmap:
            out = _unzip(out, self.metadata.classes)
        return np.asarray(out)

    def _predict(self, X: Any) -> np.ndarray:
        out = self._run("predict", X)
        if out.ndim == 2 and 1 in out.shape:  # [N, 1], or [1, N] as some converters write labels
            out = out.ravel()
        if out.dtype == np.float32 and self.metadata.task == "regressor":
            out = out.astype(np.float64)  # scikit-learn regressors return float64
        return out

    def _predict_proba(self, X: Any) -> np.ndarray:
        return self._run("predict_proba", X).astype(np.float64, copy=False)

    def _transform(self, X: Any) -> np.ndarray:
        return self._run("transform", X).astype(np.float64, copy=False)


def _cast_column(col: np.ndarray, dtype: Any, name: str) -> np.ndarray:
    if dtype is object:
        # Missing strings become "" so onnxruntime gets str only (OneHotEncoder treats it as unknown).
        return np.array(["" if v is None or v != v else str(v) for v in col], dtype=object)
    try:
        return np.asarray(col, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"column {name!r} cannot be read as {np.dtype(dtype).name}: {exc}") from exc


def _is_column(inp: Any) -> bool:
    shape = inp.shape
    return len(shape) == 2 and shape[1] == 1


def _width(inp: Any) -> int | None:
    shape = inp.shape
    return shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None


def _unzip(maps: list[dict[Any, float]], classes: list[Any] | None) -> np.ndarray:
    keys = classes if classes is not None else (sorted(maps[0]) if maps else [])
    return np.array([[m[k] for k in keys] for m in maps], dtype=np.float64)


def _guess_roles(outputs: list[Any]) -> dict[str, str]:
    """For ONNX files not written by modelpack: label + probabilities, or a single output."""
    names = [o.name for o in outputs]
    if len(outputs) >= 2 and (outputs[1].type.startswith("seq(map") or outputs[1].type == "tensor(float)"):
        if outputs[0].type in ("tensor(int64)", "tensor(string)") and len(outputs[0].shape) == 1:
            return {"predict": names[0], "predict_proba": names[1]}
    return {"predict": names[0]}


def _describe_foreign(session: Any) -> Metadata:
    inputs = session.get_inputs()
    roles = _guess_roles(session.get_outputs())
    if len(inputs) > 1:
        schema: InputSchema | None = InputSchema(
            tuple(Feature(i.name, _KIND_OF.get(i.type, "float32")) for i in inputs), "dataframe"
        )
    elif _width(inputs[0]) is not None:
        kind = _KIND_OF.get(inputs[0].type, "float32")
        schema = InputSchema(tuple(Feature(f"x{i + 1}", kind) for i in range(_width(inputs[0]) or 0)), "array")
    else:
        schema = None
    meta = session.get_modelmeta()
    return Metadata(
        format="onnx",
        task="classifier" if "predict_proba" in roles else "unknown",
        model_type=f"onnx graph from {meta.producer_name or 'an unknown producer'}",
        input_schema=schema,
        extra={"onnx_outputs": roles},
    )
