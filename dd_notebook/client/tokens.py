"""Authentication tokens and the token library file shared with the upstream tools.

The library is the file that upstream ``ddisp login`` and ``metacat auth
login`` write: UTF-8 text, one ``<data-server URL> <encoded JWT>`` line per
entry, found at the first existing one of ``$HOME/.token_library``,
``<cwd>/.token_library`` and ``/tmp/.token_library`` (or at an explicit path),
and created with mode 0600. The key is the *data-server* URL.

Unlike upstream, :class:`TokenLibrary` never wipes a library it cannot fully
parse (bad lines are skipped with a warning and saved next to it in
``<library>.rejected``), re-reads the file before each write so that entries
written by other processes are kept, and writes atomically (temporary file in
the same directory, then rename).
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

__all__ = ["Token", "TokenLibrary", "default_library_paths", "is_throwaway_server"]

log = logging.getLogger(__name__)

LIBRARY_NAME = ".token_library"


@dataclass(frozen=True)
class Token:
    """An encoded JWT plus the claims the client needs (read without verification).

    Attributes:
        encoded: The compact JWT serialisation, as sent in ``X-Authentication-Token``.
        claims: The decoded payload (``sub``, ``exp``, ``jti``, ...); empty when
            the token could not be decoded (e.g. an opaque bearer token).
    """

    encoded: str
    claims: dict[str, Any]

    @classmethod
    def decode(cls, value: str | bytes | Token | Any) -> Token:
        """Build a :class:`Token` from a string, bytes, a :class:`Token` or an upstream ``SignedToken``.

        Raises:
            ValueError: ``value`` is not a decodable JWT.
        """
        if isinstance(value, Token):
            return value
        if not isinstance(value, (str, bytes)) and hasattr(value, "encode"):
            value = value.encode()  # upstream metacat SignedToken
        encoded = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        encoded = encoded.strip()
        try:
            claims = jwt.decode(encoded, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise ValueError(f"not a JWT: {exc}") from exc
        return cls(encoded, claims)

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim (username)."""
        return self.claims.get("sub")

    @property
    def expiration(self) -> float | None:
        """The ``exp`` claim (epoch seconds), or ``None``."""
        exp = self.claims.get("exp")
        return float(exp) if exp is not None else None

    @property
    def token_id(self) -> str | None:
        """The ``jti`` claim."""
        return self.claims.get("jti")

    def expired(self, now: float | None = None) -> bool:
        """Return True when the token's ``exp`` is in the past."""
        exp = self.expiration
        return exp is not None and exp <= (time.time() if now is None else now)

    # The upstream ``SignedToken`` interface, for scripts written against the upstream clients.
    def encode(self) -> bytes:
        """Return the encoded token as bytes, like upstream ``SignedToken.encode()``."""
        return self.encoded.encode("ascii")

    @property
    def Payload(self) -> dict[str, Any]:  # noqa: N802 - upstream-compatible name
        """The claims (upstream name)."""
        return self.claims

    @property
    def tid(self) -> str | None:
        """The ``jti`` claim (upstream name)."""
        return self.claims.get("jti")

    @property
    def issuer(self) -> str | None:
        """The ``iss`` claim."""
        return self.claims.get("iss")

    def __getitem__(self, claim: str) -> Any:
        return self.claims[claim]

    def get(self, claim: str, default: Any = None) -> Any:
        """Return a claim, or ``default``."""
        return self.claims.get(claim, default)

    def keys(self) -> Any:
        """The claim names."""
        return self.claims.keys()

    def items(self) -> Any:
        """``(claim, value)`` pairs."""
        return self.claims.items()


def _ephemeral_ports() -> range:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low, high = (int(v) for v in f.read().split())
    except (OSError, ValueError):
        low, high = 49152, 65535  # the IANA dynamic range (macOS, Windows)
    return range(low, high + 1)


def is_throwaway_server(url: str) -> bool:
    """Tell whether ``url`` is a server on a loopback address and an ephemeral port (a ``LocalServer``).

    Such a server lives for one process: its port is picked by the system and
    its tokens are useless once it stops, so the client keeps their tokens in
    memory instead of writing them to the user's token library (unless a library path is given).
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    loopback = host == "localhost" or host == "::1" or host.startswith("127.")
    return loopback and port is not None and port in _ephemeral_ports()


def default_library_paths() -> list[str]:
    """Return the upstream candidate locations of the token library, in lookup order."""
    dirs = [os.environ.get("HOME"), os.getcwd(), "/tmp"]
    return [os.path.join(d, LIBRARY_NAME) for d in dirs if d]


class TokenLibrary:
    """The on-disk token library (see the module docstring for the format).

    Args:
        path: Explicit library file; default: the upstream candidate list.
        persist: Write stored tokens to the file; ``False`` keeps them in this object only
            (throwaway servers), while entries already in the file are still read.

    Attributes:
        path: The library file in use (``None`` until one exists or is created).
    """

    def __init__(self, path: str | None = None, *, persist: bool = True) -> None:
        self._candidates: Sequence[str] = [path] if path else default_library_paths()
        self.persist = persist
        self.path: str | None = next((p for p in self._candidates if os.path.isfile(p)), None)
        self._rejected_saved: set[str] = set()
        self._tokens: dict[str, Token] = self._read() if self.path else {}

    def get(self, url: str) -> Token | None:
        """Return the token stored for data-server ``url``, or ``None``."""
        return self._tokens.get(url)

    def __contains__(self, url: object) -> bool:
        return url in self._tokens

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def items(self) -> list[tuple[str, Token]]:
        """Return ``(url, token)`` pairs."""
        return list(self._tokens.items())

    def reload(self) -> None:
        """Re-read the library file."""
        self._tokens = self._read() if self.path else {}

    def store(self, url: str, token: Token | str | bytes) -> None:
        """Save ``token`` under ``url``, keeping every other entry (also ones written meanwhile).

        Raises:
            OSError: no candidate location is writable.
        """
        token = Token.decode(token)
        if not self.persist:
            self._tokens[url] = token
            return
        if self.path is None:
            self.path = self._create()
        current = self._read()
        current[url] = token
        self._write(current)
        self._tokens = current

    @property
    def saved(self) -> bool:
        """True when stored tokens go to a library file (False before one exists, or when not persisting)."""
        return self.persist and self.path is not None

    def remove(self, url: str) -> None:
        """Delete the entry for ``url`` (no error if absent)."""
        if self.path is None or not self.persist:
            self._tokens.pop(url, None)
            return
        current = self._read()
        if current.pop(url, None) is not None:
            self._write(current)
        self._tokens = current

    def _create(self) -> str:
        last_error: OSError | None = None
        for candidate in self._candidates:
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return candidate
            except OSError as exc:
                last_error = exc
                continue
            os.close(fd)
            os.chmod(candidate, stat.S_IRUSR | stat.S_IWUSR)
            return candidate
        raise last_error or OSError("no writable location for the token library")

    def _read(self) -> dict[str, Token]:
        assert self.path is not None
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return {}
        tokens: dict[str, Token] = {}
        rejected: list[str] = []
        for number, line in enumerate(lines, 1):
            parts = line.strip().split(None, 1)
            if not parts:
                continue
            try:
                if len(parts) != 2:
                    raise ValueError("expected '<url> <token>'")
                tokens[parts[0]] = Token.decode(parts[1])
            except ValueError as exc:
                if line not in self._rejected_saved:
                    log.warning("token library %s: skipping unreadable line %d (%s)", self.path, number, exc)
                rejected.append(line)
        if rejected:
            self._keep_rejected(rejected)
        return tokens

    def _keep_rejected(self, lines: list[str]) -> None:
        lines = [line for line in lines if line not in self._rejected_saved]
        if not lines:
            return
        self._rejected_saved.update(lines)
        target = f"{self.path}.rejected"
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.writelines(line + "\n" for line in lines)
        except OSError as exc:
            log.warning("could not save unreadable token library lines to %s: %s", target, exc)

    def _write(self, tokens: dict[str, Token]) -> None:
        assert self.path is not None
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            mode = stat.S_IMODE(os.stat(self.path).st_mode)
        except FileNotFoundError:
            mode = 0o600
        fd, tmp = tempfile.mkstemp(prefix=".token_library.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for url, token in tokens.items():
                    f.write(f"{url} {token.encoded}\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
