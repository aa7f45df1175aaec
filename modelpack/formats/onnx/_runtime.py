"""Running ONNX with onnxruntime: the caller's DataFrame or array in, scikit-learn's shapes out.

Imports onnxruntime and numpy only (pandas when the caller passes records).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ...data import TypedColumns
from ...errors import CorruptFileError, InvalidInputError, ModelpackError, UnsupportedModelError, first_line
from ...metadata import STRING, Feature, InputSchema, Metadata
from ...model import Model, check_columns

_NUMPY_OF = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint64)": np.uint64,
    "tensor(uint32)": np.uint32,
    "tensor(uint16)": np.uint16,
    "tensor(uint8)": np.uint8,
    "tensor(string)": object,
    "tensor(bool)": np.bool_,
}
_KIND_OF = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float32",
            "tensor(string)": STRING, "tensor(bool)": "bool"}


def _kind_of(onnx_type: str) -> str:
    dtype = _NUMPY_OF.get(onnx_type)
    if dtype is not None and dtype is not object and np.issubdtype(dtype, np.integer):
        return "int64"
    return _KIND_OF.get(onnx_type, "float32")


def open_session(source: Path | bytes, providers: list[str] | None = None, threads: int | None = None,
                 spin: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # onnxruntime's warnings about other tools' graphs (old opsets, initializers listed as
    # inputs) are not the user's to act on; its errors reach them as modelpack's one line
    options.log_severity_level = 4
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
            # Without this, a ValueError or RuntimeError while the session is made (a graph it refuses,
            # a provider that fails) is printed to stdout, four lines of "EP Error", and the same
            # session made again on onnxruntime's default providers: noise in a `predict` writing to
            # stdout, a second failure for a broken file, and another provider than asked for.
            enable_fallback=0,
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise _load_error(exc, source, ort.__version__) from exc


_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (?:Load model from .*? failed: ?)?")
# ONNX Runtime "only guarantees support" for opset 7 and later of the standard operators; what it
# dropped from older opsets has no kernel ("Could not find an implementation for AveragePool(1)").
_OLDEST_OPSET = 7


def _load_error(exc: Exception, source: Path | bytes, version: str) -> ModelpackError:
    """What onnxruntime's refusal of a graph means for its user, in one line: a file newer than the
    installed onnxruntime, an old one it no longer runs and a custom operator are not corrupt files."""
    where = "the exported model" if isinstance(source, bytes) else Path(source).name
    if isinstance(exc, UnicodeDecodeError):  # its binding could not decode onnxruntime's message
        return CorruptFileError(f"onnxruntime cannot load {where}, and its message quotes names that are not "
                                "UTF-8 text: the file is damaged, or was not written as ONNX")
    text = _ORT_PREFIX.sub("", first_line(exc, 600))
    runtime = f"onnxruntime {version}"
    if m := re.search(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)", text):
        return UnsupportedModelError(f"{where} is ONNX IR version {m[1]}, newer than {runtime} reads (up to {m[2]}); "
                                     "upgrade onnxruntime: pip install -U onnxruntime")
    if m := re.search(r"Opset (\d+) is under development.*? for domain (\S+) is till opset (\d+)", text):
        return UnsupportedModelError(
            f"{where} declares opset {m[1]} of the {m[2]} operators, newer than {runtime} runs (up to {m[3]}); "
            f"upgrade onnxruntime (pip install -U onnxruntime), or export the model again for opset {m[3]}")
    if m := re.search(r"Could not find an implementation for (\w+)\((\d+)\)", text):
        standard = _standard_opset(source)
        if standard is not None and standard < _OLDEST_OPSET:
            hint = (f"the file declares opset {standard} of the ONNX operators, and {runtime} runs opset "
                    f"{_OLDEST_OPSET} and later: upgrade the file with onnx.version_converter.convert_version("
                    "onnx.load(path), 13), then check that it still predicts what its producer expects")
        else:
            hint = "not for the types of this graph's tensors, or not on the CPU; another execution provider may"
        return UnsupportedModelError(f"{where} uses {m[1]} from opset {m[2]}, which {runtime} does not implement: {hint}")
    if m := re.search(r"([\w.]+):(\w+)\(-?\d+\) is not a registered function/op", text):
        return UnsupportedModelError(
            f"{where} uses {m[2]} from the operator domain {m[1]!r}, which {runtime} does not implement: a custom "
            "operator, run by the library that defines it (onnxruntime-extensions for 'ai.onnx.contrib'); "
            "modelpack runs ONNX's own operators and onnxruntime's")
    return CorruptFileError(f"onnxruntime cannot load {where}: {text}")


def _standard_opset(source: Path | bytes) -> int | None:
    """The opset of the standard ONNX operators ``source`` declares, if modelpack's reader finds one."""
    from ._proto import parse_model, read_model

    try:
        summary = parse_model(source) if isinstance(source, bytes) else read_model(source)
    except ModelpackError:
        return None
    return next((v for d, v in summary.opsets if d in ("", "ai.onnx")), None)


class OnnxModel(Model):
    """An ONNX graph behind the :class:`~modelpack.Model` interface."""

    takes_columns = True  # feeds are built from a dict of columns directly (serve's fast path)

    def __init__(self, session: Any, metadata: Metadata | None, path: Path | None) -> None:
        self._session = session
        self._inputs = session.get_inputs()
        self._n_inputs = len(self._inputs)
        self._core = getattr(session, "_sess", None) if session.get_providers() == ["CPUExecutionProvider"] else None
        self._input_names = [i.name for i in self._inputs]
        self._input_dtypes = [_NUMPY_OF.get(i.type, np.float32) for i in self._inputs]
        outputs = session.get_outputs()
        if metadata is None:
            metadata = _describe_foreign(session, path)
        roles = metadata.extra.get("onnx_outputs") or _guess_roles(outputs)
        self._roles = {role: name for role, name in roles.items() if name in {o.name for o in outputs}}
        self._zipmap = {o.name for o in outputs if o.type.startswith("seq(map")}
        self._sequences = {o.name for o in outputs if o.type.startswith("seq(tensor")}
        # graphs from other tools: one map per run (DictVectorizer), a fixed batch size, N-D tensors
        self._map_input = self._input_names[0] if self._inputs[0].type.startswith("map(") else None
        self._batch = _fixed_batch(self._inputs)
        tensors = [i for i in self._inputs if i.type.startswith("tensor(")]
        self._tensors = self._map_input is None and (
            any(len(i.shape) != 2 for i in tensors) or (len(tensors) > 1 and not all(map(_is_column, tensors))))
        super().__init__(format="onnx", path=path, metadata=metadata, capabilities=set(self._roles))
        schema = metadata.input_schema
        self._names = schema.names if schema is not None else None
        self._per_column = len(self._inputs) > 1 or (
            schema is not None and schema.kind == "dataframe" and self._input_names == schema.names
            and len(self._inputs) == schema.n_features and _is_column(self._inputs[0])
        )
        self._width = _width(self._inputs[0]) if not self._per_column else None
        # Columns typed by the schema (TypedColumns) are this graph's inputs by name: no checks to repeat.
        self._typed_inputs = list(zip(self._input_names, self._input_dtypes)) if (
            self._per_column and self._map_input is None and schema is not None and schema.kind == "dataframe"
            and sorted(self._input_names) == sorted(schema.names)) else None
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
        if type(X) is TypedColumns and self._typed_inputs is not None and X.schema is self.metadata.input_schema:
            return {n: _cast_column(X[n], d, n).reshape(-1, 1) for n, d in self._typed_inputs}
        if self._tensors:
            return self._tensor_feeds(self.as_model_input(X))
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

    def as_model_input(self, X: Any) -> Any:
        if self._tensors and isinstance(X, dict):
            return X  # arrays by input name (an .npz file), not columns
        return super().as_model_input(X)

    def _tensor_feeds(self, X: Any) -> dict[str, np.ndarray]:
        """Inputs that are not tables: images, sequences, several tensors (from .npy/.npz files)."""
        if hasattr(X, "columns"):
            shapes = ", ".join(f"{i.name} {_shape_text(i.shape)}" for i in self._inputs)
            raise InvalidInputError(
                f"this ONNX graph takes tensors ({shapes}), which a table (CSV, Parquet, JSON lines) "
                "cannot hold; pass a NumPy array (a .npy file, or .npz with one array per input name)"
            )
        given = X if isinstance(X, dict) else {self._input_names[0]: X}
        check_columns([str(k) for k in given], self._input_names)
        feeds = {}
        for inp, dtype in zip(self._inputs, self._input_dtypes):
            try:
                arr: np.ndarray = np.asarray(given[inp.name], dtype=dtype)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"input {inp.name!r} cannot be read as {np.dtype(dtype).name}: {exc}") from exc
            if arr.ndim == len(inp.shape) - 1 and self._batch is None:
                arr = arr[np.newaxis]  # one example without its batch axis
            _check_shape(inp, arr)
            feeds[inp.name] = arr
        return feeds

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
        return self._run_rows(role, X)[0]

    def _run_rows(self, role: str, X: Any) -> tuple[np.ndarray, int]:
        """The output named by ``role``, and how many rows (examples) it was computed for."""
        name = self._roles[role]
        if self._map_input is not None:
            records = self._map_rows(X)
            out = _join([self._session.run([name], {self._map_input: row})[0] for row in records])
            rows = len(records)
        else:
            feeds = self.feeds(X)
            rows = len(next(iter(feeds.values())))
            out = self._run_feeds(name, feeds)
        if name in self._zipmap:
            out = _unzip(out, self.metadata.classes)
        elif name in self._sequences:
            out = _stack(out, name)
        return np.asarray(out), rows

    def _run_feeds(self, name: str, feeds: dict[str, np.ndarray]) -> Any:
        """One run, or one per fixed-size batch (the last padded, its padding dropped)."""
        if self._batch is None:
            return self._run_session(name, feeds)
        n = len(next(iter(feeds.values())))
        if n == self._batch:
            return self._run_session(name, feeds)
        parts = []
        for start in range(0, n, self._batch):
            chunk = {k: v[start : start + self._batch] for k, v in feeds.items()}
            short = self._batch - len(next(iter(chunk.values())))
            if short:
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], short, axis=0)]) for k, v in chunk.items()}
            out = self._session.run([name], chunk)[0]
            parts.append(out[: self._batch - short] if short else out)
        return _join(parts)

    def _run_session(self, name: str, feeds: dict[str, np.ndarray]) -> Any:
        """``session.run([name], feeds)[0]``. onnxruntime's Python ``run`` checks that every input is fed,
        that no OrtValue is another session's and that WebGPU graph capture is off, and falls back from
        a failing accelerator: 2-3 µs of a one-row call. The feeds built here are numpy arrays, one for
        every input, and the session runs on the CPU alone, so none of that can happen: its C++ session
        is called directly, as long as it is the one the session was opened with (``set_providers``
        on ``native`` makes another)."""
        core = self._core
        if core is not None and self._session._sess is core and len(feeds) == self._n_inputs:
            return core.run([name], feeds, None)[0]
        return self._session.run([name], feeds)[0]

    def _map_rows(self, X: Any) -> list[dict[Any, float]]:
        """A map input (DictVectorizer's) takes one row as {column: value}; missing values are absent keys."""
        if isinstance(X, list) and X and isinstance(X[0], dict):
            records = X
        elif hasattr(X, "to_dict"):
            records = X.to_dict(orient="records")
        else:
            raise InvalidInputError(
                f"input {self._map_input!r} is a map from names to numbers; pass a DataFrame, records or a CSV")
        return [{str(k): float(v) for k, v in r.items() if v is not None and v == v} for r in records]

    def _predict(self, X: Any) -> np.ndarray:
        out, rows = self._run_rows("predict", X)
        # [N, 1], or [1, N] as some converters write labels, is one value per row. One row's
        # [1, K] (a network's K outputs) stays a row: its shape must not depend on the batch's size.
        if out.ndim == 2 and (out.shape[1] == 1 or out.shape == (1, rows)):
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
        if col.dtype == object and all(type(v) is str for v in col.tolist()):  # tolist: no numpy per element
            return col
        # Missing strings become "" so onnxruntime gets str only (OneHotEncoder treats it as unknown).
        return np.array(["" if v is None or v != v else str(v) for v in col], dtype=object)
    if col.dtype == dtype:
        return col
    try:
        return np.asarray(col, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"column {name!r} cannot be read as {np.dtype(dtype).name}: {exc}") from exc


def _fixed_batch(inputs: list[Any]) -> int | None:
    """The batch size a graph was exported with ([1, k] is common from tf2onnx), if it fixes one."""
    firsts = {i.shape[0] for i in inputs if i.type.startswith("tensor(") and len(i.shape) >= 1}
    if len(firsts) == 1:
        first = firsts.pop()
        return first if isinstance(first, int) and first > 0 else None
    return None


def _shape_text(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) else "N" if i == 0 else str(d or "?") for i, d in enumerate(shape)) + "]"


def _check_shape(inp: Any, arr: np.ndarray) -> None:
    expected = inp.shape
    fits = arr.ndim == len(expected) and all(
        not isinstance(d, int) or i == 0 or d == got for i, (d, got) in enumerate(zip(expected, arr.shape)))
    if not fits:
        raise InvalidInputError(
            f"input {inp.name!r} takes arrays of shape {_shape_text(expected)}, got one of shape {list(arr.shape)}")


def _join(parts: list[Any]) -> Any:
    if parts and isinstance(parts[0], list):  # ZipMap's list of dicts
        return [row for part in parts for row in part]
    return np.concatenate([np.asarray(p) for p in parts]) if parts else np.empty(0)


def _stack(sequence: list[Any], name: str) -> np.ndarray:
    """A sequence output as one array when its tensors have one shape, else refused by name."""
    arrays = [np.asarray(t) for t in sequence]
    if arrays and all(a.shape == arrays[0].shape for a in arrays):
        return np.stack(arrays)
    shapes = sorted({a.shape for a in arrays})[:4]
    raise InvalidInputError(f"output {name!r} is a sequence of tensors of different shapes {shapes}; "
                            "use model.native.run() to read it as a list")


def _is_column(inp: Any) -> bool:
    shape = inp.shape
    return len(shape) == 2 and shape[1] == 1


def _width(inp: Any) -> int | None:
    shape = inp.shape
    return shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None


def _unzip(maps: list[dict[Any, float]], classes: list[Any] | None) -> np.ndarray:
    keys = classes if classes is not None else (list(maps[0]) if maps else [])
    return np.array([[m[k] for k in keys] for m in maps], dtype=np.float64)


def _guess_roles(outputs: list[Any]) -> dict[str, str]:
    """For ONNX files not written by modelpack: label + probabilities, or a single output."""
    names = [o.name for o in outputs]
    if len(outputs) >= 2 and (outputs[1].type.startswith("seq(map") or outputs[1].type == "tensor(float)"):
        if outputs[0].type in ("tensor(int64)", "tensor(string)") and len(outputs[0].shape) == 1:
            return {"predict": names[0], "predict_proba": names[1]}
    return {"predict": names[0]}


def _describe_foreign(session: Any, path: Path | None) -> Metadata:
    inputs = session.get_inputs()
    roles = _guess_roles(session.get_outputs())
    schema: InputSchema | None = None
    if all(i.type.startswith("tensor(") and len(i.shape) == 2 for i in inputs):
        if len(inputs) > 1 and all(map(_is_column, inputs)):
            schema = InputSchema(tuple(Feature(i.name, _kind_of(i.type)) for i in inputs), "dataframe")
        elif len(inputs) == 1 and _width(inputs[0]) is not None:
            kind = _kind_of(inputs[0].type)
            schema = InputSchema(tuple(Feature(f"x{i + 1}", kind) for i in range(_width(inputs[0]) or 0)), "array")
    meta = session.get_modelmeta()
    classes = graph_labels(path) if "predict_proba" in roles and path is not None else None
    return Metadata(
        format="onnx",
        task="classifier" if "predict_proba" in roles else "unknown",
        model_type=f"onnx graph from {meta.producer_name or 'an unknown producer'}",
        input_schema=schema,
        classes=classes,
        extra={"onnx_outputs": roles},
    )


def graph_labels(path: Path) -> list[Any] | None:
    """A classifier's labels as its graph stores them."""
    from ._proto import read_model

    try:
        return read_model(path).labels()
    except CorruptFileError:  # onnxruntime read it; a label lookup is not worth failing the load over
        return None
