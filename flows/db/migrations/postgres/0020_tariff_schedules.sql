-- Future tariffs written to meters (`flows tariffs schedule`): one schedule per tariff (its
-- values), and every attempt's outcome per meter, audited (who, when, written and verified by
-- reading it back, or failed with the reason). A meter whose last outcome is verified is not
-- written again.
SET search_path TO flows, public;
CREATE TABLE tariff_schedules (
    id uuid PRIMARY KEY,
    activation timestamptz NOT NULL,
    standing_charge numeric NOT NULL,
    unit_rate numeric NOT NULL,
    emergency_credit numeric,
    ecredit_availability numeric,
    debt_recovery_rate numeric,
    created_at timestamptz NOT NULL,
    actor text NOT NULL
);
CREATE UNIQUE INDEX tariff_schedules_tariff ON tariff_schedules
    (activation, standing_charge, unit_rate, COALESCE(emergency_credit, -1),
     COALESCE(ecredit_availability, -1), COALESCE(debt_recovery_rate, -1));
CREATE TABLE tariff_schedule_outcomes (
    id bigserial PRIMARY KEY,
    schedule_id uuid NOT NULL REFERENCES tariff_schedules (id),
    meter_id uuid NOT NULL REFERENCES meter_registry (id),
    at timestamptz NOT NULL,
    actor text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('verified', 'failed')),
    reason text NOT NULL
);
CREATE INDEX tariff_schedule_outcomes_meter ON tariff_schedule_outcomes (schedule_id, meter_id, id);
