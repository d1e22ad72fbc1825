"""The OpenAPI 3 document of the API, generated from the code: the routes the access module registered
(with their rules), and for each the parameters its handler parses (`Param`, each one a web/access.py
param_* parser with its arguments) and the answer it gives (`Answer`).

A handler declares them with `@documented(...)` and parses its query through the same `Param` objects
(`P.parse(request.query)`), so the document cannot name a parameter, a choice or a bound the code does
not use. A route without a declaration is listed under `x-undocumented` (tests/test_openapi.py fails on it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from aiohttp import web

from web.access import (ADMIN, EARLIEST, LATEST, PUBLIC, Access, param_choice, param_date, param_instant,
                        param_int, param_month, param_region)

ACCESS = web.AppKey("access", Access)  # the app's access module: its rules say who may call each route

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Param:
    """A query parameter: its parser, its OpenAPI schema and an example the tests call the route with."""
    name: str
    parser: Callable[..., Any]  # (query, default) → value, or BadRequest
    schema: dict
    example: str
    description: str
    required: bool = False
    default: Any = None

    def parse(self, query: Mapping, default: Any = _NO_DEFAULT):
        """The parsed value (`default`: a default known only at request time, e.g. today)."""
        return self.parser(query, self.default if default is _NO_DEFAULT else default)

    def openapi(self) -> dict:
        schema = dict(self.schema)
        if self.default is not None:
            schema["default"] = self.default
        return {"name": self.name, "in": "query", "required": self.required, "description": self.description,
                "schema": schema, "example": self.example}


def choice(name: str, choices: Iterable[str], default: str | None, description: str, example: str | None = None) -> Param:
    choices = tuple(choices)
    return Param(name, lambda q, d: param_choice(q, name, choices, d), {"type": "string", "enum": list(choices)},
                 example or default or choices[0], description, required=default is None, default=default)


def region(description: str, name: str = "region", required: bool = False, example: str = "01") -> Param:
    from schemas import reference
    return Param(name, lambda q, d: param_region(q, name, required),
                 {"type": "string", "enum": sorted(reference.regions())}, example, description, required)


def integer(name: str, low: int, high: int, default: int | None, description: str, example: str | None = None) -> Param:
    return Param(name, lambda q, d: param_int(q, name, low, high, d),
                 {"type": "integer", "minimum": low, "maximum": high}, example or str(default or low),
                 description, default=default)


def date(name: str, description: str, example: str) -> Param:
    return Param(name, lambda q, d: param_date(q, name, d),
                 {"type": "string", "format": "date"}, example, f"{description} ({EARLIEST:%Y}–{LATEST:%Y})")


def month(name: str, description: str, example: str) -> Param:
    return Param(name, lambda q, d: param_month(q, name),
                 {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, example, description, required=True)


def instant(name: str, description: str, example: str) -> Param:
    return Param(name, lambda q, d: param_instant(q, name, d), {"type": "string", "format": "date-time"},
                 example, description)


def text(name: str, description: str, example: str) -> Param:
    """A free identifier (a hospital's HSA id): it is only compared with stored ids, never put in a query."""
    return Param(name, lambda q, d: q.get(name, d), {"type": "string"}, example, description)


@dataclass(frozen=True)
class Answer:
    """What a 200 holds: JSON with these top-level keys, those in `rows` a list of rows with (at least)
    those fields; or another media type (`media`)."""
    keys: tuple[str, ...] = ()
    rows: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    media: str = "application/json"
    exports: tuple[str, ...] = ()  # the tables a `?format=csv|xlsx` export holds (none: no export)

    def schema(self) -> dict:
        if self.media != "application/json":
            return {"type": "string"}
        props = {}
        for key in self.keys:
            if key in self.rows:
                item = {"type": "object", "required": list(self.rows[key]),
                        "properties": {f: {} for f in self.rows[key]}}
                props[key] = {"type": "array", "items": item}
            else:
                props[key] = {}
        return {"type": "object", "required": list(self.keys), "properties": props}


@dataclass(frozen=True)
class Doc:
    summary: str
    params: tuple[Param, ...]
    answer: Answer


def documented(summary: str, *params: Param, answer: Answer = Answer()):
    """Declare a handler's parameters and answer for the document (the handler parses with the same Params)."""
    def mark(fn):
        fn.openapi = Doc(summary, params, answer)
        return fn
    return mark


def doc_of(handler) -> Doc | None:
    return getattr(handler, "openapi", None)


ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_ERRORS = {"400": "felaktig parameter / bad parameter", "401": "ingen eller okänd token / no or unknown token",
           "403": "utanför behörigheten / outside the viewer's scope"}


def document(app: web.Application, title: str = "bedflow", version: str = "1") -> dict:
    """The OpenAPI 3.0 document of `app`'s routes (those registered through the access module)."""
    access = app[ACCESS]
    paths: dict[str, dict] = {}
    undocumented = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or isinstance(resource, web.StaticResource):
            continue
        path, rule = resource.canonical, access.rules.get(resource.canonical)
        doc = doc_of(route.handler)
        if doc is None:
            undocumented.append(f"{route.method} {path}")
            continue
        params = [p.openapi() for p in doc.params]
        if doc.answer.exports:
            table = TABLE.openapi()
            table["schema"] = {"type": "string", "enum": list(doc.answer.exports)}
            table["example"] = doc.answer.exports[0]
            params += [FORMAT.openapi(), table]
        content = {doc.answer.media: {"schema": doc.answer.schema()}}
        if doc.answer.exports:
            content.update({"text/csv": {"schema": {"type": "string"}},
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                                {"schema": {"type": "string", "format": "binary"}}})
        responses = {"200": {"description": "svar / answer", "content": content}}
        if rule != PUBLIC:
            responses.update({code: {"description": text_, "content": {"application/json": {"schema": ERROR}}}
                              for code, text_ in _ERRORS.items()})
        paths.setdefault(path, {})[route.method.lower()] = {
            "summary": doc.summary, "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "parameters": params, "responses": responses, "x-access-rule": rule,
            "security": [] if rule == PUBLIC else [{"bearer": []}],
            **({"description": "kräver en admin-token / needs an admin token"} if rule == ADMIN else {}),
        }
    out = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version,
                 "description": "Vårdplatser och vårdköer i nära realtid / near-real-time beds and waiting lists. "
                                "Token i huvudet Authorization: Bearer <token> / token in the Authorization header."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": dict(sorted(paths.items())),
    }
    if undocumented:
        out["x-undocumented"] = sorted(undocumented)
    return out


# The export parameters every list endpoint takes (web/exports.py).
FORMAT = choice("format", ("json", "csv", "xlsx"), "json",
                "json, eller export för Excel/Qlik/Power BI: csv (; och decimalkomma, UTF-8 med BOM) eller xlsx / "
                "json, or an export: csv (; and decimal comma, UTF-8 with BOM) or xlsx")
TABLE = Param("table", lambda q, d: q.get("table", d), {"type": "string"}, "",
              "csv: vilken av svarets tabeller (standard den första) / which of the answer's tables (default the first)")
