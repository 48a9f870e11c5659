-- Every correction and deletion of a stored value, with who made it, when, the value before and
-- after (NULL: none) and why; and how far the views have applied the change log (written by
-- the views in each iteration's transaction), so a caller can tell whether a change shows yet.
CREATE TABLE value_corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    made_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    meter_id TEXT NOT NULL,
    register_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('profile', 'reads')),
    timestamp TEXT NOT NULL,
    old_wh INTEGER,
    new_wh INTEGER,
    change INTEGER NOT NULL
);
CREATE INDEX value_corrections_meter ON value_corrections (meter_id, made_at);
CREATE TABLE views_position (feed TEXT PRIMARY KEY, position INTEGER NOT NULL);
