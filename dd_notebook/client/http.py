"""HTTP transport of the client: one keep-alive session, retries, URL encoding, response decoding.

Wire conventions (dd-protocol §1, §9.2): endpoints are ``<server URL>/<endpoint>``;
GET input goes in the query string, POST input is a JSON body sent without a
``Content-Type`` header; the token travels in ``X-Authentication-Token``; only
status 200 is success; a 200 body is JSON when the content type is
``text/json`` (``application/json`` is accepted too), a stream of JSON records
for ``application/json-seq`` and plain text otherwise.

Differences from upstream, all invisible to a compatible server: one
``requests.Session`` per client (connections are reused), every query value is
percent-encoded (so ``+``, spaces, ``&``, ``#`` and ``%`` in DIDs survive),
separate connect and read timeouts, and 502/504 are retried like 503. The
client's own requests skip the generic parts of ``Session.request`` (see
:mod:`dd_notebook.client.fastpath`), which halves the client's CPU per request.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson
import requests
import urllib3

from .errors import NetworkError, RequestTimeoutError, ServerError, error_for_status
from .fastpath import DirectSender
from .tokens import Token

__all__ = ["HTTPTransport", "build_query", "decode_response"]

log = logging.getLogger(__name__)

Params = Iterable[tuple[str, Any]] | Mapping[str, Any]

#: JSON bodies: keys that are not strings (e.g. ints) become strings, numpy values are accepted.
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

#: Characters left as they are in query values; everything else is percent-encoded.
SAFE_CHARS = ":/@,"


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


def _json_message(response: requests.Response) -> str | None:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if content_type not in ("text/json", "application/json"):
        return None
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    return None


def decode_response(
    response: requests.Response, none_if_not_found: bool = False, token: Token | None = None
) -> Any:
    """Turn a response into the client's return value, or raise the matching error.

    Args:
        response: The final response (after retries).
        none_if_not_found: Return ``None`` for a 404 instead of raising.
        token: The token that was sent; its expiry refines 401 errors.

    Returns:
        Parsed JSON, a list of records (``application/json-seq``) or text.

    Raises:
        HTTPError: any status other than 200 (subclass by status).
    """
    status = response.status_code
    if status != 200:
        if status == 404 and none_if_not_found:
            return None
        raise error_for_status(
            response.url,
            status,
            response.text,
            response.headers.get("Content-Type", ""),
            _json_message(response),
            token.expiration if token is not None else None,
        )
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/json-seq"):
        lines = (line.strip(b"\x1e \t\r") for line in response.content.splitlines())
        return [orjson.loads(line) for line in lines if line]
    if content_type.startswith(("text/json", "application/json")):
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ServerError(response.url, status, f"invalid JSON in the response: {exc}", response.text) from exc
    return response.text


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


class HTTPTransport:
    """Sends requests to one data server through a keep-alive session.

    Args:
        base_url: The data-server URL (``DATA_DISPATCHER_URL``).
        timeout: Read timeout per request, seconds.
        connect_timeout: Connect timeout per request, seconds (capped at ``timeout``).

    Attributes:
        session: The ``requests.Session`` (set ``session.verify`` for custom CAs).
        token: The token sent with every request, or ``None``.
    """

    InitialRetry = 1.0
    RetryExponent = 1.5
    DefaultRetryTimeout = 300.0
    RetryStatuses = frozenset({502, 503, 504})

    def __init__(self, base_url: str, timeout: float = 300, connect_timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.connect_timeout = min(float(connect_timeout), self.timeout)
        self.session = _new_session(self.base_url)
        self._direct = DirectSender(self.session)
        self.token: Token | None = None

    def url(self, endpoint: str, params: Params | None = None) -> str:
        """Return the full URL of ``endpoint`` with the encoded query string."""
        return f"{self.base_url}/{endpoint}{build_query(params)}"

    def auth_headers(self) -> dict[str, str]:
        """Return the token header, or an empty dict without a token."""
        return {"X-Authentication-Token": self.token.encoded} if self.token is not None else {}

    def retry_request(self, method: str, url: str, timeout: float | None = None, **args: Any) -> requests.Response:
        """Send a request, retrying 502/503/504 with a random, exponentially growing delay.

        Args:
            method: ``"get"`` or ``"post"`` (any HTTP method, case-insensitive).
            url: Full URL.
            timeout: Total time budget for retries, seconds (default 300);
                ``0`` means exactly one attempt.
            **args: Passed to ``requests.Session.request`` (``headers``, ``data``, ...).

        Returns:
            The last response; its status is 502/503/504 when the budget ran out.

        Raises:
            RequestTimeoutError: the server did not answer within the per-request timeout.
            NetworkError: the connection failed.
        """
        args.setdefault("timeout", (self.connect_timeout, self.timeout))
        return self._with_retries(method, url, timeout, lambda: self.session.request(method.upper(), url, **args))

    def _with_retries(
        self, method: str, url: str, budget: float | None, send: Callable[[], requests.Response]
    ) -> requests.Response:
        deadline = time.monotonic() + (self.DefaultRetryTimeout if budget is None else float(budget))
        interval = self.InitialRetry
        while True:
            response = self._attempt(method, url, send)
            remaining = deadline - time.monotonic()
            if response.status_code not in self.RetryStatuses or remaining <= 0:
                return response
            delay = min(random.random() * interval, remaining)
            interval *= self.RetryExponent
            log.debug("%s %s answered %d; retrying in %.2f s", method.upper(), url, response.status_code, delay)
            if delay > 0:
                time.sleep(delay)

    @staticmethod
    def _attempt(method: str, url: str, send: Callable[[], requests.Response]) -> requests.Response:
        try:
            return send()
        except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass in urllib3 2
            raise NetworkError(f"{method.upper()} {url}: {exc}") from exc
        except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise RequestTimeoutError(f"{method.upper()} {url}: no answer in time ({exc})") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError) as exc:
            raise NetworkError(f"{method.upper()} {url}: {exc}") from exc

    def _call(self, method: str, url: str, body: bytes | None = None, with_token: bool = True,
              extra_headers: dict[str, str] | None = None) -> requests.Response:
        """Send one of the client's own requests (with the token header unless told not to), with retries."""
        headers = self.auth_headers() if with_token else {}
        if extra_headers:
            headers = {**headers, **extra_headers}
        timeouts = (self.connect_timeout, self.timeout)

        def send() -> requests.Response:
            response = self._direct.send(method, url, headers, body, timeouts)
            if response is None:
                response = self.session.request(method, url, headers=headers, data=body, timeout=timeouts)
            return response

        return self._with_retries(method, url, None, send)

    def get(self, endpoint: str, params: Params | None = None, none_if_not_found: bool = False) -> Any:
        """GET ``endpoint`` and decode the answer (see :func:`decode_response`)."""
        token = self.token
        response = self._call("GET", self.url(endpoint, params))
        return decode_response(response, none_if_not_found, token)

    def get_raw(self, endpoint: str, params: Params | None = None, accept: str | None = None) -> requests.Response:
        """GET ``endpoint`` (with retries) and return the response undecoded, asking for ``accept``."""
        return self._call("GET", self.url(endpoint, params), extra_headers={"Accept": accept} if accept else None)

    def post(self, endpoint: str, data: Any, params: Params | None = None, none_if_not_found: bool = True) -> Any:
        """POST ``data`` as JSON to ``endpoint``; a 404 gives ``None`` (upstream behaviour, Q-POST404)."""
        token = self.token
        body = data.encode("utf-8") if isinstance(data, str) else orjson.dumps(data, option=_JSON_OPTIONS)
        response = self._call("POST", self.url(endpoint, params), body)
        return decode_response(response, none_if_not_found, token)

    def get_absolute(self, url: str, none_if_not_found: bool = False) -> Any:
        """GET a full URL on another server (e.g. the DD GUI) without sending the token, and decode the answer."""
        response = self._call("GET", url, with_token=False)
        return decode_response(response, none_if_not_found)

    def close(self) -> None:
        """Close the session's pooled connections."""
        self._direct.close()
        self.session.close()
