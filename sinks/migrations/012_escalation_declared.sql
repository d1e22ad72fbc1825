-- Escalation levels declared by a region (issue 14): kept beside the computed level, never replacing the
-- history of either. One row per declaration; `declared_by` is the declarer's role (region:XX | admin),
-- never a token. A declaration is in force from declared_at until `until` (NULL: until the region's next
-- declaration). Written by POST /api/v1/escalation/declare (web/api.py), read by sinks/outlook.py.
CREATE TABLE IF NOT EXISTS escalation_declared (
    declaration_id String,
    region_code LowCardinality(String),
    level UInt8,
    reason String,
    declared_by LowCardinality(String),
    declared_at DateTime64(3, 'UTC'),
    until Nullable(DateTime64(3, 'UTC'))
) ENGINE = ReplacingMergeTree
ORDER BY (region_code, declared_at, declaration_id);
