"""modelpack: save a trained model in any format, load it back as one interface, and prove
that a converted model predicts what the original does.

>>> import modelpack
>>> modelpack.save(clf, "model.onnx", sample=X_train[:100])   # doctest: +SKIP
>>> modelpack.load("model.onnx").predict(X_test)              # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import (
    ConversionError,
    CorruptFileError,
    FileExistsModelpackError,
    InvalidInputError,
    MissingDependencyError,
    ModelpackError,
    ResourceLimitError,
    UnknownFormatError,
    UnknownOptionError,
    UnsupportedModelError,
    UntrustedContentError,
    VersionMismatchWarning,
)

if TYPE_CHECKING:
    from .check import EquivalenceReport, check, verify
    from .convert import ConversionResult, convert
    from .core import load, save
    from .info import FileInfo, describe
    from .metadata import Feature, InputSchema, Metadata, Sample
    from .model import Model
    from .registry import Format, NotThisFormat, format_names, get_format

#: Where each public name lives. They are imported on first use (PEP 562), so ``import modelpack``
#: costs no numpy, and a command such as ``modelpack info`` imports only what it reads with.
_LAZY = {
    "EquivalenceReport": "check", "check": "check", "verify": "check",
    "ConversionResult": "convert", "convert": "convert",
    "load": "core", "save": "core",
    "FileInfo": "info", "describe": "info",
    "Feature": "metadata", "InputSchema": "metadata", "Metadata": "metadata", "Sample": "metadata",
    "Model": "model",
    "Format": "registry", "NotThisFormat": "registry", "format_names": "registry", "get_format": "registry",
}


def __getattr__(name: str) -> Any:
    from importlib import import_module
    from importlib.util import find_spec

    where = _LAZY.get(name)
    if where is not None:
        value = getattr(import_module(f".{where}", __name__), name)
    elif not name.startswith("__") and find_spec(f"{__name__}.{name}") is not None:
        value = import_module(f".{name}", __name__)  # ``modelpack.registry`` and the like, as when imported eagerly
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The import system binds every submodule on its package once imported. ``check`` and
    ``convert`` name both a submodule and its public function; the function keeps the name, as it
    did when this package imported them eagerly (the submodules stay in ``sys.modules``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "ConversionError",
    "ConversionResult",
    "CorruptFileError",
    "EquivalenceReport",
    "Feature",
    "FileInfo",
    "FileExistsModelpackError",
    "Format",
    "InputSchema",
    "InvalidInputError",
    "Metadata",
    "MissingDependencyError",
    "Model",
    "ModelpackError",
    "ResourceLimitError",
    "NotThisFormat",
    "Sample",
    "UnknownFormatError",
    "UnknownOptionError",
    "UnsupportedModelError",
    "UntrustedContentError",
    "VersionMismatchWarning",
    "__version__",
    "check",
    "convert",
    "describe",
    "format_names",
    "get_format",
    "load",
    "save",
    "verify",
]
