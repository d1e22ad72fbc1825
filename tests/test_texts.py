"""The one dictionary (issue 13, web/texts.json via web/texts.py): every key in both languages with the same
{placeholders}; no bilingual "svenska / English" literal left in web/*.py outside it; escalation rules said in
either language; an API error names its key so a client can say it in its own language."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from web import texts
from web.access import BadRequest, error_response, param_int
from web.report_model import DataGap
from web.suppression import SUPPRESSED

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_every_key_has_both_languages_with_the_same_placeholders():
    raw = json.loads((ROOT / "web" / "texts.json").read_text(encoding="utf-8"))
    assert len(raw) > 150  # the page's texts and the server's
    for key, entry in raw.items():
        assert set(entry) == {"sv", "en"}, key
        assert all(isinstance(v, str) and v.strip() for v in entry.values()), key
        assert set(PLACEHOLDER.findall(entry["sv"])) == set(PLACEHOLDER.findall(entry["en"])), key
        if key.startswith(("api.", "gap.")):  # the API pairs these, the page's pick() splits at " / "
            assert " / " not in entry["sv"] + entry["en"], key


def test_text_fills_placeholders_and_refuses_a_missing_one():
    assert texts.text("api.param.int", "sv", name="x", low=1, high=5) == "x måste vara ett heltal 1–5"
    assert texts.text("api.param.int", "en", name="x", low=1, high=5) == "x must be a whole number 1–5"
    assert texts.paired("api.range.order") == "from måste vara före to / from must be before to"
    assert texts.paired("esc.1") == "Normal"  # the same in both: said once
    with pytest.raises(KeyError):
        texts.text("api.param.int", "sv", name="x")
    with pytest.raises(KeyError):
        texts.text("no.such.key")


@pytest.mark.parametrize("rule,sv,en", [
    ("occupancy 97.0 % ≥ 90 %", "beläggning 97,0 % ≥ 90 %", "occupancy 97.0 % ≥ 90 %"),
    ("occupancy 84.3 % < 90 %", "beläggning 84,3 % < 90 %", "occupancy 84.3 % < 90 %"),
    ("overcrowded 3.1/100 beds ≥ 2.5", "överbeläggningar 3,1 per 100 vårdplatser ≥ 2,5",
     "overcrowded 3.1 per 100 beds ≥ 2.5"),
    (SUPPRESSED, "undertryckt: litet antal", "suppressed: small numbers"),
    ("default", "default", "default"),  # an unknown form as it came
])
def test_an_escalation_rule_in_either_language(rule, sv, en):
    assert texts.rule_text(rule, "sv") == sv
    assert texts.rule_text(rule, "en") == en


def test_a_bad_request_carries_its_key_and_params():
    with pytest.raises(BadRequest) as e:
        param_int({"hours": "0"}, "hours", 1, 168)
    assert str(e.value) == "hours måste vara ett heltal 1–168 / hours must be a whole number 1–168"
    assert (e.value.code, e.value.params) == ("api.param.int", {"name": "hours", "low": 1, "high": 168})
    body = json.loads(error_response(str(e.value), 400, e.value.code, e.value.params).body)
    assert body == {"error": str(e.value), "code": "api.param.int",
                    "params": {"name": "hours", "low": "1", "high": "168"}}
    assert json.loads(error_response("plain", 400).body) == {"error": "plain"}


def test_the_page_script_is_the_dictionary():
    script = texts.script()
    assert script.startswith("window.bedflowTexts = ") and script.endswith(";\n")
    assert json.loads(script[len("window.bedflowTexts = "):-2]) == texts.TEXTS


def test_a_gap_note_is_said_from_the_dictionary():
    g = DataGap("ward", "w", "Avd 1", "01", None, note="gap.stale", params={"minutes": 30})
    from web.report_html import _gap_note
    assert _gap_note(g) == "ingen händelse på mer än 30 min före bilden"


# ------------------------------------------------------------------ no bilingual literal outside the dictionary
# A string literal (an f-string with its {…} as "{}") is bilingual when one " / " in it has, just before it, a
# segment with a Swedish letter or word, and just after it a segment with an English word: "nivå / level",
# "rapporterar inga avvikelser / reports no deviations". Not: "occupied / staffed", "in / ut", a path.
# The word lists below are the test's definition: a pair made only of words in neither list slips through.
SV_WORDS = {"och", "eller", "inte", "inga", "ingen", "inget", "bara", "till", "för", "från", "med", "som", "sedan",
            "samma", "den", "det", "en", "ett", "är", "av", "på", "nu", "kräver", "krävs", "måste", "saknas", "före",
            # and the domain's Swedish words without å, ä or ö
            "aldrig", "senast", "lediga", "belagda", "dolt", "regioner", "sjukhus", "avdelning", "riket", "inaktuell",
            "genererad", "brist", "behov", "fler", "dataluckor", "kapacitetsmöte", "somatik", "psykiatri", "hemregion",
            "litet", "antal", "undertryckt"}
EN_WORDS = {"the", "and", "or", "not", "no", "only", "must", "is", "are", "of", "to", "with", "from", "since", "by",
            "be", "a", "an", "its", "than", "this", "needs", "never", "reports", "same", "before", "as", "at",
            # and the domain's English words that are no Swedish ones
            "own", "phase", "days", "level", "beds", "free", "more", "fewer", "hidden", "stale", "last", "seen",
            "yesterday", "hospital", "ward", "sender", "nation", "shortage", "offers", "need", "generated",
            "change", "occupied", "overcrowded", "occupancy", "capacity", "meeting", "picture", "unit", "note",
            "suppressed", "small", "numbers", "somatic", "psychiatric"}
SWEDISH_LETTER = re.compile(r"[åäöÅÄÖ]")
WORD = re.compile(r"[^\W\d_]+")

# Where "sv / en" stays on purpose: the API's OpenAPI document (web/openapi.py, and the descriptions given to
# documented() and openapi.*() in web/api.py), written for the developers who read it in both languages at once.
DOCUMENTATION_FILES = {"openapi.py"}
DOCUMENTATION_CALLS = {"documented", "Param", "_required"}


def bilingual(s: str) -> bool:
    parts = s.split(" / ")
    for left, right in zip(parts, parts[1:]):
        sv = SWEDISH_LETTER.search(left) or SV_WORDS & {w.lower() for w in WORD.findall(left)}
        en = EN_WORDS & {w.lower() for w in WORD.findall(right)}
        if sv and en:
            return True
    return False


def _flat(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def _documentation_call(node: ast.Call) -> bool:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id in DOCUMENTATION_CALLS
    return isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "openapi"


def bilingual_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every bilingual literal in `source`, docstrings and API documentation left out."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.Call) and _documentation_call(node):
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(n) for n in node.values)  # judged as a whole f-string
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            s = node.value
        elif isinstance(node, ast.JoinedStr):
            s = _flat(node)
        else:
            continue
        if bilingual(s):
            found.append((node.lineno, s))
    return found


def test_the_check_finds_a_bilingual_literal():
    """It can fail: the forms the server used before the dictionary are found, the ones that are not pairs not."""
    assert bilingual_literals('raise BadRequest("from måste vara före to / from must be before to")')
    assert bilingual_literals('x = f"egen väntetidsgräns fas {p}: {d} dagar / own waiting-time limit phase {p}"')
    assert bilingual_literals('x = ("rapporterar inga avvikelser / "\n     "reports no deviations")')
    assert bilingual_literals('def f():\n    return "aldrig / never"')
    assert not bilingual_literals('pct = "occupied / staffed"\nx = "in / ut"\np = Path("a") / "b"')
    assert not bilingual_literals('def f():\n    """Svenska / English: the pair."""')
    assert not bilingual_literals('@documented("Sidan / the live page")\ndef f(): pass')
    assert not bilingual_literals('X = openapi.region("bara denna region / only this region")')


def test_no_bilingual_literal_is_left_outside_the_dictionary():
    left, files = [], 0
    for path in sorted((ROOT / "web").glob("*.py")):
        if path.name in DOCUMENTATION_FILES:
            continue
        files += 1
        left += [f"web/{path.name}:{line}: {s[:100]!r}"
                 for line, s in bilingual_literals(path.read_text(encoding="utf-8"))]
    assert files >= 12  # the walk found the server's files (access, api, room, the report …)
    assert not left, "say it through web/texts.json (web.texts.paired / text):\n" + "\n".join(left)


def test_every_key_the_server_names_is_in_the_dictionary():
    """paired("key"), text("key"), BadRequest.text("key"), error_text("key"), DataGap(note="key"): a typo is
    caught here, not by a viewer's 500."""
    named = []
    for path in sorted((ROOT / "web").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else ""
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                    and f.value.id in ("texts", "BadRequest", "Refused", "Said"):  # not openapi.text(...)
                name = f.attr
            if name in ("text", "paired", "error_text") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                named.append((path.name, node.args[0].value))
            named += [(path.name, k.value.value) for k in node.keywords
                      if k.arg == "note" and isinstance(k.value, ast.Constant)]
    assert len(named) > 30
    missing = [(f, k) for f, k in named if k not in texts.TEXTS]
    assert not missing, missing
