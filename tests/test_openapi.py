"""The OpenAPI 3 document (issue 13): generated from the routes the access module registered, it names
every one of them with its rule; each documented operation is called on the real app (chDB filled by the
real processor and sink) with an admin token and the documented example parameters, and its answer is
checked against the documented shape; each documented bound and choice is the one the parser enforces."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from tests.test_access import TOKENS, server  # noqa: F401  (the module's server fixture: the real app with data)
from web import openapi

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def call(server, method: str, path: str, who: str = "admin") -> tuple[int, str, bytes]:
    token = TOKENS[who]
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method,
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def document(server) -> dict:
    status, ctype, body = call(server, "GET", "/api/v1/openapi.json")
    assert status == 200 and ctype.startswith("application/json")
    return json.loads(body)


def operations(doc: dict):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, method.upper(), op


def url(path: str, params: dict) -> str:
    return f"{path}?{urllib.parse.urlencode(params)}" if params else path


def examples(op: dict, skip=("format", "table")) -> dict:
    return {p["name"]: p["example"] for p in op["parameters"] if p["name"] not in skip}


def conforms(value, schema: dict, where: str) -> None:
    """The subset of JSON Schema the document uses: type, required, properties, items, oneOf."""
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                conforms(value, option, where)
                return
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError(f"{where}: none of oneOf: {errors}")
    kind = schema.get("type")
    if kind == "null":
        assert value is None, where
    elif kind == "object":
        assert isinstance(value, dict), where
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                conforms(value[key], sub, f"{where}.{key}")
    elif kind == "array":
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            conforms(item, schema["items"], f"{where}[{i}]")
    elif kind == "string":
        assert isinstance(value, str), where


def test_the_document_names_every_registered_route_with_its_rule(server):
    doc = document(server)
    assert doc["openapi"].startswith("3.") and "x-undocumented" not in doc
    access = server.app[openapi.ACCESS]
    registered = {(r.method, r.resource.canonical) for r in server.app.router.routes()
                  if r.method != "HEAD" and not r.resource.canonical.startswith("/static")}
    documented = {(m, p) for p, m, _ in operations(doc)}
    assert documented == registered
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for path, method, op in operations(doc):
        assert op["x-access-rule"] == access.rules[path], path
        assert op["security"] == ([] if op["x-access-rule"] == "public" else [{"bearer": []}])
        for p in op["parameters"]:
            assert p["in"] == "query" and p["schema"]["type"] in ("string", "integer") and "example" in p, (path, p)
    assert "/api/v1/openapi.json" in doc["paths"]


def test_every_documented_route_answers_its_documented_shape(server):
    doc = document(server)
    called = 0
    for path, method, op in operations(doc):
        status, ctype, body = call(server, method, url(path, examples(op)))
        assert status == 200, (method, path, body[:300])
        media, spec = next(iter(op["responses"]["200"]["content"].items()))
        assert ctype.split(";")[0] == media, (path, ctype)
        if media == "application/json":
            conforms(json.loads(body), spec["schema"], path)
        else:
            assert body, path
        names = {p["name"]: p for p in op["parameters"]}
        if "format" in names:  # the exports: one CSV per documented table, and the workbook
            for table in names["table"]["schema"]["enum"]:
                status, ctype, body = call(server, method, url(path, {**examples(op), "format": "csv", "table": table}))
                assert status == 200 and ctype.startswith("text/csv") and body.startswith(b"\xef\xbb\xbf"), (path, table)
            status, ctype, body = call(server, method, url(path, {**examples(op), "format": "xlsx"}))
            assert status == 200 and ctype == XLSX and body[:2] == b"PK", path
        if op["x-access-rule"] != "public":
            assert call(server, method, url(path, examples(op)), "none")[0] == 401, path
        called += 1
    assert called >= 12


def test_documented_choices_and_bounds_are_the_parsers(server):
    """A value outside a documented enum or bound, or a missing required parameter, is refused with 400."""
    doc = document(server)
    tried = 0
    for path, method, op in operations(doc):
        if method != "GET":
            continue
        base = examples(op)
        for p in op["parameters"]:
            name, schema = p["name"], p["schema"]
            if name == "table":
                bad = "nope"
            elif "enum" in schema:
                bad = "zz"
            elif "maximum" in schema:
                bad = str(schema["maximum"] + 1)
                ok = str(schema["maximum"])
                assert call(server, method, url(path, {**base, name: ok}))[0] == 200, (path, name, ok)
            elif schema.get("format") in ("date", "date-time") or "pattern" in schema:
                bad = "1999-13-40"
            else:
                continue
            status, _, body = call(server, method, url(path, {**base, name: bad}))
            assert status == 400 and "error" in json.loads(body), (path, name, bad, status)
            tried += 1
            if p["required"]:
                status, _, _ = call(server, method, url(path, {k: v for k, v in base.items() if k != name}))
                assert status == 400, (path, name)
    assert tried >= 12
