"""Avro schemas generated from the pydantic event models (schemas.model), so there is one source of
truth. `bedflow schemas --write` rewrites schemas/avsc/; tests fail if the files on disk differ."""
from __future__ import annotations

import datetime as dt
import json
import types
import typing
from pathlib import Path

from pydantic import AwareDatetime

from schemas.model import EVENT_TYPES, NAMESPACE, Event

AVSC_DIR = Path(__file__).parent / "avsc"
HISTORY = "history"  # superseded versions, kept so that old writers stay readable (schemas/README.md)
_TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}
_DATE = {"type": "int", "logicalType": "date"}


def _avro_type(annotation) -> tuple[object, bool]:
    """(avro type, nullable) of a model field annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(args) == 2:
            return _avro_type(inner[0])[0], True
        raise TypeError(f"unsupported union {annotation}")
    if origin is typing.Annotated:
        return _avro_type(args[0])
    if origin in (tuple, list):  # tuple[str, ...] / list[str]: an Avro array
        item = args[0]
        return {"type": "array", "items": _avro_type(item)[0]}, False
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        if kinds == {str}:
            return "string", False
        if kinds == {int}:
            return "int", False
        raise TypeError(f"unsupported literal {annotation}")
    if annotation is AwareDatetime or annotation is dt.datetime:
        return dict(_TIMESTAMP), False
    if annotation is dt.date:
        return dict(_DATE), False
    return {str: "string", int: "int", bool: "boolean", float: "double"}[annotation], False


def avro_schema(cls: type[Event]) -> dict:
    fields = []
    for name, info in cls.model_fields.items():
        avro, nullable = _avro_type(info.annotation)
        field: dict = {"name": name}
        if nullable:
            field["type"] = ["null", avro]
            field["default"] = None
        else:
            field["type"] = avro
        if info.description:
            field["doc"] = info.description
        fields.append(field)
    schema = {"type": "record", "name": cls.__name__, "namespace": NAMESPACE, "fields": fields}
    if cls.doc:
        schema["doc"] = cls.doc
    return schema


def all_schemas() -> dict[str, dict]:
    """Full name → schema dict, for every event type of the current contract."""
    return {f"{NAMESPACE}.{cls.__name__}": avro_schema(cls) for cls in EVENT_TYPES.values()}


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = AVSC_DIR) -> list[Path]:
    """Write every schema; a published version that changes is never lost: it moves to history/ first."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for full_name, schema in all_schemas().items():
        path = directory / f"{full_name}.avsc"
        text = render(schema)
        if path.exists() and path.read_text(encoding="utf-8") != text:
            history = directory / HISTORY
            history.mkdir(exist_ok=True)
            n = len(list(history.glob(f"{full_name}.*.avsc"))) + 1
            path.rename(history / f"{full_name}.{n:03d}.avsc")
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def published_schemas(directory: Path = AVSC_DIR) -> list[dict]:
    """Every schema version on disk, oldest first: history/ (superseded versions, kept for old writers)
    and then the current ones, so that the current version is each name's reader."""
    paths = sorted((directory / HISTORY).glob("*.avsc")) + sorted(directory.glob("*.avsc"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]
