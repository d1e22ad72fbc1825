-- A contact's whole state lives here, stamps included, so the worker keeps only recently touched
-- contacts in memory and reads the others back (streams/rows.py ContactRow). Stamps are
-- (occurred_at, event_id) of the last writer of each register; an empty id is "never written".
-- Rows written before this migration get their stamps from a one-off rebuild at the next start.
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS activity_code String DEFAULT '';
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS medical_target_date Nullable(Date);
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS performing_provider String DEFAULT '';
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS decided_stamp_at DateTime64(6, 'UTC') DEFAULT 0;
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS decided_stamp_id String DEFAULT '';
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS deviation_stamp_at DateTime64(6, 'UTC') DEFAULT 0;
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS deviation_stamp_id String DEFAULT '';
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS booked_stamp_at DateTime64(6, 'UTC') DEFAULT 0;
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS booked_stamp_id String DEFAULT '';
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS closed_stamp_at DateTime64(6, 'UTC') DEFAULT 0;
ALTER TABLE waitlist_contacts ADD COLUMN IF NOT EXISTS closed_stamp_id String DEFAULT '';
