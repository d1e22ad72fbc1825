"""Avro wire codec for bedflow events.

Two framings are understood (see docs/EVENTS.md, "On the wire"):

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

This module is the facade; the parts live next to it:

* ``schemas.errors``: ``DecodeError`` and its rule-id'd subclasses, ``EncodeError``;
* ``schemas.walker``: the structural walk over a body (bounds, exact record end);
* ``schemas.registry``: ``ConfluentRegistry``, writer schemas by registry id.

Their public names are re-exported here, so ``from schemas.codec import ...`` keeps working.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import fastavro
from fastavro.schema import fingerprint as _fa_fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

from schemas.errors import (
    DecodeError,
    EncodeError,
    GarbageError,
    RegistryUnavailableError,
    TrailingBytesError,
    TruncatedError,
    UnknownSchemaError,
)
from schemas.registry import ConfluentRegistry
from schemas.flat import FlatReader
from schemas.walker import BodyWalker

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
    _walker: BodyWalker = field(repr=False, compare=False)
    _flat: FlatReader | None = field(repr=False, compare=False)  # the fast path, for flat records

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
            _walker=BodyWalker(parsed),
            _flat=FlatReader.compile(parsed),
        )


@dataclass(frozen=True)
class Decoded:
    """A decoded event: the record is already resolved to the newest reader version."""

    schema_name: str
    record: dict
    framing: Framing
    writer_fingerprint: int | None = None  # single_object framing (and confluent, once the writer is known)
    schema_id: int | None = None  # confluent framing only


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

    def reader_for(self, name: str) -> SchemaVersion:
        """Newest version of a record name: the reader schema every writer is resolved to."""
        try:
            return self._by_name[name][-1]
        except KeyError:
            raise KeyError(f"no schema named {name!r}; known: {sorted(self._by_name)}") from None

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
        writer, record, framing, schema_id = self._guarded(data)
        return Decoded(writer.name, record, framing, writer_fingerprint=writer.fingerprint, schema_id=schema_id)

    def decode_record(self, data: bytes) -> dict:
        """`decode(data).record`, without building the Decoded (the worker's path: once per event)."""
        return self._guarded(data)[1]

    def _guarded(self, data: Any) -> tuple[SchemaVersion, dict, Framing, int | None]:
        try:
            return self._decode(data)
        except DecodeError:
            raise
        except Exception as exc:  # belt and braces: nothing else may escape
            raise GarbageError(f"undecodable message ({type(exc).__name__}: {exc})") from exc

    def _decode(self, data: Any) -> tuple[SchemaVersion, dict, Framing, int | None]:
        """(writer version, record, framing, Confluent schema id)."""
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
            return writer, record, "single_object", None
        if first == CONFLUENT_MAGIC[0]:
            if len(data) < _CF_HEADER_LEN:
                raise TruncatedError(f"Confluent header needs {_CF_HEADER_LEN} bytes, got {len(data)}")
            schema_id = int.from_bytes(data[1:_CF_HEADER_LEN], "big")
            writer = self._writer_for_id(schema_id)
            record = self._read_body(data, _CF_HEADER_LEN, writer)
            return writer, record, "confluent", schema_id
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
        if reader.fingerprint == writer.fingerprint and writer._flat is not None:
            record = writer._flat.read(data, offset)  # None: not proven exact, the walker below says why
            if record is not None:
                return record
        stop = writer._walker.end_of_record(data, offset)
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
