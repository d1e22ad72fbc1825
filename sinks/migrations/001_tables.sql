-- Accepted events, deduplicated by event_id (the idempotency key). Queries read with FINAL.
CREATE TABLE IF NOT EXISTS events (
    event_id String,
    event_type LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC'),
    sender_id String,
    region_code LowCardinality(String),
    entity_key String,
    home_region LowCardinality(String),
    treating_region LowCardinality(String),
    findings Array(String),
    payload String,
    epoch String,
    source_topic LowCardinality(String),
    source_partition UInt16,
    source_offset UInt64
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY event_id;

-- Rejected records, one per source position: a replayed batch replaces, never adds.
CREATE TABLE IF NOT EXISTS deadletters (
    at DateTime64(3, 'UTC'),
    epoch String,
    source_topic LowCardinality(String),
    source_partition UInt16,
    source_offset UInt64,
    region_code LowCardinality(String),
    sender_id String,
    event_type LowCardinality(String),
    event_id String,
    rule_ids Array(String),
    messages Array(String),
    payload String,
    payload_format LowCardinality(String)
) ENGINE = ReplacingMergeTree
ORDER BY (epoch, source_topic, source_partition, source_offset);

-- Ward status after every change (history, by event time); `version` orders processing.
CREATE TABLE IF NOT EXISTS ward_status (
    ward_id String,
    version UInt64,
    at DateTime64(3, 'UTC'),
    event_id String,
    hospital_id String,
    hospital_name String,
    ward_name String,
    region_code LowCardinality(String),
    mvo_code LowCardinality(String),
    mvo_group LowCardinality(String),
    care_type LowCardinality(String),
    ward_kind LowCardinality(String),
    source LowCardinality(String),
    staffed_beds Int32,
    admitted Int32,
    present Int32,
    on_leave Int32,
    occupied Int32,
    overcrowded Int32,
    outliers Int32,
    discharge_ready Int32,
    out_of_area_in Int32,
    last_event_at Nullable(DateTime64(3, 'UTC'))
) ENGINE = ReplacingMergeTree(version)
ORDER BY (ward_id, at, event_id);

-- The current status of every ward: one row per ward (latest version wins).
CREATE TABLE IF NOT EXISTS ward_current AS ward_status
ENGINE = ReplacingMergeTree(version)
ORDER BY ward_id;

-- Open out-of-area stays now, per home × treating region.
CREATE TABLE IF NOT EXISTS out_of_area_current (
    home_region LowCardinality(String),
    treating_region LowCardinality(String),
    patients Int32,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (home_region, treating_region);

-- Waiting-list contacts, current state (latest version wins).
CREATE TABLE IF NOT EXISTS waitlist_contacts (
    contact_key String,
    version UInt64,
    region_code LowCardinality(String),
    provider_id String,
    hospital_id String,
    mvo_code LowCardinality(String),
    mvo_group LowCardinality(String),
    phase UInt8,
    guarantee Bool,
    decided_at Nullable(DateTime64(3, 'UTC')),
    deviation Nullable(String),
    booked_for Nullable(DateTime64(3, 'UTC')),
    status LowCardinality(String),
    closed_at Nullable(DateTime64(3, 'UTC')),
    performing_region LowCardinality(String),
    home_region LowCardinality(String),
    removal_reason LowCardinality(String),
    referred_to_region LowCardinality(String)
) ENGINE = ReplacingMergeTree(version)
ORDER BY contact_key;

-- Month-end snapshots (ögonblicksbilder); re-closing a month replaces its rows.
CREATE TABLE IF NOT EXISTS waitlist_snapshots (
    month Date,
    region_code LowCardinality(String),
    mvo_group LowCardinality(String),
    phase UInt8,
    waiting UInt32,
    le_30 UInt32,
    le_60 UInt32,
    le_90 UInt32,
    le_180 UInt32,
    gt_180 UInt32,
    limit_days Nullable(UInt16),
    share_within_limit Nullable(Float64),
    share_over_180 Nullable(Float64),
    closed_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(closed_at)
ORDER BY (month, region_code, mvo_group, phase);

-- How far each source partition has been written (the sink's per-partition state): records at or
-- below `offset` are done and are skipped when a crashed batch is redelivered.
CREATE TABLE IF NOT EXISTS progress (
    epoch String,
    source_topic LowCardinality(String),
    source_partition UInt16,
    offset UInt64,
    at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(offset)
ORDER BY (epoch, source_topic, source_partition);
