-- Which sender reports each ward: a ward is fresh while its sender is (a quiet ward of a live sender
-- has simply had no admissions; a silent sender means its wards have not reported).
ALTER TABLE ward_status ADD COLUMN IF NOT EXISTS sender_id String DEFAULT '';
ALTER TABLE ward_current ADD COLUMN IF NOT EXISTS sender_id String DEFAULT '';
