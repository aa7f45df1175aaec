"""The exceptions modelpack raises. Every one says what went wrong and what to do."""

from __future__ import annotations

import re


def a_or_an(noun: str) -> str:
    """``noun`` with the article a reader says: an onnx file, a PMML file, an MLPClassifier, a Pipeline."""
    word = str(noun)
    vowel = word[:1].lower() in "aeiou"
    # a letter said by its name: "an MLP", "an SVC", "an h2o file"
    letter_named = len(word) > 1 and word[0].upper() in "FHLMNRSX" and (word[1].isupper() or word[1].isdigit())
    return f"{'an' if vowel or letter_named else 'a'} {word}"


def spelled(python: str, cli: str) -> str:
    """An option named both ways in a message: ``overwrite=True`` for Python callers, ``--force``
    on the command line. The message reads in Python's terms; the CLI prints it in its own."""
    return f"\x02{python}\x1f{cli}\x03"


_SPELLED = re.compile("\x02([^\x1f\x03]*)\x1f([^\x03]*)\x03")


def _spelling(text: str, cli: bool) -> str:
    return _SPELLED.sub(r"\2" if cli else r"\1", text)


class _Spelled:
    """Messages with :func:`spelled` options read in Python's terms when printed from Python."""

    def __str__(self) -> str:
        return _spelling(super().__str__(), cli=False)  # type: ignore[misc]


class ModelpackError(_Spelled, Exception):
    """Base class of every error modelpack raises on purpose."""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# where in its C++ sources a library raised (onnxruntime: "/onnxruntime_src/.../model.cc:256 "),
# followed by the raising function's signature, which says nothing to a user
_SOURCE_LOCATION = re.compile(r"(?:/[\w.+-]+)+\.(?:cc|cpp|cxx|h|hpp):\d+ ")


def _without_source_locations(text: str) -> str:
    """``text`` without C++ source locations and the signatures after them."""
    out, pos = [], 0
    for found in _SOURCE_LOCATION.finditer(text):
        if found.start() < pos:
            continue
        end = _signature_end(text, found.end())
        if end is None:
            continue
        out.append(text[pos:found.start()])
        pos = end
    return "".join(out) + text[pos:] if out else text


def _signature_end(text: str, start: int) -> int | None:
    """Where a C++ signature starting at ``start`` ends (its parameter list closed, ``const`` and one
    space after it), or None when what follows is not one."""
    opening = text.find("(", start, start + 300)
    if opening < 0 or "::" not in text[start:opening]:
        return None
    depth = 0
    for i in range(opening, min(len(text), opening + 2000)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            end = i + 1
            if text.startswith(" const", end):
                end += len(" const")
            return end + 1 if text.startswith(" ", end) else end
    return None


def first_line(exc: BaseException, limit: int = 300, cli: bool = False) -> str:
    """One line of a library's error, however long it was (skl2onnx's run to megabytes).

    The lines are joined, not dropped: onnxruntime puts the hint after its first line.
    With ``cli``, options are named as the command line spells them (``--force``).
    """
    raw = Exception.__str__(exc) if isinstance(exc, _Spelled) else str(exc)
    text = " ".join(_ANSI.sub("", _spelling(raw[: limit * 4], cli)).split())  # torch.onnx colours its messages
    text = _without_source_locations(text)
    return text[:limit] if text else type(exc).__name__


class UnknownFormatError(ModelpackError, ValueError):
    """The format could not be deduced, or no format has that name."""


class UnknownOptionError(ModelpackError, TypeError):
    """A format was given an option it does not take."""


class UnsupportedModelError(ModelpackError, TypeError):
    """The model (or a part of it) cannot be written in the requested format."""


class UntrustedContentError(ModelpackError):
    """The file refers to code that is not on the allowlist, or to data outside it that modelpack will not read."""


class ResourceLimitError(UntrustedContentError):
    """Loading the file would take more memory, depth or time than its limit allows."""


class CorruptFileError(ModelpackError, ValueError):
    """The file is empty, truncated, not of the format it claims, or its checksum is wrong."""


class MissingDependencyError(ModelpackError, ImportError):
    """A format needs a package that is not installed; the message names the pip extra."""


class InvalidInputError(ModelpackError, ValueError):
    """The data passed to a model does not fit its recorded input schema."""


class FileExistsModelpackError(ModelpackError, FileExistsError):
    """Saving would overwrite an existing file and overwrite=True was not given."""


class ConversionError(ModelpackError):
    """A converter (skl2onnx, sklearn2pmml, ...) failed; the message says which part and why."""


class ModelFileNotFoundError(ModelpackError, FileNotFoundError):
    """A model or data file that does not exist."""


class UnknownCategoryWarning(_Spelled, UserWarning):
    """A string column holds values the model's encoder never saw; they are scored as unknown."""


class VersionMismatchWarning(_Spelled, UserWarning):
    """The file was written with other library versions than the ones installed now."""
