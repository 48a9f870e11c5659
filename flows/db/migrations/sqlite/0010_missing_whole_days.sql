-- Missing half hours: whole local days inside a register's data only (see the PostgreSQL
-- migration of the same number).
DROP VIEW register_interval_hh_missing;
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
      FROM spans s JOIN local_days d
        ON d.start_utc >= s.first_at
       AND d.end_utc <= strftime('%Y-%m-%dT%H:%M:%fZ', s.last_at, '+30 minutes');
