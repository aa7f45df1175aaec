"""What a Keras file's architecture names, read as JSON without Keras: for safety and for ``info``.

Keras rebuilds a model from its config by class name. Its ``safe_mode`` refuses Lambda
layers (Python bytecode) in ``.keras`` files; modelpack checks before Keras runs, for
``.keras`` and legacy ``.h5`` files alike, and also refuses classes from outside Keras
(custom layers, losses, activations registered by the code that wrote the file), which
would be imported and run. ``trust=True`` lets Keras load them.

Keras' own classes and functions are not all harmless either, and what ``safe_mode`` refuses has
grown release by release: modelpack refuses, with any Keras it runs on (``keras>=3.8``),

- a function reference outside Keras' modeling modules (activations, ops, losses, ...): Keras
  before 3.11 resolved ``keras.utils.get_file`` or ``keras.config.enable_unsafe_deserialization``
  from a config as readily as ``relu``;
- ``TorchModuleWrapper``, whose config holds a ``torch.load`` pickle, and ``TFSMLayer``, which
  loads a SavedModel (graph code) from a path;
- a lookup layer (``StringLookup``, ``IntegerLookup``, ``TextVectorization``) whose vocabulary is
  a path: Keras 3.11 read any file (or, through TensorFlow, a URL) into it, and an inverted lookup
  predicts its lines; 3.15 refuses it in safe mode.

The top-level ``compile_config`` (loss, metrics, optimizer) is not looked at: modelpack loads with
``compile=False``, so Keras never deserializes it.
"""

from __future__ import annotations

import builtins
import json
import zipfile
from pathlib import Path
from typing import Any

from ...errors import CorruptFileError, UntrustedContentError, a_or_an, first_line
from ...safety import TRUST_HINT

MAX_CONFIG = 64 << 20
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Modules whose classes Keras builds from its own code.
KERAS_MODULES = ("keras",)
#: What Keras records as ``builtins``: plain values, never a callable.
PLAIN_BUILTINS = {"tuple", "list", "dict", "set", "str", "int", "float", "bytes", "bool", "NoneType"}


def is_hdf5(path: Path) -> bool:
    """Whether ``path`` is a legacy ``.h5`` file (else a ``.keras`` zip)."""
    with open(path, "rb") as fh:
        return fh.read(8) == HDF5_MAGIC


def read_config(path: Path) -> dict[str, Any]:
    """The model's architecture (config.json of a .keras zip; the model_config attribute of an .h5)."""
    if is_hdf5(path):
        return _h5_config(path)
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > MAX_CONFIG:
                raise CorruptFileError(f"{path.name}: config.json is {info.file_size} bytes; a Keras config is small")
            with zf.open(info) as fh:
                return json.loads(fh.read(MAX_CONFIG + 1))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise CorruptFileError(f"{path.name} is not a Keras file (no readable config.json): {first_line(exc)}") from exc


def _h5_config(path: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get("model_config")
    except OSError as exc:
        raise CorruptFileError(f"{path.name} is not a readable HDF5 file: {first_line(exc)}") from exc
    if raw is None:
        raise CorruptFileError(f"{path.name} is an HDF5 file without a Keras model_config (weights only?); "
                               "load the weights into the model's code and save it as .keras")
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    if len(text) > MAX_CONFIG:
        raise CorruptFileError(f"{path.name}: its model_config is {len(text)} characters; a Keras config is small")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CorruptFileError(f"{path.name}: its model_config is not readable JSON: {first_line(exc)}") from exc


#: Layers whose config runs code or reads files whatever their module: Python bytecode, a pickled
#: torch module, a SavedModel's graph.
CODE_LAYERS = {"Lambda": "Python code", "TFOpLambda": "Python code", "__lambda__": "Python code",
               "TorchModuleWrapper": "a pickled torch module", "TFSMLayer": "a SavedModel loaded from a path"}
#: Layers that read their vocabulary from a file when the config gives a string.
LOOKUP_LAYERS = {"StringLookup", "IntegerLookup", "IndexLookup", "TextVectorization"}
#: Where a function named in a config may come from: Keras' modeling functions.
FUNCTION_MODULES = ("activations", "ops", "losses", "metrics", "initializers", "regularizers", "constraints",
                    "random")


def refused_in(config: Any) -> list[str]:
    """What rebuilding ``config`` would import, run or read beyond Keras' own modeling code."""
    found: list[str] = []
    stack = [{k: v for k, v in config.items() if k != "compile_config"} if isinstance(config, dict) else config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            name = node.get("class_name")
            if not isinstance(name, str):
                continue
            module = node.get("module")
            inner = node.get("config")
            if name in CODE_LAYERS:
                found.append(f"{a_or_an(name)} layer ({CODE_LAYERS[name]}: {_layer_name(node)})")
            elif name in LOOKUP_LAYERS and isinstance(inner, dict) and isinstance(inner.get("vocabulary"), str):
                found.append(f"{a_or_an(name)} layer reading its vocabulary from {inner['vocabulary']!r}")
            elif name == "function":
                if not _modeling_function(module, inner):
                    found.append(f"the function {module}.{inner}")
            elif module == "builtins":
                if name not in PLAIN_BUILTINS:
                    found.append(f"builtins.{name}")
            elif isinstance(module, str) and module != "keras" and not module.startswith("keras."):
                found.append(f"{module}.{name}")
    return list(dict.fromkeys(found))


def _modeling_function(module: Any, name: Any) -> bool:
    """Whether the function ``module.name`` is one of Keras' modeling functions (``keras.activations``,
    ``keras.ops``, ...), not its utilities, saving or configuration. Keras writes its own built-in
    functions (``loss=keras.losses.mse``) as ``builtins.mse`` and looks the name up in its
    activations, losses, metrics, ...; Keras 3.8 then fell back to Python's builtins (``exec``)."""
    if not isinstance(module, str) or not isinstance(name, str) or not name.isidentifier():
        return False
    if module == "builtins":
        return not hasattr(builtins, name)
    parts = module.split(".")
    if parts[:2] == ["keras", "src"]:
        parts = parts[2:]
    elif parts[:1] == ["keras"]:
        parts = parts[1:]
    else:
        return False
    return bool(parts) and parts[0] in FUNCTION_MODULES


def _layer_name(node: dict[str, Any]) -> str:
    config = node.get("config")
    return str(config.get("name")) if isinstance(config, dict) else "unnamed"


def check_config(path: Path, trust: bool) -> dict[str, Any]:
    config = read_config(path)
    refused = refused_in(config)
    if refused and not trust:
        raise UntrustedContentError(
            f"{path.name} holds {', '.join(refused[:5])}, which Keras would import, run or read to rebuild the model; "
            f"{TRUST_HINT}"
        )
    return config


def describe_config(config: dict[str, Any]) -> dict[str, Any]:
    """The architecture in a few facts, for ``modelpack info``."""
    layers: list[str] = []
    inputs: list[dict[str, Any]] = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            name = node.get("class_name")
            inner = node.get("config")
            if isinstance(name, str) and isinstance(inner, dict):
                if name == "InputLayer":
                    shape = inner.get("batch_shape") or inner.get("batch_input_shape")
                    inputs.append({"name": inner.get("name"), "type": f"tensor({inner.get('dtype')})"
                                   f"[{', '.join('N' if d is None else str(d) for d in shape or [])}]"})
                elif "trainable" in inner and "layers" not in inner:  # a layer, not an initializer or optimizer
                    layers.append(name)
            stack.extend(reversed(list(node.values())))
    counts: dict[str, int] = {}
    for layer in layers:
        counts[layer] = counts.get(layer, 0) + 1
    return {"model_class": config.get("class_name"), "inputs": inputs, "layers": counts,
            "refused without trust": refused_in(config)}
