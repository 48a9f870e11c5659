-- Sync cycles: see the PostgreSQL migration of the same number.
CREATE TABLE sync_cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    frequency TEXT NOT NULL,
    scope TEXT NOT NULL,
    slot TEXT,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    abandoned INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX sync_cycles_one_open ON sync_cycles (frequency, scope) WHERE finished_at IS NULL;
CREATE UNIQUE INDEX sync_cycles_slot ON sync_cycles (frequency, scope, slot) WHERE slot IS NOT NULL;

CREATE TABLE sync_cycle_meters (
    cycle_id INTEGER NOT NULL REFERENCES sync_cycles (id) ON DELETE CASCADE,
    meter_id TEXT NOT NULL REFERENCES meter_registry (id) ON DELETE CASCADE,
    collector TEXT NOT NULL,
    healthy INTEGER NOT NULL,
    reason TEXT,
    finished_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (cycle_id, meter_id)
);
