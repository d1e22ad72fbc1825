-- The analysts' read-only access to ClickHouse: a role with SELECT on the suppressed v_analyst_* views
-- (migration 007) and nothing else, never a table, and a read-only user holding it.
-- Not a migration (no version number: `migrate()` leaves it alone), since the embedded engine (chDB) has
-- no users. deploy/ applies it on a real server as an admin user, after `bedflow worker` has migrated
-- the database, in the platform's database:
--   envsubst < sinks/migrations/analyst_grants.sql | clickhouse-client --database bedflow --multiquery
-- BEDFLOW_ANALYST_PASSWORD_SHA256 (hex SHA-256 of the password) comes from a Secret, never from this file.
-- The views read the tables with their creator's rights (SQL SECURITY DEFINER), so this role needs none.

CREATE SETTINGS PROFILE IF NOT EXISTS bedflow_readonly SETTINGS readonly = 1;

CREATE ROLE IF NOT EXISTS bedflow_analyst;

REVOKE ALL ON *.* FROM bedflow_analyst;

GRANT SELECT ON v_analyst_region_status TO bedflow_analyst;

GRANT SELECT ON v_analyst_out_of_area_region TO bedflow_analyst;

GRANT SELECT ON v_analyst_waitlist_snapshots TO bedflow_analyst;

GRANT SELECT ON v_analyst_data_quality TO bedflow_analyst;

CREATE USER IF NOT EXISTS bedflow_analyst_reader IDENTIFIED WITH sha256_hash BY '${BEDFLOW_ANALYST_PASSWORD_SHA256}' SETTINGS PROFILE 'bedflow_readonly' DEFAULT ROLE bedflow_analyst;

GRANT bedflow_analyst TO bedflow_analyst_reader;
