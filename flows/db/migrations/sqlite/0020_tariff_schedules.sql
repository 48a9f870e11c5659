-- Future tariffs written to meters (`flows tariffs schedule`): one schedule per tariff (its
-- values), and every attempt's outcome per meter, audited (who, when, written and verified by
-- reading it back, or failed with the reason). A meter whose last outcome is verified is not
-- written again.
CREATE TABLE tariff_schedules (
    id TEXT PRIMARY KEY,
    activation TEXT NOT NULL,
    standing_charge TEXT NOT NULL,
    unit_rate TEXT NOT NULL,
    emergency_credit TEXT,
    ecredit_availability TEXT,
    debt_recovery_rate TEXT,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE UNIQUE INDEX tariff_schedules_tariff ON tariff_schedules
    (activation, standing_charge, unit_rate, COALESCE(emergency_credit, ''),
     COALESCE(ecredit_availability, ''), COALESCE(debt_recovery_rate, ''));
CREATE TABLE tariff_schedule_outcomes (
    id INTEGER PRIMARY KEY,
    schedule_id TEXT NOT NULL REFERENCES tariff_schedules (id),
    meter_id TEXT NOT NULL REFERENCES meter_registry (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('verified', 'failed')),
    reason TEXT NOT NULL
);
CREATE INDEX tariff_schedule_outcomes_meter ON tariff_schedule_outcomes (schedule_id, meter_id, id);
