"""Construction and shared plumbing of :class:`~dd_notebook.client.DataDispatcherClient`.

The public client is assembled from small mixins (projects, workers, RSEs,
authentication, notebook extensions), each deriving from :class:`ClientBase`,
which owns the configuration, the HTTP transport, the token and the worker id.
"""

from __future__ import annotations

import os
from typing import Any

import requests

from .errors import HTTPError, ServerError
from .http import HTTPTransport
from .tokens import Token as JWTToken
from .tokens import TokenLibrary, is_throwaway_server
from .worker_id import DEFAULT_WORKER_ID_FILE, WorkerIdFile, generate_worker_id

__all__ = ["ClientBase"]


class ClientBase:
    """State shared by all parts of the client. See :class:`DataDispatcherClient` for the arguments."""

    #: Upstream names of the default worker-id file and the default idle timeout (72 h).
    DefaultWorkerIDFile = DEFAULT_WORKER_ID_FILE
    DEFAULT_IDLE_TIMEOUT = 72 * 3600

    def __init__(
        self,
        server_url: str | None = None,
        auth_server_url: str | None = None,
        worker_id: str | None = None,
        worker_id_file: str | None = None,
        token: Any = None,
        token_file: str | None = None,
        token_library: str | None = None,
        cpu_site: str = "DEFAULT",
        timeout: float = 300,
    ) -> None:
        """Initializes the DataDispatcherClient object.

        Args:
            server_url: The data-server URL; default: env ``DATA_DISPATCHER_URL``.
            auth_server_url: The authentication-server URL; default: env
                ``DATA_DISPATCHER_AUTH_URL``, else ``<server_url>/auth``.
            worker_id: Worker id used when reserving files; default: read from
                the worker-id file, else generated when first needed.
            worker_id_file: File to read/store the worker id; default
                ``<cwd>/.data_dispatcher_worker_id``. It is written only when a
                generated worker id is first needed.
            token: Encoded JWT (str/bytes) or a token object; default: the
                contents of ``token_file``, else the token library entry for
                ``server_url``.
            token_file: File holding an encoded JWT.
            token_library: Path of the token library; default: the upstream
                locations (``$HOME/.token_library``, ...), except for a server on
                a loopback address and an ephemeral port (a ``LocalServer``):
                logins keep their tokens in memory and never write the user's library.
            cpu_site: CPU site name sent with ``next_file`` (proximity lookup).
            timeout: Longest time one call may take, seconds, retries and waits
                included (default 300 s, upstream's retry budget).

        Raises:
            ValueError: no server URL was given or found in the environment, or
                ``token`` is not a JWT.
        """
        server_url = server_url or os.environ.get("DATA_DISPATCHER_URL")
        if not server_url:
            raise ValueError("Data Dispatcher server URL unspecified: pass server_url or set DATA_DISPATCHER_URL")
        auth_server_url = auth_server_url or os.environ.get("DATA_DISPATCHER_AUTH_URL")
        self.ServerURL: str = server_url
        self.AuthURL: str = (auth_server_url or server_url.rstrip("/") + "/auth").rstrip("/")
        self.CPUSite: str = cpu_site
        self.Timeout: float = float(timeout or 300)
        self._http = HTTPTransport(server_url, self.Timeout)
        self._token_library_path = token_library
        self._token_file = token_file
        self._token_library: TokenLibrary | None = None
        self._worker_id_file = WorkerIdFile(worker_id_file)
        self._worker_id: str | None = worker_id if worker_id is not None else self._worker_id_file.read()
        self._missing_endpoints: set[str] = set()
        self._http.token = self._initial_token(token, token_file)

    def _initial_token(self, token: Any, token_file: str | None) -> JWTToken | None:
        if token is not None:
            return JWTToken.decode(token)
        if token_file:
            with open(token_file, "rb") as f:
                return JWTToken.decode(f.read())
        return self.TokenLib.get(self.ServerURL)

    @property
    def TokenLib(self) -> TokenLibrary:  # noqa: N802 - upstream-compatible name
        """The token library (read on first use; never written for a throwaway local server)."""
        if self._token_library is None:
            throwaway = self._token_library_path is None and is_throwaway_server(self.ServerURL)
            self._token_library = TokenLibrary(self._token_library_path, persist=not throwaway)
        return self._token_library

    @property
    def WorkerID(self) -> str:  # noqa: N802 - upstream-compatible name
        """The worker id; generated (and written to the worker-id file) on first use if unknown."""
        if self._worker_id is None:
            self._worker_id = generate_worker_id()
            self._worker_id_file.write(self._worker_id)
        return self._worker_id

    @WorkerID.setter
    def WorkerID(self, value: str) -> None:  # noqa: N802 - upstream-compatible name
        self._worker_id = value

    @property
    def Token(self) -> JWTToken | None:  # noqa: N802 - upstream-compatible name
        """The token sent with requests, or ``None`` (``Token.encode()``, ``Token["sub"]`` work as upstream)."""
        return self._http.token

    @Token.setter
    def Token(self, value: Any) -> None:  # noqa: N802 - upstream-compatible name
        self._http.token = None if value is None else JWTToken.decode(value)

    def auth_headers(self) -> dict[str, str]:
        """Return the header that carries the token (``{}`` without a token; upstream returns ``None``)."""
        return self._http.auth_headers()

    def token(self) -> JWTToken | None:
        """Return the token, reloading it from the token file or library when missing or expired (as upstream)."""
        current = self._http.token
        if current is None or current.expired():
            if self._token_file:
                with open(self._token_file, "rb") as f:
                    current = JWTToken.decode(f.read())
            else:
                self.TokenLib.reload()
                current = self.TokenLib.get(self.ServerURL)
            self._http.token = current
        return current

    def tokens_saved(self) -> bool:
        """Tell whether the token library is a file (False before the first login, or for a throwaway server)."""
        return self.TokenLib.saved

    @property
    def session(self) -> requests.Session:
        """The keep-alive ``requests.Session`` used for every request."""
        return self._http.session

    def _note_missing(self, endpoint: str, exc: HTTPError) -> None:
        """Remember that ``endpoint`` is broken (500) or absent (framework 404) on this server."""
        if isinstance(exc, ServerError) or "invalid path" in exc.body:
            self._missing_endpoints.add(endpoint)

    def version(self) -> str:
        """Returns the server version as a string."""
        return str(self._http.get("version")).strip()

    def retry_request(self, method: str, url: str, timeout: float | None = None, **args: Any) -> requests.Response:
        """Send a request, retrying on 503 and 429 with a random, exponentially growing delay.

        502/504 are not retried here: the URL may be one that changes something.
        ``Retry-After`` is honoured. Use ``timeout=0`` to try the request exactly
        once. Returns the response with status 503 when the time budget (default
        300 s, never more than the client's timeout) runs out.

        Args:
            method: ``"get"`` or ``"post"``.
            url: Full URL.
            timeout: Total retry budget in seconds; ``0`` = one attempt.
            **args: Passed to ``requests`` (``headers``, ``data``, ...).

        Returns:
            The ``requests.Response``.

        Raises:
            RequestTimeoutError: no answer within the per-request timeout.
            NetworkError: the connection failed.
        """
        return self._http.retry_request(method, url, timeout, **args)

    def close(self) -> None:
        """Close the HTTP session (pooled connections)."""
        self._http.close()

    def __enter__(self) -> ClientBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        user = self._http.token.subject if self._http.token is not None else None
        return f"<{type(self).__name__} {self.ServerURL} user={user!r} worker={self._worker_id!r}>"
