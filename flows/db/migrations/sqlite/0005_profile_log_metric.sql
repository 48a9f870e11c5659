-- SyncerProfileLog (half-hourly profile-log values) runs daily.
INSERT INTO meter_metrics (name, run_frequency, notes) VALUES
    ('SyncerProfileLog', 'daily', 'half-hourly cumulative values from profile log 1');
