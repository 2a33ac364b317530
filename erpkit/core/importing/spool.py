"""Batches of checked rows kept on disk until they can all be written.

An all-or-nothing import on SQLite checks rows before it writes any, so that it holds
SQLite's single write lock for the writing only: the good rows wait here until a quarter
of the file is checked (then they are written, and the rest as it comes: see
``Importer.spool_or_switch``). Pickle
spent about 1.7 s per 100,000 rows on this (Decimal and date values are pickled one
by one through ``__reduce__``); this spool stores each batch column by column with
:mod:`marshal` instead: text, numbers and None as they are, a Decimal column as its
strings, a date column as ordinals, anything else pickled. About a fifth of the cost.
"""

from __future__ import annotations

import marshal
import pickle
import struct
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import IO, Any

_PLAIN = frozenset({str, int, float, bool, type(None)})
_DECIMAL = frozenset({Decimal, type(None)})
_DATE = frozenset({date, type(None)})
_LENGTH = struct.Struct("<Q")


def _encode_column(values: tuple[Any, ...]) -> tuple[str, Any]:
    kinds = set(map(type, values))
    if kinds <= _PLAIN:
        return "m", values
    if kinds <= _DECIMAL:
        return "D", [None if v is None else str(v) for v in values]
    if kinds <= _DATE:
        return "d", [None if v is None else v.toordinal() for v in values]
    return "p", pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)


def _decode_column(tag: str, data: Any) -> Sequence[Any]:
    if tag == "m":
        return data
    if tag == "D":
        if None not in data:
            return list(map(Decimal, data))
        return [None if v is None else Decimal(v) for v in data]
    if tag == "d":
        fromordinal = date.fromordinal
        if None not in data:
            return list(map(fromordinal, data))
        return [None if v is None else fromordinal(v) for v in data]
    # written by this process, in this run, to its own anonymous temporary file
    return pickle.loads(data)  # noqa: S301


def encode(rows: Sequence[Mapping[str, Any]], numbers: Sequence[int]) -> bytes:
    """One batch as bytes: rows (dicts) and their row numbers in the file."""
    keys = tuple(rows[0])
    if all(len(r) == len(keys) for r in rows) and all(tuple(r) == keys for r in rows):
        get = itemgetter(*keys)
        if len(keys) == 1:
            columns = [tuple(get(r) for r in rows)]
        else:
            columns = list(zip(*map(get, rows), strict=True))
        payload = ("c", keys, [_encode_column(c) for c in columns])
    else:  # rows with different keys: rare, pickled whole
        payload = ("p", pickle.dumps(list(rows), protocol=pickle.HIGHEST_PROTOCOL))
    return marshal.dumps((list(numbers), payload))


def decode(blob: bytes) -> tuple[list[dict[str, Any]], list[int]]:
    numbers, payload = marshal.loads(blob)  # noqa: S302 (our own bytes, see above)
    if payload[0] == "p":
        return pickle.loads(payload[1]), numbers  # noqa: S301
    _tag, keys, columns = payload
    decoded = [_decode_column(tag, data) for tag, data in columns]
    rows = zip(*decoded, strict=True)
    return list(map(dict, map(zip, repeat(keys), rows))), numbers


class Spool:
    """An anonymous temporary file of batches, read back in the order written."""

    def __init__(self, directory: str | None = None) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self.batches = 0

    def put(self, rows: Sequence[Mapping[str, Any]], numbers: Sequence[int]) -> None:
        if not rows:
            return
        blob = encode(rows, numbers)
        self.file.write(_LENGTH.pack(len(blob)))
        self.file.write(blob)
        self.batches += 1

    def __iter__(self) -> Iterator[tuple[list[dict[str, Any]], list[int]]]:
        self.file.seek(0)
        read = self.file.read
        for _ in range(self.batches):
            (size,) = _LENGTH.unpack(read(_LENGTH.size))
            yield decode(read(size))

    def drain(self) -> Iterator[tuple[list[dict[str, Any]], list[int]]]:
        """The batches in the order written, then the spool is empty (ready for more)."""
        yield from self
        self.clear()

    def clear(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.batches = 0

    def close(self) -> None:
        self.file.close()
