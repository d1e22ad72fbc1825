"""The errors of the Avro wire codec.

``SchemaSet.decode`` raises only ``DecodeError`` subclasses, each tied to a decoding rule id
(``DEC-00x`` in schemas/rules.py), so a bad message from another organisation can be routed to the
dead-letter topic with that rule id instead of crashing a consumer. ``EncodeError`` is the sender's
side: a record the codec refuses to encode.
"""

from __future__ import annotations

from schemas.privacy import clean_text

__all__ = [
    "DecodeError",
    "GarbageError",
    "UnknownSchemaError",
    "RegistryUnavailableError",
    "TruncatedError",
    "TrailingBytesError",
    "EncodeError",
]


class DecodeError(Exception):
    """Base of every error ``SchemaSet.decode`` raises; ``rule_id`` names the rule broken."""

    rule_id = "DEC-000"

    def __init__(self, message: str):
        # A message may quote the bytes that failed (a library's own error text): never a PIN in it.
        message = clean_text(message)
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
