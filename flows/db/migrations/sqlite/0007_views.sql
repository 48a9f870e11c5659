-- See the PostgreSQL migration of the same number. SQLite has one writer at a time, so the
-- autoincrement numbers are in commit order already.
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE customer_meters (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    meter_id TEXT NOT NULL REFERENCES meter_registry (id) ON DELETE CASCADE,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    PRIMARY KEY (customer_id, meter_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- wh: the exact energy (SQLite stores kwh as a binary float).
ALTER TABLE register_interval_hh ADD COLUMN wh INTEGER;
ALTER TABLE register_interval_hh ADD COLUMN flags TEXT NOT NULL DEFAULT '';
ALTER TABLE register_interval_hh ADD COLUMN derived INTEGER NOT NULL DEFAULT 0;

CREATE TABLE register_profile_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    register_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    old_wh INTEGER,
    new_wh INTEGER
);
CREATE TRIGGER register_profile_feed_insert AFTER INSERT ON register_profile_hh
BEGIN
    INSERT INTO register_profile_changes (register_id, timestamp, old_wh, new_wh)
    VALUES (NEW.register_id, NEW.timestamp, NULL, NEW.cumulative_wh);
END;
CREATE TRIGGER register_profile_feed_delete AFTER DELETE ON register_profile_hh
BEGIN
    INSERT INTO register_profile_changes (register_id, timestamp, old_wh, new_wh)
    VALUES (OLD.register_id, OLD.timestamp, OLD.cumulative_wh, NULL);
END;
CREATE TRIGGER register_profile_feed_update AFTER UPDATE ON register_profile_hh
WHEN NEW.cumulative_wh IS NOT OLD.cumulative_wh OR NEW.timestamp IS NOT OLD.timestamp
     OR NEW.register_id IS NOT OLD.register_id
BEGIN
    INSERT INTO register_profile_changes (register_id, timestamp, old_wh, new_wh)
    VALUES (OLD.register_id, OLD.timestamp, OLD.cumulative_wh, NULL);
    INSERT INTO register_profile_changes (register_id, timestamp, old_wh, new_wh)
    VALUES (NEW.register_id, NEW.timestamp, NULL, NEW.cumulative_wh);
END;
