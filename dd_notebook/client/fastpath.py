"""A lean way to send the client's own requests through its ``requests.Session``.

``Session.request`` spends most of its time on generic work the client does not
need (merging cookies, hooks, environment settings, re-parsing an URL that is
already encoded): about as much CPU as a local server needs to answer. For
the client's own requests (URL built and encoded by the client, headers and an
optional byte body, no redirects) :class:`DirectSender` uses the session's
adapter and its urllib3 connection pool directly, so connections stay shared
with the session, and returns an ordinary ``requests.Response``.

It steps aside (returns ``None``) whenever the session is not in its plain
state: proxies, authentication, cookies or response hooks configured, a custom
adapter mounted, or ``HTTPAdapter.send`` replaced (for example by the
``responses`` mocking library). The caller then uses ``Session.request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

__all__ = ["DirectSender"]

_PRISTINE_SEND = HTTPAdapter.send


def _eligible(session: requests.Session, adapter: object) -> bool:
    return (
        type(adapter) is HTTPAdapter
        and HTTPAdapter.send is _PRISTINE_SEND
        and not session.proxies
        and session.auth is None
        and not session.hooks.get("response")
        and not session.cookies
    )


def _origin_and_target(url: str) -> tuple[str, str]:
    """Split ``scheme://host:port/path?query`` into the origin and the request target."""
    slash = url.find("/", url.find("//") + 2)
    return (url, "/") if slash < 0 else (url[:slash], url[slash:])


class DirectSender:
    """Sends requests through one session's connection pools, bypassing ``Session.request``.

    Args:
        session: The session whose adapters, default headers, TLS settings and pools are used.
    """

    def __init__(self, session: requests.Session) -> None:
        self.session = session
        self._pools: dict[tuple[object, str, object, object], urllib3.HTTPConnectionPool] = {}
        self._timeouts: dict[tuple[float, float], urllib3.Timeout] = {}

    def send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: tuple[float, float]
    ) -> requests.Response | None:
        """Send one request, or return ``None`` when ``Session.request`` must be used instead.

        Args:
            method: HTTP method, upper case.
            url: Fully encoded absolute URL.
            headers: Request headers (added to the session's default headers).
            body: Request body, or ``None``.
            timeout: ``(connect, read)`` timeouts, seconds.

        Returns:
            The response with its body not read yet (``response.raw`` holds the connection until
            the body is read, see :class:`dd_notebook.client.body.BodyReader`), or ``None``.

        Raises:
            urllib3.exceptions.HTTPError: transport failures (timeouts, refused or dropped connections, TLS errors).
        """
        session = self.session
        adapter = session.get_adapter(url)
        if not isinstance(adapter, HTTPAdapter) or not _eligible(session, adapter):
            return None
        request = requests.PreparedRequest()
        request.method = method
        request.url = url
        request.headers = CaseInsensitiveDict(session.headers)
        request.headers.update(headers)
        request.body = body
        request.hooks = {"response": []}
        origin, target = _origin_and_target(url)
        raw = self._pool(adapter, request, origin).urlopen(
            method,
            target,
            body=body,
            headers=cast("Mapping[str, str]", request.headers),
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=False,
            timeout=self._timeout(timeout),
        )
        return adapter.build_response(request, raw)

    def _pool(self, adapter: HTTPAdapter, request: requests.PreparedRequest, origin: str) -> urllib3.HTTPConnectionPool:
        session = self.session
        key = (adapter, origin, session.verify, session.cert)
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # new, or closed meanwhile
            pool = adapter.get_connection_with_tls_context(request, session.verify, None, session.cert)
            adapter.cert_verify(pool, cast(str, request.url), session.verify, session.cert)
            self._pools[key] = pool
        return pool

    def close(self) -> None:
        """Close the pools used so far (``Session.close`` forgets them without closing them)."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def _timeout(self, timeout: tuple[float, float]) -> urllib3.Timeout:
        value = self._timeouts.get(timeout)
        if value is None:
            value = self._timeouts[timeout] = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        return value
