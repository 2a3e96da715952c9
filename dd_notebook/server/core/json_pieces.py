"""JSON of big answers serialised piece by piece, so that the event loop gets the GIL in between.

``orjson.dumps`` holds the GIL for the whole call: serialising 10^6 handles
in one call in a worker thread stops the event loop for as long (a second or
more). :func:`json_pieces` produces exactly the same bytes, as a list of
pieces, calling ``orjson.dumps`` on slices of at most ``piece`` items of every
big list; Python switches threads between two calls. The pieces are sent as
they are (:class:`~.http.PiecesResponse`), never joined into a second copy.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["PIECE_ITEMS", "json_pieces"]

#: Items of a big list serialised by one ``orjson.dumps`` call (a few milliseconds each).
PIECE_ITEMS = 2_000


def json_pieces(value: Any, option: int = 0, piece: int = PIECE_ITEMS) -> list[bytes]:
    """Return pieces whose concatenation is ``orjson.dumps(value, option=option)``.

    Args:
        value: What to serialise.
        option: ``orjson`` options (compact output only: no ``OPT_INDENT_2``).
        piece: Items of a big list per ``orjson.dumps`` call.
    """
    parts: list[bytes] = []
    _write(value, option, piece, parts)
    return parts


def _big(value: Any, piece: int) -> bool:
    if isinstance(value, list):
        return len(value) > piece
    if isinstance(value, dict):
        return any(isinstance(v, list) and len(v) > piece for v in value.values())
    return False


def _write(value: Any, option: int, piece: int, parts: list[bytes]) -> None:
    if isinstance(value, dict) and _big(value, piece):
        parts.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                parts.append(b",")
            parts.append(orjson.dumps({key: None}, option=option)[1:-5])  # '"key":'
            _write(item, option, piece, parts)
        parts.append(b"}")
    elif isinstance(value, list) and (len(value) > piece or any(_big(item, piece) for item in value)):
        _write_list(value, option, piece, parts)
    else:
        parts.append(orjson.dumps(value, option=option))


def _write_list(items: list[Any], option: int, piece: int, parts: list[bytes]) -> None:
    parts.append(b"[")
    batch: list[Any] = []
    written = False

    def flush() -> None:
        nonlocal written
        if batch:
            if written:
                parts.append(b",")
            parts.append(orjson.dumps(batch, option=option)[1:-1])
            batch.clear()
            written = True

    for item in items:
        if _big(item, piece):
            flush()
            if written:
                parts.append(b",")
            _write(item, option, piece, parts)
            written = True
        else:
            batch.append(item)
            if len(batch) >= piece:
                flush()
    flush()
    parts.append(b"]")
