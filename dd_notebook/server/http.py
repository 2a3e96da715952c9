"""The request/response layer shared by the server's services.

A *service* maps the first path segment after its mount point to an endpoint
function (the HTTP method is not checked, as upstream). Endpoint functions are
synchronous, receive a :class:`Call` and return a Starlette ``Response``; they
run on the event loop thread, one at a time, which makes every endpoint atomic
with respect to the others. An endpoint may instead return an awaitable (used
for big read-only listings that run on their own connections in a thread).
"""

from __future__ import annotations

import inspect
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import HTTPError, bad_request, unauthorized
from .group_commit import CommitFailed, GroupCommit
from .tokens import TokenError, TokenSigner
from .users import User, UserStore
from .validation import MAX_SQLITE_INT, parse_int

log = logging.getLogger(__name__)

JSON_TYPE = "text/json; charset=UTF-8"
TEXT_TYPE = "text/html; charset=UTF-8"
PLAIN_TYPE = "text/plain; charset=UTF-8"
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_PARAM_CHARS = 1 << 20
#: Deepest nesting the JSON parser reads (orjson's fixed limit).
MAX_JSON_PARSE_DEPTH = 1024

Endpoint = Callable[["Call"], Response | Awaitable[Response]]


def json_response(obj: Any) -> Response:
    """Return ``obj`` as a ``text/json`` 200 response (the type the DD client expects)."""
    return Response(orjson.dumps(obj), media_type=JSON_TYPE)


def text_response(text: str, status: int = 200, media_type: str = TEXT_TYPE,
                  headers: dict[str, str] | None = None) -> Response:
    """Return a plain-text response."""
    return Response(text, status_code=status, media_type=media_type, headers=headers)


def parse_query(query_string: bytes) -> dict[str, Any]:
    """Decode a query string the way the upstream server does.

    Pieces are split on ``&`` and then on the first ``=``; values are decoded
    with unquote-plus; empty pieces are skipped; a key without ``=`` maps to
    None; a repeated key maps to a list.
    """
    params: dict[str, Any] = {}
    text = query_string.decode("latin-1")
    if len(text) > MAX_PARAM_CHARS:
        raise HTTPError(414, f"Query string too long (limit {MAX_PARAM_CHARS} characters)")
    for piece in text.split("&"):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        key = unquote_plus(key, encoding="utf-8", errors="replace")
        decoded: str | None = unquote_plus(value, encoding="utf-8", errors="replace") if eq else None
        if key in params:
            previous = params[key]
            params[key] = (previous if isinstance(previous, list) else [previous]) + [decoded]
        else:
            params[key] = decoded
    return params


class Call:
    """One request as an endpoint sees it.

    Attributes:
        params: Decoded query parameters (see :func:`parse_query`).
        relpath: Path after the endpoint segment (``get_rse/NAME`` gives ``NAME``).
        body: Raw request body.
        request: The Starlette request (headers, cookies, client).
    """

    def __init__(self, request: Request, params: dict[str, Any], relpath: str, body: bytes,
                 auth: Authenticator) -> None:
        self.request = request
        self.params = params
        self.relpath = relpath
        self.body = body
        self._auth = auth

    def param(self, name: str, default: str | None = None) -> str | None:
        """Return one query parameter as text (the last one when repeated).

        An absent parameter gives ``default``; a key sent without ``=`` gives None
        (so for flags it means "not yes", as upstream).
        """
        if name not in self.params:
            return default
        value = self.params[name]
        return value[-1] if isinstance(value, list) else value

    def flag(self, name: str, default: str = "no") -> bool:
        """True when the parameter equals ``yes`` exactly (upstream rule)."""
        return self.param(name, default) == "yes"

    def int_param(self, name: str, missing_message: str) -> int:
        """Return an integer parameter; 400 with ``missing_message`` when absent or empty."""
        value = self.param(name)
        if value is None or value == "":
            raise bad_request(missing_message)
        return parse_int(value, name)

    def json(self) -> Any:
        """Return the body parsed as JSON; 400 naming the problem otherwise."""
        if not self.body.strip():
            raise bad_request("Request body is empty; expected a JSON document")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            if str(exc).startswith("depth limit exceeded"):
                raise bad_request(f"Request body is nested too deeply (limit {MAX_JSON_PARSE_DEPTH} levels of "
                                  "lists and objects)") from None
            raise bad_request(f"Request body is not valid JSON: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        """Return the body as a JSON object; 400 when it is another JSON type."""
        data = self.json()
        if not isinstance(data, dict):
            raise bad_request("Request body must be a JSON object")
        return data

    def user(self) -> User:
        """Return the authenticated user; 401 with the upstream reason otherwise."""
        return self._auth.authenticate(self.request)

    def optional_user(self) -> User | None:
        """Return the authenticated user or None (never fails)."""
        try:
            return self._auth.authenticate(self.request)
        except HTTPError:
            return None


class Authenticator:
    """Find and verify the token of a request, then look up its user.

    Token sources, first hit wins: cookie ``auth_token``, header
    ``X-Authentication-Token``, header ``Authorization: Bearer <jwt>``.
    """

    def __init__(self, signer: TokenSigner, users: UserStore) -> None:
        self.signer = signer
        self.users = users

    @staticmethod
    def find_token(request: Request) -> str | None:
        """Return the encoded token sent with ``request``, if any."""
        token = request.cookies.get("auth_token") or request.headers.get("x-authentication-token")
        if token:
            return token
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    def authenticate(self, request: Request) -> User:
        """Return the user of a valid token; raise a 401 :class:`HTTPError` otherwise."""
        token = self.find_token(request)
        if not token:
            raise unauthorized("Token not found")
        try:
            claims = self.signer.verify(token)
        except TokenError as exc:
            raise unauthorized(str(exc)) from None
        user = self.users.get(claims["sub"])
        if user is None:
            raise unauthorized(f"user {claims['sub']} not found")
        return user


async def read_body(receive: Receive, scope: Scope, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read the whole request body; 413 when it exceeds ``limit`` bytes."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise HTTPError(413, f"Request body too large (limit {limit} bytes)")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"Request body too large (limit {limit} bytes)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class Service:
    """An ASGI app that dispatches ``<mount>/<endpoint>[/<relpath>]`` to endpoint functions.

    Args:
        endpoints: Endpoint name → function.
        auth: Token verification shared by all services.
        root_redirect: Where ``GET <mount>/`` redirects (upstream: ``./index``).
        commits: Group committer of the connection the endpoints write to; each
            response waits until the changes made so far are committed.
    """

    def __init__(self, endpoints: dict[str, Endpoint], auth: Authenticator,
                 root_redirect: str | None = None, commits: GroupCommit | None = None) -> None:
        self.endpoints = endpoints
        self.auth = auth
        self.root_redirect = root_redirect
        self.commits = commits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        rest = scope["path"][len(scope.get("root_path", "")):]
        response: Response
        segments = [s for s in rest.split("/") if s]
        try:
            if not segments:
                if self.root_redirect:
                    response = Response(status_code=302, headers={"Location": self.root_redirect})
                else:
                    raise HTTPError(404, "No endpoint given")
            else:
                endpoint = self.endpoints.get(segments[0])
                if endpoint is None:
                    raise HTTPError(404, f"invalid path: unknown endpoint {segments[0]!r}")
                body = await read_body(receive, scope)
                call = Call(request, parse_query(scope.get("query_string", b"")),
                            "/".join(segments[1:]), body, self.auth)
                result = endpoint(call)
                response = await result if inspect.isawaitable(result) else result
        except HTTPError as exc:
            response = text_response(exc.message, exc.status, headers=exc.headers)
        except OverflowError:
            response = text_response(f"A number in the request is out of range (the limit is {MAX_SQLITE_INT} "
                                     "in magnitude)", 400)
        except RecursionError:
            response = text_response("The request is nested too deeply", 400)
        except Exception as exc:
            if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
                log.warning("database busy in %s: %s", scope["path"], exc)
                response = text_response("Database busy; nothing was changed, please retry", 503)
            else:
                log.exception("unexpected error in %s", scope["path"])
                response = text_response("Internal server error", 500)
        if self.commits is not None:
            try:
                await self.commits.flush()
            except CommitFailed:
                response = text_response("Database write failed; nothing was changed, please retry", 503)
        await response(scope, receive, send)
