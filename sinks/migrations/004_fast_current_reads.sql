-- Small tables for what the live status reads on every refresh, so it never scans a year of events:
-- each sender's newest event (freshness), and out-of-area admissions by time (the 24 h / 7 d / 30 d matrix).
CREATE TABLE IF NOT EXISTS sender_last_seen (
    sender_id String,
    region_code LowCardinality(String),
    last_event_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(last_event_at)
ORDER BY sender_id;

CREATE TABLE IF NOT EXISTS out_of_area_admissions (
    occurred_at DateTime64(3, 'UTC'),
    event_id String,
    home_region LowCardinality(String),
    treating_region LowCardinality(String)
) ENGINE = ReplacingMergeTree
ORDER BY (occurred_at, event_id);

INSERT INTO sender_last_seen
SELECT sender_id, any(region_code), max(occurred_at) FROM events GROUP BY sender_id;

INSERT INTO out_of_area_admissions
SELECT occurred_at, event_id, home_region, treating_region FROM events FINAL
WHERE event_type = 'PatientAdmitted' AND home_region != '' AND treating_region != ''
  AND home_region != treating_region;
