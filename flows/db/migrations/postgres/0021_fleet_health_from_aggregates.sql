-- Fleet health reads the days the views maintain (usage_meter_daily) for the last local days
-- of every meter: by day, not by meter (its primary key).
SET search_path TO flows, public;
CREATE INDEX usage_meter_daily_day ON usage_meter_daily (day, direction);
