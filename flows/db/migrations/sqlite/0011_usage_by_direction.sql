-- Usage you can bill on (see the PostgreSQL migration of the same number): intervals carry
-- their direction (import from the profile log and register reads, export from export reads),
-- export reads and registry changes (registers, customer links) reach the views through the
-- change log, and the views write their daily aggregates into two tables.
-- SQLite cannot change a UNIQUE constraint: register_interval_hh is rebuilt (its views first).
DROP VIEW register_interval_hh_missing;
DROP VIEW register_zero_runs;
CREATE TABLE register_interval_hh_new (
    register_id TEXT NOT NULL REFERENCES meter_registers(register_id),
    direction TEXT NOT NULL DEFAULT 'import' CHECK (direction IN ('import', 'export')),
    timestamp TEXT NOT NULL,
    kwh TEXT NOT NULL,
    wh INTEGER,
    flags TEXT NOT NULL DEFAULT '',
    derived INTEGER NOT NULL DEFAULT 0,
    UNIQUE (register_id, direction, timestamp)
);
INSERT INTO register_interval_hh_new (register_id, direction, timestamp, kwh, wh, flags, derived)
    SELECT register_id, 'import', timestamp, kwh, wh, flags, derived FROM register_interval_hh;
DROP TABLE register_interval_hh;
ALTER TABLE register_interval_hh_new RENAME TO register_interval_hh;

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

-- Export reads feed the views like import reads (source 'export', Wh).
INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    SELECT 'export', register_id, timestamp, NULL, CAST(round(read * 1000) AS INTEGER)
      FROM register_export ORDER BY timestamp;
CREATE TRIGGER register_export_feed_insert AFTER INSERT ON register_export
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('export', NEW.register_id, NEW.timestamp, NULL, CAST(round(NEW.read * 1000) AS INTEGER));
END;
CREATE TRIGGER register_export_feed_delete AFTER DELETE ON register_export
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('export', OLD.register_id, OLD.timestamp, CAST(round(OLD.read * 1000) AS INTEGER), NULL);
END;
CREATE TRIGGER register_export_feed_update AFTER UPDATE ON register_export
WHEN NEW.read IS NOT OLD.read OR NEW.timestamp IS NOT OLD.timestamp
     OR NEW.register_id IS NOT OLD.register_id
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('export', OLD.register_id, OLD.timestamp, CAST(round(OLD.read * 1000) AS INTEGER), NULL);
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('export', NEW.register_id, NEW.timestamp, NULL, CAST(round(NEW.read * 1000) AS INTEGER));
END;

-- A change to a meter's registers or customer links: source 'meter', register_id holds the
-- meter's id (the views re-read that meter's registers and links).
INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    SELECT 'meter', meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL
      FROM (SELECT meter_id FROM meter_registers UNION SELECT meter_id FROM customer_meters);
CREATE TRIGGER meter_registers_feed_insert AFTER INSERT ON meter_registers
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', NEW.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER meter_registers_feed_delete AFTER DELETE ON meter_registers
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', OLD.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER meter_registers_feed_update AFTER UPDATE ON meter_registers
WHEN NEW.meter_id IS NOT OLD.meter_id OR NEW.register_id IS NOT OLD.register_id
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', OLD.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', NEW.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER customer_meters_feed_insert AFTER INSERT ON customer_meters
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', NEW.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER customer_meters_feed_delete AFTER DELETE ON customer_meters
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', OLD.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER customer_meters_feed_update AFTER UPDATE ON customer_meters
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', OLD.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', NEW.meter_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
END;

-- Daily aggregates of the half hours, maintained by the views: energy (Wh) of the usable half
-- hours and, counted in register half hours, how many were actual, estimated (derived) and
-- invalid (reversal, sentinel, spike: their Wh apart in invalid_wh).
CREATE TABLE usage_meter_daily (
    meter_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    day TEXT NOT NULL,
    wh INTEGER NOT NULL,
    actual INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    invalid INTEGER NOT NULL,
    invalid_wh INTEGER NOT NULL,
    PRIMARY KEY (meter_id, direction, day)
) WITHOUT ROWID;
CREATE TABLE usage_customer_daily (
    customer_id TEXT NOT NULL,
    meter_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    day TEXT NOT NULL,
    wh INTEGER NOT NULL,
    actual INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    invalid INTEGER NOT NULL,
    invalid_wh INTEGER NOT NULL,
    PRIMARY KEY (customer_id, direction, day, meter_id)
) WITHOUT ROWID;
