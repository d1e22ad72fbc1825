"""Personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

The platform never keeps one: a value that looks like one is rejected and every stored copy is redacted.
"Looks like" is deliberately generous — with or without century, with or without the `-`/`+` separator,
no checksum required (a mistyped number is still a person's number) — but the date part must be a
plausible date (day 61–91 for coordination numbers), which keeps HSA-ids and org numbers (month ≥ 20)
from being flagged.
"""
from __future__ import annotations

import re
from typing import Any

_PIN = r"(?<![0-9])(?:(?:18|19|20)[0-9]{2}|[0-9]{2})(0[1-9]|1[0-2])([0-9]{2})[-+]?[0-9]{4}(?![0-9])"
PIN_RE = re.compile(_PIN)
PIN_BYTES_RE = re.compile(_PIN.encode())
REDACTED = "[REDACTED-PIN]"


def _plausible_day(day: str) -> bool:
    d = int(day)
    return 1 <= d <= 31 or 61 <= d <= 91  # 61–91: samordningsnummer (day + 60)


def find_pins(text: str) -> list[str]:
    return [m.group(0) for m in PIN_RE.finditer(text) if _plausible_day(m.group(2))]


def bytes_may_hold_pin(data: bytes) -> bool:
    """False only when no string encoded in `data` (UTF-8, as in an Avro body) can hold a PIN: UTF-8
    writes ASCII digits and `-`/`+` as themselves and never inside another character, and the pattern
    knows only ASCII, so a PIN in any string is also a match in the bytes. The reverse need not hold
    (varints, hashes, two adjacent fields): a match only means "look at the decoded strings"."""
    return any(_plausible_day(m.group(2)) for m in PIN_BYTES_RE.finditer(data))


def _is_uuid(value: Any) -> bool:
    import uuid

    try:
        return isinstance(value, str) and len(value) == 36 and bool(uuid.UUID(value))
    except ValueError:
        return False


def pin_fields(value: Any, path: str = "") -> list[str]:
    """Paths of the string values (nested dicts/lists too) that hold something like a PIN. A top-level
    `event_id` that is a well-formed UUID is not scanned: one in ~200,000 random UUIDs starts with
    `19121212-1212`, and an idempotency key is not a person."""
    if not path and isinstance(value, dict) and _is_uuid(value.get("event_id")):
        rest = {k: v for k, v in value.items() if k != "event_id"}
        return pin_fields(rest, "") if rest else []
    if not path and isinstance(value, dict) and not any(isinstance(v, (dict, list, tuple)) for v in value.values()):
        # Fast path for the usual flat record: one C-level search over all its strings and keys.
        strings = [v for v in value.values() if isinstance(v, str)]
        strings += [k for k in value if isinstance(k, str)]
        if not find_pins("\x1f".join(strings)):  # the separator keeps matches inside one value
            return []
    found: list[str] = []
    if isinstance(value, str):
        if find_pins(value):
            found.append(path or "$")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += pin_fields(v, f"{path}.{k}" if path else str(k))
            if isinstance(k, str) and find_pins(k):
                found.append(f"{path}.<key>" if path else "<key>")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += pin_fields(v, f"{path}[{i}]")
    return found


def redact_text(text: str) -> str:
    return PIN_RE.sub(lambda m: REDACTED if _plausible_day(m.group(2)) else m.group(0), text)


def _map_strings(value: Any, fn) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {_map_strings(k, fn): _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_strings(v, fn) for v in value]
    return value


def redact(value: Any) -> Any:
    """A copy with every PIN-like substring of every string replaced."""
    return _map_strings(value, redact_text)


def redact_bytes(data: bytes) -> bytes:
    """Safety net for raw payloads (Avro strings are plain UTF-8, garbage may hold ASCII digits):
    digits of a PIN-like run become `X`, keeping the length so the rest stays inspectable."""

    def sub(m: re.Match) -> bytes:
        if not _plausible_day(m.group(2).decode()):
            return m.group(0)
        return bytes(b"X"[0] if 48 <= c <= 57 else c for c in m.group(0))

    return PIN_BYTES_RE.sub(sub, data)


# Control characters are escaped by JSON (\u0010…), and an escape followed by digits can read like an
# identity number in the stored text. Stored copies of rejected input replace them first.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Text safe to store: control characters replaced, PIN-like numbers redacted."""
    return redact_text(CONTROL_RE.sub("\ufffd", text))


def clean(value: Any) -> Any:
    """A copy safe to store: every string through clean_text."""
    return _map_strings(value, clean_text)
