-- Sync cycles: one per frequency and scope (all meters, one esco, one meter) and run. Several
-- collectors join the open cycle; each meter is synced once per cycle (a row in
-- sync_cycle_meters when done). Scheduled cycles carry their slot, so a collector that wakes up
-- late finds the slot's cycle done instead of starting it again.
CREATE TABLE sync_cycles (
    id bigserial PRIMARY KEY,
    frequency text NOT NULL,
    scope text NOT NULL,
    slot timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    abandoned boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX sync_cycles_one_open ON sync_cycles (frequency, scope) WHERE finished_at IS NULL;
CREATE UNIQUE INDEX sync_cycles_slot ON sync_cycles (frequency, scope, slot) WHERE slot IS NOT NULL;

CREATE TABLE sync_cycle_meters (
    cycle_id bigint NOT NULL REFERENCES sync_cycles (id) ON DELETE CASCADE,
    meter_id uuid NOT NULL REFERENCES meter_registry (id) ON DELETE CASCADE,
    collector text NOT NULL,
    healthy boolean NOT NULL,
    reason text,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cycle_id, meter_id)
);
