-- Monitoring views, and local days (Europe/London) for missing half-hour counts that expect
-- 46, 48 or 50 half-hours on clock-change days.
SET search_path TO flows, public;

CREATE TABLE local_days (
    day date PRIMARY KEY,
    start_utc timestamptz NOT NULL,
    end_utc timestamptz NOT NULL,
    half_hours integer NOT NULL
);
INSERT INTO local_days
    SELECT d::date, d::timestamp AT TIME ZONE 'Europe/London',
           (d + interval '1 day')::timestamp AT TIME ZONE 'Europe/London',
           (extract(epoch FROM ((d + interval '1 day')::timestamp AT TIME ZONE 'Europe/London')
                               - (d::timestamp AT TIME ZONE 'Europe/London')) / 1800)::integer
      FROM generate_series('2000-01-01'::timestamp, '2100-12-31'::timestamp, interval '1 day') AS d;

CREATE VIEW meters_last_seen AS
    SELECT r.id AS meter_id, r.serial, max(c.timestamp) AS last_csq_at
      FROM meter_registry r LEFT JOIN meter_csq c ON c.meter_id = r.id
     WHERE r.mode = 'active'
     GROUP BY r.id, r.serial;

CREATE VIEW meters_offline_all AS
    SELECT * FROM meters_last_seen
     WHERE last_csq_at IS NULL OR last_csq_at < now() - interval '3 hours';

CREATE VIEW meters_offline_recently AS
    SELECT * FROM meters_last_seen
     WHERE last_csq_at < now() - interval '3 hours' AND last_csq_at >= now() - interval '24 hours';

CREATE VIEW meters_low_balance AS
    SELECT r.id AS meter_id, r.serial, s.balance, s.balance_at
      FROM meter_registry r JOIN meter_shadows s ON s.id = r.id
     WHERE s.balance < 15.00;

CREATE VIEW meters_clock_drift AS
    SELECT r.id AS meter_id, r.serial, s.clock_time_diff_seconds, s.clock_time_diff_synced_at
      FROM meter_registry r JOIN meter_shadows s ON s.id = r.id
     WHERE abs(s.clock_time_diff_seconds) >= 60;

CREATE VIEW register_interval_hh_missing AS
    WITH spans AS (SELECT register_id, min(timestamp) AS first_at, max(timestamp) AS last_at
                     FROM register_interval_hh GROUP BY register_id)
    SELECT s.register_id, d.day, d.half_hours AS expected,
           (SELECT count(*) FROM register_interval_hh i
             WHERE i.register_id = s.register_id
               AND i.timestamp >= d.start_utc AND i.timestamp < d.end_utc) AS present,
           d.half_hours - (SELECT count(*) FROM register_interval_hh i
                            WHERE i.register_id = s.register_id
                              AND i.timestamp >= d.start_utc AND i.timestamp < d.end_utc) AS missing
      FROM spans s JOIN local_days d ON d.end_utc > s.first_at AND d.start_utc <= s.last_at;
