"""How much an untrusted file may make modelpack allocate, read and nest while loading it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ResourceLimitError, spelled

#: What every refusal says about trust (here, not in the policy, so that naming it imports no machine).
TRUST_HINT = f"load it with {spelled('trust=True', '--trust')} only if you made this file or checked its origin"

MiB = 1 << 20
#: A load may use this many times the file's size (decompressed streams and arrays included) ...
DEFAULT_RATIO = 100
#: ... and never less than this, so that small files of large models still load.
DEFAULT_FLOOR = 256 * MiB
#: Containers open at once while unpickling (MARK depth), and depth of the loaded object graph.
MAX_DEPTH = 1000
#: Largest JSON member (metadata, a skops schema) read from inside a file.
MAX_MEMBER = 64 * MiB

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": MiB, "mb": MiB, "mib": MiB,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_size(text: str | int) -> int:
    """``"2GiB"``, ``"512M"`` or a number of bytes."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size; write it like 512MiB or 2GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


@dataclass
class Budget:
    """Bytes a load may still allocate; every large allocation and every byte read is charged first."""

    source: str
    limit: int
    explicit: bool = False  # the caller set the limit (so the message does not explain the default)
    used: int = 0

    @classmethod
    def for_file(cls, source: str, size: int, max_memory: int | str | None = None) -> Budget:
        if max_memory is not None:
            return cls(source, parse_size(max_memory), explicit=True)
        return cls(source, max(DEFAULT_FLOOR, DEFAULT_RATIO * size))

    @property
    def remaining(self) -> int:
        return self.limit - self.used

    def charge(self, n: int, what: str) -> None:
        if n < 0 or n > self.remaining:
            raise ResourceLimitError(self.refusal(what, n))
        self.used += n

    def refusal(self, what: str, n: int) -> str:
        why = "the limit you set" if self.explicit else (
            f"the default limit of {DEFAULT_RATIO} times its size, at least {human(DEFAULT_FLOOR)}")
        needed = self.used + max(n, 0)
        suggestion = human(max(2 * self.limit, needed + needed // 2)).replace(" ", "")
        option = spelled(f"max_memory={suggestion!r}", f"--max-memory {suggestion}")
        return (
            f"{self.source} needs more than {human(self.limit)} to load ({what}: {human(max(n, 0))}), over "
            f"{why}; if you expect a model this large, pass {option}"
        )
