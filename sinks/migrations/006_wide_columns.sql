-- Counts in 64 bits. Inputs are 32-bit Avro ints bounded by the rules (MNG-011), but derived values are
-- sums (a census ward's admitted = present + on leave): one census near 2^31 overflowed an Int32
-- column and stopped every region while the sink retried it. With Int64 no sum of accepted values
-- can overflow; the sink isolates any other row the store refuses (SNK-001).
ALTER TABLE ward_status MODIFY COLUMN staffed_beds Int64, MODIFY COLUMN admitted Int64, MODIFY COLUMN present Int64,
    MODIFY COLUMN on_leave Int64, MODIFY COLUMN occupied Int64, MODIFY COLUMN overcrowded Int64,
    MODIFY COLUMN outliers Int64, MODIFY COLUMN discharge_ready Int64, MODIFY COLUMN out_of_area_in Int64;
ALTER TABLE ward_current MODIFY COLUMN staffed_beds Int64, MODIFY COLUMN admitted Int64, MODIFY COLUMN present Int64,
    MODIFY COLUMN on_leave Int64, MODIFY COLUMN occupied Int64, MODIFY COLUMN overcrowded Int64,
    MODIFY COLUMN outliers Int64, MODIFY COLUMN discharge_ready Int64, MODIFY COLUMN out_of_area_in Int64;
ALTER TABLE out_of_area_current MODIFY COLUMN patients Int64;
-- A view keeps the column types it was created with (it would wrap a wide count to Int32 silently).
CREATE OR REPLACE VIEW v_ward_status AS
SELECT * EXCEPT (version) FROM ward_current FINAL;

CREATE OR REPLACE VIEW v_out_of_area_now AS
SELECT home_region, treating_region, patients FROM out_of_area_current FINAL WHERE patients > 0;
