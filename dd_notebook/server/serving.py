"""How uvicorn serves the embedded server: connection limits and deadlines no client can exhaust.

uvicorn's own settings cover idle keep-alive connections (``timeout_keep_alive``)
and requests beyond a total (``limit_concurrency``, answered 503). What it
lacks is added by :class:`LimitedHttpProtocol`, a thin subclass of its
httptools protocol:

* a **header deadline**: a connection must deliver a request's headers within
  ``header_timeout`` of opening or of its previous answer, however slowly
  they trickle in (slowloris), and at most ``max_header_bytes`` of them;
* a **body deadline**: the body must be complete ``body_timeout`` after the
  headers;
* **connection caps** per client address and in total. When a new connection
  would exceed a cap, the oldest connection of that client (or of all) that is
  *not inside a request* is closed to make room, so idle or half-open sockets
  can never lock others out; only when every connection is busy is the new one
  refused with 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .core.errors import ResponseAborted

__all__ = ["ConnectionLimits", "LimitedHttpProtocol", "uvicorn_config"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines and caps of the server's connections.

    Args:
        header_timeout: Seconds a connection has to deliver a request's headers.
        body_timeout: Seconds a request has to deliver its body after the headers.
        keep_alive_timeout: Seconds an idle keep-alive connection is kept (uvicorn's ``timeout_keep_alive``).
        max_connections: Open connections in total.
        max_connections_per_client: Open connections per client IP address.
        max_header_bytes: Largest request head (request line and headers), in bytes.
    """

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: int = 5
    max_connections: int = 1000
    max_connections_per_client: int = 200
    max_header_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout", "max_connections",
                     "max_connections_per_client", "max_header_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")


class _Registry:
    """The open connections of one server, oldest first, in total and per client (event-loop thread only)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.all: dict[LimitedHttpProtocol, None] = {}
        self.by_client: dict[str, dict[LimitedHttpProtocol, None]] = {}

    def admit(self, conn: LimitedHttpProtocol) -> bool:
        """Register ``conn``, closing an idle connection when a cap is reached; False when all are busy."""
        group = self.by_client.setdefault(conn.client_host, {})
        for members, cap in ((group, self.limits.max_connections_per_client), (self.all, self.limits.max_connections)):
            if len(members) >= cap:
                victim = next((other for other in members if other.idle), None)
                if victim is None:
                    return False
                victim.close("making room for a new connection")
        group[conn] = None
        self.all[conn] = None
        return True

    def remove(self, conn: LimitedHttpProtocol) -> None:
        self.all.pop(conn, None)
        group = self.by_client.get(conn.client_host)
        if group is not None:
            group.pop(conn, None)
            if not group:
                del self.by_client[conn.client_host]


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines, a header size cap and connection caps.

    Made per server by :func:`uvicorn_config` (the class holds that server's limits and registry).
    """

    limits: ConnectionLimits = ConnectionLimits()
    registry: _Registry = _Registry(limits)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_host = ""
        self.idle = True
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ connection life
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_host = self.client[0] if self.client else ""
        if not self.registry.admit(self):
            log.warning("refusing a connection from %s: every connection is busy", self.client_host or "?")
            self._answer(503, "Too many connections are busy; retry later")
            return
        self._arm(self.limits.header_timeout, self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.remove(self)
        self._disarm()
        super().connection_lost(exc)

    def close(self, reason: str) -> None:
        """Close this connection now (``reason`` is logged at debug level)."""
        log.debug("closing connection from %s: %s", self.client_host or "?", reason)
        self.registry.remove(self)
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    # ------------------------------------------------------------------ parser events
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.idle and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._answer(431, f"Request headers too large (limit {self.limits.max_header_bytes} bytes)")

    def on_headers_complete(self) -> None:
        self.idle = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout, self._body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.idle = True
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.header_timeout, self._header_timeout)

    # ------------------------------------------------------------------ deadlines
    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _header_timeout(self) -> None:
        self._deadline = None
        if self._head_bytes:
            self._answer(408, f"Request headers not received within {self.limits.header_timeout:g} s")
        else:
            self.close("idle past the header deadline")

    def _body_timeout(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_started:
            self._answer(408, f"Request body not received within {self.limits.body_timeout:g} s")
        else:
            self.close("body past its deadline")

    def _answer(self, status: int, message: str) -> None:
        """Send a plain-text error and close the connection (nothing of a response was sent yet)."""
        reason = {408: "Request Timeout", 431: "Request Header Fields Too Large",
                  503: "Service Unavailable"}[status]
        body = message.encode() + b"\n"
        head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
        if not self.transport.is_closing():
            self.transport.write(head + body)
        if self.cycle is not None:  # the application's own answer, if any, is dropped
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.close(message)


class _WithoutAbortTracebacks(logging.Filter):
    """Drops uvicorn's traceback for a :class:`~.core.errors.ResponseAborted` (its reason is logged already)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ResponseAborted))


def uvicorn_config(app: Any, limits: ConnectionLimits = ConnectionLimits(), **settings: Any) -> uvicorn.Config:
    """A uvicorn configuration serving ``app`` under ``limits``.

    A response aborted on purpose after its head (:class:`~.core.errors.ResponseAborted`)
    closes the connection without a traceback in uvicorn's log.

    Args:
        app: The ASGI application.
        limits: Deadlines and connection caps.
        **settings: Further :class:`uvicorn.Config` settings (host, port, log_level, ...).
    """
    protocol = type("LimitedHttpProtocolOfServer", (LimitedHttpProtocol,),
                    {"limits": limits, "registry": _Registry(limits)})
    config = uvicorn.Config(app, http=protocol, ws="none", timeout_keep_alive=limits.keep_alive_timeout,
                            limit_concurrency=limits.max_connections + 1, **settings)
    errors = logging.getLogger("uvicorn.error")  # after the Config, which sets up uvicorn's logging
    if not any(isinstance(f, _WithoutAbortTracebacks) for f in errors.filters):
        errors.addFilter(_WithoutAbortTracebacks())
    return config
