"""RFC 2617 digest nonces: stamped and signed by the server, each request count usable once.

A nonce is ``<time>:<salt>-<mac>``: the server needs no memory to know it
issued it and when, and no two are alike. To stop a captured ``Authorization`` header from being replayed,
:class:`NonceLedger` remembers, until the nonce expires, the highest nonce
count (``nc``) accepted with it; a request must use a higher one (clients
that reuse a nonce count up, as RFC 2617 asks). Memory is bounded: expired
entries are dropped, and when :data:`MAX_TRACKED` live nonces are held, new
digest logins are refused until some expire.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

__all__ = ["MAX_TRACKED", "NONCE_LIFETIME", "NonceLedger", "NonceRejected"]

#: Seconds a nonce stays valid.
NONCE_LIFETIME = 600.0
#: Most nonces remembered at once.
MAX_TRACKED = 100_000


class NonceRejected(Exception):
    """The nonce is unknown, expired or already used with this count; ``stale`` when a fresh one would do."""

    def __init__(self, reason: str, stale: bool) -> None:
        super().__init__(reason)
        self.stale = stale


class NonceLedger:
    """Issues nonces and accepts each (nonce, count) pair once.

    Args:
        key: Secret key of the nonce MACs.
        lifetime: Seconds a nonce is valid.
        max_tracked: Most nonces remembered at once.
    """

    def __init__(self, key: bytes, lifetime: float = NONCE_LIFETIME, max_tracked: int = MAX_TRACKED) -> None:
        self._key = key
        self.lifetime = lifetime
        self.max_tracked = max_tracked
        self._used: dict[str, tuple[float, int]] = {}  # nonce -> (expiry, highest count), oldest first

    def issue(self) -> str:
        """A new nonce."""
        signed = f"{time.time():.3f}:{secrets.token_hex(8)}"
        return f"{signed}-{self._mac(signed)}"

    def _mac(self, signed: str) -> str:
        return hmac.new(self._key, signed.encode(), hashlib.sha256).hexdigest()[:24]

    def expiry(self, nonce: str) -> float | None:
        """When ``nonce`` expires, or None when this server did not issue it."""
        signed, _, mac = nonce.partition("-")
        try:
            issued = float(signed.partition(":")[0])
        except ValueError:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(signed).encode()) or issued > time.time() + 1:
            return None
        return issued + self.lifetime

    def check(self, nonce: str, count: str) -> None:
        """Raise unless ``nonce`` was issued here, is alive, and ``count`` (hex ``nc``) is above the last one used.

        Raises:
            NonceRejected: with ``stale=True`` when the client should retry with a fresh nonce.
        """
        expiry = self.expiry(nonce)
        if expiry is None:
            raise NonceRejected("unknown nonce", stale=False)
        now = time.time()
        if expiry <= now:
            raise NonceRejected("nonce expired", stale=True)
        try:
            number = int(count, 16) if len(count) <= 16 else -1
        except ValueError:
            number = -1
        if number < 1:
            raise NonceRejected("nonce count must be a positive hexadecimal number", stale=False)
        _, last = self._used.get(nonce, (expiry, 0))
        if number <= last:
            raise NonceRejected("nonce count already used (replayed request)", stale=True)

    def consume(self, nonce: str, count: str) -> None:
        """Record that ``nonce`` was used with ``count`` (after :meth:`check` and a correct response).

        Raises:
            NonceRejected: too many live nonces are remembered (retry later).
        """
        now = time.time()
        while self._used:
            oldest = next(iter(self._used))
            if self._used[oldest][0] > now:
                break
            del self._used[oldest]
        if nonce not in self._used and len(self._used) >= self.max_tracked:
            raise NonceRejected("too many digest logins in progress; retry in a few minutes", stale=True)
        expiry = self.expiry(nonce) or now
        self._used.pop(nonce, None)
        self._used[nonce] = (expiry, int(count, 16))
