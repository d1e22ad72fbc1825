"""Rows the store refused on their own (sinks/writer.py finds them by halving a batch): which accepted
records they come from, and the dead letters (SNK-001) those records become. Plain functions; the worker
(bedflow/worker.py) writes the dead letters, takes the records' written rows back and rebuilds its state."""
from __future__ import annotations

import datetime as dt

from schemas.rules import store_rejection
from streams.rows import DeadLetterRow, EventRow, Refused


def blame(events: list[EventRow], refused: list[Refused]) -> tuple[list[tuple[EventRow, str]], list[Refused]]:
    """Which accepted records of a batch the refused rows come from: a row with an event id is that
    event's; a ward's, contact's, sender's or region pair's current row is the batch's events of that
    ward (a transfer's from-ward too), contact, sender (at that instant) or pair. Returns the blamed
    events in batch order, each with the store's reason, and the rows that no event explains."""
    why: dict[str, str] = {}
    unexplained = []
    for r in refused:
        row = r.row
        fields = getattr(row, "_fields", ())
        if r.table in ("deadletters", "progress"):
            hits = []
        elif "event_id" in fields and row.event_id:
            hits = [e for e in events if e.event_id == row.event_id]
        elif "ward_id" in fields:
            quoted = f'"{row.ward_id}"'
            hits = [e for e in events if e.entity_key == row.ward_id or
                    (e.event_type == "PatientTransferred" and quoted in e.payload)]
        elif "contact_key" in fields:
            hits = [e for e in events if e.entity_key == row.contact_key]
        elif r.table == "sender_last_seen":
            hits = [e for e in events if e.sender_id == row.sender_id and e.occurred_at == row.last_event_at]
        elif r.table == "out_of_area_current":
            hits = [e for e in events if (e.home_region, e.treating_region) == (row.home_region, row.treating_region)]
        else:
            hits = []
        if not hits:
            unexplained.append(r)
        for e in hits:
            why.setdefault(e.event_id, f"{r.table}: {r.reason}")
    return [(e, why[e.event_id]) for e in events if e.event_id in why], unexplained


def dead_letter_row(e: EventRow, why: str, now: dt.datetime) -> DeadLetterRow:
    v = store_rejection(why)
    return DeadLetterRow(now, e.epoch, e.source_topic, e.source_partition, e.source_offset, e.region_code, e.sender_id,
                         e.event_type, e.event_id, [v.rule_id], [v.message], e.payload, "json")


def dead_letter_message(d: DeadLetterRow) -> dict:
    """The dead-letter topic's message, in the processor's form."""
    return {"at": d.at.isoformat(), "source_topic": d.source_topic, "source_partition": d.source_partition,
            "source_offset": d.source_offset, "region_code": d.region_code, "sender_id": d.sender_id,
            "event_type": d.event_type, "event_id": d.event_id, "rule_ids": d.rule_ids, "messages": d.messages,
            "payload": d.payload, "payload_format": d.payload_format}
