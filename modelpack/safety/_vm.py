"""One pickle machine for loading and for auditing, so the two can never disagree about a file.

It is Python's own pure-Python unpickler with every opcode that could run code routed through a
:class:`Policy`: resolving a global (GLOBAL, STACK_GLOBAL, INST), calling (REDUCE, INST, OBJ),
creating an instance (NEWOBJ, NEWOBJ_EX), setting state (BUILD) and filling a container that
is not a plain list, dict or set (APPEND, SETITEM, ADDITEMS). Extension codes and persistent
ids are refused. Every byte read and every large allocation is charged to a :class:`Budget`
first, and containers may nest only so deep.

Why not the C unpickler with ``find_class``: it applies BUILD to whatever object it holds (a
numpy dtype's flags, a Tree's node arrays) with no hook to check the state first, and it
grows its memo to any index a file names (ten bytes ask for 32 GiB).
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
import sys
from typing import Any, Protocol, cast

from ..errors import ResourceLimitError, UntrustedContentError
from ._limits import MAX_DEPTH, Budget

_Base: Any = pickle._Unpickler  # type: ignore[attr-defined]


class Policy(Protocol):
    """What the machine asks before anything in the file can run code."""

    def resolve(self, machine: Machine, module: str, name: str) -> Any: ...
    def call(self, machine: Machine, func: Any, args: tuple[Any, ...]) -> Any: ...
    def new(self, machine: Machine, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...
    def build(self, machine: Machine, inst: Any, state: Any) -> Any: ...
    def fill(self, machine: Machine, container: Any, what: str) -> None: ...


class BoundedReader:
    """A binary stream whose every read is charged to the budget before it happens."""

    def __init__(self, raw: Any, budget: Budget) -> None:
        self.raw, self.budget = raw, budget

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.budget.remaining + 1
        self.budget.charge(min(n, self.budget.remaining + 1), "bytes read from the stream")
        return bytes(self.raw.read(n))

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        self.budget.charge(view.nbytes, "bytes read from the stream")
        return int(self.raw.readinto(view))

    def readline(self) -> bytes:
        line = bytes(self.raw.readline(self.budget.remaining + 1))
        self.budget.charge(len(line), "a line of the stream")
        return line


class Machine(_Base):  # type: ignore[misc]
    """Unpickles one stream through a :class:`Policy`; ``source`` names the file in messages."""

    dispatch = dict(_Base.dispatch)

    def __init__(self, stream: BoundedReader, policy: Policy, budget: Budget, source: str) -> None:
        super().__init__(stream, fix_imports=True, encoding="ASCII", errors="strict")
        self.stream, self.policy, self.budget, self.source = stream, policy, budget, source

    def refuse(self, what: str) -> UntrustedContentError:
        return UntrustedContentError(f"{self.source}: {what}")

    def load(self) -> Any:
        """pickle's own loop. For a stream held in memory (a pickle file read whole, a joblib file not
        compressed) every opcode and argument is read by the buffer's C methods instead of pickle's
        frame reader in Python, the largest cost of the machine after the opcodes themselves.

        Frames only group opcodes for a reader that fills a buffer from a file; in memory, reading
        through them is reading the bytes in order. No read can return more than the buffer holds,
        so those reads need no charge to the budget (all of them together are at most the file);
        ``readinto`` stays charged, since BYTEARRAY8 allocates the length the file states before
        it reads.
        """
        raw = self.stream.raw
        if not self._in_memory():
            return super().load()
        self.read, self.readline, self.readinto = raw.read, raw.readline, self.stream.readinto
        self.metastack: list[Any] = []
        self.stack: list[Any] = []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch = raw.read, self.dispatch
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError
                dispatch[key[0]](self)
        except pickle._Stop as stop:  # type: ignore[attr-defined]
            return stop.value

    def _in_memory(self) -> bool:
        return type(self.stream.raw) is io.BytesIO

    def load_frame(self) -> None:
        if not self._in_memory():  # a stream read from a file: pickle's frame reader
            return cast(None, _Base.load_frame(self))
        (size,) = struct.unpack("<Q", self.read(8))  # how many bytes follow as one frame: in memory, nothing to do
        if size > sys.maxsize:
            raise ValueError(f"frame size > sys.maxsize: {size}")  # as pickle's frame reader says

    dispatch[pickle.FRAME[0]] = load_frame

    # --- globals --------------------------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:  # Python 2 names, as pickle itself maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        return self.policy.resolve(self, module, name)

    def policy_new(self, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any], direct: bool = False) -> Any:
        """For guards that create an instance the way NEWOBJ does (copyreg, Cython's newObj)."""
        return self.policy.new(self, cls, args, kwargs, direct)  # type: ignore[call-arg]

    def persistent_load(self, pid: Any) -> Any:
        raise self.refuse("the pickle refers to a persistent id, which modelpack never resolves")

    def _instantiate(self, klass: Any, args: list[Any]) -> None:  # INST and OBJ (protocols 0 and 1)
        if args:
            self.append(self.policy.call(self, klass, tuple(args)))
        else:
            self.append(self.policy.new(self, klass, (), {}))

    # --- the opcodes that run code ---------------------------------------------------------
    def load_reduce(self) -> None:
        args = self.stack.pop()
        if type(args) is not tuple:
            raise self.refuse("REDUCE with arguments that are not a tuple")
        self.stack[-1] = self.policy.call(self, self.stack[-1], args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if type(args) is not tuple:
            raise self.refuse("NEWOBJ with arguments that are not a tuple")
        self.append(self.policy.new(self, cls, args, {}))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if type(args) is not tuple or type(kwargs) is not dict:
            raise self.refuse("NEWOBJ_EX with malformed arguments")
        self.append(self.policy.new(self, cls, args, kwargs))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        result = self.policy.build(self, inst, state)
        if result is not inst:
            self.stack[-1] = result

    dispatch[pickle.BUILD[0]] = load_build

    # --- containers: only the exact builtin types are filled directly ------------------------
    def load_append(self) -> None:
        value = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not list:
            self.policy.fill(self, target, "APPEND")
        target.append(value)

    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not list:
            self.policy.fill(self, target, "APPENDS")
        target.extend(items)

    dispatch[pickle.APPENDS[0]] = load_appends

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not dict:
            self.policy.fill(self, target, "SETITEM")
        target[key] = value

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not dict:
            self.policy.fill(self, target, "SETITEMS")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            self.policy.fill(self, target, "ADDITEMS")
        target.update(items)

    dispatch[pickle.ADDITEMS[0]] = load_additems

    # --- bounds ------------------------------------------------------------------------------
    def load_mark(self) -> None:
        if len(self.metastack) >= MAX_DEPTH:
            raise ResourceLimitError(f"{self.source} nests containers more than {MAX_DEPTH} deep; it is not a model")
        self.metastack.append(self.stack)
        self.stack = []
        self.append = self.stack.append

    dispatch[pickle.MARK[0]] = load_mark

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        if n > self.budget.remaining:  # bytearray(n) would be allocated before a byte is read
            self.budget.charge(n, "a byte array")
        buffer = bytearray(n)
        self.readinto(buffer)
        self.append(buffer)

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def load_ext(self) -> None:
        raise self.refuse("the pickle uses the copyreg extension registry, which modelpack never consults")

    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = load_ext

    def load_buffer(self) -> None:
        raise self.refuse("the pickle asks for out-of-band buffers, which a model file cannot carry")

    for _op in (pickle.NEXT_BUFFER, pickle.READONLY_BUFFER):
        dispatch[_op[0]] = load_buffer
    del _op
