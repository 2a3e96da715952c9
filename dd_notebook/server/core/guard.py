"""Refuse what a web page in the user's browser could make the server do.

Any page the user opens can send requests to a server on loopback: simple
cross-origin requests (``text/plain``, form bodies, no body type at all) need
no CORS preflight, and DNS rebinding makes a foreign name resolve to
127.0.0.1. The server's clients are programs (the DD and MetaCat clients,
``requests``, notebooks' kernels): they send no ``Origin`` and no
``Sec-Fetch-*`` headers and only the body types listed in
:data:`BODY_TYPES`. So :class:`RequestGuard` refuses, before any endpoint
runs:

* a ``Host`` that is not an address of this server (400): loopback names and
  addresses, the address it was started on, names an operator allowed;
* a request a browser marks as cross-origin (403): an ``Origin`` other than
  the server's own, or ``Sec-Fetch-Site`` of ``cross-site`` or ``same-site``
  (another port of the same machine is another origin);
* a request body whose ``Content-Type`` no client of this server sends (415):
  ``text/plain``, ``application/x-www-form-urlencoded`` and
  ``multipart/form-data``, the types a browser form can send, among them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BODY_TYPES", "GuardPolicy", "RequestGuard", "split_host"]

#: Media types of the request bodies clients send (no ``Content-Type`` at all is accepted too).
#: Upstream's DD client and our clients send none; MetaCat's client sends ``text/json``.
BODY_TYPES = frozenset({"text/json", "application/json"})
_WILDCARD_HOSTS = {"0.0.0.0", "::", ""}
_FOREIGN_FETCH_SITES = {b"cross-site", b"same-site"}
_BODYLESS_METHODS = {"GET", "HEAD", "OPTIONS"}
_PLAIN = "text/plain; charset=UTF-8"


def split_host(value: str) -> tuple[str, str | None]:
    """Split a ``Host`` header value into (host, port); IPv6 brackets are removed.

    Returns:
        The host in lower case without a trailing dot, and the port text or None.
    """
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:
        host, port = value, None
    return host.rstrip("."), port


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True)
class GuardPolicy:
    """Which ``Host`` values the server answers to.

    Args:
        bind_host: The address the server listens on (``0.0.0.0`` / ``::`` for all
            interfaces: then every address of the machine and its host names).
        allowed_hosts: Further names the server is reached by (``--allowed-host``),
            e.g. a DNS alias of a login node.
    """

    bind_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {"localhost", *(split_host(name)[0] for name in self.allowed_hosts)}
        bind = split_host(self.bind_host)[0] if self.bind_host.startswith("[") else self.bind_host.lower()
        if bind in _WILDCARD_HOSTS:
            names.update(name.lower() for name in (socket.gethostname(), socket.getfqdn()) if name)
        elif _ip(bind) is None:
            names.add(bind.rstrip("."))
        object.__setattr__(self, "_names", frozenset(names))

    @property
    def names(self) -> frozenset[str]:
        """The host names (not addresses) accepted in ``Host``."""
        return self._names

    def host_allowed(self, host: str) -> bool:
        """True when ``host`` (without port, lower case) names this server.

        An IP address is accepted when it is a loopback address, the bound
        address, or any address when bound to all interfaces: a page cannot use an
        address to rebind DNS. Names must be ``localhost`` (or end in
        ``.localhost``, which browsers resolve to loopback themselves), the bound
        name, or an allowed name.
        """
        address = _ip(host)
        if address is not None:
            bind = self.bind_host.strip("[]").lower()
            return address.is_loopback or bind in _WILDCARD_HOSTS or address == _ip(bind)
        return host in self._names or host.endswith(".localhost")


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _media_type(content_type: bytes) -> str:
    return content_type.decode("latin-1").split(";", 1)[0].strip().lower()


class RequestGuard:
    """ASGI middleware applying the checks of this module to every HTTP request.

    Args:
        app: The application behind the guard.
        policy: Which hosts the server answers to.
    """

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.refusal(scope)
            if problem is not None:
                status, message = problem
                await Response(message, status_code=status, media_type=_PLAIN,
                               headers={"Connection": "close"})(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """The (status, message) refusing this request, or None when it may go on."""
        headers = scope.get("headers", ())
        raw_host = _header(headers, b"host")
        host_text = raw_host.decode("latin-1") if raw_host is not None else ""
        if raw_host is not None:
            host, _ = split_host(host_text)
            if not self.policy.host_allowed(host):
                return 400, (f"Host {host!r} is not an address of this server (DNS rebinding is refused); "
                             f"an operator can allow the name with --allowed-host {host}")
        origin = _header(headers, b"origin")
        if origin is not None:
            own = f"{scope.get('scheme', 'http')}://{host_text.strip().lower()}"
            if origin.decode("latin-1").strip().lower().rstrip("/") != own:
                return 403, (f"Cross-origin request refused: Origin {origin.decode('latin-1')!r} is not this "
                             "server; web pages may not call it")
        fetch_site = _header(headers, b"sec-fetch-site")
        if fetch_site is not None and fetch_site.strip().lower() in _FOREIGN_FETCH_SITES:
            return 403, (f"Cross-site request refused (Sec-Fetch-Site: {fetch_site.decode('latin-1')}); "
                         "web pages may not call this server")
        content_type = _header(headers, b"content-type")
        if content_type is not None and scope.get("method", "GET") not in _BODYLESS_METHODS:
            media_type = _media_type(content_type)
            if media_type not in BODY_TYPES:
                accepted = ", ".join(sorted(BODY_TYPES))
                return 415, (f"Request bodies of type {media_type!r} are not accepted (a browser form can send "
                             f"them); send JSON with no Content-Type or one of: {accepted}")
        return None
