-- Views for analysts who read ClickHouse directly, under the API's access policy (web/suppression.py):
-- region level and above in full, nothing below region level with a count of 1..4, no hospital or ward
-- rows (capacity detail is a grant, given through the API). The analysts' read-only role is granted these
-- views only, never the tables (sinks/migrations/analyst_grants.sql, applied by deploy/): SQL SECURITY
-- DEFINER lets a view read the tables with its creator's rights, so the role needs no grant on them.
-- A cell suppressed here is hidden at least as widely as by the API, so the two together tell no more.

CREATE VIEW IF NOT EXISTS v_analyst_region_status SQL SECURITY DEFINER AS
SELECT *, round(100 * occupied / nullIf(staffed_beds, 0), 1) AS occupancy_pct,
       greatest(0, toInt64(staffed_beds) - toInt64(occupied)) AS free_beds
FROM (
    SELECT region_code,
           sum(w.staffed_beds) AS staffed_beds, sum(w.occupied) AS occupied, sum(w.present) AS present,
           sum(w.on_leave) AS on_leave, sum(w.overcrowded) AS overcrowded, sum(w.outliers) AS outliers,
           sum(w.discharge_ready) AS discharge_ready, sum(w.out_of_area_in) AS out_of_area_in,
           max(w.last_event_at) AS last_event_at, count() AS wards
    FROM ward_current AS w FINAL
    WHERE w.ward_kind != 'icu'
    GROUP BY region_code
);

-- Out of area per region (the margins of the region x region matrix, which the API shows suppressed).
CREATE VIEW IF NOT EXISTS v_analyst_out_of_area_region SQL SECURITY DEFINER AS
SELECT region_code, sum(out_n) AS patients_treated_elsewhere, sum(in_n) AS patients_from_elsewhere
FROM (
    SELECT home_region AS region_code, patients AS out_n, 0 AS in_n FROM out_of_area_current FINAL
    WHERE patients > 0 AND home_region != treating_region
    UNION ALL
    SELECT treating_region AS region_code, 0 AS out_n, patients AS in_n FROM out_of_area_current FINAL
    WHERE patients > 0 AND home_region != treating_region
)
GROUP BY region_code;

-- Month-end waiting lists per region x MVO group x phase: a total of 1..4 is hidden, and when any count of
-- a row is 1..4 its whole breakdown goes (buckets and shares: the buckets add up to the total).
CREATE VIEW IF NOT EXISTS v_analyst_waitlist_snapshots SQL SECURITY DEFINER AS
SELECT month, region_code, mvo_group, phase, limit_days,
       if(waiting BETWEEN 1 AND 4, NULL, waiting) AS waiting,
       if(any_small, NULL, le_30) AS le_30, if(any_small, NULL, le_60) AS le_60,
       if(any_small, NULL, le_90) AS le_90, if(any_small, NULL, le_180) AS le_180,
       if(any_small, NULL, gt_180) AS gt_180,
       if(any_small, NULL, share_within_limit) AS share_within_limit,
       if(any_small, NULL, share_over_180) AS share_over_180,
       closed_at
FROM (
    SELECT *, arrayExists(x -> x BETWEEN 1 AND 4, [waiting, le_30, le_60, le_90, le_180, gt_180]) AS any_small
    FROM waitlist_snapshots FINAL
);

-- Accepted and rejected events per sender: no patient counts.
CREATE VIEW IF NOT EXISTS v_analyst_data_quality SQL SECURITY DEFINER AS
SELECT region_code, sender_id, accepted, rejected, last_event_at, rejected_share FROM v_data_quality;
