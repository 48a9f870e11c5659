-- Clock drift with the deployed collector's sign (its SyncerClockDiff: our time minus the
-- meter's; positive when the meter is behind), in the column both schemas share: the values
-- Flows stored with the other sign (the meter's time minus ours) are flipped.

UPDATE meter_shadows SET clock_time_diff_seconds = -clock_time_diff_seconds
    WHERE clock_time_diff_seconds IS NOT NULL;
