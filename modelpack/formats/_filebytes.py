"""A file's bytes for the readers that describe a stranger's file from a few fields (ONNX's protobuf,
TF Lite's flatbuffer) without holding all of it.

A small file is read whole. A big one is read by pages, on demand, so a reader that steps over a
gigabyte of weights reads only the kilobytes around the fields it wants. A memory map would do that
with less code, but a mapped file that something truncates while it is read (an exporter rewriting it
in place) kills the process with SIGBUS, with no message; read by pages, it is a short read, and a
one-line error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, overload

from ..errors import CorruptFileError

WHOLE = 16 << 20  # bytes: a file up to this size is read whole (one read, then C-speed indexing)
PAGE = 1 << 16
PAGES_KEPT = 8  # a reader moves forward, and comes back only within a few pages


class Bytes(Protocol):
    """What the readers use of a file's bytes: a memoryview of a small file, a PagedFile of a big one."""

    def __len__(self) -> int: ...

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> Any: ...


@contextmanager
def file_bytes(path: Path) -> Iterator[Bytes]:
    """The bytes of ``path`` as an indexable, sliceable object: ``len``, ``[i]`` → int, ``[a:b]`` → bytes."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= WHOLE:
            yield memoryview(fh.read(size))
        else:
            yield PagedFile(fh.fileno(), size, path.name)


class PagedFile:
    """The first ``size`` bytes of an open file, read by pages of 64 KiB as they are indexed; the last
    few pages are kept. A page the file no longer holds (it became shorter) is a CorruptFileError."""

    def __init__(self, fd: int, size: int, name: str) -> None:
        self.fd, self.size, self.name = fd, size, name
        self.pages: dict[int, bytes] = {}

    def __len__(self) -> int:
        return self.size

    def _page(self, index: int) -> bytes:
        page = self.pages.get(index)
        if page is None:
            start = index * PAGE
            want = min(PAGE, self.size - start)
            page = os.pread(self.fd, want, start)
            if len(page) < want:
                raise CorruptFileError(f"{self.name} became shorter while it was read (something is writing it); "
                                       "read it again once it is written")
            if len(self.pages) >= PAGES_KEPT:
                del self.pages[next(iter(self.pages))]  # the oldest
            self.pages[index] = page
        return page

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step != 1:
                raise ValueError("a PagedFile is sliced with a step of 1")
            if stop <= start:
                return b""
            first, last = start // PAGE, (stop - 1) // PAGE
            return b"".join(self._page(i)[max(start - i * PAGE, 0) : stop - i * PAGE] for i in range(first, last + 1))
        if key < 0:
            key += self.size
        if not 0 <= key < self.size:
            raise IndexError("PagedFile index out of range")
        return self._page(key // PAGE)[key % PAGE]
