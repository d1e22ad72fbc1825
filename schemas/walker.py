"""A structural pass over an Avro binary body, done before fastavro reads it.

A writer schema (in fastavro's parsed form) is compiled once into a walker over its binary encoding.
The walker bounds every length / count by the bytes actually left (so an absurd length prefix cannot
make fastavro allocate gigabytes or spin forever), gives a precise truncated-vs-garbage
classification, and finds the exact end of the record for the trailing-bytes check.

It raises only ``TruncatedError`` and ``GarbageError`` (schemas/errors.py), i.e. errors tied to a
decoding rule id.
"""

from __future__ import annotations

from typing import Any, Callable

from schemas.errors import GarbageError, TruncatedError

__all__ = ["BodyWalker", "ZERO_WIDTH_ITEM_LIMIT"]

_Walk = Callable[[bytes, int, int, list], int]  # (buf, pos, end, zero_width_budget) -> new pos

# Items that take no bytes (null, empty records) cannot be bounded by the
# remaining length, so cap how many of them one message may declare.
ZERO_WIDTH_ITEM_LIMIT = 100_000

_PRIMITIVE_MIN = {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8, "bytes": 1, "string": 1}


def _varint(buf: bytes, pos: int, end: int, max_len: int, bits: int, what: str) -> tuple[int, int]:
    """Zig-zag varint (Avro int/long); max_len/bits enforce the type's range."""
    result = 0
    shift = 0
    start = pos
    for _ in range(max_len):
        if pos >= end:
            raise TruncatedError(f"body ends inside the {what} starting at byte {start}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if result >> bits:
                raise GarbageError(f"{what} at byte {start} is out of range for a {bits}-bit value")
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
    raise GarbageError(f"{what} at byte {start} is longer than {max_len} bytes")


def _read_long(buf: bytes, pos: int, end: int, what: str = "long") -> tuple[int, int]:
    return _varint(buf, pos, end, 10, 64, what)


class BodyWalker:
    """Compiles a parsed (fastavro) writer schema into a walker over its binary encoding."""

    def __init__(self, parsed: Any):
        self._named: dict = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
        self._cells: dict[str, list] = {}  # late binding for recursive named types
        self._min_memo: dict[str, int] = {}
        self.walk: _Walk = self._compile(parsed)

    def end_of_record(self, data: bytes, offset: int) -> int:
        """Where the record starting at ``offset`` ends, checking its structure on the way.
        Raises ``TruncatedError`` or ``GarbageError``; what follows the end is the caller's concern."""
        return self.walk(data, offset, len(data), [ZERO_WIDTH_ITEM_LIMIT])

    # Lower bound of the encoded size of one value; lets "N items declared"
    # be checked against the bytes left before walking them.
    def _min_size(self, s: Any, visiting: frozenset = frozenset()) -> int:
        if isinstance(s, str):
            if s in _PRIMITIVE_MIN:
                return _PRIMITIVE_MIN[s]
            if s in visiting:
                return 0  # recursive type: 0 is a safe lower bound
            if s not in self._min_memo:
                self._min_memo[s] = self._min_size(self._named[s], visiting | {s})
            return self._min_memo[s]
        if isinstance(s, list):
            return 1  # union branch index
        t = s["type"]
        if t in ("record", "error"):
            name = s.get("name")
            inner = visiting | {name} if name else visiting
            return sum(self._min_size(f["type"], inner) for f in s["fields"])
        if t == "fixed":
            return int(s["size"])
        if t in ("enum", "array", "map"):
            return 1
        return self._min_size(t, visiting)  # primitive with a logicalType

    def _compile(self, s: Any) -> _Walk:
        if isinstance(s, str):
            if s in _PRIMITIVE_MIN:
                return _PRIMITIVES[s]
            return self._named_ref(s)
        if isinstance(s, list):
            return self._union(s)
        t = s["type"]
        if t in ("record", "error", "enum", "fixed"):
            name = s.get("name")
            if name and name in self._cells and self._cells[name][0] is not None:
                return self._cells[name][0]
            cell = self._cells.setdefault(name, [None]) if name else [None]
            fn = {"record": self._record, "error": self._record, "enum": self._enum, "fixed": self._fixed}[t](s)
            cell[0] = fn
            return fn
        if t == "array":
            return self._blocks(s["items"], is_map=False)
        if t == "map":
            return self._blocks(s["values"], is_map=True)
        return self._compile(t)  # {"type": "long", "logicalType": ...} and the like

    def _named_ref(self, name: str) -> _Walk:
        cell = self._cells.get(name)
        if cell is None:
            # compile on first reference; a recursive reference made while
            # compiling finds the (still empty) cell and binds late
            self._cells[name] = [None]
            return self._compile(self._named[name])
        if cell[0] is not None:
            return cell[0]
        return lambda buf, pos, end, budget: cell[0](buf, pos, end, budget)

    def _record(self, s: dict) -> _Walk:
        # placeholder first, so recursive references to this record bind late
        name = s.get("name")
        if name:
            self._cells.setdefault(name, [None])
        walkers = [self._compile(f["type"]) for f in s["fields"]]

        def walk(buf: bytes, pos: int, end: int, budget: list) -> int:
            for w in walkers:
                pos = w(buf, pos, end, budget)
            return pos

        return walk

    @staticmethod
    def _enum(s: dict) -> _Walk:
        n_symbols = len(s["symbols"])

        def walk(buf: bytes, pos: int, end: int, budget: list) -> int:
            start = pos
            idx, pos = _varint(buf, pos, end, 5, 32, "enum index")
            if not 0 <= idx < n_symbols:
                raise GarbageError(f"enum index {idx} at byte {start} is not one of {n_symbols} symbols")
            return pos

        return walk

    @staticmethod
    def _fixed(s: dict) -> _Walk:
        size = int(s["size"])

        def walk(buf: bytes, pos: int, end: int, budget: list) -> int:
            if pos + size > end:
                raise TruncatedError(f"fixed({size}) at byte {pos} runs past the end of the body")
            return pos + size

        return walk

    def _union(self, branches: list) -> _Walk:
        walkers = [self._compile(b) for b in branches]
        n = len(walkers)

        def walk(buf: bytes, pos: int, end: int, budget: list) -> int:
            start = pos
            idx, pos = _read_long(buf, pos, end, "union index")
            if not 0 <= idx < n:
                raise GarbageError(f"union index {idx} at byte {start} is not one of {n} branches")
            return walkers[idx](buf, pos, end, budget)

        return walk

    def _blocks(self, item_schema: Any, is_map: bool) -> _Walk:
        item = self._compile(item_schema)
        min_item = self._min_size(item_schema) + (1 if is_map else 0)
        key = _PRIMITIVES["string"]
        what = "map" if is_map else "array"

        def walk(buf: bytes, pos: int, end: int, budget: list) -> int:
            while True:
                start = pos
                count, pos = _read_long(buf, pos, end, f"{what} block count")
                if count == 0:
                    return pos
                block_size = None
                if count < 0:  # negative count: followed by the block's byte size
                    count = -count
                    block_size, pos = _read_long(buf, pos, end, f"{what} block size")
                    if block_size < 0:
                        raise GarbageError(f"negative {what} block size at byte {start}")
                    if pos + block_size > end:
                        raise TruncatedError(
                            f"{what} block at byte {start} declares {block_size} bytes, only {end - pos} left"
                        )
                if min_item:
                    if count * min_item > end - pos:
                        raise TruncatedError(
                            f"{what} block at byte {start} declares {count} items, only {end - pos} bytes left"
                        )
                else:
                    budget[0] -= count
                    if budget[0] < 0:
                        raise GarbageError(f"{what} at byte {start} declares an implausible number of empty items")
                body_start = pos
                for _ in range(count):
                    if is_map:
                        pos = key(buf, pos, end, budget)
                    pos = item(buf, pos, end, budget)
                if block_size is not None and pos - body_start != block_size:
                    raise GarbageError(f"{what} block at byte {start} declares {block_size} bytes, holds {pos - body_start}")

        return walk


def _w_null(buf: bytes, pos: int, end: int, budget: list) -> int:
    return pos


def _w_boolean(buf: bytes, pos: int, end: int, budget: list) -> int:
    if pos >= end:
        raise TruncatedError(f"body ends where a boolean was expected at byte {pos}")
    if buf[pos] > 1:
        raise GarbageError(f"boolean at byte {pos} is {buf[pos]}, not 0 or 1")
    return pos + 1


def _w_int(buf: bytes, pos: int, end: int, budget: list) -> int:
    return _varint(buf, pos, end, 5, 32, "int")[1]


def _w_long(buf: bytes, pos: int, end: int, budget: list) -> int:
    return _read_long(buf, pos, end)[1]


def _fixed_width(width: int, what: str) -> _Walk:
    def walk(buf: bytes, pos: int, end: int, budget: list) -> int:
        if pos + width > end:
            raise TruncatedError(f"body ends inside the {what} at byte {pos}")
        return pos + width

    return walk


def _length_prefixed(utf8: bool) -> _Walk:
    what = "string" if utf8 else "bytes"

    def walk(buf: bytes, pos: int, end: int, budget: list) -> int:
        start = pos
        n, pos = _read_long(buf, pos, end, f"{what} length")
        if n < 0:
            raise GarbageError(f"negative {what} length {n} at byte {start}")
        if pos + n > end:
            raise TruncatedError(f"{what} at byte {start} declares {n} bytes, only {end - pos} left")
        if utf8:
            try:
                buf[pos : pos + n].decode("utf-8")
            except UnicodeDecodeError:
                raise GarbageError(f"string at byte {start} is not valid UTF-8") from None
        return pos + n

    return walk


_PRIMITIVES: dict[str, _Walk] = {
    "null": _w_null,
    "boolean": _w_boolean,
    "int": _w_int,
    "long": _w_long,
    "float": _fixed_width(4, "float"),
    "double": _fixed_width(8, "double"),
    "bytes": _length_prefixed(utf8=False),
    "string": _length_prefixed(utf8=True),
}

