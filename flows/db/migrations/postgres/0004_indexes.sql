-- Indexes for the access paths the collector, views and API use.
SET search_path TO flows, public;
CREATE INDEX meter_registry_esco ON meter_registry (esco);
CREATE INDEX meter_registry_mode ON meter_registry (mode);
CREATE INDEX read_problems_meter ON read_problems (meter_id, timestamp);
CREATE INDEX local_days_start ON local_days (start_utc);
