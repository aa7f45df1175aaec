"""serve's body deadlines: one timer cuts the reads past their deadline, and only those."""

from __future__ import annotations

import asyncio
import time

import pytest

from modelpack.serve._deadline import BodyDeadlines


async def _read(deadlines: BodyDeadlines, arrives: asyncio.Future[bytes]) -> str:
    """What serve's read_body does around its reads."""
    task = deadlines.start()
    try:
        await arrives
        return "read"
    except asyncio.CancelledError:
        if deadlines.expired(task):
            return "cut"
        raise
    finally:
        deadlines.stop(task)


def test_only_the_reads_past_their_deadline_are_cut():
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        deadlines = BodyDeadlines(0.2)
        never = loop.create_future()
        soon = loop.create_future()
        loop.call_later(0.05, soon.set_result, b"{}")
        start = time.monotonic()
        slow, quick = asyncio.create_task(_read(deadlines, never)), asyncio.create_task(_read(deadlines, soon))
        await asyncio.sleep(0.1)
        late = asyncio.create_task(_read(deadlines, loop.create_future()))  # its own deadline, 0.1 s after the first
        results = await asyncio.gather(slow, quick)
        first_cut = time.monotonic() - start
        results.append(await late)
        results += [first_cut, time.monotonic() - start, deadlines._pending, deadlines._cut]
        return results

    slow, quick, late, first_cut, all_cut, pending, cut = asyncio.run(main())
    assert (slow, quick, late) == ("cut", "read", "cut")
    assert 0.2 <= first_cut < 0.2 + 0.05 + 0.15  # the deadline, plus at most a tick (0.05 s) and scheduling
    assert 0.3 <= all_cut < 0.3 + 0.05 + 0.15
    assert not pending and not cut  # nothing left behind


def test_a_cancellation_that_is_not_the_deadline_stays_a_cancellation():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = BodyDeadlines(30.0)
        task = asyncio.create_task(_read(deadlines, loop.create_future()))
        await asyncio.sleep(0.01)
        task.cancel()  # a server shutting down, a client gone
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not deadlines._pending

    asyncio.run(main())


def test_a_new_event_loop_starts_afresh():
    deadlines = BodyDeadlines(0.1)

    async def main() -> str:
        return await _read(deadlines, asyncio.get_running_loop().create_future())

    assert asyncio.run(main()) == "cut"
    assert asyncio.run(main()) == "cut"  # the first loop's timer is gone with it; this loop arms its own
