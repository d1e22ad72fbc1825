-- Month-end snapshots store the counts behind each share (issue 12): the shares' numerators and their one
-- denominator, and the follow-ups' target-date counts, so that a snapshot rolls up to healthcare region and
-- nation by adding counts. NULL in a month closed before this migration: not stored (re-close it).
ALTER TABLE waitlist_snapshots
    ADD COLUMN IF NOT EXISTS with_deviation Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS measured Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS within_limit Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS over_180 Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS target_measured Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS past_target Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS share_past_target Nullable(Float64);

-- The analyst view with the new counts, hidden at least where the API hides them (web/suppression.py):
-- a count 1..4 hides itself, and the shares go with any hidden count.
CREATE OR REPLACE VIEW v_analyst_waitlist_snapshots SQL SECURITY DEFINER AS
SELECT month, region_code, mvo_group, phase, limit_days,
       if(waiting BETWEEN 1 AND 4, NULL, waiting) AS waiting,
       if(any_small, NULL, le_30) AS le_30, if(any_small, NULL, le_60) AS le_60,
       if(any_small, NULL, le_90) AS le_90, if(any_small, NULL, le_180) AS le_180,
       if(any_small, NULL, gt_180) AS gt_180,
       if(any_small OR dev_small, NULL, with_deviation) AS with_deviation,
       if(any_small OR measure_small, NULL, measured) AS measured,
       if(any_small OR measure_small, NULL, within_limit) AS within_limit,
       if(any_small OR measure_small, NULL, over_180) AS over_180,
       if(any_small OR target_small, NULL, target_measured) AS target_measured,
       if(any_small OR target_small, NULL, past_target) AS past_target,
       if(any_small OR dev_small OR measure_small OR target_small, NULL, share_within_limit) AS share_within_limit,
       if(any_small OR dev_small OR measure_small OR target_small, NULL, share_over_180) AS share_over_180,
       if(any_small OR dev_small OR measure_small OR target_small, NULL, share_past_target) AS share_past_target,
       closed_at
FROM (
    SELECT *, arrayExists(x -> x BETWEEN 1 AND 4, [waiting, le_30, le_60, le_90, le_180, gt_180]) AS any_small,
           ifNull(with_deviation BETWEEN 1 AND 4, 0) AS dev_small,
           arrayExists(x -> ifNull(x BETWEEN 1 AND 4, 0), [measured, within_limit, over_180]) AS measure_small,
           arrayExists(x -> ifNull(x BETWEEN 1 AND 4, 0), [target_measured, past_target]) AS target_small
    FROM waitlist_snapshots FINAL
);
