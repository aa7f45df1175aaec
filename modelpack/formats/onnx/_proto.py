"""What ``info`` and ``load`` read from an ONNX file's protobuf, decoded here without the ``onnx`` package.

An ONNX file is one serialized ``ModelProto`` (onnx/onnx.proto). ``info`` needs its header, the
graph's inputs, outputs and operators, a classifier's labels and ``metadata_props``: a few small
fields, next to weights that make up nearly all of the bytes. ``onnx.load`` parses and holds all of
them (and imports numpy); this reader walks the protobuf wire format, reads the
fields it needs and steps over the rest by their length, so it touches kilobytes of a gigabyte model.

Anything malformed (a truncated varint, a length past the end, an unknown wire type, nesting deeper
than any real file) raises :class:`~modelpack.errors.CorruptFileError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ...errors import CorruptFileError
from .._filebytes import PAGE, Bytes, PagedFile, file_bytes

#: TensorProto.DataType, by number (onnx.proto); a number this table lacks reads as ``type<N>``.
ELEMENT_TYPES = ("undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64", "string", "bool",
                 "float16", "double", "uint32", "uint64", "complex64", "complex128", "bfloat16", "float8e4m3fn",
                 "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4", "float4e2m1", "float8e8m0",
                 "uint2", "int2", "float6e2m3", "float6e3m2")
LABEL_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")
MAX_NESTING = 64  # a type inside a type ...: real files nest a few levels; a hostile one is refused

_T = TypeVar("_T")

_VARINT, _I64, _LEN, _START_GROUP, _END_GROUP, _I32 = 0, 1, 2, 3, 4, 5


class _Malformed(Exception):
    pass


@dataclass
class Node:
    op_type: str = ""
    domain: str = ""
    labels: list[list[Any]] = field(default_factory=list)  # its classlabels_* attributes' values, in file order


@dataclass
class Value:
    name: str = ""
    type: str = "unknown"
    doc: str = ""


@dataclass
class ModelSummary:
    """The fields of a ModelProto that modelpack reads, as plain Python values."""

    ir_version: int = 0
    producer_name: str = ""
    producer_version: str = ""
    doc_string: str = ""
    opsets: list[tuple[str, int]] = field(default_factory=list)
    metadata_props: dict[str, str] = field(default_factory=dict)
    graph_name: str = ""
    graph_doc_string: str = ""
    inputs: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    initializers: set[str] = field(default_factory=set)
    nodes: list[Node] = field(default_factory=list)

    def labels(self) -> list[Any] | None:
        """A classifier's labels as its graph stores them (ZipMap's, else the classifier node's)."""
        for node in sorted(self.nodes, key=lambda n: n.op_type != "ZipMap"):
            for values in node.labels:
                if values:
                    return values
        return None


@dataclass(frozen=True)
class ExternalTensor:
    """A tensor whose data, its file says, is somewhere else: its name, whether ``data_location`` says
    EXTERNAL, and its ``external_data`` entries (key, value) in file order."""

    name: str
    external: bool
    entries: tuple[tuple[str, str], ...]


def read_model(path: Path) -> ModelSummary:
    """The :class:`ModelSummary` of the ONNX file at ``path``."""
    return _read(path, _model)


def read_model_and_external(path: Path) -> tuple[ModelSummary, list[ExternalTensor]]:
    """:func:`read_model` and :func:`external_tensors` from one read of the file (what ``info`` shows)."""
    return _read(path, lambda buf: (_model(buf), _Tensors(buf).model()))


def _read(path: Path, parse: Callable[[Bytes], _T]) -> _T:
    """``parse`` of the bytes of the ONNX file at ``path``; one line for an empty or malformed file."""
    with file_bytes(path) as buf:
        if len(buf) == 0:
            raise CorruptFileError(f"{path.name} is not a valid ONNX file: it is empty")
        try:
            return parse(buf)
        except _Malformed as exc:
            raise CorruptFileError(f"{path.name} is not a valid ONNX file: {exc}") from None


def parse_model(data: bytes) -> ModelSummary:
    """:func:`read_model` for bytes in memory."""
    try:
        return _model(memoryview(data))
    except _Malformed as exc:
        raise CorruptFileError(f"not a valid ONNX file: {exc}") from None


def external_tensors(path: Path) -> list[ExternalTensor]:
    """Every tensor of the file at ``path`` that names data outside it: the graph's initializers and
    sparse initializers, tensors in node attributes (a Constant's value), in subgraphs (If, Loop,
    Scan), in functions and in training graphs, wherever they are in the protobuf.

    Tensors are read field by field, their weights stepped over by length. A node, and each of its
    attributes, is first searched for the bytes of ``location``, the key onnxruntime finds such data
    by, and stepped over whole without them: the millions of numbers of a tree ensemble's attributes
    are never parsed."""
    return _read(path, lambda buf: _Tensors(buf).model())


# -- the wire format ----------------------------------------------------------------------------


def _varint(buf: Bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _Malformed("a number runs past the end of its message (the file is truncated)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("a number is longer than ten bytes")


def _fields(buf: Bytes, start: int, end: int, depth: int = 0) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message's fields: an int for a varint, (start, end)
    for a length-delimited value (read only if the caller wants it), None for what is stepped over
    (fixed-width numbers, groups)."""
    if depth > MAX_NESTING:
        raise _Malformed(f"messages nested more than {MAX_NESTING} deep")
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("a field numbered 0")
        value: Any
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
        elif wire == _LEN:
            value = _delimited(buf, pos, end)
            pos = value[1]
        else:
            value, pos = None, _skip(buf, pos, end, key, depth)
        yield number, wire, value


def _delimited(buf: Bytes, pos: int, end: int) -> tuple[int, int]:
    """(start, end) of the length-delimited value whose length is read from ``pos``."""
    length, pos = _varint(buf, pos, end)
    if length > end - pos:
        raise _Malformed("a field's length runs past the end of its message (the file is truncated)")
    return pos, pos + length


def _skip(buf: Bytes, pos: int, end: int, key: int, depth: int) -> int:
    """Past the value of the field whose tag is ``key``, read from ``pos``."""
    wire = key & 7
    if wire == _VARINT:
        return _varint(buf, pos, end)[1]
    if wire == _LEN:
        return _delimited(buf, pos, end)[1]
    if wire == _I64 or wire == _I32:
        if (8 if wire == _I64 else 4) > end - pos:
            raise _Malformed("a fixed-width number runs past the end of its message (the file is truncated)")
        return pos + (8 if wire == _I64 else 4)
    if wire == _START_GROUP:  # deprecated, never written by ONNX: its fields up to its END_GROUP tag
        if depth >= MAX_NESTING:
            raise _Malformed(f"messages nested more than {MAX_NESTING} deep")
        while pos < end:
            inner, pos = _varint(buf, pos, end)
            if inner & 7 == _END_GROUP:
                if inner >> 3 != key >> 3:
                    raise _Malformed("a group closed by another group's tag")
                return pos
            pos = _skip(buf, pos, end, inner, depth + 1)
        raise _Malformed("a group is not closed (the file is truncated)")
    raise _Malformed(f"wire type {wire} (field {key >> 3}) where a field starts")


def _text(buf: Bytes, span: Any) -> str:
    if not isinstance(span, tuple):
        raise _Malformed("a text field is not length-delimited")
    return bytes(buf[span[0]:span[1]]).decode("utf-8", errors="replace")


def _signed(value: int) -> int:
    """int64 and int32 values are sent as 64-bit two's complement varints."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _span(value: Any) -> tuple[int, int]:
    if not isinstance(value, tuple):
        raise _Malformed("a message field is not length-delimited")
    return value


# -- ONNX's messages ----------------------------------------------------------------------------


def _model(buf: Bytes) -> ModelSummary:
    found = ModelSummary()
    for number, _, value in _fields(buf, 0, len(buf)):
        if number == 1 and isinstance(value, int):
            found.ir_version = _signed(value)
        elif number == 2:
            found.producer_name = _text(buf, value)
        elif number == 3:
            found.producer_version = _text(buf, value)
        elif number == 6:
            found.doc_string = _text(buf, value)
        elif number == 7:
            _graph(buf, _span(value), found)
        elif number == 8:
            found.opsets.append(_opset(buf, _span(value)))
        elif number == 14:
            key, text = _entry(buf, _span(value))
            found.metadata_props[key] = text
    return found


def _opset(buf: Bytes, span: tuple[int, int]) -> tuple[str, int]:
    domain, version = "", 0
    for number, _, value in _fields(buf, *span, depth=1):
        if number == 1:
            domain = _text(buf, value)
        elif number == 2 and isinstance(value, int):
            version = _signed(value)
    return domain, version


def _entry(buf: Bytes, span: tuple[int, int]) -> tuple[str, str]:
    key = text = ""
    for number, _, value in _fields(buf, *span, depth=1):
        if number == 1:
            key = _text(buf, value)
        elif number == 2:
            text = _text(buf, value)
    return key, text


def _graph(buf: Bytes, span: tuple[int, int], found: ModelSummary) -> None:
    for number, _, value in _fields(buf, *span, depth=1):
        if number == 1:
            found.nodes.append(_node(*_local(buf, _span(value))))
        elif number == 2:
            found.graph_name = _text(buf, value)
        elif number == 5:
            found.initializers.add(_tensor_name(*_local(buf, _span(value))))
        elif number == 10:
            found.graph_doc_string = _text(buf, value)
        elif number == 11:
            found.inputs.append(_value_info(*_local(buf, _span(value))))
        elif number == 12:
            found.outputs.append(_value_info(*_local(buf, _span(value))))


def _local(buf: Bytes, span: tuple[int, int]) -> tuple[Bytes, tuple[int, int]]:
    """A graph's node, input or small tensor, read from a big file (by pages) as its own bytes: it is
    then decoded at the speed of a file read whole, not a Python call per byte (2x on a graph of
    5,000 nodes). A bigger value, weights mostly, stays where it is, to be stepped over."""
    start, end = span
    if isinstance(buf, PagedFile) and end - start <= PAGE:
        return memoryview(buf[start:end]), (0, end - start)
    return buf, span


def _tensor_name(buf: Bytes, span: tuple[int, int]) -> str:
    name = ""
    for number, _, value in _fields(buf, *span, depth=2):
        if number == 8:
            name = _text(buf, value)
    return name


def _node(buf: Bytes, span: tuple[int, int]) -> Node:
    node = Node()
    for number, _, value in _fields(buf, *span, depth=2):
        if number == 4:
            node.op_type = _text(buf, value)
        elif number == 7:
            node.domain = _text(buf, value)
        elif number == 5:
            labels = _label_attribute(buf, _span(value))
            if labels is not None:
                node.labels.append(labels)
    return node


def _label_attribute(buf: Bytes, span: tuple[int, int]) -> list[Any] | None:
    """A classifier's labels from an attribute named ``classlabels_*``; None for any other attribute,
    which is stepped over once its name is read (a tree ensemble's attributes are most of its bytes)."""
    name: str | None = None
    strings: list[str] = []
    ints: list[int] = []
    for number, wire, value in _fields(buf, *span, depth=3):
        if number == 1:
            name = _text(buf, value)
            if name not in LABEL_ATTRIBUTES:  # writers put the name first; a second name field later in
                return None                   # the same attribute (protobuf: the last wins) is not looked for
        elif number == 9 and wire == _LEN:
            strings.append(_text(buf, value))
        elif number == 8 and wire == _VARINT:
            ints.append(_signed(value))
        elif number == 8 and wire == _LEN:  # packed
            start, stop = value
            while start < stop:
                item, start = _varint(buf, start, stop)
                ints.append(_signed(item))
    if name is None or name not in LABEL_ATTRIBUTES:
        return None
    return strings if name == "classlabels_strings" else ints


def _value_info(buf: Bytes, span: tuple[int, int]) -> Value:
    found = Value()
    for number, _, value in _fields(buf, *span, depth=2):
        if number == 1:
            found.name = _text(buf, value)
        elif number == 2:
            found.type = _type_text(buf, _span(value), 3)
        elif number == 3:
            found.doc = _text(buf, value)
    return found


_TYPE_KINDS = {1: "tensor_type", 4: "sequence_type", 5: "map_type", 7: "opaque_type", 8: "sparse_tensor_type",
               9: "optional_type"}


def _type_text(buf: Bytes, span: tuple[int, int], depth: int) -> str:
    """``tensor(float)[N, 4]``, ``map(string, tensor(float))``, ``seq(map(int64, tensor(float)))``."""
    kind, inner = None, None
    for number, _, value in _fields(buf, *span, depth=depth):
        if number in _TYPE_KINDS:  # a oneof: the last one set wins, as protobuf reads it
            kind, inner = number, _span(value)
    if kind == 1 and inner is not None:
        return _tensor_text(buf, inner, depth + 1)
    if kind == 4 and inner is not None:
        element = _field_span(buf, inner, 1, depth + 1)
        return f"seq({_type_text(buf, element, depth + 2) if element else 'unknown'})"
    if kind == 5 and inner is not None:
        key, element = 0, None
        for number, _, value in _fields(buf, *inner, depth=depth + 1):
            if number == 1 and isinstance(value, int):
                key = _signed(value)
            elif number == 2:
                element = _span(value)
        return f"map({_element(key)}, {_type_text(buf, element, depth + 2) if element else 'unknown'})"
    return _TYPE_KINDS.get(kind, "unknown") if kind is not None else "unknown"


def _tensor_text(buf: Bytes, span: tuple[int, int], depth: int) -> str:
    element, shape = 0, None
    for number, _, value in _fields(buf, *span, depth=depth):
        if number == 1 and isinstance(value, int):
            element = _signed(value)
        elif number == 2:
            shape = _span(value)
    if shape is None:
        return f"tensor({_element(element)})"
    dims = []
    for number, _, value in _fields(buf, *shape, depth=depth + 1):
        if number == 1:
            dims.append(_dimension(buf, _span(value), depth + 2))
    return f"tensor({_element(element)})[{', '.join(dims)}]"


def _dimension(buf: Bytes, span: tuple[int, int], depth: int) -> str:
    text: str | None = None
    for number, _, value in _fields(buf, *span, depth=depth):
        if number == 1 and isinstance(value, int):  # a oneof with dim_param: the last one set wins
            text = str(_signed(value))
        elif number == 2:
            text = _text(buf, value) or None
    return text or "?"


def _field_span(buf: Bytes, span: tuple[int, int], wanted: int, depth: int) -> tuple[int, int] | None:
    found = None
    for number, _, value in _fields(buf, *span, depth=depth):
        if number == wanted:
            found = _span(value)
    return found


def _element(number: int) -> str:
    return ELEMENT_TYPES[number] if 0 <= number < len(ELEMENT_TYPES) else f"type{number}"


# -- where tensors are (external data) -----------------------------------------------------------
#
# ModelProto: graph 7, training_info 20 (TrainingInfoProto: initialization 1, algorithm 2: graphs),
# functions 25 (FunctionProto: node 7, attribute_proto 11). GraphProto: node 1, initializer 5,
# sparse_initializer 15. NodeProto: attribute 5. AttributeProto: t 5, g 6, tensors 10, graphs 11,
# sparse_tensor 22, sparse_tensors 23. SparseTensorProto: values 1, indices 2. TensorProto: name 8,
# external_data 13 (StringStringEntryProto: key 1, value 2), data_location 14 (EXTERNAL = 1).

_EXTERNAL = 1
_LOCATION = b"location"


class _Tensors:
    """The walk of :func:`external_tensors`."""

    def __init__(self, buf: Bytes) -> None:
        self.buf = buf
        self.found: list[ExternalTensor] = []

    def mentions_location(self, span: tuple[int, int]) -> bool:
        """Whether the bytes of ``span`` hold ``location``: searched at C speed, a page at a time in a big file."""
        start, end = span
        if isinstance(self.buf, memoryview) and isinstance(self.buf.obj, bytes):
            return self.buf.obj.find(_LOCATION, start, end) >= 0
        step = PAGE * 16
        for at in range(start, end, step):
            if _LOCATION in bytes(self.buf[at:min(at + step + len(_LOCATION) - 1, end)]):
                return True
        return False

    def model(self) -> list[ExternalTensor]:
        buf = self.buf
        for number, _, value in _fields(buf, 0, len(buf)):
            if number == 7:
                self.graph(_span(value), 1)
            elif number == 20:
                for inner, _, graph in _fields(buf, *_span(value), depth=1):
                    if inner in (1, 2):
                        self.graph(_span(graph), 2)
            elif number == 25:
                for inner, _, part in _fields(buf, *_span(value), depth=1):
                    if inner == 7:
                        self.node(_span(part), 2)
                    elif inner == 11:
                        self.attribute(_span(part), 2)
        return self.found

    def graph(self, span: tuple[int, int], depth: int) -> None:
        for number, _, value in _fields(self.buf, *span, depth=depth):
            if number == 1:
                self.node(_span(value), depth + 1)
            elif number == 5:
                self.tensor(_span(value), depth + 1)
            elif number == 15:
                self.sparse_tensor(_span(value), depth + 1)

    def node(self, span: tuple[int, int], depth: int) -> None:
        if not self.mentions_location(span):  # most nodes of a big graph: one search, no parse
            return
        for number, _, value in _fields(self.buf, *span, depth=depth):
            if number == 5:
                self.attribute(_span(value), depth + 1)

    def attribute(self, span: tuple[int, int], depth: int) -> None:
        if not self.mentions_location(span):
            return
        for number, _, value in _fields(self.buf, *span, depth=depth):
            if number in (5, 10):
                self.tensor(_span(value), depth + 1)
            elif number in (6, 11):
                self.graph(_span(value), depth + 1)
            elif number in (22, 23):
                self.sparse_tensor(_span(value), depth + 1)

    def sparse_tensor(self, span: tuple[int, int], depth: int) -> None:
        for number, _, value in _fields(self.buf, *span, depth=depth):
            if number in (1, 2):
                self.tensor(_span(value), depth + 1)

    def entry(self, span: tuple[int, int]) -> tuple[str, str]:
        """An external_data entry, its text as onnxruntime reads it: bytes that are not UTF-8 (which
        :func:`_text` would replace) make a value no file is named by."""
        key = value = ""
        for number, _, part in _fields(self.buf, *span, depth=1):
            if number in (1, 2):
                start, end = _span(part)
                try:
                    text = bytes(self.buf[start:end]).decode("utf-8")
                except UnicodeDecodeError:
                    text = "\x00"  # refused as no file name
                key, value = (text, value) if number == 1 else (key, text)
        return key, value

    def tensor(self, span: tuple[int, int], depth: int) -> None:
        name, external, entries = "", False, []
        for number, _, value in _fields(self.buf, *span, depth=depth):
            if number == 8:
                name = _text(self.buf, value)
            elif number == 13:
                entries.append(self.entry(_span(value)))
            elif number == 14 and isinstance(value, int):
                external = value == _EXTERNAL
        if external or entries:
            self.found.append(ExternalTensor(name, external, tuple(entries)))
