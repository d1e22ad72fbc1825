-- Deviations as periods (issue 12 point 2): a contact keeps every DeviationSet / DeviationCleared, sorted
-- by (occurred_at, event_id), as three parallel arrays (streams/rows.py ContactRow); a kind '' is a clear.
-- The deviation active at an instant t is the kind of the last event at or before t, so a past `at` and a
-- re-closed month see the deviation as it was then. Rows written before this migration have empty arrays
-- and are rebuilt once from their events at the worker's next start (sinks/recovery.contacts_without_stamps).
ALTER TABLE waitlist_contacts
    ADD COLUMN IF NOT EXISTS deviation_ats Array(DateTime64(6, 'UTC')),
    ADD COLUMN IF NOT EXISTS deviation_ids Array(String),
    ADD COLUMN IF NOT EXISTS deviation_kinds Array(LowCardinality(String));
