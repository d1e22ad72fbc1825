"""The one dictionary of bedflow's texts (web/texts.json), Swedish first, English as a toggle.

The live page (served as /texts.js, read by web/static/i18n.js) and the server (API errors, notes and
caveats, the morning report) say the same things from the same file: {key: {"sv": ..., "en": ...}}, with
{name} placeholders that both languages share (tests/test_language.py checks it).

The API keeps answering "svenska / English" (`paired`): existing clients read both, the page shows the
chosen part (i18n.js pick()). The escalation rule the domain writes in a fixed English form
(streams/domain/escalation.py) is said again in either language by `rule_text`, as the page's ruleText does.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

PATH = Path(__file__).parent / "texts.json"
LANGS = ("sv", "en")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

TEXTS: dict[str, dict[str, str]] = json.loads(PATH.read_text(encoding="utf-8"))


def text(key: str, lang: str = "sv", **params) -> str:
    """The text `key` in `lang` with its {placeholders} filled; KeyError for an unknown key or a missing
    parameter (a typo must fail in a test, not reach a viewer as "{name}")."""
    template = TEXTS[key][lang]
    return _PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), template)


def paired(key: str, **params) -> str:
    """"svenska / English", or the one text when both languages say the same ("Normal")."""
    sv, en = text(key, "sv", **params), text(key, "en", **params)
    return sv if sv == en else f"{sv} / {en}"


def script() -> str:
    """The dictionary as the page loads it before i18n.js: window.bedflowTexts = {...}."""
    return "window.bedflowTexts = " + json.dumps(TEXTS, ensure_ascii=False, separators=(",", ":")) + ";\n"


# The domain's rule texts (streams/domain/escalation.py), the same forms as app.js ruleText.
_RULES = (
    (re.compile(r"^occupancy ([\d.]+) % ([≥<]) ([\d.]+) %$"), "rule.occ"),
    (re.compile(r"^overcrowded ([\d.]+)/100 beds ([≥<]) ([\d.]+)$"), "rule.over"),
)


def _decimal(v: str, digits: int | None, lang: str) -> str:
    s = f"{float(v):.{digits}f}" if digits is not None else v
    return s.replace(".", ",") if lang == "sv" else s


def rule_text(rule: str | None, lang: str = "sv") -> str:
    """An escalation rule in `lang` ("occupancy 97.0 % ≥ 90 %" → "beläggning 97,0 % ≥ 90 %"); another text
    (the suppressed marker, a paired "sv / en") as its part for `lang`; "" for none."""
    if not rule:
        return ""
    for pattern, key in _RULES:
        m = pattern.match(rule)
        if m:
            return text(key, lang, v=_decimal(m.group(1), 1, lang), op=m.group(2), t=_decimal(m.group(3), None, lang))
    return pick(rule, lang)


def pick(s: str, lang: str = "sv") -> str:
    """The part of a paired "svenska / English" text for `lang` (all of it when not paired), as i18n.js pick()."""
    sv, sep, en = s.partition(" / ")
    return s if not sep else (sv if lang == "sv" else en)
