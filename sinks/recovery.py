"""The reads that rebuild the worker after a start or a crash: how far each partition is written,
the accepted bed events to replay, and waiting-list contacts by key (the contact store)."""
from __future__ import annotations

from typing import Iterable, Iterator

from sinks.clickhouse import ClickHouse
from streams.rows import ContactRow


def progress(db: ClickHouse, epoch: str) -> dict[tuple[str, int], int]:
    _, rows = db.query("SELECT source_topic, source_partition, max(offset) FROM progress FINAL "
                       "WHERE epoch = {e:String} GROUP BY source_topic, source_partition", {"e": epoch})
    return {(t, int(p)): int(o) for t, p, o in rows}


def _chunks(db: ClickHouse, count_sql: str, parameters: dict, per_chunk: int) -> int:
    """How many chunks (by a hash of the key) keep each read to about `per_chunk` rows."""
    _, total = db.query(count_sql, parameters)
    return max(1, int(total[0][0]) // per_chunk + 1)


def _wholly_written(epoch: str, written: dict[tuple[str, int], int], ep: str, topic: str, part, offset) -> bool:
    """An older epoch's event, or this epoch's at or below its partition's written offset."""
    return ep != epoch or offset <= written.get((topic, int(part)), -1)


def accepted_payloads(db: ClickHouse, epoch: str, written: dict[tuple[str, int], int], *,
                      event_types: Iterable[str], chunk_rows: int = 200_000) -> Iterator[str]:
    """Accepted events of `event_types` to rebuild from, in chunks (by a hash of event_id) so memory stays
    bounded: every older epoch's event, and this epoch's up to its partition's written offset."""
    types = list(event_types)
    chunks = _chunks(db, "SELECT count() FROM events WHERE event_type IN {t:Array(String)}", {"t": types}, chunk_rows)
    for i in range(chunks):
        _, rows = db.query(
            "SELECT payload, epoch, source_topic, source_partition, source_offset FROM events FINAL "
            "WHERE event_type IN {t:Array(String)} AND cityHash64(event_id) % {k:UInt32} = {i:UInt32} "
            # every copy of an event lies in one month's partition (the partition is its occurred_at):
            # FINAL need not merge the parts of all months at once (restore peak at national scale)
            "SETTINGS do_not_merge_across_partitions_select_final = 1",
            {"t": types, "k": chunks, "i": i})
        for payload, ep, topic, part, offset in rows:
            if _wholly_written(epoch, written, ep, topic, part, offset):
                yield payload


def contacts(db: ClickHouse, keys: list[str]) -> list[ContactRow]:
    """The stored state of these contacts (those the store has)."""
    if not keys:
        return []
    cols = ", ".join(ContactRow._fields)
    _, rows = db.query(f"SELECT {cols} FROM waitlist_contacts FINAL WHERE contact_key IN {{k:Array(String)}}",
                       {"k": keys})
    return [ContactRow(*r) for r in rows]


def contact_keys(db: ClickHouse, chunk_keys: int = 500_000) -> Iterator[list[str]]:
    """Every stored contact key, in chunks (by a hash of the key) so memory stays bounded."""
    chunks = _chunks(db, "SELECT count() FROM waitlist_contacts", {}, chunk_keys)
    for i in range(chunks):
        _, rows = db.query("SELECT DISTINCT contact_key FROM waitlist_contacts "
                           "WHERE cityHash64(contact_key) % {k:UInt32} = {i:UInt32}", {"k": chunks, "i": i})
        yield [r[0] for r in rows]


def contacts_without_stamps(db: ClickHouse) -> int:
    """Contacts written before the store kept stamps (migration 005), their deviation history (010: a
    deviation stamp and no events) or their patient fields (015: birth year and sex): they need one rebuild
    from their accepted events."""
    _, rows = db.query("SELECT count() FROM waitlist_contacts FINAL WHERE (decided_stamp_id = '' "
                       "AND deviation_stamp_id = '' AND booked_stamp_id = '' AND closed_stamp_id = '') "
                       "OR (deviation_stamp_id != '' AND empty(deviation_ids)) OR NOT patient_fields_stored")
    return int(rows[0][0])


def payloads_by_contact(db: ClickHouse, event_types: Iterable[str], chunk_contacts: int = 100_000
                        ) -> Iterator[list[str]]:
    """Accepted waiting-list events grouped in chunks of whole contacts (by a hash of the contact key),
    so a rebuild holds one chunk's contacts at a time."""
    chunks = _chunks(db, "SELECT uniqExact(contact_key) FROM waitlist_contacts", {}, chunk_contacts)
    for i in range(chunks):
        _, rows = db.query(
            "SELECT payload FROM events FINAL WHERE event_type IN {t:Array(String)} "
            "AND cityHash64(entity_key) % {k:UInt32} = {i:UInt32}",
            {"t": list(event_types), "k": chunks, "i": i})
        yield [r[0] for r in rows]


def recent_event_ids(db: ClickHouse, epoch: str, written: dict[tuple[str, int], int], *,
                     event_types: Iterable[str], limit: int) -> list[str]:
    """The ids of the most recently accepted events of `event_types` that are wholly written (this epoch's
    up to its partition's written offset, or an older epoch's), so a resent one is known as a duplicate."""
    _, rows = db.query(
        "SELECT event_id, epoch, source_topic, source_partition, source_offset FROM events "
        "WHERE event_type IN {t:Array(String)} ORDER BY ingested_at DESC LIMIT {n:UInt32}",
        {"t": list(event_types), "n": limit})
    return [eid for eid, ep, topic, part, offset in reversed(rows)
            if _wholly_written(epoch, written, ep, topic, part, offset)]
