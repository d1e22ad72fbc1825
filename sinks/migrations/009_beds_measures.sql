-- Issue 12, points 7 and 9. Out-of-area movements in the 24 h / 7 d / 30 d windows: admissions and the
-- inter-regional transfers (streams.domain.beds.BedState.movement), with planned / acute where the sender
-- says; rows written before this migration are admissions of unknown kind.
ALTER TABLE out_of_area_admissions ADD COLUMN IF NOT EXISTS movement LowCardinality(String) DEFAULT 'admission';
ALTER TABLE out_of_area_admissions ADD COLUMN IF NOT EXISTS admission_kind LowCardinality(String) DEFAULT '';

-- The analysts' region status as the API's region level now reads: free beds summed over the wards
-- (each ward's max(0, staffed − occupied)) beside the overcrowding, never netted; out-of-area "in" and "out"
-- from the matrix of open stays (they balance nationally), census-only wards' count apart.
CREATE OR REPLACE VIEW v_analyst_region_status SQL SECURITY DEFINER AS
SELECT s.*, round(100 * s.occupied / nullIf(s.staffed_beds, 0), 1) AS occupancy_pct,
       toInt64(ifNull(m.in_n, 0)) AS out_of_area_in, toInt64(ifNull(m.out_n, 0)) AS out_of_area_out
FROM (
    SELECT region_code,
           sum(w.staffed_beds) AS staffed_beds, sum(w.occupied) AS occupied, sum(w.present) AS present,
           sum(w.on_leave) AS on_leave,
           sum(greatest(0, toInt64(w.staffed_beds) - toInt64(w.occupied))) AS free_beds,
           sum(w.overcrowded) AS overcrowded, sum(w.outliers) AS outliers,
           sum(w.discharge_ready) AS discharge_ready,
           sumIf(w.out_of_area_in, w.source = 'census') AS out_of_area_in_census,
           max(w.last_event_at) AS last_event_at, count() AS wards
    FROM ward_current AS w FINAL
    WHERE w.ward_kind != 'icu'
    GROUP BY region_code
) AS s
LEFT JOIN (
    SELECT region_code, sum(out_n) AS out_n, sum(in_n) AS in_n FROM (
        SELECT home_region AS region_code, patients AS out_n, 0 AS in_n FROM out_of_area_current FINAL
        WHERE patients > 0 AND home_region != treating_region
        UNION ALL
        SELECT treating_region AS region_code, 0 AS out_n, patients AS in_n FROM out_of_area_current FINAL
        WHERE patients > 0 AND home_region != treating_region
    ) GROUP BY region_code
) AS m ON m.region_code = s.region_code;
