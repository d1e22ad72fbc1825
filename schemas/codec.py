"""Avro wire codec for bedflow events.

Two framings are understood (see shared/domain/EVENTS.md, "On the wire"):

* Avro single-object encoding: ``C3 01`` + 8-byte little-endian CRC-64-AVRO
  fingerprint of the writer schema's Parsing Canonical Form + Avro binary body.
  The reader knows every published schema version by fingerprint.
* Confluent framing: ``00`` + 4-byte big-endian schema id + Avro binary body,
  the writer schema being looked up by id in a Confluent Schema Registry.

Records are always resolved to the newest known version of their record name
(Avro schema resolution), so consumers only ever see the current shape.

``decode`` never raises anything but a ``DecodeError`` subclass: input comes
from other organisations and a bad message must be routable to a dead-letter
topic with a rule id, not crash a consumer.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

import fastavro
from fastavro.schema import fingerprint as _fa_fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

try:  # fastavro raises this when writer and reader schemas cannot be resolved
    from fastavro.read import SchemaResolutionError
except ImportError:  # pragma: no cover - very old fastavro
    SchemaResolutionError = ValueError  # type: ignore[misc,assignment]

__all__ = [
    "DecodeError",
    "GarbageError",
    "UnknownSchemaError",
    "RegistryUnavailableError",
    "TruncatedError",
    "TrailingBytesError",
    "EncodeError",
    "Decoded",
    "SchemaVersion",
    "SchemaSet",
    "ConfluentRegistry",
    "canonical_form",
    "fingerprint64",
    "SINGLE_OBJECT_MAGIC",
    "CONFLUENT_MAGIC",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_SO_HEADER_LEN = 10  # C3 01 + 8-byte fingerprint
_CF_HEADER_LEN = 5  # 00 + 4-byte id

Framing = Literal["single_object", "confluent"]


# --------------------------------------------------------------------------- errors


class DecodeError(Exception):
    """Base of every error ``SchemaSet.decode`` raises; ``rule_id`` names the rule broken."""

    rule_id = "DEC-000"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.message}"


class GarbageError(DecodeError):
    """Not Avro in a known framing, or the body does not decode with the writer schema."""

    rule_id = "DEC-001"


class UnknownSchemaError(DecodeError):
    """Writer fingerprint or registry id is not known (or cannot be resolved to a reader)."""

    rule_id = "DEC-002"


class RegistryUnavailableError(UnknownSchemaError):
    """The registry could not be asked (network, auth, 5xx).

    Same rule as an unknown id, but ``retryable`` tells a consumer the message
    itself may be fine and should be retried rather than dead-lettered.
    """

    retryable = True


class TruncatedError(DecodeError):
    """Header or body ends before the record is complete."""

    rule_id = "DEC-003"


class TrailingBytesError(DecodeError):
    """Bytes are left over after the record."""

    rule_id = "DEC-004"


class EncodeError(ValueError):
    """A record cannot be encoded (unknown name, record does not fit the schema, bad id)."""


# ----------------------------------------------------------------- canonical form


def canonical_form(schema: Any) -> str:
    """Parsing Canonical Form of a schema (JSON text, dict, list or parsed schema)."""
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        schema = json.loads(schema)  # JSON text; anything else is a bare name such as ``int``
    return to_parsing_canonical_form(schema)


def fingerprint64(canonical: str) -> int:
    """CRC-64-AVRO fingerprint of a canonical form, as an unsigned 64-bit int.

    fastavro returns the hex of the fingerprint's little-endian bytes (the
    order the single-object header uses), hence ``byteorder="little"``; the
    Avro spec's own test vectors are the same value as a signed Java long.
    """
    return int.from_bytes(bytes.fromhex(_fa_fingerprint(canonical, "CRC-64-AVRO")), "little")


# ----------------------------------------------------------------- body validator
#
# A structural pass over the Avro binary body, done before fastavro reads it.
# It bounds every length / count by the bytes actually left (so an absurd
# length prefix cannot make fastavro allocate gigabytes or spin forever),
# gives precise Truncated vs Garbage classification, and finds the exact end
# of the record for the trailing-bytes check.

_Walk = Callable[[bytes, int, int, list], int]  # (buf, pos, end, zero_width_budget) -> new pos

# Items that take no bytes (null, empty records) cannot be bounded by the
# remaining length, so cap how many of them one message may declare.
_ZERO_WIDTH_ITEM_LIMIT = 100_000

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


@functools.lru_cache(maxsize=256)
def _int_fields(canonical: str) -> tuple[str, ...]:
    """Top-level fields of a flat record typed Avro int (or nullable int): fastavro does not check
    their 32-bit range when reading, so the fast path checks it."""
    schema = json.loads(canonical)
    out = []
    for f in schema.get("fields", []):
        t = f["type"]
        types = t if isinstance(t, list) else [t]
        if "int" in types or any(isinstance(x, dict) and x.get("type") == "int" for x in types):
            out.append(f["name"])
    return tuple(out)


def _read_long(buf: bytes, pos: int, end: int, what: str = "long") -> tuple[int, int]:
    return _varint(buf, pos, end, 10, 64, what)


class _Validator:
    """Compiles a parsed (fastavro) writer schema into a walker over its binary encoding."""

    def __init__(self, parsed: Any):
        self._named: dict = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
        self._cells: dict[str, list] = {}  # late binding for recursive named types
        self._min_memo: dict[str, int] = {}
        self.walk: _Walk = self._compile(parsed)

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


# ------------------------------------------------------------------ schema set


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one record schema."""

    name: str  # full name, e.g. "se.bedflow.events.v1.PatientAdmitted"
    schema: dict  # the schema as given
    parsed: dict  # fastavro's parsed form
    canonical: str  # Parsing Canonical Form
    fingerprint: int  # CRC-64-AVRO as an unsigned 64-bit int
    fingerprint_bytes: bytes  # the 8 little-endian bytes used in the single-object header
    _validator: _Validator = field(repr=False, compare=False)

    @classmethod
    def from_schema(cls, schema: Mapping) -> "SchemaVersion":
        if not isinstance(schema, Mapping) or schema.get("type") not in ("record", "error"):
            raise ValueError("an event schema must be an Avro record schema (a dict with type 'record')")
        # fresh named_schemas per version: two versions of one name must not collide
        parsed = parse_schema(dict(schema), named_schemas={})
        canonical = to_parsing_canonical_form(parsed)
        fp = fingerprint64(canonical)
        return cls(
            name=parsed["name"],
            schema=dict(schema),
            parsed=parsed,
            canonical=canonical,
            fingerprint=fp,
            fingerprint_bytes=fp.to_bytes(8, "little"),
            _validator=_Validator(parsed),
        )


@dataclass(frozen=True)
class Decoded:
    """A decoded event: the record is already resolved to the newest reader version."""

    schema_name: str
    record: dict
    framing: Framing
    writer_fingerprint: int | None = None  # single_object framing (and confluent, once the writer is known)
    schema_id: int | None = None  # confluent framing only


class ConfluentRegistry:
    """Thin cached wrapper over ``confluent_kafka.schema_registry.SchemaRegistryClient``.

    ``confluent_kafka.schema_registry`` needs the ``schemaregistry`` extra
    (authlib, httpx2, cachetools), so it is only imported when used.
    """

    def __init__(self, client: Any):
        self._client = client
        self._by_id: dict[int, dict] = {}

    @classmethod
    def from_url(cls, url: str, **conf: Any) -> "ConfluentRegistry":
        """``mock://name`` gives confluent-kafka's in-process mock registry (for tests)."""
        from confluent_kafka.schema_registry import SchemaRegistryClient

        # new_client, not the constructor: only it turns mock:// into the mock client
        return cls(SchemaRegistryClient.new_client({"url": url, **conf}))

    @property
    def client(self) -> Any:
        return self._client

    def register(self, subject: str, schema: Mapping) -> int:
        from confluent_kafka.schema_registry import Schema

        schema_id = int(self._client.register_schema(subject, Schema(json.dumps(schema), "AVRO")))
        self._by_id[schema_id] = dict(schema)
        return schema_id

    def schema_by_id(self, schema_id: int) -> dict:
        """The writer schema for an id; ``KeyError`` if the registry does not know it.

        Other errors (network, auth) propagate unchanged. Misses are not cached:
        an id may be registered a moment later.
        """
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        try:
            registered = self._client.get_schema(schema_id)
        except Exception as exc:
            if getattr(exc, "http_status_code", None) == 404:
                raise KeyError(schema_id) from exc
            raise
        if (getattr(registered, "schema_type", None) or "AVRO") != "AVRO":
            raise KeyError(schema_id)
        schema = json.loads(registered.schema_str)
        self._by_id[schema_id] = schema
        return schema


class SchemaSet:
    """All known versions of the event schemas, by record name and by fingerprint."""

    def __init__(self, schemas: Iterable[Mapping] = (), *, registry: ConfluentRegistry | None = None):
        self.registry = registry
        self._by_name: dict[str, list[SchemaVersion]] = {}
        self._by_fp: dict[int, SchemaVersion] = {}
        self._by_id: dict[int, SchemaVersion] = {}  # confluent id -> writer version
        for s in schemas:
            self.add(s)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], *, registry: ConfluentRegistry | None = None) -> "SchemaSet":
        """Load ``.avsc`` files; for several versions of one name, later paths are newer."""
        return cls([json.loads(Path(p).read_text(encoding="utf-8")) for p in paths], registry=registry)

    def add(self, schema: Mapping) -> SchemaVersion:
        """Add a version; it becomes the newest of its name. Re-adding a known version is a no-op."""
        version = SchemaVersion.from_schema(schema)
        known = self._by_fp.get(version.fingerprint)
        if known is not None:
            return known
        self._by_name.setdefault(version.name, []).append(version)
        self._by_fp[version.fingerprint] = version
        return version

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def versions(self, name: str) -> list[SchemaVersion]:
        """All versions of a record name, oldest first."""
        return list(self._by_name.get(name, ()))

    def reader_for(self, name: str) -> SchemaVersion:
        """Newest version of a record name: the reader schema every writer is resolved to."""
        try:
            return self._by_name[name][-1]
        except KeyError:
            raise KeyError(f"no schema named {name!r}; known: {sorted(self._by_name)}") from None

    def by_fingerprint(self, fp: int | bytes) -> SchemaVersion | None:
        if isinstance(fp, (bytes, bytearray)):
            fp = int.from_bytes(fp, "little")
        return self._by_fp.get(fp)

    # ---- encoding

    def _body(self, name: str, record: Mapping) -> tuple[SchemaVersion, bytes]:
        try:
            writer = self.reader_for(name)
        except KeyError as exc:
            raise EncodeError(str(exc.args[0])) from None
        buf = io.BytesIO()
        try:
            # strict_allow_default: extra or missing (default-less) fields are errors, not silently dropped
            fastavro.schemaless_writer(buf, writer.parsed, record, strict_allow_default=True)
        except Exception as exc:
            raise EncodeError(f"record does not fit {name}: {exc}") from exc
        return writer, buf.getvalue()

    def encode_single_object(self, name: str, record: Mapping) -> bytes:
        writer, body = self._body(name, record)
        return SINGLE_OBJECT_MAGIC + writer.fingerprint_bytes + body

    def encode_confluent(self, name: str, record: Mapping, schema_id: int) -> bytes:
        if not isinstance(schema_id, int) or not 0 <= schema_id <= 0xFFFFFFFF:
            raise EncodeError(f"schema id must be an unsigned 32-bit int, got {schema_id!r}")
        writer, body = self._body(name, record)
        if self.registry is not None:
            # catch a wrong id here rather than at every consumer
            try:
                registered = self.registry.schema_by_id(schema_id)
                same = fingerprint64(canonical_form(registered)) == writer.fingerprint
            except Exception as exc:
                raise EncodeError(f"schema id {schema_id} cannot be checked against the registry: {exc}") from exc
            if not same:
                raise EncodeError(f"schema id {schema_id} is not the newest {name} schema known here")
        return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big") + body

    # ---- decoding

    def decode(self, data: bytes) -> Decoded:
        """Decode one framed message. Raises only ``DecodeError`` subclasses."""
        try:
            return self._decode(data)
        except DecodeError:
            raise
        except Exception as exc:  # belt and braces: nothing else may escape
            raise GarbageError(f"undecodable message ({type(exc).__name__}: {exc})") from exc

    def _decode(self, data: Any) -> Decoded:
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise GarbageError(f"expected bytes, got {type(data).__name__}")
        if not data:
            raise TruncatedError("empty message: no framing header")
        first = data[0]
        if first == SINGLE_OBJECT_MAGIC[0]:
            if len(data) >= 2 and data[1] != SINGLE_OBJECT_MAGIC[1]:
                raise GarbageError(f"bad single-object marker C3 {data[1]:02X} (expected C3 01)")
            if len(data) < _SO_HEADER_LEN:
                raise TruncatedError(f"single-object header needs {_SO_HEADER_LEN} bytes, got {len(data)}")
            fp = int.from_bytes(data[2:_SO_HEADER_LEN], "little")
            writer = self._by_fp.get(fp)
            if writer is None:
                raise UnknownSchemaError(f"writer schema fingerprint {data[2:_SO_HEADER_LEN].hex()} is not known")
            record = self._read_body(data, _SO_HEADER_LEN, writer)
            return Decoded(writer.name, record, "single_object", writer_fingerprint=writer.fingerprint)
        if first == CONFLUENT_MAGIC[0]:
            if len(data) < _CF_HEADER_LEN:
                raise TruncatedError(f"Confluent header needs {_CF_HEADER_LEN} bytes, got {len(data)}")
            schema_id = int.from_bytes(data[1:_CF_HEADER_LEN], "big")
            writer = self._writer_for_id(schema_id)
            record = self._read_body(data, _CF_HEADER_LEN, writer)
            return Decoded(writer.name, record, "confluent", writer_fingerprint=writer.fingerprint, schema_id=schema_id)
        raise GarbageError(f"unknown framing: first byte {first:02X} is neither C3 (single-object) nor 00 (Confluent)")

    def _writer_for_id(self, schema_id: int) -> SchemaVersion:
        known = self._by_id.get(schema_id)
        if known is not None:
            return known
        if self.registry is None:
            raise UnknownSchemaError(f"Confluent-framed message (schema id {schema_id}) but no registry is configured")
        try:
            schema = self.registry.schema_by_id(schema_id)
        except KeyError:
            raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from None
        except Exception as exc:
            raise RegistryUnavailableError(f"registry lookup of schema id {schema_id} failed: {exc}") from exc
        try:
            version = SchemaVersion.from_schema(schema)
        except Exception as exc:
            raise UnknownSchemaError(f"schema id {schema_id} is not a usable Avro record schema: {exc}") from exc
        if version.name not in self._by_name:
            raise UnknownSchemaError(f"schema id {schema_id} is record {version.name}, which this reader does not know")
        # a registry version we also ship is the very same object; otherwise keep the registry's
        version = self._by_fp.get(version.fingerprint, version)
        self._by_id[schema_id] = version
        return version

    def _read_body(self, data: bytes, offset: int, writer: SchemaVersion) -> dict:
        end = len(data)
        reader = self.reader_for(writer.name)
        if reader.fingerprint == writer.fingerprint and '"array"' not in writer.canonical \
                and '"map"' not in writer.canonical:
            # Fast path for flat records (no arrays or maps, so fastavro can neither spin on a huge
            # item count nor allocate more than the message): decode, then re-encode and require the
            # very same bytes. That proves there was no truncation inside a string and no trailing
            # byte; anything else falls through to the exact walker below for a precise reason.
            try:
                buf = io.BytesIO(data)
                buf.seek(offset)
                record = fastavro.schemaless_reader(buf, writer.parsed, None)
                if buf.tell() == end:
                    out = io.BytesIO()
                    fastavro.schemaless_writer(out, writer.parsed, record)
                    if out.getvalue() == data[offset:] and all(
                            -(1 << 31) <= record[f] < (1 << 31) for f in _int_fields(writer.canonical)
                            if isinstance(record.get(f), int)):
                        return record
            except Exception:  # noqa: BLE001 — the exact path below classifies it
                pass
        stop = writer._validator.walk(data, offset, end, [_ZERO_WIDTH_ITEM_LIMIT])
        if stop != end:
            raise TrailingBytesError(f"{end - stop} byte(s) left after the {writer.name} record (ends at byte {stop})")
        buf = io.BytesIO(data)
        buf.seek(offset)
        try:
            record = fastavro.schemaless_reader(
                buf, writer.parsed, None if reader.fingerprint == writer.fingerprint else reader.parsed
            )
        except SchemaResolutionError as exc:
            raise UnknownSchemaError(
                f"writer schema {writer.fingerprint:016x} of {writer.name} cannot be resolved to the current reader: {exc}"
            ) from exc
        except (EOFError, StopIteration) as exc:
            raise TruncatedError(f"{writer.name} body ends early ({type(exc).__name__})") from exc
        except Exception as exc:  # bad UTF-8, out-of-range timestamps, bad uuid/decimal, ...
            raise GarbageError(f"{writer.name} body does not decode: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != end:  # the walker and fastavro should agree; if not, do not trust either
            raise GarbageError(f"{writer.name} body: decoder stopped at byte {buf.tell()} of {end}")
        return record
