-- Monthly statistics of an ended month are computed once and kept (issue 12: the national measures answer
-- in milliseconds, after a restart too): `month_results` holds each kept answer with the data version it
-- was computed from; `late_months` gets a row when the worker writes data for a month that has ended (a
-- late event), and a kept answer for that month or any later one is then computed again (sinks/results.py).
CREATE TABLE IF NOT EXISTS late_months (
    month Date,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY month;

CREATE TABLE IF NOT EXISTS month_results (
    name LowCardinality(String),
    month Date,
    key String,
    body String,
    data_version UInt64,
    computed_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (name, month, key);
