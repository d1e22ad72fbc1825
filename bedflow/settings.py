"""The one settings object. Every knob is an environment variable `BEDFLOW_<NAME>` (or a CLI flag that
sets the same field); the rule/limit/escalation/token tables live in one TOML file (`config_file`)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BEDFLOW_", extra="ignore")

    # Where things run. Empty bootstrap = start the embedded Tansu broker.
    bootstrap: str = ""
    schema_registry_url: str = ""
    # Empty DSN = embedded chDB under data_dir/clickhouse.
    clickhouse_dsn: str = ""
    data_dir: Path = Path(".bedflow")
    host: str = "127.0.0.1"
    port: int = 8080
    partitions: int = 4

    # Topics (EVENTS.md names; the output topics are ours).
    topic_beds: str = "bedflow.beds.v1"
    topic_waitlist: str = "bedflow.waitlist.v1"
    topic_deadletter: str = "bedflow.deadletter.v1"
    topic_ward_status: str = "bedflow.ward-status.v1"
    topic_out_of_area: str = "bedflow.out-of-area.v1"
    topic_waitlist_status: str = "bedflow.waitlist-status.v1"
    consumer_group: str = "bedflow-processors"
    # Kafka authorization (deploy/): each region's sender may write only its own input topics,
    # `<topic_beds>.<region>` and `<topic_waitlist>.<region>` (ACLs in deploy/kafka/kafka-acls.sh), and
    # the processor rejects a record whose region_code is not its topic's. Off: one shared topic each, as
    # on the embedded broker, which authorizes nothing.
    region_topics: bool = False
    # Identifies one life of the topics' offsets. A restarted embedded broker starts its logs at 0
    # again, so `bedflow up` gives every broker start a new epoch; a real cluster keeps "main".
    log_epoch: str = "main"

    # Domain choices the information model leaves open.
    leave_policy: Literal["leave_not_occupied", "leave_occupied"] = "leave_not_occupied"
    clock_skew_seconds: int = 300
    stale_after_minutes: int = 60
    small_count_threshold: int = 4
    morning_hour: int = 7
    timezone: str = "Europe/Stockholm"

    # Access. Empty admin token = generate one at start and print it.
    admin_token: str = ""
    config_file: Path | None = None
    # The audit log of the page and API (every request): empty = <data_dir>/audit.log, rotated at 50 MB
    # with ten old files; "stdout" = JSON lines on stdout for a cluster's log system; else that file.
    audit_log: str = ""
    # SHA-256 (hex) of the analysts' ClickHouse password, for `bedflow analyst-grants` (never the password).
    analyst_password_sha256: str = ""

    # Kafka security for a production cluster (empty = PLAINTEXT, as the embedded broker).
    kafka_security_protocol: Literal["", "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = ""
    kafka_sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""

    # Kafka client tuning (short joins in tests).
    session_timeout_ms: int = 10_000
    # The longest a fetch waits for data (see streams.broker.faust_app: Tansu never answers early).
    consumer_fetch_max_wait_ms: int = 100
    sink_batch_size: int = 5000
    sink_batch_seconds: float = 0.2
    # Waiting-list contacts kept in the worker's memory (the most recently touched); the rest are read
    # back from ClickHouse when an event touches them. National scale: 2.4 M contacts, 1.1 KB each.
    contacts_in_memory: int = 20_000
    # Accepted event ids remembered to recognise a resent event as a duplicate.
    recent_event_ids: int = 100_000
    # Fault injection for outage tests: "after_s:for_s" makes ClickHouse fail for for_s seconds,
    # after_s seconds into the worker's life. Empty in normal use.
    fault_clickhouse_outage: str = ""
    log_level: str = "info"
    # Where the log goes: empty = stderr; a path = that file, with only warnings on stderr (`bedflow up`
    # writes <data dir>/logs/bedflow.log, so its console shows the platform's lines, not faust's start-up).
    log_file: str = ""
    log_format: Literal["text", "json"] = "text"  # json: one object a line, for a cluster's log system

    def kafka_security(self):
        from streams.broker import KafkaSecurity

        return KafkaSecurity(self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_sasl_username,
                             self.kafka_sasl_password, self.kafka_ssl_cafile)

    def kafka_config(self) -> dict[str, str]:
        """confluent-kafka (librdkafka) settings for the cluster's security."""
        return self.kafka_security().librdkafka()

    def resolved_clickhouse_dsn(self) -> str:
        return self.clickhouse_dsn or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    def resolved_audit_log(self) -> Path | None:
        """The audit file, or None for JSON lines on stdout."""
        if self.audit_log == "stdout":
            return None
        return Path(self.audit_log) if self.audit_log else self.data_dir / "audit.log"

    def input_topics(self) -> dict[str, tuple[str, ...]]:
        """The topics the processors read, by the contract's topic (beds, waitlist): one each, or with
        `region_topics` one per region (the only kind a sender is allowed to write)."""
        from schemas import reference

        bases = {"beds": self.topic_beds, "waitlist": self.topic_waitlist}
        if not self.region_topics:
            return {k: (t,) for k, t in bases.items()}
        return {k: tuple(f"{t}.{code}" for code in sorted(reference.regions())) for k, t in bases.items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
