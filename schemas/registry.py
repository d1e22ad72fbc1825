"""The Confluent Schema Registry client side of the codec: writer schemas by registry id.

Used by ``SchemaSet`` for the Confluent framing (``00`` + 4-byte big-endian schema id + body) and by
senders that register their schemas (``bedflow publish --schema-registry``).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

__all__ = ["ConfluentRegistry"]


class ConfluentRegistry:
    """Thin cached wrapper over ``confluent_kafka.schema_registry.SchemaRegistryClient``.

    ``confluent_kafka.schema_registry`` needs the ``schemaregistry`` extra
    (authlib, httpx2, cachetools), so it is only imported when used.
    """

    def __init__(self, client: Any):
        self._client = client
        self._by_id: dict[int, dict] = {}

    @classmethod
    def from_url(cls, url: str, **conf: Any) -> "ConfluentRegistry":
        """``mock://name`` gives confluent-kafka's in-process mock registry (for tests)."""
        from confluent_kafka.schema_registry import SchemaRegistryClient

        # new_client, not the constructor: only it turns mock:// into the mock client
        return cls(SchemaRegistryClient.new_client({"url": url, **conf}))

    @property
    def client(self) -> Any:
        return self._client

    def register(self, subject: str, schema: Mapping) -> int:
        from confluent_kafka.schema_registry import Schema

        schema_id = int(self._client.register_schema(subject, Schema(json.dumps(schema), "AVRO")))
        self._by_id[schema_id] = dict(schema)
        return schema_id

    def schema_by_id(self, schema_id: int) -> dict:
        """The writer schema for an id; ``KeyError`` if the registry does not know it.

        Other errors (network, auth) propagate unchanged. Misses are not cached:
        an id may be registered a moment later.
        """
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        try:
            registered = self._client.get_schema(schema_id)
        except Exception as exc:
            if getattr(exc, "http_status_code", None) == 404:
                raise KeyError(schema_id) from exc
            raise
        if (getattr(registered, "schema_type", None) or "AVRO") != "AVRO":
            raise KeyError(schema_id)
        schema = json.loads(registered.schema_str)
        self._by_id[schema_id] = schema
        return schema

