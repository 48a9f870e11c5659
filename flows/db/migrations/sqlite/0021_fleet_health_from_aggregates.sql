-- Fleet health reads the days the views maintain (usage_meter_daily) for the last local days
-- of every meter: by day, not by meter (its primary key).
CREATE INDEX usage_meter_daily_day ON usage_meter_daily (day, direction);
