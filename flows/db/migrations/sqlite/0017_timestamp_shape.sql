-- Timestamps in SQLite are text in one shape, UTC to the millisecond (2025-01-06T00:30:00.000Z):
-- text compares as time only in that shape. Rows another tool wrote in another form (an ISO
-- time with +00:00, no milliseconds) are rewritten to it where SQLite can read them (a row
-- whose rewritten key exists already is left for the views to quarantine); from now on the
-- database refuses any other shape in the tables other tools write to (history, links,
-- corrections), naming the column. PostgreSQL has timestamptz: nothing to do there.

UPDATE OR IGNORE register_profile_hh SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE register_import SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE register_export SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE meter_csq SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE meter_prepay_balance SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE meter_voltage SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE meter_3p_voltage SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE meter_event_log SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE meter_health_history SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE read_problems SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE value_corrections SET made_at = strftime('%Y-%m-%dT%H:%M:%fZ', made_at)
    WHERE made_at IS NOT NULL AND made_at NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', made_at) IS NOT NULL;
UPDATE OR IGNORE value_corrections SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', timestamp)
    WHERE timestamp IS NOT NULL AND timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', timestamp) IS NOT NULL;
UPDATE OR IGNORE customer_meters SET valid_from = strftime('%Y-%m-%dT%H:%M:%fZ', valid_from)
    WHERE valid_from IS NOT NULL AND valid_from NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', valid_from) IS NOT NULL;
UPDATE OR IGNORE customer_meters SET valid_to = strftime('%Y-%m-%dT%H:%M:%fZ', valid_to)
    WHERE valid_to IS NOT NULL AND valid_to NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', valid_to) IS NOT NULL;
UPDATE OR IGNORE customer_link_audit SET at = strftime('%Y-%m-%dT%H:%M:%fZ', at)
    WHERE at IS NOT NULL AND at NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', at) IS NOT NULL;
UPDATE OR IGNORE customer_link_audit SET valid_from = strftime('%Y-%m-%dT%H:%M:%fZ', valid_from)
    WHERE valid_from IS NOT NULL AND valid_from NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', valid_from) IS NOT NULL;
UPDATE OR IGNORE customer_link_audit SET valid_to_before = strftime('%Y-%m-%dT%H:%M:%fZ', valid_to_before)
    WHERE valid_to_before IS NOT NULL AND valid_to_before NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', valid_to_before) IS NOT NULL;
UPDATE OR IGNORE customer_link_audit SET valid_to_after = strftime('%Y-%m-%dT%H:%M:%fZ', valid_to_after)
    WHERE valid_to_after IS NOT NULL AND valid_to_after NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND strftime('%Y-%m-%dT%H:%M:%fZ', valid_to_after) IS NOT NULL;
CREATE TRIGGER register_profile_hh_time_shape_insert BEFORE INSERT ON register_profile_hh
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'register_profile_hh: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER register_profile_hh_time_shape_update BEFORE UPDATE ON register_profile_hh
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'register_profile_hh: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER register_import_time_shape_insert BEFORE INSERT ON register_import
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'register_import: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER register_import_time_shape_update BEFORE UPDATE ON register_import
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'register_import: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER register_export_time_shape_insert BEFORE INSERT ON register_export
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'register_export: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER register_export_time_shape_update BEFORE UPDATE ON register_export
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'register_export: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_csq_time_shape_insert BEFORE INSERT ON meter_csq
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_csq: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_csq_time_shape_update BEFORE UPDATE ON meter_csq
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_csq: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_prepay_balance_time_shape_insert BEFORE INSERT ON meter_prepay_balance
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_prepay_balance: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_prepay_balance_time_shape_update BEFORE UPDATE ON meter_prepay_balance
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_prepay_balance: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_voltage_time_shape_insert BEFORE INSERT ON meter_voltage
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_voltage: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_voltage_time_shape_update BEFORE UPDATE ON meter_voltage
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_voltage: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_3p_voltage_time_shape_insert BEFORE INSERT ON meter_3p_voltage
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_3p_voltage: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_3p_voltage_time_shape_update BEFORE UPDATE ON meter_3p_voltage
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_3p_voltage: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_event_log_time_shape_insert BEFORE INSERT ON meter_event_log
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_event_log: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_event_log_time_shape_update BEFORE UPDATE ON meter_event_log
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_event_log: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_health_history_time_shape_insert BEFORE INSERT ON meter_health_history
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_health_history: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER meter_health_history_time_shape_update BEFORE UPDATE ON meter_health_history
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'meter_health_history: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER read_problems_time_shape_insert BEFORE INSERT ON read_problems
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'read_problems: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER read_problems_time_shape_update BEFORE UPDATE ON read_problems
WHEN (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'read_problems: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (timestamp)');
END;
CREATE TRIGGER value_corrections_time_shape_insert BEFORE INSERT ON value_corrections
WHEN (NEW.made_at IS NOT NULL AND NEW.made_at NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'value_corrections: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (made_at, timestamp)');
END;
CREATE TRIGGER value_corrections_time_shape_update BEFORE UPDATE ON value_corrections
WHEN (NEW.made_at IS NOT NULL AND NEW.made_at NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.timestamp IS NOT NULL AND NEW.timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'value_corrections: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (made_at, timestamp)');
END;
CREATE TRIGGER customer_meters_time_shape_insert BEFORE INSERT ON customer_meters
WHEN (NEW.valid_from IS NOT NULL AND NEW.valid_from NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_to IS NOT NULL AND NEW.valid_to NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'customer_meters: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (valid_from, valid_to)');
END;
CREATE TRIGGER customer_meters_time_shape_update BEFORE UPDATE ON customer_meters
WHEN (NEW.valid_from IS NOT NULL AND NEW.valid_from NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_to IS NOT NULL AND NEW.valid_to NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'customer_meters: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (valid_from, valid_to)');
END;
CREATE TRIGGER customer_link_audit_time_shape_insert BEFORE INSERT ON customer_link_audit
WHEN (NEW.at IS NOT NULL AND NEW.at NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_from IS NOT NULL AND NEW.valid_from NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_to_before IS NOT NULL AND NEW.valid_to_before NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_to_after IS NOT NULL AND NEW.valid_to_after NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'customer_link_audit: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (at, valid_from, valid_to_before, valid_to_after)');
END;
CREATE TRIGGER customer_link_audit_time_shape_update BEFORE UPDATE ON customer_link_audit
WHEN (NEW.at IS NOT NULL AND NEW.at NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_from IS NOT NULL AND NEW.valid_from NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_to_before IS NOT NULL AND NEW.valid_to_before NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z') OR (NEW.valid_to_after IS NOT NULL AND NEW.valid_to_after NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z')
BEGIN
    SELECT RAISE(ABORT, 'customer_link_audit: timestamps must be UTC text like 2025-01-06T00:30:00.000Z (at, valid_from, valid_to_before, valid_to_after)');
END;
