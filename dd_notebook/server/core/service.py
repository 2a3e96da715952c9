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
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .body_limits import applicable_limit, dd_limit
from .errors import HTTPError, bad_request
from .group_commit import CommitFailed, GroupCommit
from .http import is_busy, parse_query, read_body, text_response
from .numbers import MAX_SQLITE_INT, parse_int

log = logging.getLogger(__name__)

_COMMIT_FAILED = "Database write failed; nothing was changed, please retry"

#: Deepest nesting the JSON parser reads (orjson's fixed limit).
MAX_JSON_PARSE_DEPTH = 1024

#: Returns the user of a request (``.username``, ``.is_admin``, ``.roles``) or raises a 401 :class:`HTTPError`.
Authenticate = Callable[[Request], Any]
Endpoint = Callable[["Call"], Response | Awaitable[Response]]


class Call:
    """One request as an endpoint sees it.

    Attributes:
        params: Decoded query parameters (see :func:`parse_query`).
        relpath: Path after the endpoint segment (``get_rse/NAME`` gives ``NAME``).
        body: Raw request body.
        request: The Starlette request (headers, cookies, client).
    """

    def __init__(self, request: Request, params: dict[str, Any], relpath: str, body: bytes | bytearray,
                 authenticate: Authenticate) -> None:
        self.request = request
        self.params = params
        self.relpath = relpath
        self.body = body
        self._authenticate = authenticate

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
        if not self.body or self.body.isspace():
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

    def user(self) -> Any:
        """Return the authenticated user; 401 with the upstream reason otherwise."""
        return self._authenticate(self.request)

    def optional_user(self) -> Any:
        """Return the authenticated user or None (never fails)."""
        try:
            return self._authenticate(self.request)
        except HTTPError:
            return None


class Service:
    """An ASGI app that dispatches ``<mount>/<endpoint>[/<relpath>]`` to endpoint functions.

    Args:
        endpoints: Endpoint name → function.
        authenticate: Token verification shared by all services.
        root_redirect: Where ``GET <mount>/`` redirects (upstream: ``./index``).
        commits: Group committer of the connection the endpoints write to; each
            response waits until the changes made so far are committed.
    """

    def __init__(self, endpoints: dict[str, Endpoint], authenticate: Authenticate,
                 root_redirect: str | None = None, commits: GroupCommit | None = None) -> None:
        self.endpoints = endpoints
        self.authenticate = authenticate
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
                limit = dd_limit(segments[0])
                allowed, logged_in = applicable_limit(limit, scope, self.authenticate)
                body = await read_body(receive, scope.get("headers", []), allowed,
                                       lambda n: limit.message(n, logged_in))
                call = Call(request, parse_query(scope.get("query_string", b"")),
                            "/".join(segments[1:]), body, self.authenticate)
                result = endpoint(call)
                response = await result if inspect.isawaitable(result) else result
        except HTTPError as exc:
            response = text_response(exc.message, exc.status, headers=exc.headers)
        except CommitFailed:
            response = text_response(_COMMIT_FAILED, 503)
        except OverflowError:
            response = text_response(f"A number in the request is out of range (the limit is {MAX_SQLITE_INT} "
                                     "in magnitude)", 400)
        except RecursionError:
            response = text_response("The request is nested too deeply", 400)
        except Exception as exc:
            if is_busy(exc):
                log.warning("database busy in %s: %s", scope["path"], exc)
                response = text_response("Database busy; nothing was changed, please retry", 503)
            else:
                log.exception("unexpected error in %s", scope["path"])
                response = text_response("Internal server error", 500)
        if self.commits is not None:
            try:
                await self.commits.flush()
            except CommitFailed:
                response = text_response(_COMMIT_FAILED, 503)
        await response(scope, receive, send)
