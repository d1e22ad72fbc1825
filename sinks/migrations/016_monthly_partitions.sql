-- Monthly partitions (issue 13) for the tables that grow with time: the accepted events, the ward status
-- history and the out-of-area admissions. ClickHouse cannot add a partition key to a table, so each is
-- copied into a partitioned twin that then takes its name (EXCHANGE TABLES is atomic; views bind by name,
-- so v_* and v_analyst_* read the new table). `CREATE TABLE … AS` keeps the columns (with those added by
-- later migrations and their defaults); the engine and sorting key are the ones the table has.
--
-- The partition column is the row's own time, equal in every copy of a row (ReplacingMergeTree replaces
-- only within a partition): `occurred_at` of the event (a redelivered event carries the same one), `at` of
-- a status row (its event's time, part of the sorting key), `occurred_at` of an admission (sorting key).
-- Not partitioned: `deadletters` (its only time, `at`, is when the record was rejected, which differs
-- between the copies of a redelivered batch), the `*_current` tables, `waitlist_contacts` (one row per
-- contact, replaced across months) and the small tables.
--
-- Run with no writers (deploy/OPERATIONS.md, "Monthly partitions"): rows written to the old table after
-- its copy started would go with it. Each block starts by dropping a twin left by an interrupted run, so
-- the migration can simply run again. `SYSTEM SYNC REPLICA` runs only on a Replicated database (the
-- runner, sinks/clickhouse.py): it waits until this replica holds every part written on the others before
-- copying. max_partitions_per_insert_block = 0: one INSERT may fill any number of months.

DROP TABLE IF EXISTS events_by_month;

CREATE TABLE events_by_month AS events
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id;

SYSTEM SYNC REPLICA events;

INSERT INTO events_by_month SELECT * FROM events SETTINGS max_partitions_per_insert_block = 0;

EXCHANGE TABLES events AND events_by_month;

DROP TABLE events_by_month;

DROP TABLE IF EXISTS ward_status_by_month;

CREATE TABLE ward_status_by_month AS ward_status
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(at)
ORDER BY (ward_id, at, event_id);

SYSTEM SYNC REPLICA ward_status;

INSERT INTO ward_status_by_month SELECT * FROM ward_status SETTINGS max_partitions_per_insert_block = 0;

EXCHANGE TABLES ward_status AND ward_status_by_month;

DROP TABLE ward_status_by_month;

DROP TABLE IF EXISTS out_of_area_admissions_by_month;

CREATE TABLE out_of_area_admissions_by_month AS out_of_area_admissions
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, event_id);

SYSTEM SYNC REPLICA out_of_area_admissions;

INSERT INTO out_of_area_admissions_by_month SELECT * FROM out_of_area_admissions
SETTINGS max_partitions_per_insert_block = 0;

EXCHANGE TABLES out_of_area_admissions AND out_of_area_admissions_by_month;

DROP TABLE out_of_area_admissions_by_month;
