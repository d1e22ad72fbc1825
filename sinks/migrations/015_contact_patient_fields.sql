-- Breakdowns by sex and age band (issue 12): a contact keeps the patient fields of its ContactDecided
-- (streams/rows.py ContactRow); NULL is "not reported" (both are optional in the contract). Rows written
-- before this migration read patient_fields_stored = false and are rebuilt once from their accepted events
-- at the worker's next start (sinks/recovery.contacts_without_stamps), so they are not "not reported".
ALTER TABLE waitlist_contacts
    ADD COLUMN IF NOT EXISTS birth_year Nullable(UInt16),
    ADD COLUMN IF NOT EXISTS sex Nullable(UInt8),
    ADD COLUMN IF NOT EXISTS patient_fields_stored Bool DEFAULT false;
