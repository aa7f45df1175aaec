"""One timer for many deadlines: request bodies being read, request headers being received.

``asyncio.timeout`` (or ``loop.call_later``) arms and cancels a timer for each request, and with its
bookkeeping that was about a tenth of a small request's time in process (see benchmarks.md, serve).
Nearly every body has arrived whole before its handler starts, and nearly every request's headers in
the packet that began it, so here a deadline is only an entry in a dict, and one timer, armed while
some deadline is pending, expires the entries past theirs. A deadline is met late by at most one tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Deadlines:
    """``add(key, loop)`` gives ``key`` a deadline ``seconds`` from now, ``discard(key)`` takes it back;
    a key still pending at its deadline is handed to ``expire``, once."""

    def __init__(self, seconds: float, expire: Callable[[Any], None]) -> None:
        self.seconds = seconds
        self.tick = min(0.5, seconds / 4)
        self._expire = expire
        self._pending: dict[Any, float] = {}  # key -> its deadline (loop time)
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, key: Any, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:  # another event loop (the app served again in this process): afresh
            self._loop, self._pending, self._timer = loop, {}, None
            self.reset()
        self._pending[key] = loop.time() + self.seconds
        if self._timer is None:
            self._timer = loop.call_later(self.tick, self._check, loop)

    def discard(self, key: Any) -> None:
        self._pending.pop(key, None)

    def reset(self) -> None:
        """What a subclass keeps beside the pending deadlines, forgotten with a new event loop."""

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for key, deadline in list(self._pending.items()):
            if deadline <= now:
                del self._pending[key]
                self._expire(key)
        self._timer = loop.call_later(self.tick, self._check, loop) if self._pending else None


class BodyDeadlines(Deadlines):
    """The deadline of each request body being read: past it, the reading task is cancelled, and
    :meth:`expired` tells that cancellation from any other."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds, self._cut_off)
        self._cut: set[asyncio.Task[Any]] = set()  # cancelled by the timer, not yet told

    def start(self) -> asyncio.Task[Any]:
        """Start the current task's deadline; pair with :meth:`stop` in a ``finally``."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        self.add(task, loop)
        return task

    def stop(self, task: asyncio.Task[Any]) -> None:
        self.discard(task)

    def reset(self) -> None:
        self._cut = set()

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task``'s CancelledError is this timer's: then it is uncancelled, and the caller
        answers that the deadline passed; otherwise the cancellation is someone else's, to re-raise."""
        if task not in self._cut:
            return False
        self._cut.discard(task)
        task.uncancel()
        return True

    def _cut_off(self, task: asyncio.Task[Any]) -> None:
        self._cut.add(task)
        task.cancel()
