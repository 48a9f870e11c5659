-- The views with one incremental mechanism: the touched days of every aggregate are computed
-- again with one GROUP BY from register_interval_hh (as continuous aggregates refresh), so the
-- flows.ivm engine state the views kept beside it (views__* tables) goes: the views' feeder
-- drops it when it opens (`flows.views.store.state`).
-- * usage_meter_daily carries the meter's esco (the portfolio its day counted in): when a
--   meter moves to another esco, both escos' days are computed again.
-- * usage_esco_daily: daily usage per esco (a supplier's portfolio), with how many meters
--   reported; filled here from the meter days.
-- * A meter moved to another esco is logged as a registry change (source 'meter').
-- * Indexes for the refresh: a meter's customer days by day, an esco's meter days by day.
SET search_path TO flows, public;


ALTER TABLE usage_meter_daily ADD COLUMN esco uuid;
UPDATE usage_meter_daily d SET esco = m.esco FROM meter_registry m WHERE m.id = d.meter_id;
CREATE INDEX usage_meter_daily_esco ON usage_meter_daily (esco, day) WHERE esco IS NOT NULL;
CREATE INDEX usage_customer_daily_meter ON usage_customer_daily (meter_id, day);

CREATE TABLE usage_esco_daily (
    esco uuid NOT NULL,
    direction text NOT NULL,
    day date NOT NULL,
    wh bigint NOT NULL,
    actual integer NOT NULL,
    estimated integer NOT NULL,
    invalid integer NOT NULL,
    invalid_wh bigint NOT NULL,
    meters integer NOT NULL,
    PRIMARY KEY (esco, direction, day)
);
INSERT INTO usage_esco_daily (esco, direction, day, wh, actual, estimated, invalid, invalid_wh, meters)
    SELECT esco, direction, day, sum(wh), sum(actual), sum(estimated), sum(invalid),
           sum(invalid_wh), count(*)
      FROM usage_meter_daily WHERE esco IS NOT NULL GROUP BY esco, direction, day;

CREATE FUNCTION meter_esco_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flows_register_changes', '');
    INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
        VALUES (flows.next_change(), NEW.id, now(), NULL, NULL, 'meter');
    RETURN NULL;
END $$;
CREATE TRIGGER meter_registry_esco_feed AFTER UPDATE OF esco ON meter_registry
    FOR EACH ROW WHEN (NEW.esco IS DISTINCT FROM OLD.esco) EXECUTE FUNCTION meter_esco_feed();

-- The refresh finds a meter's registers and links by the meter.
CREATE INDEX IF NOT EXISTS meter_registers_meter ON meter_registers (meter_id);
CREATE INDEX IF NOT EXISTS customer_meters_meter ON customer_meters (meter_id, valid_from);
