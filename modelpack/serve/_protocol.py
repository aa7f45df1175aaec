"""uvicorn's HTTP protocol with a deadline for a request's headers.

uvicorn arms no timer until a first response is sent: a client that connects and sends
nothing, or sends its headers a byte at a time, holds a connection for ever. Here the
deadline starts when the connection opens (and again when each request begins) and ends when
the headers are complete; past it the connection is closed. The deadlines of a worker's
connections share one timer (``Deadlines``): a timer armed and cancelled per request cost
2-3 µs of it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._deadline import Deadlines


class HeaderTimeoutProtocol(HttpToolsProtocol):
    #: Seconds a client has to send a request's headers; set from ``--header-timeout``.
    header_timeout: float = 10.0
    _deadlines: Deadlines | None = None  # the worker's, shared by its connections

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        deadlines = HeaderTimeoutProtocol._deadlines
        if deadlines is None or deadlines.seconds != self.header_timeout:
            deadlines = HeaderTimeoutProtocol._deadlines = Deadlines(self.header_timeout, _headers_too_slow)
        deadlines.add(self, self.loop)

    def _disarm(self) -> None:
        if HeaderTimeoutProtocol._deadlines is not None:
            HeaderTimeoutProtocol._deadlines.discard(self)


def _headers_too_slow(protocol: HeaderTimeoutProtocol) -> None:
    if not protocol.transport.is_closing():
        protocol.transport.close()
