-- SyncerProfileLog (half-hourly profile-log values) runs daily.
SET search_path TO flows, public;
INSERT INTO meter_metrics (name, run_frequency, notes) VALUES
    ('SyncerProfileLog', 'daily', 'half-hourly cumulative values from profile log 1');
