"""modelpack: save a trained model in any format, load it back as one interface, and prove
that a converted model predicts what the original does.

>>> import modelpack
>>> modelpack.save(clf, "model.onnx", sample=X_train[:100])   # doctest: +SKIP
>>> modelpack.load("model.onnx").predict(X_test)              # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .check import EquivalenceReport, check, verify
from .convert import ConversionResult, convert
from .core import load, save
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
from .info import FileInfo, describe
from .metadata import Feature, InputSchema, Metadata, Sample
from .model import Model
from .registry import Format, NotThisFormat, format_names, get_format

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
