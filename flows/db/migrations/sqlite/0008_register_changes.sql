-- One change log for everything the views derive intervals from: profile-log values (source
-- 'profile') and periodic register reads (source 'reads', Wh). Existing reads are logged once.
-- views_spans: what the views currently derive from consecutive values that are not an exact
-- half hour apart (written by the views in their own transactions). register_zero_runs: the
-- long-zero-run flag (48 or more consecutive zero half hours), from the stored intervals.
ALTER TABLE register_profile_changes RENAME TO register_value_changes;
ALTER TABLE register_value_changes ADD COLUMN source TEXT NOT NULL DEFAULT 'profile';
DROP TRIGGER register_profile_feed_insert;
DROP TRIGGER register_profile_feed_delete;
DROP TRIGGER register_profile_feed_update;
CREATE TRIGGER register_profile_feed_insert AFTER INSERT ON register_profile_hh
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('profile', NEW.register_id, NEW.timestamp, NULL, NEW.cumulative_wh);
END;
CREATE TRIGGER register_profile_feed_delete AFTER DELETE ON register_profile_hh
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('profile', OLD.register_id, OLD.timestamp, OLD.cumulative_wh, NULL);
END;
CREATE TRIGGER register_profile_feed_update AFTER UPDATE ON register_profile_hh
WHEN NEW.cumulative_wh IS NOT OLD.cumulative_wh OR NEW.timestamp IS NOT OLD.timestamp
     OR NEW.register_id IS NOT OLD.register_id
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('profile', OLD.register_id, OLD.timestamp, OLD.cumulative_wh, NULL);
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('profile', NEW.register_id, NEW.timestamp, NULL, NEW.cumulative_wh);
END;

INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    SELECT 'reads', register_id, timestamp, NULL, CAST(round(read * 1000) AS INTEGER)
      FROM register_import ORDER BY timestamp;
CREATE TRIGGER register_read_feed_insert AFTER INSERT ON register_import
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('reads', NEW.register_id, NEW.timestamp, NULL, CAST(round(NEW.read * 1000) AS INTEGER));
END;
CREATE TRIGGER register_read_feed_delete AFTER DELETE ON register_import
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('reads', OLD.register_id, OLD.timestamp, CAST(round(OLD.read * 1000) AS INTEGER), NULL);
END;
CREATE TRIGGER register_read_feed_update AFTER UPDATE ON register_import
WHEN NEW.read IS NOT OLD.read OR NEW.timestamp IS NOT OLD.timestamp
     OR NEW.register_id IS NOT OLD.register_id
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('reads', OLD.register_id, OLD.timestamp, CAST(round(OLD.read * 1000) AS INTEGER), NULL);
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('reads', NEW.register_id, NEW.timestamp, NULL, CAST(round(NEW.read * 1000) AS INTEGER));
END;

CREATE TABLE views_spans (
    register_id TEXT NOT NULL,
    source TEXT NOT NULL,
    flag TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    first_wh INTEGER NOT NULL,
    last_wh INTEGER NOT NULL,
    PRIMARY KEY (register_id, source, first_at)
);
CREATE INDEX views_spans_last ON views_spans (register_id, source, last_at);

CREATE VIEW register_zero_runs AS
    WITH zeros AS (  -- consecutive half hours share (half-hour number - row number)
        SELECT register_id, timestamp,
               CAST(strftime('%s', timestamp) AS INTEGER) / 1800
             - row_number() OVER (PARTITION BY register_id ORDER BY timestamp) AS island
          FROM register_interval_hh WHERE wh = 0)
    SELECT register_id, min(timestamp) AS first_at, max(timestamp) AS last_at,
           count(*) AS half_hours
      FROM zeros GROUP BY register_id, island HAVING count(*) >= 48;
