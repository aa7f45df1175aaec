"""What ``info`` reads from a TF Lite file's flatbuffer, decoded here without LiteRT.

A ``.tflite`` file is one FlatBuffers ``Model`` table (tensorflow/lite/schema/schema.fbs). ``info``
needs the main subgraph's input and output tensors (name, element type, shape) and the signature
names. Building a LiteRT interpreter for that, as ``info`` once did, imports the runtime and
allocates every tensor the file declares; this reader follows the flatbuffer's offsets to those few
fields, checking each against the end of the file, and never touches the weights.

Anything that points outside the file, a vector longer than the file, or a string that is not
UTF-8 raises :class:`~modelpack.errors.CorruptFileError`.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from ...errors import CorruptFileError
from .._filebytes import Bytes, file_bytes

#: schema.fbs' TensorType, by number, spelled as numpy names the dtype LiteRT hands back.
TENSOR_TYPES = ("float32", "float16", "int32", "uint8", "int64", "bytes", "bool", "int16", "complex64", "int8",
                "float64", "complex128", "uint64", "resource", "variant", "uint32", "uint16", "int4", "bfloat16")

LISTED = 1000  # inputs, outputs or signatures described; a file declaring more says how many
MAX_RANK = 64  # dimensions of a tensor: LiteRT's kernels take a handful

# Field numbers (their order in schema.fbs).
_MODEL_SUBGRAPHS, _MODEL_SIGNATURES = 2, 7
_SUBGRAPH_TENSORS, _SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS = 0, 1, 2
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_SHAPE_SIGNATURE = 0, 1, 3, 7
_SIGNATURE_KEY = 2


class _Malformed(Exception):
    pass


class _Reader:
    """Bounds-checked reads of flatbuffer tables, vectors and strings from ``buf``."""

    def __init__(self, buf: Bytes) -> None:
        self.buf, self.size = buf, len(buf)

    def _unpack(self, fmt: str, pos: int) -> int:
        width = struct.calcsize(fmt)
        if pos < 0 or pos + width > self.size:
            raise _Malformed("an offset points outside the file (it is truncated or not a flatbuffer)")
        return int(struct.unpack(fmt, self.buf[pos : pos + width])[0])

    def _target(self, pos: int) -> int:
        """Where the unsigned offset stored at ``pos`` points."""
        return pos + self._unpack("<I", pos)

    def field(self, table: int, number: int) -> int | None:
        """The position of a table's field ``number``, or None when the table leaves it out."""
        vtable = table - self._unpack("<i", table)
        vtable_size = self._unpack("<H", vtable)
        entry = 4 + 2 * number
        if entry + 2 > vtable_size:
            return None
        offset = self._unpack("<H", vtable + entry)
        return table + offset if offset else None

    def vector(self, table: int, number: int, width: int) -> tuple[int, int]:
        """(position of the first element, count) of a vector field; (0, 0) when it is left out."""
        at = self.field(table, number)
        return (0, 0) if at is None else self._vector_at(at, width, "a vector")

    def _vector_at(self, at: int, width: int, what: str) -> tuple[int, int]:
        """(position of the first element, count) of the vector (or string) the offset at ``at`` points to."""
        start = self._target(at)
        count = self._unpack("<I", start)
        if count * width > self.size - start - 4:
            raise _Malformed(f"{what} is longer than the file")
        return start + 4, count

    def ints(self, table: int, number: int, limit: int) -> tuple[list[int], int] | None:
        """The first ``limit`` values of an int vector field and its length; None when it is left out."""
        at = self.field(table, number)
        if at is None:
            return None
        first, count = self._vector_at(at, 4, "a vector")
        listed = min(count, limit)
        return list(struct.unpack(f"<{listed}i", self.buf[first : first + 4 * listed])), count

    def element(self, first: int, index: int) -> int:
        """The table at ``index`` of a vector of tables starting at ``first``."""
        return self._target(first + 4 * index)

    def string(self, table: int, number: int) -> str:
        at = self.field(table, number)
        if at is None:
            return ""
        first, length = self._vector_at(at, 1, "a string")
        try:
            return bytes(self.buf[first : first + length]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed("a name is not UTF-8 text") from None

    def byte(self, table: int, number: int, default: int = 0) -> int:
        at = self.field(table, number)
        return default if at is None else self._unpack("<b", at)


def describe_file(path: Path) -> dict[str, Any]:
    """Producer, the main subgraph's inputs and outputs (``tensor(float32)[N, 4]``) and the signatures."""
    with file_bytes(path) as buf:
        if len(buf) < 8:
            raise CorruptFileError(f"{path.name} is not a TF Lite file: it is shorter than a flatbuffer's header")
        try:
            return describe_buffer(buf)
        except _Malformed as exc:
            raise CorruptFileError(f"{path.name} is not a valid TF Lite file: {exc}") from None


def describe_buffer(buf: Bytes) -> dict[str, Any]:
    reader = _Reader(buf)
    if len(buf) < 8 or bytes(buf[4:8]) != b"TFL3":
        raise _Malformed("it lacks the TFL3 identifier")
    model = reader._target(0)
    first_subgraph, subgraphs = reader.vector(model, _MODEL_SUBGRAPHS, 4)
    if not subgraphs:
        raise _Malformed("it holds no subgraph")
    main = reader.element(first_subgraph, 0)
    first_tensor, tensors = reader.vector(main, _SUBGRAPH_TENSORS, 4)

    def tensor(index: int) -> dict[str, Any]:
        if not 0 <= index < tensors:
            raise _Malformed(f"an input or output names tensor {index} of {tensors}")
        at = reader.element(first_tensor, index)
        shape = reader.ints(at, _TENSOR_SHAPE_SIGNATURE, MAX_RANK) or reader.ints(at, _TENSOR_SHAPE, MAX_RANK)
        dims, rank = shape if shape is not None else ([], 0)
        if rank > MAX_RANK:
            raise _Malformed(f"a tensor has {rank} dimensions")
        kind = reader.byte(at, _TENSOR_TYPE)
        element = TENSOR_TYPES[kind] if 0 <= kind < len(TENSOR_TYPES) else f"type{kind}"
        text = ", ".join("N" if d < 0 else str(d) for d in dims)
        return {"name": reader.string(at, _TENSOR_NAME), "type": f"tensor({element})[{text}]"}

    inputs = reader.ints(main, _SUBGRAPH_INPUTS, LISTED) or ([], 0)
    outputs = reader.ints(main, _SUBGRAPH_OUTPUTS, LISTED) or ([], 0)
    first_signature, signatures = reader.vector(model, _MODEL_SIGNATURES, 4)
    found: dict[str, Any] = {
        "producer": "TF Lite flatbuffer",
        "inputs": [tensor(i) for i in inputs[0]],
        "outputs": [tensor(i) for i in outputs[0]],
        "signatures": [reader.string(reader.element(first_signature, i), _SIGNATURE_KEY)
                       for i in range(min(signatures, LISTED))],
    }
    for key, total in (("inputs", inputs[1]), ("outputs", outputs[1]), ("signatures", signatures)):
        if total > LISTED:  # a file this wide is listed in part, and says how much there is
            found[f"{key}_total"] = total
    return found
