-- The views with one incremental mechanism (see the PostgreSQL migration of the same number):
-- the flows.ivm engine state of the views goes (the views' feeder drops it when it opens);
-- usage_meter_daily carries the meter's esco; usage_esco_daily; a meter moved to another
-- esco is logged.

ALTER TABLE usage_meter_daily ADD COLUMN esco TEXT;
UPDATE usage_meter_daily SET esco = (SELECT m.esco FROM meter_registry m WHERE m.id = usage_meter_daily.meter_id);
CREATE INDEX usage_meter_daily_esco ON usage_meter_daily (esco, day) WHERE esco IS NOT NULL;
CREATE INDEX usage_customer_daily_meter ON usage_customer_daily (meter_id, day);

CREATE TABLE usage_esco_daily (
    esco TEXT NOT NULL,
    direction TEXT NOT NULL,
    day TEXT NOT NULL,
    wh INTEGER NOT NULL,
    actual INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    invalid INTEGER NOT NULL,
    invalid_wh INTEGER NOT NULL,
    meters INTEGER NOT NULL,
    PRIMARY KEY (esco, direction, day)
) WITHOUT ROWID;
INSERT INTO usage_esco_daily (esco, direction, day, wh, actual, estimated, invalid, invalid_wh, meters)
    SELECT esco, direction, day, sum(wh), sum(actual), sum(estimated), sum(invalid),
           sum(invalid_wh), count(*)
      FROM usage_meter_daily WHERE esco IS NOT NULL GROUP BY esco, direction, day;

CREATE TRIGGER meter_registry_esco_feed AFTER UPDATE OF esco ON meter_registry
WHEN NEW.esco IS NOT OLD.esco
BEGIN
    INSERT INTO register_value_changes (source, register_id, timestamp, old_wh, new_wh)
    VALUES ('meter', NEW.id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, NULL);
END;

-- The refresh finds a meter's registers and links by the meter.
CREATE INDEX IF NOT EXISTS meter_registers_meter ON meter_registers (meter_id);
CREATE INDEX IF NOT EXISTS customer_meters_meter ON customer_meters (meter_id, valid_from);
