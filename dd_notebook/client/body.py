"""Reading and decoding answers with bounds: a deadline for the whole body, a cap on decompression.

``requests`` applies its read timeout to each socket read, so a server that
sends one byte a second is never timed out, and it inflates a compressed body
without limit. :class:`BodyReader` reads the body in pieces as they arrive,
stops at the call's deadline (:class:`RequestTimeoutError`) and refuses a
body that expands to more than :attr:`Limits.max_expansion` times its size on
the wire, past a floor of :attr:`Limits.expansion_floor` bytes
(:class:`InvalidResponseError`). Decoding never lets a parser exception out:
malformed JSON or a bad ``json-seq`` record is an :class:`InvalidResponseError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import requests
import urllib3

from .errors import InvalidResponseError, NetworkError, RequestTimeoutError, error_for_status

__all__ = ["BodyReader", "Limits", "decode_response", "iter_json_seq", "json_message", "parse_json_seq"]

CHUNK = 256 * 1024
_RS = b"\x1e"


@dataclass(frozen=True)
class Limits:
    """Bounds on one answer's body.

    Attributes:
        max_expansion: Largest ratio of decoded to received bytes of a compressed body.
        expansion_floor: Decoded size always allowed, whatever the ratio, bytes.
    """

    max_expansion: float = 100.0
    expansion_floor: int = 64 * 1024 * 1024


class BodyReader:
    """Reads one response body piece by piece under a deadline and the decompression bound.

    Args:
        response: A response whose body has not been read (``stream=True`` or the client's fast path).
        deadline: ``time.monotonic()`` value after which waiting for the body stops; for a
            streamed body only the time spent waiting for data counts.
        limits: The decompression bound.
        streamed: The caller consumes the body at its own pace (MetaCat query results).
    """

    def __init__(self, response: requests.Response, deadline: float, limits: Limits, streamed: bool = False) -> None:
        self.response = response
        self.raw = response.raw
        self._deadline = deadline
        self._budget = deadline - time.monotonic()
        self._streamed = streamed
        self._limits = limits
        self._decoded = 0
        self._compressed = response.headers.get("Content-Encoding", "identity").strip().lower() not in (
            "", "identity")

    def _remaining(self) -> float:
        return self._budget if self._streamed else self._deadline - time.monotonic()

    def _read(self) -> bytes:
        remaining = self._remaining()
        if remaining <= 0:
            raise RequestTimeoutError(f"GET {self.response.url}: the answer did not arrive completely in time")
        sock = getattr(getattr(self.raw, "_connection", None), "sock", None)
        if sock is not None:  # no single read may outlast the deadline
            sock.settimeout(max(remaining, 0.001))
        started = time.monotonic()
        try:
            data = self.raw.read1(CHUNK, decode_content=True)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
            raise RequestTimeoutError(f"{self.response.url}: the answer did not arrive completely in time") \
                from exc
        except urllib3.exceptions.DecodeError as exc:
            raise InvalidResponseError(self.response.url, self.response.status_code,
                                       f"the answer could not be decompressed: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise NetworkError(f"{self.response.url}: the connection broke while the answer arrived: {exc}") \
                from exc
        if self._streamed:
            self._budget -= time.monotonic() - started
        self._decoded += len(data)
        if self._compressed and self._decoded > max(self._limits.expansion_floor,
                                                    self._limits.max_expansion * self.raw.tell()):
            raise InvalidResponseError(
                self.response.url, self.response.status_code,
                f"the compressed answer expands to more than {self._limits.max_expansion:g} times its size "
                f"({self.raw.tell()} bytes received, {self._decoded} decoded so far): refused")
        return data

    def chunks(self) -> Iterator[bytes]:
        """Yield the decoded body in pieces; the connection is given back (or dropped on error) at the end."""
        finished = False
        try:
            while True:
                data = self._read()
                if not data:
                    finished = True
                    return
                yield data
        finally:
            if not finished:
                self.raw.close()
            self.raw.release_conn()

    def read_all(self) -> bytes:
        """Read the whole body and store it as the response's ``content``."""
        content = b"".join(self.chunks())
        self.response._content = content
        self.response._content_consumed = True
        return content


def json_message(response: requests.Response) -> str | None:
    """The ``message`` field of a JSON error body, if there is one."""
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


def _invalid(response: requests.Response, what: str, exc: Exception | None = None) -> InvalidResponseError:
    start = response.content[:120].decode("utf-8", "replace")
    return InvalidResponseError(response.url, response.status_code,
                                f"{what}{f' ({exc})' if exc else ''}; the answer starts with {start!r}",
                                response.text)


def parse_json_seq(response: requests.Response) -> list[Any]:
    """Parse an ``application/json-seq`` body (records separated by RS and newlines).

    Raises:
        InvalidResponseError: a record is not JSON.
    """
    records = []
    for number, line in enumerate(response.content.splitlines(), 1):
        line = line.strip(b"\x1e \t\r")
        if line:
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise _invalid(response, f"record {number} of the json-seq answer is not JSON", exc) from None
    return records


def iter_json_seq(response: requests.Response, reader: BodyReader) -> Iterator[Any]:
    """Parse ``RS json LF`` records as they arrive.

    Raises:
        InvalidResponseError: a record is not JSON.
        NetworkError: the stream broke.
        RequestTimeoutError: the stream stalled past its deadline.
    """
    pending = b""
    number = 0
    for chunk in reader.chunks():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.lstrip(_RS).strip()
            if line:
                number += 1
                yield _seq_record(response, line, number)
    last = pending.lstrip(_RS).strip()
    if last:
        yield _seq_record(response, last, number + 1)


def _seq_record(response: requests.Response, line: bytes, number: int) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidResponseError(response.url, response.status_code,
                                   f"record {number} of the json-seq answer is not JSON ({exc}): "
                                   f"{line[:120].decode('utf-8', 'replace')!r}") from None


def decode_response(
    response: requests.Response,
    none_if_not_found: bool = False,
    token_expiration: float | None = None,
    expect_json: bool = False,
    login: tuple[str | None, str, str] | None = None,
) -> Any:
    """Turn a response into the client's return value, or raise the matching error.

    Args:
        response: The final response (after retries), body read.
        none_if_not_found: Return ``None`` for a 404 instead of raising.
        token_expiration: ``exp`` of the token that was sent; an expired token turns a 401
            into :class:`~dd_notebook.errors.AuthExpiredError`.
        expect_json: A 200 answer must be JSON (``text/json``, ``application/json`` or ``json-seq``).
        login: ``(user, server URL, how to log in)`` for the text of authentication errors.

    Returns:
        Parsed JSON, a list of records (``application/json-seq``) or text.

    Raises:
        HTTPError: any status other than 200 (subclass by status).
        InvalidResponseError: a 200 answer that is not the JSON it should be.
    """
    status = response.status_code
    if status != 200:
        if status == 404 and none_if_not_found:
            return None
        raise error_for_status(response.url, status, response.text, response.headers.get("Content-Type", ""),
                               json_message(response), token_expiration, login)
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/json-seq"):
        return parse_json_seq(response)
    if content_type.startswith(("text/json", "application/json")):
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise _invalid(response, "the answer is not valid JSON", exc) from None
    if expect_json:
        raise _invalid(response, f"expected a JSON answer, got {content_type or 'no content type'}")
    return response.text
