-- The views at the speed of the data (see the PostgreSQL migration of the same number):
-- register_interval_hh, the views' output, loses its foreign key (checked on every row of a
-- bulk write); views_spans goes (the views compare the days a change touches with
-- register_interval_hh). SQLite cannot drop a constraint: the table is rebuilt, views first.
-- The change log numbers changes by rowid, without AUTOINCREMENT (which updated
-- sqlite_sequence for every logged change, a third of a bulk write's time): it is never
-- pruned, so numbers still only grow. Its triggers keep naming it (legacy rename: the
-- triggers are not re-checked while the table is briefly missing).
-- The views' store has a new shape: `flows views rebuild` builds it again from the tables.
DROP VIEW register_interval_hh_missing;
DROP VIEW register_zero_runs;
CREATE TABLE register_interval_hh_new (
    register_id TEXT NOT NULL,
    direction TEXT NOT NULL DEFAULT 'import' CHECK (direction IN ('import', 'export')),
    timestamp TEXT NOT NULL,
    kwh TEXT NOT NULL,
    wh INTEGER,
    flags TEXT NOT NULL DEFAULT '',
    derived INTEGER NOT NULL DEFAULT 0,
    UNIQUE (register_id, direction, timestamp)
);
INSERT INTO register_interval_hh_new (register_id, direction, timestamp, kwh, wh, flags, derived)
    SELECT register_id, direction, timestamp, kwh, wh, flags, derived FROM register_interval_hh;
DROP TABLE register_interval_hh;
ALTER TABLE register_interval_hh_new RENAME TO register_interval_hh;
DROP TABLE views_spans;

CREATE VIEW register_interval_hh_missing AS
    WITH spans AS (SELECT register_id, min(timestamp) AS first_at, max(timestamp) AS last_at
                     FROM register_interval_hh WHERE direction = 'import' GROUP BY register_id)
    SELECT s.register_id, d.day, d.half_hours AS expected,
           (SELECT count(*) FROM register_interval_hh i
             WHERE i.register_id = s.register_id AND i.direction = 'import'
               AND i.timestamp >= d.start_utc AND i.timestamp < d.end_utc) AS present,
           d.half_hours - (SELECT count(*) FROM register_interval_hh i
                            WHERE i.register_id = s.register_id AND i.direction = 'import'
                              AND i.timestamp >= d.start_utc AND i.timestamp < d.end_utc) AS missing
      FROM spans s JOIN local_days d
        ON d.start_utc >= s.first_at
       AND d.end_utc <= strftime('%Y-%m-%dT%H:%M:%fZ', s.last_at, '+30 minutes');
CREATE VIEW register_zero_runs AS
    WITH zeros AS (  -- consecutive half hours share (half-hour number - row number)
        SELECT register_id, timestamp,
               CAST(strftime('%s', timestamp) AS INTEGER) / 1800
             - row_number() OVER (PARTITION BY register_id ORDER BY timestamp) AS island
          FROM register_interval_hh WHERE wh = 0 AND direction = 'import')
    SELECT register_id, min(timestamp) AS first_at, max(timestamp) AS last_at,
           count(*) AS half_hours
      FROM zeros GROUP BY register_id, island HAVING count(*) >= 48;

PRAGMA legacy_alter_table = ON;
CREATE TABLE register_value_changes_new (
    seq INTEGER PRIMARY KEY,
    register_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    old_wh INTEGER,
    new_wh INTEGER,
    source TEXT NOT NULL DEFAULT 'profile'
);
INSERT INTO register_value_changes_new (seq, register_id, timestamp, old_wh, new_wh, source)
    SELECT seq, register_id, timestamp, old_wh, new_wh, source FROM register_value_changes;
DROP TABLE register_value_changes;
ALTER TABLE register_value_changes_new RENAME TO register_value_changes;
PRAGMA legacy_alter_table = OFF;
