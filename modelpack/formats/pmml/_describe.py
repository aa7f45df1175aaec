"""What a PMML document says about itself, read in one pass without running or expanding anything.

The description is what ``modelpack info`` shows for any PMML file and what the runtime
uses to find a classifier's classes and probability columns, whatever a producer named
its output fields: R, KNIME, SAS and the DMG's examples name them differently from
sklearn2pmml, but all of them declare ``feature="probability" value="..."``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, cast
from xml.parsers import expat

from ...errors import CorruptFileError
from ._xml import _MODEL_ELEMENTS, EXTENSION_NAME, _parser

PMML_NAMESPACE_PREFIX = "http://www.dmg.org/PMML-"


@dataclass
class DataField:
    name: str
    optype: str
    data_type: str
    values: list[str] = field(default_factory=list)  # valid values, in document order
    intervals: list[tuple[float | None, float | None]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "optype": self.optype, "dataType": self.data_type}
        if self.values:
            d["values"] = self.values
        if self.intervals:
            d["intervals"] = [list(i) for i in self.intervals]
        return d


@dataclass
class OutputField:
    name: str
    feature: str
    value: str | None
    data_type: str | None
    target_field: str | None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in {"name": self.name, "feature": self.feature, "value": self.value,
                                  "dataType": self.data_type, "targetField": self.target_field}.items() if v}


@dataclass
class PmmlDescription:
    """The parts of a PMML document a user (and the scorer) needs, in document terms."""

    version: str | None = None
    namespace: str | None = None
    application: str | None = None
    application_version: str | None = None
    description: str | None = None
    timestamp: str | None = None
    model_element: str | None = None
    function: str | None = None
    model_name: str | None = None
    algorithm: str | None = None
    segments: int = 0
    derived_fields: int = 0
    data_fields: dict[str, DataField] = field(default_factory=dict)
    mining_fields: dict[str, str] = field(default_factory=dict)  # name -> usageType
    outputs: list[OutputField] = field(default_factory=list)  # the top-level model's
    nested_outputs: dict[str, OutputField] = field(default_factory=dict)  # any model's, by name
    target_values: list[str] = field(default_factory=list)  # <Targets><Target><TargetValue value>
    verification_rows: int | None = None
    verification_fields: list[str] = field(default_factory=list)
    extension: str | None = None  # modelpack's own metadata, when modelpack wrote the file

    @property
    def producer(self) -> str:
        if self.application is None:
            return "unknown (the Header names no Application)"
        return f"{self.application} {self.application_version or ''}".strip()

    @property
    def inputs(self) -> list[str]:
        return [n for n, usage in self.mining_fields.items() if usage == "active"]

    @property
    def targets(self) -> list[str]:
        return [n for n, usage in self.mining_fields.items() if usage in ("target", "predicted")]

    @property
    def target(self) -> str | None:
        return self.targets[0] if self.targets else None

    def probability_outputs(self, names: list[str] | None = None) -> dict[str, str]:
        """Class label -> output field name, for ``feature="probability"`` fields that name a class.

        ``names`` are the output fields the evaluator exposes, when they are not the top-level
        model's own: a model chain's results are its last segment's output fields.
        """
        found: dict[str, str] = {}
        known = {o.name: o for o in self.outputs} | self.nested_outputs
        chosen = self.outputs if names is None else [known[n] for n in names if n in known]
        for out in chosen:
            if out.feature == "probability" and out.value is not None and out.target_field in (None, self.target):
                found.setdefault(out.value, out.name)
        return found

    def classes(self) -> list[str] | None:
        """A classifier's labels as the document orders them, or None when it is no classifier."""
        if self.function != "classification":
            return None
        target = self.data_fields.get(self.target or "")
        if target is not None and target.values:
            return list(target.values)
        return list(self.probability_outputs()) or list(self.target_values) or None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pmml_version": self.version,
            "producer": self.producer,
            "description": self.description,
            "timestamp": self.timestamp,
            "model_element": self.model_element,
            "function": self.function,
            "model_name": self.model_name,
            "algorithm": self.algorithm,
            "segments": self.segments,
            "derived_fields": self.derived_fields,
            "inputs": [self._field(n) for n in self.inputs],
            "targets": [self._field(n) for n in self.targets],
            "outputs": [o.to_dict() for o in self.outputs],
            "classes": self.classes(),
            "verification": ({"rows": self.verification_rows, "fields": self.verification_fields}
                             if self.verification_rows is not None else None),
        }

    def _field(self, name: str) -> dict[str, Any]:
        known = self.data_fields.get(name)
        return known.to_dict() if known is not None else {"name": name}


def describe_document(path: Path, data: bytes | None = None) -> PmmlDescription:
    """Read ``path`` (or ``data``, its bytes read already: a load hands JPMML the same bytes next)
    with the refusing parser (no DTD, no entities) and describe it.

    The content of the subtrees that hold nothing described (a tree's nodes, a network's layers) is
    not parsed, only read for where it ends (:func:`_describe_skipping`); the document around them
    is. That content cannot hide a DTD or an entity declaration from the parser: a subtree holding
    ``<!`` or ``<?`` anywhere is parsed, and a DOCTYPE can only stand before the root element. A file
    of over :data:`WHOLE_FILE` bytes given by its path streams through the parser whole."""
    if data is None and path.stat().st_size <= WHOLE_FILE:
        data = path.read_bytes()
    if data is not None:
        try:
            return _describe_skipping(path, data)
        except _Unsure:
            pass  # the whole parse decides, and words any error as it always has
    return _describe_whole(path, data)


def _describe_whole(path: Path, data: bytes | None = None) -> PmmlDescription:
    """:func:`describe_document` with every byte through the parser: from ``data``, else streamed from ``path``."""
    parser = _parser(path.name)
    reader = _Reader(parser)
    reader.listen()
    try:
        if data is not None:
            parser.Parse(data, True)
        else:
            with open(path, "rb") as fh:
                parser.ParseFile(fh)
    except expat.ExpatError as exc:
        raise CorruptFileError(f"{path} is not well-formed XML: {exc}") from exc
    return reader.found


#: Elements whose subtrees hold nothing :class:`_Reader` collects: no fields, outputs, models or rows.
_OPAQUE = frozenset({"Node", "NeuralLayer", "VectorDictionary", "SupportVectorMachine", "PPMatrix", "ParamMatrix",
                     "PCovMatrix", "RuleSet", "Characteristics"})

#: The biggest file ``info`` reads whole to skip subtrees unparsed; a bigger one streams through the parser.
WHOLE_FILE = 128 << 20


class _Unsure(Exception):
    """The skipping read cannot vouch for its result: the whole parse reads the document instead."""


_TAG_BODY = rb"(?:[ \t\r\n](?:[^<>\"'/]++|\"[^<\"]*+\"|'[^<']*+'|/(?!>))*+)?"  # a tag's attributes, quoted values whole
#: An opaque element's start tag, unprefixed (prefixed ones are left to the parser: slower, as correct).
_OPAQUE_TAG = re.compile(rb"<(" + b"|".join(sorted(name.encode() for name in _OPAQUE)) + rb")" + _TAG_BODY + rb"(/?)>")
#: Per token of a skipped subtree: +1 a start tag, -1 an end tag, 0 an empty element, None a comment,
#: CDATA section or processing instruction (their text may look like tags: such a subtree is parsed).
_DEPTH = {(b"", b"", b""): 1, (b"/", b"", b""): -1, (b"", b"/", b""): 0}


WINDOW = 1 << 14  # bytes of a subtree counted at a time


@functools.cache
def _same_name_tags(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"<(/?)" + name + _TAG_BODY + rb"(/?)>|<([!?])")


def _end_of_subtree(data: bytes, name: bytes, position: int) -> int | None:
    """Where the end tag of the ``name`` element whose content starts at ``position`` begins, by
    counting the start and end tags of that name (XML closes each with its own name, so tags of
    other names cannot make the count wrong); None when the content holds a comment, CDATA section
    or processing instruction before that end, or the document ends first. In well-formed XML every ``<`` opens
    markup (attribute values and text cannot hold one), so no tag is missed or made up."""
    tags = _same_name_tags(name)
    depth, size = 1, len(data)
    while position < size:
        stop = data.find(b"<", min(size, position + WINDOW))  # a window never splits a tag
        stop = size if stop < 0 else stop
        steps = list(map(_DEPTH.get, tags.findall(data, position, stop)))
        counted = steps[:steps.index(None)] if None in steps else steps  # up to a comment, CDATA, instruction
        depths = list(accumulate(cast("list[int]", counted), initial=depth))
        if 0 in depths:  # the window is read again for where: a match object per tag costs more
            closing = next(islice(tags.finditer(data, position, stop), depths.index(0) - 1, None))
            return closing.start()
        if len(counted) < len(steps):
            return None
        depth, position = depths[-1], stop
    return None


_ENCODING = re.compile(rb"[ \t\r\n]encoding[ \t\r\n]*=[ \t\r\n]*[\"']([^\"']*)[\"']")
_ONE_BYTE_MARKUP = re.compile(r"(?i)utf-?8|(?:us-)?ascii|iso[-_]?8859-\d+|latin-?1|(?:windows|cp)-?125\d")


def _markup_in_ascii(data: bytes) -> bool:
    """Whether every ``<`` of the document's markup is the byte 0x3C and nothing else is: UTF-8 (the
    default), ASCII, ISO-8859 and Windows code pages; not UTF-16 or -32, nor EBCDIC, which a
    declaration may name after ASCII bytes."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        return False
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if not (data.startswith(b"<?xml", start) and data[start + 5:start + 6] in (b" ", b"\t", b"\r", b"\n")):
        return True  # no declaration: UTF-8
    end = data.find(b"?>", start)
    declared = _ENCODING.search(data, start, end) if end > 0 else None
    return end > 0 and (declared is None or _ONE_BYTE_MARKUP.fullmatch(declared.group(1).decode("latin-1")) is not None)


def _describe_skipping(path: Path, data: bytes) -> PmmlDescription:
    """What :func:`describe_document` finds, reading each subtree the reader would skip only for its
    end: the parser gets the document with those subtrees' content left out (most of a forest's
    13 MB is nodes: 0.22 s parsed, ~0.08 s skipped). Raises :class:`_Unsure` when the document is
    not in an encoding whose markup is ASCII bytes, or the parser finds it malformed."""
    if not _markup_in_ascii(data):
        raise _Unsure
    parser = _parser(path.name)
    reader = _Reader(parser)
    reader.listen()
    view = memoryview(data)
    fed = skipped = 0  # bytes of data given to the parser or left out, so far
    try:
        while (tag := _OPAQUE_TAG.search(data, fed + skipped)) is not None:
            start = fed + skipped
            parser.Parse(view[start:tag.end()], False)  # up to and with the start tag
            fed += tag.end() - start
            if reader.skipping != 1 or reader.skipped_from != tag.start() - skipped or tag.group(2):
                if reader.skipping:  # inside a subtree the reader skips itself (its name was prefixed)
                    break  # its handlers read the rest: splitting the input for each tag inside costs more
                continue  # an element the reader describes (outside the model), or an empty one it skipped
            end = _end_of_subtree(data, tag.group(1), tag.end())
            if end is None:
                break  # the reader's own skipping handlers read the rest
            skipped += end - tag.end()
        parser.Parse(view[fed + skipped:], True)
    except expat.ExpatError as exc:
        raise _Unsure from exc
    return reader.found


class _Reader:
    """expat handlers that fill a :class:`PmmlDescription`, tracking where in the tree they are."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.skipping = 0  # depth inside a subtree that holds nothing described (a tree's nodes, a network's layers)
        self.skipped_from = -1  # the parser's byte index of the subtree being skipped
        self.found = PmmlDescription()
        self.stack: list[str] = []
        self.model_depth: int | None = None  # depth of the top-level model element
        self.field: DataField | None = None
        self.in_timestamp = False
        self.in_row = False

    def listen(self) -> None:
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.text

    def _skip(self, name: str, attrs: dict[str, str]) -> None:
        self.skipping += 1

    def _skipped(self, name: str) -> None:
        self.skipping -= 1
        if self.skipping == 0:  # the subtree's own end tag: back to describing
            self.listen()
            self.end(name)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(" ")
        depth = len(self.stack)
        parent = self.stack[-1] if self.stack else None
        self.stack.append(local)
        found = self.found
        if local in _OPAQUE and self.model_depth is not None:
            # Nothing below is described: the cheapest handlers count depth until its end tag (most
            # of a 13 MB forest is nodes; describing it took 0.38 s with the full handlers, 0.2 s now).
            self.skipping, self.skipped_from = 1, self.parser.CurrentByteIndex
            self.parser.StartElementHandler, self.parser.EndElementHandler = self._skip, self._skipped
            self.parser.CharacterDataHandler = None
            return
        if depth == 0:
            found.version, found.namespace = attrs.get("version"), namespace or None
        elif local == "Application" and parent == "Header":
            found.application, found.application_version = attrs.get("name"), attrs.get("version")
        elif local == "Extension" and parent == "Header" and attrs.get("name") == EXTENSION_NAME:
            found.extension = found.extension or attrs.get("value")
        elif local == "Header" and depth == 1:
            found.description = attrs.get("description")
        elif local == "Timestamp" and parent == "Header":
            self.in_timestamp = True
        elif local == "DataField" and parent == "DataDictionary":
            self.field = DataField(attrs.get("name", ""), attrs.get("optype", ""), attrs.get("dataType", ""))
            found.data_fields[self.field.name] = self.field
        elif local == "Value" and parent == "DataField" and self.field is not None:
            if attrs.get("property", "valid") == "valid":
                self.field.values.append(attrs.get("value", ""))
        elif local == "Interval" and parent == "DataField" and self.field is not None:
            self.field.intervals.append((_number(attrs.get("leftMargin")), _number(attrs.get("rightMargin"))))
        elif local == "DerivedField":
            found.derived_fields += 1
        elif local in _MODEL_ELEMENTS:
            self._model(depth, attrs, local)
        elif local == "OutputField" and parent == "Output":
            out = _output_field(attrs)
            found.nested_outputs.setdefault(out.name, out)
        elif self.model_depth is not None and depth == self.model_depth + 1:
            self._model_part(local, attrs)
        elif self.model_depth is not None and depth == self.model_depth + 2:
            self._model_part_child(local, parent, attrs)
        elif self.model_depth is not None and depth == self.model_depth + 3:
            if local == "TargetValue" and parent == "Target" and "value" in attrs:
                found.target_values.append(attrs["value"])
            elif local == "row" and found.verification_rows is not None and "ModelVerification" in self.stack:
                found.verification_rows += 1

    def _model(self, depth: int, attrs: dict[str, str], local: str) -> None:
        found = self.found
        if found.model_element is None and depth == 1:
            self.model_depth = depth
            found.model_element, found.function = local, attrs.get("functionName")
            found.model_name, found.algorithm = attrs.get("modelName"), attrs.get("algorithmName")
        elif "Segment" in self.stack:
            found.segments += 1

    def _model_part(self, local: str, attrs: dict[str, str]) -> None:
        if local == "ModelVerification":
            self.found.verification_rows = 0

    def _model_part_child(self, local: str, parent: str | None, attrs: dict[str, str]) -> None:
        found = self.found
        if local == "MiningField" and parent == "MiningSchema":
            found.mining_fields[attrs.get("name", "")] = attrs.get("usageType", "active")
        elif local == "OutputField" and parent == "Output":
            found.outputs.append(_output_field(attrs))
        elif local == "VerificationField" and parent == "VerificationFields":
            found.verification_fields.append(attrs.get("field", ""))

    def end(self, name: str) -> None:
        local = self.stack.pop()
        if local == "DataField":
            self.field = None
        elif local == "Timestamp":
            self.in_timestamp = False
        if self.model_depth is not None and len(self.stack) == self.model_depth and local in _MODEL_ELEMENTS:
            self.model_depth = -1  # past the top-level model: nothing below belongs to it

    def text(self, data: str) -> None:
        if self.in_timestamp and data.strip():
            self.found.timestamp = ((self.found.timestamp or "") + data.strip())[:200]


def _output_field(attrs: dict[str, str]) -> OutputField:
    return OutputField(attrs.get("name", ""), attrs.get("feature", "predictedValue"), attrs.get("value"),
                       attrs.get("dataType"), attrs.get("targetField"))


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
