"""Native libraries' own logging (TensorFlow, LiteRT) written straight to file descriptor 2.

TensorFlow announces oneDNN and absl's start-up at INFO level on every import, whatever
``TF_CPP_MIN_LOG_LEVEL`` says; LiteRT says "Created TensorFlow Lite XNNPACK delegate" on
every load. None of it is the user's concern: it is caught while the library works, the
INFO lines are dropped and the rest is passed on.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

#: How the native loggers start their informational lines.
INFO_PREFIXES = ("INFO:", "I0000 ", "WARNING: All log messages before absl::InitializeLog()")


@contextlib.contextmanager
def native_stderr() -> Iterator[Any]:
    """Catch what is written to fd 2 meanwhile; pass on all but INFO lines. The caller may read
    the caught text (``.read()`` after ``.seek(0)``) to explain a failure."""
    with tempfile.TemporaryFile(mode="w+", errors="replace") as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = [line for line in captured.read().splitlines() if not line.startswith(INFO_PREFIXES)]
            if rest:
                print("\n".join(rest), file=sys.stderr)
            captured.seek(0)


def import_tensorflow() -> Any:
    """``import tensorflow`` without its start-up chatter."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr():
        import tensorflow
    return tensorflow
