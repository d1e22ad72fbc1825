"""Personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

The platform never keeps one: a value that looks like one is rejected and every stored copy is redacted.
"Looks like" is deliberately generous — with or without century; `-`, `+`, a space or nothing between
the date and the last four digits; no checksum required (a mistyped number is still a person's number);
any Unicode spelling a reader would read as the same number (full-width or other-script digits, the
Unicode dashes and minus signs, non-breaking and thin spaces, invisible format characters and combining
marks between the digits) — but the date part must be a plausible date (day 61–91 for coordination
numbers), which keeps HSA-ids and org numbers (month ≥ 20) from being flagged.

Text is read through `normalize` (one character at a time: NFKC, then dashes → `-`, spaces → ` `, any
decimal digit → its ASCII digit, format characters and combining marks removed). ASCII text is its own
normal form, so the usual case costs one regex search.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12][0-9]|3[01]|6[1-9]|[78][0-9]|9[01])"  # 61–91: samordningsnummer (day + 60)
_SPACE = r"[\t-\r ]"  # ASCII whitespace; other spaces normalise to " " (not \x1c–\x1f: values are joined with them)
_SEP = rf"{_SPACE}?[-+]?{_SPACE}?"
_BODY = rf"(?:(?:18|19|20)[0-9]{{2}}|[0-9]{{2}}){_MONTH}{_DAY}{_SEP}[0-9]{{4}}"
# In a text field: not inside a longer run of digits. Written to start with a digit class (which the
# regex engine skips to) rather than a lookbehind: the same matches as (?<![0-9]){_BODY}(?![0-9]),
# about 1.5 times as fast (tests/test_privacy.py pins the equality).
PIN_RE = re.compile(rf"[0-9]{{2}}(?<![0-9]{{3}})(?:(?<=18|19|20)[0-9]{{2}})?{_MONTH}{_DAY}{_SEP}[0-9]{{4}}(?![0-9])")
# In raw bytes the neighbours of a string are not text (its length varint before it, the next field after
# it): no boundaries here; bytes_may_hold_pin looks at the byte before a match itself.
_PIN_LOOSE_RE = re.compile(_BODY)
_PIN_LOOSE_BYTES_RE = re.compile(_BODY.encode())
# The short form only (a leading alternation would cost the search its fast start): a century form
# holds a short one two bytes in.
PIN_BYTES_RE = re.compile(rf"[0-9]{{2}}{_MONTH}{_DAY}{_SEP}[0-9]{{4}}".encode())
REDACTED = "[REDACTED-PIN]"
_PIN_CHARS = frozenset("0123456789+- \t\n\r\x0b\x0c")  # what a match is made of
# Minus signs that are not dash punctuation (Pd) but read as one.
_MINUS = frozenset("\u2212\u2796\u2e3a\u2e3b\ufe63\uff0d")


def _normalize_char(c: str) -> str:
    """The normal form of one non-ASCII character ("" when it is invisible)."""
    out = []
    for ch in unicodedata.normalize("NFKC", c):
        if ch.isascii():
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me", "Cf"):  # combining marks, zero-width and bidi characters, soft hyphen
            continue
        if ch.isspace():
            out.append(" ")
        elif cat == "Pd" or ch in _MINUS:
            out.append("-")
        elif unicodedata.decimal(ch, None) is not None:
            out.append(str(unicodedata.decimal(ch)))
        else:
            out.append(ch)
    return "".join(out)


class _Table(dict):
    """str.translate table, filled on first sight of a code point (ASCII maps to itself)."""

    def __missing__(self, cp: int):
        c = chr(cp)
        n = c if cp < 128 else _normalize_char(c)
        value = cp if n == c else (n or None)
        if len(self) < 100_000:  # text of every script stays cached; a sender cycling through Unicode does not
            self[cp] = value
        return value


_TABLE = _Table()


def normalize(text: str) -> str:
    return text if text.isascii() else text.translate(_TABLE)


def _normal_with_index(text: str) -> tuple[str, list[int]]:
    """The normal form and, for each of its characters, the index of the character it came from."""
    parts, index = [], []
    for i, c in enumerate(text):
        v = _TABLE[ord(c)]
        n = c if isinstance(v, int) else (v or "")
        parts.append(n)
        index.extend([i] * len(n))
    return "".join(parts), index


def _spans(text: str, pattern: re.Pattern = PIN_RE) -> list[tuple[int, int]]:
    """(start, end) in `text` of every PIN-like run, read in normal form."""
    if text.isascii():
        return [m.span() for m in pattern.finditer(text)] if pattern.search(text) else []
    if not pattern.search(text.translate(_TABLE)):
        return []
    norm, index = _normal_with_index(text)
    return [(index[m.start()], index[m.end() - 1] + 1) for m in pattern.finditer(norm)]


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def find_pins(text: str) -> list[str]:
    """The PIN-like runs of `text`, in normal form."""
    return [m.group(0) for m in PIN_RE.finditer(normalize(text))]


def contains_pin(text: str) -> bool:
    return PIN_RE.search(normalize(text)) is not None


# -- the byte pre-scan -----------------------------------------------------------------------------------

def special_chars() -> list[str]:
    """Non-ASCII characters that can take part in a PIN: they normalise to something with a digit, a
    separator or a space, or to nothing (so that their neighbours meet)."""
    out = []
    for cp in range(0x80, 0x110000):
        c = chr(cp)
        if unicodedata.category(c) in ("Cn", "Co", "Cs"):
            continue
        n = _normalize_char(c)
        if n != c and (not n or any(ch in _PIN_CHARS for ch in n)):
            out.append(c)
    return out


def _byte_class(values) -> bytes:
    values = sorted(values)
    ranges, start = [], values[0]
    for prev, cur in zip(values, values[1:] + [None]):
        if cur != prev + 1:
            ranges.append(b"\\x%02x" % start if start == prev else b"\\x%02x-\\x%02x" % (start, prev))
            start = cur
    return b"[" + b"".join(ranges) + b"]"


def _utf8_alternation(chars: list[str]) -> bytes:
    """One regex for the UTF-8 encodings of `chars`, as a trie on their bytes (UTF-8 is prefix-free)."""
    trie: dict = {}
    for c in chars:
        b = c.encode()
        node = trie
        for x in b[:-1]:
            node = node.setdefault(x, {})
        node.setdefault(None, set()).add(b[-1])

    def emit(node) -> bytes:
        parts = [_byte_class(node[None])] if None in node else []
        parts += [b"\\x%02x" % k + emit(v) for k, v in sorted((k, v) for k, v in node.items() if k is not None)]
        return parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"

    return emit(trie)


_SPECIAL_RE: re.Pattern | None = None
_PINISH = frozenset(b"0123456789\t\n\x0b\x0c\r +-")  # ASCII bytes a PIN is made of


def _special_re() -> re.Pattern:
    """The UTF-8 of every special character, built on first use (a walk over Unicode, ~0.3 s once)."""
    global _SPECIAL_RE
    if _SPECIAL_RE is None:
        _SPECIAL_RE = re.compile(_utf8_alternation(special_chars()))
    return _SPECIAL_RE


def warm():
    """Build the pre-scan's tables now (start-up), not in the first record's time."""
    _special_re()


_CENTURIES = (b"18", b"19", b"20")


def _may_start(data: bytes, i: int) -> bool:
    """Whether a string's PIN may start at byte i: an ASCII digit before it hides it from the field scan,
    unless that digit ends the string's length varint: an even one (lengths 24–28 in one byte) or one
    after a byte with the high bit set (a longer length)."""
    before = data[i - 1] if i > 0 else 0
    return not 0x30 <= before <= 0x39 or not before & 1 or (i >= 2 and data[i - 2] >= 0x80)


def bytes_may_hold_pin(data: bytes) -> bool:
    """False only when no string encoded in `data` (UTF-8, as in an Avro body) can hold a PIN as
    `pin_fields` reads it, whatever bytes surround the string (a length varint before it can be an ASCII
    digit, the next field follows it). True means only "look at the decoded strings".

    A PIN read in normal form spans ASCII digits, separators and special characters. With no special
    character in it, its UTF-8 bytes are an ASCII match (PIN_BYTES_RE) after a byte that is not a digit
    or, at the start of the string, after the last byte of its length. With one,
    the span is at least four characters (no character normalises to more than three digits), so some
    special character in it has a neighbour in the span that is an ASCII digit, separator or space, or
    another special character: that pair is looked for. Two searches, not one regex: a pattern that may
    start at any digit or separator is three times slower on the hot path."""
    search = PIN_BYTES_RE.search
    m = search(data)
    while m is not None:
        i = m.start()
        if _may_start(data, i) or (data[i - 2:i] in _CENTURIES and _may_start(data, i - 2)):
            return True
        m = search(data, i + 1)
    special = _SPECIAL_RE or _special_re()
    if special.search(data) is None:  # the usual case
        return False
    n = len(data)
    for m in special.finditer(data):
        i, j = m.start(), m.end()
        if (i and data[i - 1] in _PINISH) or (j < n and (data[j] in _PINISH or special.match(data, j))):
            return True
    return False


# -- records ---------------------------------------------------------------------------------------------

_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_uuid(value: Any) -> bool:
    # Canonical form only: uuid.UUID also takes dashes anywhere, which would let "191212121212-…" pass.
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None


def pin_fields(value: Any, path: str = "") -> list[str]:
    """Paths of the string values (nested dicts/lists too) that hold something like a PIN. A top-level
    `event_id` that is a canonical UUID is not scanned: one in ~200,000 random UUIDs starts with
    `19121212-1212`, and an idempotency key is not a person."""
    if not path and isinstance(value, dict) and _is_uuid(value.get("event_id")):
        rest = {k: v for k, v in value.items() if k != "event_id"}
        return pin_fields(rest, "") if rest else []
    if not path and isinstance(value, dict) and not any(isinstance(v, (dict, list, tuple)) for v in value.values()):
        # Fast path for the usual flat record: one C-level search over all its strings and keys.
        strings = [v for v in value.values() if isinstance(v, str)]
        strings += [k for k in value if isinstance(k, str)]
        if not contains_pin("\x1f".join(strings)):  # the separator keeps matches inside one value
            return []
    found: list[str] = []
    if isinstance(value, str):
        if contains_pin(value):
            found.append(path or "$")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += pin_fields(v, f"{path}.{k}" if path else str(k))
            if isinstance(k, str) and contains_pin(k):
                found.append(f"{path}.<key>" if path else "<key>")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += pin_fields(v, f"{path}[{i}]")
    return found


def redact_text(text: str) -> str:
    return _replace(text, _spans(text))


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


# -- raw payloads ----------------------------------------------------------------------------------------

_ESCAPE_RE = re.compile(rb"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})")


def _units_utf8(data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """`data` read as text the way a person or a JSON/Python parser would: UTF-8, with `\\uXXXX` and
    `\\xNN` escapes spelled out; each character with the byte range it came from. Bytes that are not
    text read as U+FFFD (never part of a PIN)."""
    units: list[tuple[int, int, int, bool]] = []  # (start, end, value, is_code_point)
    pos = 0
    for m in _ESCAPE_RE.finditer(data):
        units += [(i, i + 1, data[i], False) for i in range(pos, m.start())]
        if m.group(1):
            units.append((m.start(), m.end(), int(m.group(1), 16), True))
        else:
            units.append((m.start(), m.end(), int(m.group(2), 16), False))
        pos = m.end()
    units += [(i, i + 1, data[i], False) for i in range(pos, len(data))]
    chars, ranges = [], []
    i = 0
    while i < len(units):
        start, end, v, cp = units[i]
        if cp:
            n, ch = 1, chr(v) if not 0xD800 <= v <= 0xDFFF else "\ufffd"
            if 0xD800 <= v < 0xDC00 and i + 1 < len(units) and units[i + 1][3] and 0xDC00 <= units[i + 1][2] <= 0xDFFF:
                n, ch = 2, chr(0x10000 + ((v - 0xD800) << 10) + units[i + 1][2] - 0xDC00)  # JSON surrogate pair
        elif v < 0x80:
            n, ch = 1, chr(v)
        else:
            n = 2 if 0xC2 <= v <= 0xDF else 3 if 0xE0 <= v <= 0xEF else 4 if 0xF0 <= v <= 0xF4 else 0
            seq = bytes(u[2] for u in units[i:i + n]) if n and all(not u[3] for u in units[i:i + n]) else b""
            try:
                ch = seq.decode("utf-8") if len(seq) == n else ""
            except UnicodeDecodeError:
                ch = ""
            if not ch:
                n, ch = 1, "\ufffd"
        chars.append(ch)
        ranges.append((start, units[i + n - 1][1]))
        i += n
    return "".join(chars), ranges


def _units_utf16(data: bytes, offset: int, big: bool) -> tuple[str, list[tuple[int, int]]]:
    chars, ranges = [], []
    order = "big" if big else "little"
    i = offset
    while i + 1 < len(data):
        v = int.from_bytes(data[i:i + 2], order)
        if 0xD800 <= v < 0xDC00 and i + 3 < len(data) and 0xDC00 <= int.from_bytes(data[i + 2:i + 4], order) <= 0xDFFF:
            chars.append(chr(0x10000 + ((v - 0xD800) << 10) + int.from_bytes(data[i + 2:i + 4], order) - 0xDC00))
            ranges.append((i, i + 4))
            i += 4
            continue
        chars.append("\ufffd" if 0xD800 <= v <= 0xDFFF else chr(v))
        ranges.append((i, i + 2))
        i += 2
    return "".join(chars), ranges


def _x_out(buf: bytearray, text: str, ranges: list[tuple[int, int]]) -> None:
    for start, end in _spans(text, _PIN_LOOSE_RE):
        for i in range(ranges[start][0], ranges[end - 1][1]):
            buf[i] = 0x58  # "X"


def redact_bytes(data: bytes) -> bytes:
    """Safety net for raw payloads that did not decode (a truncated Avro body still holds its strings
    whole; garbage may hold anything): every PIN-like run, read as ASCII, as UTF-8 (with JSON `\\u` and
    `\\x` escapes) and as UTF-16 in both byte orders and alignments, becomes `X`s byte for byte, keeping
    the length so the rest stays inspectable. No word boundaries: a neighbour byte may be a length."""
    buf = bytearray(_PIN_LOOSE_BYTES_RE.sub(lambda m: re.sub(rb"[0-9]", b"X", m.group(0)), data))
    if not bytes(buf).isascii() or b"\\" in buf:
        text = bytes(buf).decode("utf-8", "replace")
        if _PIN_LOOSE_RE.search(normalize(text)) or _ESCAPE_RE.search(buf):  # only then map characters to bytes
            _x_out(buf, *_units_utf8(bytes(buf)))
    for offset in (0, 1):
        for big in (False, True):
            chunk = bytes(buf[offset:offset + (len(buf) - offset) // 2 * 2])
            text = chunk.decode("utf-16-be" if big else "utf-16-le", "replace")
            if _PIN_LOOSE_RE.search(normalize(text)):
                _x_out(buf, *_units_utf16(bytes(buf), offset, big))
    return bytes(buf)


# Control characters are escaped by JSON (\u0010…), and an escape followed by digits can read like an
# identity number in the stored text. Stored copies of rejected input replace them first.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Text safe to store: control characters replaced (read as spaces when looking for a PIN, since a
    reader sees a gap there), PIN-like numbers redacted, and escapes (`\\u0031`, `\\x31`, as decoder
    messages may quote bytes) read as what they spell."""
    if CONTROL_RE.search(text) is None:  # the usual case
        out = _replace(text, _spans(text))
    else:
        out = _replace(CONTROL_RE.sub("\ufffd", text), _spans(CONTROL_RE.sub(" ", text)))
    if "\\" in out:
        raw = out.encode("utf-8", "surrogatepass")
        cleaned = redact_bytes(raw)
        if cleaned != raw:
            out = cleaned.decode("utf-8", "replace")
    return out


_DIRTY_RE = re.compile(r"[\x00-\x1f\x7f\\]")  # what clean_text changes besides a PIN


def clean(value: Any) -> Any:
    """A copy safe to store: every string through clean_text."""
    if isinstance(value, dict) and all(isinstance(v, (str, int, float, bool, type(None))) for v in value.values()):
        # A flat record (the usual one): as is when no string needs anything, checked in one pass each.
        strings = [v for v in value.values() if isinstance(v, str)] + [k for k in value if isinstance(k, str)]
        if all(isinstance(k, str) for k in value) and not any(map(_DIRTY_RE.search, strings)) \
                and not contains_pin("\x1f".join(strings)):
            return dict(value)
    return _map_strings(value, clean_text)


def clean_message(message: dict, from_senders: tuple[str, ...] | None = None) -> dict:
    """A change message as is when none of its strings holds a PIN (the usual case, one search), else
    cleaned: state built from accepted events should never hold one, this is the last door.
    `from_senders` names the only fields whose text a sender wrote (the others are reference data or
    the platform's own words): then only those are searched — once per waiting-list change, it counts."""
    strings = []
    for k, v in message.items():
        if type(v) is str:
            if from_senders is None or k in from_senders:
                strings.append(v)
        elif isinstance(v, (dict, list, tuple)):
            return clean(message)
    return clean(message) if contains_pin("\x1f".join(strings)) else message


class CleanFormatter(logging.Formatter):
    """Log lines without identity numbers: a message or a traceback (a validation error quoting its
    input, a store error quoting a value) may hold one, and log files are kept."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class CleanJsonFormatter(CleanFormatter):
    """One JSON object a line (time in UTC, level, logger, message, and exc for an error), for a cluster's
    log system; the message and traceback are redacted before encoding and the whole line after it."""

    def format(self, record: logging.LogRecord) -> str:
        import datetime as dt
        import json

        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": redact_text(record.getMessage())}
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact_text(self.formatStack(record.stack_info))
        return redact_text(json.dumps(entry, ensure_ascii=False, default=str))


def log_formatter(log_format: str) -> logging.Formatter:
    """The formatter of every log handler of ours: "text" or "json", both redacted."""
    if log_format == "json":
        return CleanJsonFormatter()
    return CleanFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

