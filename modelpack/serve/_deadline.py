"""One timer for the deadlines of every request body being read.

``asyncio.timeout`` arms and cancels a timer for each request, and with its bookkeeping that was
about a tenth of a small request's time in process (see benchmarks.md, serve). Nearly every body has
arrived whole before its handler starts, so here a read only puts its task in a dict, and one timer,
armed while some read is pending, cancels the reads past their deadline. A deadline is met late by at
most one tick.
"""

from __future__ import annotations

import asyncio
from typing import Any


class BodyDeadlines:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(0.5, seconds / 4)
        self._pending: dict[asyncio.Task[Any], float] = {}  # task -> its deadline (loop time)
        self._cut: set[asyncio.Task[Any]] = set()  # cancelled by the timer, not yet told
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task[Any]:
        """Start the current task's deadline; pair with :meth:`stop` in a ``finally``."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # another event loop (the app served again in this process): afresh
            self._loop, self._pending, self._cut, self._timer = loop, {}, set(), None
        task = asyncio.current_task(loop)
        assert task is not None
        self._pending[task] = loop.time() + self.seconds
        if self._timer is None:
            self._timer = loop.call_later(self.tick, self._check, loop)
        return task

    def stop(self, task: asyncio.Task[Any]) -> None:
        self._pending.pop(task, None)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task``'s CancelledError is this timer's: then it is uncancelled, and the caller
        answers that the deadline passed; otherwise the cancellation is someone else's, to re-raise."""
        if task not in self._cut:
            return False
        self._cut.discard(task)
        task.uncancel()
        return True

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._pending.items()):
            if deadline <= now:
                del self._pending[task]
                self._cut.add(task)
                task.cancel()
        self._timer = loop.call_later(self.tick, self._check, loop) if self._pending else None
