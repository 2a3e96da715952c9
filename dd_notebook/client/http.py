"""The one HTTP transport of the DD and MetaCat clients: session, deadlines, retries, error mapping.

Wire conventions (dd-protocol §1, §9.2): endpoints are ``<server URL>/<endpoint>``;
GET input goes in the query string, POST input is a JSON body sent without a
``Content-Type`` header; the token travels in ``X-Authentication-Token``; only
status 200 is success; a 200 body is JSON when the content type is
``text/json`` (``application/json`` is accepted too), a stream of JSON records
for ``application/json-seq`` and plain text otherwise.

Rules every call follows:

* **One deadline per call.** ``timeout`` is the longest one call may take, all
  attempts, waits and body reading included (default 300 s, upstream's retry
  budget). Each attempt's connect and read timeouts are cut to what is left,
  and the body is read in pieces so that a server sending a byte a second
  still hits the deadline (:class:`~dd_notebook.errors.RequestTimeoutError`).
* **Retries that cannot double anything** (:mod:`dd_notebook.client.retry`):
  503 and 429 for every call, after ``Retry-After`` when given; 502, 504 and
  connection failures only for reads.
* **Bounded bodies**: a compressed answer may not expand beyond a ratio
  (:class:`~dd_notebook.client.body.Limits`).
* **Only typed errors**: every failure is a class of :mod:`dd_notebook.errors`.

Differences from upstream, all invisible to a compatible server: one
``requests.Session`` per client (connections are reused), every query value is
percent-encoded (so ``+``, spaces, ``&``, ``#`` and ``%`` in DIDs survive),
separate connect and read timeouts. The client's own requests skip the generic
parts of ``Session.request`` (see :mod:`dd_notebook.client.fastpath`).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import logging
import os
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson
import requests
import urllib3

from .body import BodyReader, Limits, decode_response
from .errors import DDNotebookError, InvalidResponseError, NetworkError, RequestTimeoutError
from .fastpath import DirectSender
from .retry import DD_READ_ENDPOINTS, RetryPolicy, parse_retry_after
from .tokens import Token

__all__ = ["HTTPTransport", "build_query", "decode_response"]

log = logging.getLogger(__name__)

Params = Iterable[tuple[str, Any]] | Mapping[str, Any]

#: JSON bodies: keys that are not strings (e.g. ints) become strings, numpy values are accepted.
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

#: Characters left as they are in query values; everything else is percent-encoded.
SAFE_CHARS = ":/@,"

#: Data-server endpoints whose 200 answer is text, not JSON.
TEXT_ENDPOINTS = frozenset({"version", "probe"})

#: How to log in, quoted in authentication errors.
DEFAULT_LOGIN_ADVICE = "client.login_password(user, password) or `ddisp login -m password <user>`"


def build_query(params: Params | None) -> str:
    """Return ``?k=v&...`` (or ``""``) with every key and value percent-encoded.

    ``None`` values are skipped; booleans must be converted by the caller.
    """
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    pieces = [
        f"{quote(str(key), safe=SAFE_CHARS)}={quote(str(value), safe=SAFE_CHARS)}"
        for key, value in items
        if value is not None
    ]
    return "?" + "&".join(pieces) if pieces else ""


def _new_session(base_url: str) -> requests.Session:
    """A session whose environment settings (proxies, CA bundle) are read once, not on every request.

    ``requests`` re-reads the proxy variables and ``~/.netrc`` for each request
    when ``trust_env`` is on, which costs more than the rest of a request to a
    local server. The values that matter here are captured at construction.
    Cookies are refused, as with upstream (a fresh session per request): an
    ``auth_token`` cookie would override the ``X-Authentication-Token`` header.
    """
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    session.trust_env = False
    return session


_RESETS = (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError, ConnectionResetError,
           ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected, http.client.IncompleteRead)


def _is_reset(exc: BaseException | None) -> bool:
    """Tell whether a failure is a connection dropped after it was made (not refused, not a DNS failure)."""
    for _ in range(6):
        if exc is None or isinstance(exc, urllib3.exceptions.NewConnectionError):
            return False
        if isinstance(exc, _RESETS):
            return True
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = inner or getattr(exc, "reason", None) or exc.__cause__
    return False


def _typed_error(exc: Exception, method: str, url: str) -> tuple[DDNotebookError, bool]:
    """Map a ``requests``/``urllib3`` exception to the error tree; the flag tells whether a read may retry."""
    where = f"{method} {url}"
    if isinstance(exc, DDNotebookError):
        return exc, isinstance(exc, NetworkError) and _is_reset(exc.__cause__)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError subclass in urllib3 2
        return NetworkError(f"{where}: cannot connect ({exc})"), False
    if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return RequestTimeoutError(f"{where}: no answer in time ({exc})"), False
    if isinstance(exc, requests.TooManyRedirects):
        return InvalidResponseError(url, None, f"{where}: the server keeps redirecting ({exc})"), False
    if isinstance(exc, (requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError)):
        return InvalidResponseError(url, None, f"{where}: the answer could not be decoded ({exc})"), False
    if isinstance(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        return NetworkError(f"{where}: TLS failure ({exc})"), False
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                        urllib3.exceptions.HTTPError, OSError)):
        return NetworkError(f"{where}: the connection failed ({exc})"), _is_reset(exc)
    return NetworkError(f"{where}: the request could not be sent ({exc})"), False


class HTTPTransport:
    """Sends requests to one server through a keep-alive session, under one deadline per call.

    Args:
        base_url: The server URL (``DATA_DISPATCHER_URL``, or MetaCat's ``.../app/data``).
        timeout: Longest time one call may take, retries included, seconds.
        connect_timeout: Connect timeout per attempt, seconds (capped at ``timeout``).
        read_endpoints: Endpoints that change nothing (retried on 502/504 and resets too).
        policy: The retry policy.
        limits: Bounds on answer bodies.
        login_advice: How to log in again, added to authentication errors.
        session: A ``requests.Session`` to use instead of a new one.

    Attributes:
        session: The ``requests.Session`` (set ``session.verify`` for custom CAs).
        token: The token sent with every request, or ``None``.
    """

    DefaultRetryTimeout = 300.0

    def __init__(self, base_url: str, timeout: float = 300, connect_timeout: float = 10.0, *,
                 read_endpoints: frozenset[str] = DD_READ_ENDPOINTS, policy: RetryPolicy = RetryPolicy(),
                 limits: Limits = Limits(), login_advice: str = DEFAULT_LOGIN_ADVICE,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.connect_timeout = min(float(connect_timeout), self.timeout)
        self.read_endpoints = read_endpoints
        self.policy = policy
        self.limits = limits
        self.login_advice = login_advice
        self.session = session if session is not None else _new_session(self.base_url)
        self._direct = DirectSender(self.session)
        self.token: Token | None = None

    def url(self, endpoint: str, params: Params | None = None) -> str:
        """Return the full URL of ``endpoint`` with the encoded query string."""
        return f"{self.base_url}/{endpoint}{build_query(params)}"

    def auth_headers(self) -> dict[str, str]:
        """Return the token header, or an empty dict without a token."""
        return {"X-Authentication-Token": self.token.encoded} if self.token is not None else {}

    def login_context(self) -> tuple[str | None, str, str]:
        """``(user of the token, server URL, how to log in)`` for the text of authentication errors."""
        return (self.token.subject if self.token is not None else None, self.base_url, self.login_advice)

    def is_read(self, endpoint: str) -> bool:
        """Tell whether ``endpoint`` changes nothing on the server (see :mod:`dd_notebook.client.retry`)."""
        return endpoint.split("/", 1)[0].split("?", 1)[0] in self.read_endpoints

    # ------------------------------------------------------------------ sending
    def request(self, method: str, url: str, *, is_read: bool, headers: dict[str, str] | None = None,
                body: bytes | None = None, budget: float | None = None, stream: bool = False,
                **send_args: Any) -> requests.Response:
        """Send one call under its deadline, retrying what the policy allows, and read the answer.

        Args:
            method: HTTP method (case-insensitive).
            url: Full, encoded URL.
            is_read: The call changes nothing on the server (502/504 and resets may be retried).
            headers: Request headers (the token is not added here; see :meth:`auth_headers`).
            body: Request body.
            budget: Longest time spent retrying, seconds (never beyond the call's deadline);
                ``0`` = one attempt.
            stream: Leave the body unread; read it with :meth:`body_reader`.
            **send_args: Passed to ``requests.Session.request`` (``auth``, ``cert``, ...).

        Returns:
            The last response (for retried statuses: the one answered when the retries ran out).

        Raises:
            RequestTimeoutError: no complete answer before the deadline.
            NetworkError: the connection failed (after the retries allowed for reads).
            InvalidResponseError: redirect loop, undecodable or oversized body.
        """
        method = method.upper()
        start = time.monotonic()
        deadline = start + self.timeout
        retry_until = min(deadline, start + (self.DefaultRetryTimeout if budget is None else float(budget)))
        interval = self.policy.initial_delay
        while True:
            try:
                response = self._attempt(method, url, headers or {}, body, deadline, stream, send_args)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, DDNotebookError) as exc:
                error, retryable = _typed_error(exc, method, url)
                wait = random.random() * interval
                if not (retryable and is_read) or time.monotonic() + wait >= retry_until:
                    if error is exc:
                        raise
                    raise error from exc
                log.debug("%s %s failed (%s); retrying in %.2f s", method, url, error, wait)
            else:
                status = response.status_code
                if not self.policy.retries_status(status, is_read):
                    return response
                asked = parse_retry_after(response.headers.get("Retry-After"))
                wait = random.random() * interval if asked is None else asked
                if time.monotonic() + wait >= retry_until:
                    return response
                log.debug("%s %s answered %d; retrying in %.2f s", method, url, status, wait)
                response.close()
            interval *= self.policy.growth
            if wait > 0:
                time.sleep(wait)

    def _attempt(self, method: str, url: str, headers: dict[str, str], body: bytes | None, deadline: float,
                 stream: bool, send_args: dict[str, Any]) -> requests.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimeoutError(f"{method} {url}: no answer before the deadline")
        timeouts = (min(self.connect_timeout, remaining), min(self.timeout, remaining))
        response = None if send_args else self._direct.send(method, url, headers, body, timeouts)
        if response is None:
            response = self.session.request(method, url, headers=headers, data=body, timeout=timeouts,
                                            stream=True, **send_args)
        if not stream:
            BodyReader(response, deadline, self.limits).read_all()
        return response

    def body_reader(self, response: requests.Response) -> BodyReader:
        """A reader of a streamed answer: the time spent waiting for it is bounded by ``timeout``."""
        return BodyReader(response, time.monotonic() + self.timeout, self.limits, streamed=True)

    def retry_request(self, method: str, url: str, timeout: float | None = None, **args: Any) -> requests.Response:
        """Send a request, retrying 503 and 429 (the answers that mean "nothing was done").

        Args:
            method: ``"get"`` or ``"post"`` (any HTTP method, case-insensitive).
            url: Full URL.
            timeout: Total time budget for retries, seconds (default 300, never beyond
                the client's timeout); ``0`` means exactly one attempt.
            **args: Passed to ``requests.Session.request`` (``headers``, ``data``, ...).

        Returns:
            The last response; its status is 503/429 when the budget ran out.

        Raises:
            RequestTimeoutError: no complete answer before the deadline.
            NetworkError: the connection failed.
        """
        headers = args.pop("headers", None)
        data = args.pop("data", None)
        if isinstance(data, str):
            data = data.encode("utf-8")
        return self.request(method, url, is_read=False, headers=headers, body=data, budget=timeout, **args)

    # ------------------------------------------------------------------ the client's own calls
    def _call(self, method: str, endpoint: str, url: str, body: bytes | None = None, with_token: bool = True,
              extra_headers: dict[str, str] | None = None, budget: float | None = None) -> requests.Response:
        headers = self.auth_headers() if with_token else {}
        if extra_headers:
            headers = {**headers, **extra_headers}
        return self.request(method, url, is_read=self.is_read(endpoint), headers=headers, body=body, budget=budget)

    def decode(self, response: requests.Response, endpoint: str, none_if_not_found: bool = False,
               token: Token | None = None) -> Any:
        """Decode an answer of ``endpoint`` (JSON required except for text endpoints); ``token`` = the one sent."""
        return decode_response(response, none_if_not_found, token.expiration if token is not None else None,
                               expect_json=endpoint not in TEXT_ENDPOINTS, login=self.login_context())

    def get(self, endpoint: str, params: Params | None = None, none_if_not_found: bool = False,
            budget: float | None = None) -> Any:
        """GET ``endpoint`` and decode the answer (see :func:`~dd_notebook.client.body.decode_response`)."""
        token = self.token
        response = self._call("GET", endpoint, self.url(endpoint, params), budget=budget)
        return self.decode(response, endpoint, none_if_not_found, token)

    def get_raw(self, endpoint: str, params: Params | None = None, accept: str | None = None) -> requests.Response:
        """GET ``endpoint`` (with retries) and return the response undecoded, asking for ``accept``."""
        return self._call("GET", endpoint, self.url(endpoint, params),
                          extra_headers={"Accept": accept} if accept else None)

    def post(self, endpoint: str, data: Any, params: Params | None = None, none_if_not_found: bool = True) -> Any:
        """POST ``data`` as JSON to ``endpoint``; a 404 gives ``None`` (upstream behaviour, Q-POST404)."""
        token = self.token
        body = data.encode("utf-8") if isinstance(data, str) else orjson.dumps(data, option=_JSON_OPTIONS)
        response = self._call("POST", endpoint, self.url(endpoint, params), body)
        return self.decode(response, endpoint, none_if_not_found, token)

    def get_absolute(self, url: str, none_if_not_found: bool = False) -> Any:
        """GET a full URL on another server (e.g. the DD GUI) without sending the token, and decode the answer."""
        response = self.request("GET", url, is_read=True)
        return decode_response(response, none_if_not_found, expect_json=True)

    def close(self) -> None:
        """Close the session's pooled connections."""
        self._direct.close()
        self.session.close()
