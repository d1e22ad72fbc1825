-- Issue 12 point 5: patients with no Swedish registration (no home municipality) are in the bed but have
-- no home region; each ward counts them apart (never as out-of-area).
ALTER TABLE ward_status ADD COLUMN IF NOT EXISTS home_unknown Int64 DEFAULT 0;
ALTER TABLE ward_current ADD COLUMN IF NOT EXISTS home_unknown Int64 DEFAULT 0;
