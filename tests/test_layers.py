"""The house's layers, checked on the source: no import runs from a lower layer to a higher one.

schemas (the information model) ← streams (processing) ← bedflow (the roof, which alone reads the
settings and wires the parts); sinks (ClickHouse) and web (HTTP, views) sit beside streams under the
roof; sinks may know streams' row types and nothing else of ours. Imports inside functions count too.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("schemas", "streams", "sinks", "web", "bedflow")
# package → the modules of ours it may import (a prefix match on the dotted name)
ALLOWED = {
    "schemas": ("schemas",),
    "streams": ("schemas", "streams"),
    "sinks": ("sinks", "streams.rows"),
    "web": ("schemas", "streams", "sinks", "web"),
    "bedflow": OURS,
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            # `from streams import rows` names a module too
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if node.module in OURS]
    return out


def violations() -> list[str]:
    bad = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, name in imports_of(path):
                top = name.split(".")[0]
                if top not in OURS:
                    continue
                if isinstance(allowed, tuple) and any(name == a or name.startswith(a + ".") for a in allowed):
                    continue
                if package == "sinks" and name == "streams":  # `from streams import rows`: judged by the next entry
                    continue
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


def test_no_import_runs_up_the_layers():
    assert violations() == []


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The rule can fail: a module of schemas/ that imports streams is reported (also inside a function)."""
    pkg = tmp_path / "schemas"
    pkg.mkdir()
    (pkg / "bad.py").write_text("def f():\n    from streams.processor import Processor\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations() == ["schemas/bad.py:2 imports streams.processor"]
