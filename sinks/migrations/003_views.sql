-- Views for analysts and dashboards that read ClickHouse directly (the API computes the same from the
-- tables). They read the ReplacingMergeTree tables with FINAL, so duplicates never show.
CREATE VIEW IF NOT EXISTS v_ward_status AS
SELECT * EXCEPT (version) FROM ward_current FINAL;

CREATE VIEW IF NOT EXISTS v_region_status AS
SELECT *, round(100 * occupied / nullIf(staffed_beds, 0), 1) AS occupancy_pct
FROM (
    SELECT region_code,
           sum(w.staffed_beds) AS staffed_beds, sum(w.occupied) AS occupied, sum(w.present) AS present,
           sum(w.on_leave) AS on_leave, sum(w.overcrowded) AS overcrowded, sum(w.outliers) AS outliers,
           sum(w.discharge_ready) AS discharge_ready, sum(w.out_of_area_in) AS out_of_area_in,
           max(w.last_event_at) AS last_event_at, count() AS wards
    FROM ward_current AS w FINAL
    WHERE w.ward_kind != 'icu'  -- ICU beds are reported but kept out of general capacity totals
    GROUP BY region_code
);

CREATE VIEW IF NOT EXISTS v_out_of_area_now AS
SELECT home_region, treating_region, patients FROM out_of_area_current FINAL WHERE patients > 0;

CREATE VIEW IF NOT EXISTS v_waitlist_open AS
SELECT * EXCEPT (version) FROM waitlist_contacts FINAL
WHERE status = 'open' AND phase BETWEEN 1 AND 4;

CREATE VIEW IF NOT EXISTS v_data_quality AS
SELECT *, round(rejected / (accepted + rejected), 4) AS rejected_share
FROM (
    SELECT region_code, sender_id, sum(a) AS accepted, sum(r) AS rejected, max(last_at) AS last_event_at
    FROM (
        SELECT region_code, sender_id, count() AS a, 0 AS r, max(occurred_at) AS last_at
        FROM events FINAL GROUP BY region_code, sender_id
        UNION ALL
        SELECT region_code, sender_id, 0 AS a, count() AS r, max(at) AS last_at
        FROM deadletters FINAL GROUP BY region_code, sender_id
    )
    GROUP BY region_code, sender_id
);

CREATE VIEW IF NOT EXISTS v_rejections_by_rule AS
SELECT region_code, arrayJoin(rule_ids) AS rule_id, count() AS rejected
FROM deadletters FINAL GROUP BY region_code, rule_id;
