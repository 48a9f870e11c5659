-- Flows schema on SQLite: the same tables, columns and trigger behaviour as on PostgreSQL.
-- uuids are text, timestamps ISO 8601 UTC text ('YYYY-MM-DDTHH:MM:SS.sssZ', sorting in time
-- order), enums text with CHECK constraints, money as decimal text.

CREATE TABLE escos (
    id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2)))
        || '-4' || substr(lower(hex(randomblob(2))), 2) || '-a' || substr(lower(hex(randomblob(2))), 2)
        || '-' || lower(hex(randomblob(6)))),
    code TEXT NOT NULL UNIQUE,
    name TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE meter_registry (
    id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2)))
        || '-4' || substr(lower(hex(randomblob(2))), 2) || '-a' || substr(lower(hex(randomblob(2))), 2)
        || '-' || lower(hex(randomblob(6)))),
    serial TEXT NOT NULL UNIQUE,
    name TEXT,
    ip_address TEXT,
    port INTEGER NOT NULL DEFAULT 8080,
    hardware TEXT,
    firmware_version TEXT,
    prepay_enabled INTEGER,
    esco TEXT REFERENCES escos(id),
    mode TEXT NOT NULL DEFAULT 'active' CHECK (mode IN ('active', 'passive')),
    daylight_savings_correction_enabled INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (ip_address, port)
);

CREATE TABLE meter_registers (
    register_id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2)))
        || '-4' || substr(lower(hex(randomblob(2))), 2) || '-a' || substr(lower(hex(randomblob(2))), 2)
        || '-' || lower(hex(randomblob(6)))),
    meter_id TEXT NOT NULL REFERENCES meter_registry(id) ON DELETE CASCADE,
    element TEXT NOT NULL CHECK (element IN ('A', 'B', 'SINGLE')),
    nature TEXT NOT NULL DEFAULT 'power' CHECK (nature IN ('heat', 'power', 'solar')),
    status TEXT NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'replaced')),
    start_time TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    end_time TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX meter_registers_enabled ON meter_registers (meter_id, element)
    WHERE status = 'enabled';

CREATE TABLE meter_metrics (
    id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    name TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    run_frequency TEXT NOT NULL CHECK (run_frequency IN ('hourly', 'daily', '12hourly')),
    notes TEXT
);
INSERT INTO meter_metrics (name, run_frequency) VALUES
    ('SyncerVoltage', 'hourly'), ('SyncerCsq', 'hourly'), ('SyncerEventLog', 'hourly'),
    ('SyncerPrepayBalance', 'hourly'), ('SyncerReads', 'daily'), ('SyncerHardware', 'daily'),
    ('SyncerFirmwareVersion', 'daily'), ('SyncerClockDiff', 'daily'),
    ('SyncerTariffsActive', 'daily'), ('SyncerTariffsFuture', 'daily'), ('SyncerSerial', 'daily'),
    ('SyncerPrepayEnabled', 'daily'), ('SyncerDaylightSavingsEnabled', 'daily'),
    ('SyncerBacklight', 'daily'), ('SyncerLoadSwitch', 'daily');

CREATE TABLE meter_shadows (
    id TEXT PRIMARY KEY REFERENCES meter_registry(id) ON DELETE CASCADE,
    import_a REAL, import_b REAL, export_a REAL, export_b REAL,
    reads_at TEXT, reads_meter_time TEXT,
    balance TEXT, balance_at TEXT,
    csq INTEGER, csq_at TEXT,
    voltage TEXT, voltage_at TEXT,
    "3p_voltage_l1" REAL, "3p_voltage_l2" REAL, "3p_voltage_l3" REAL,
    health TEXT CHECK (health IN ('healthy', 'unhealthy')), health_details TEXT, last_healthy_at TEXT,
    clock_time_diff_seconds INTEGER, clock_time_diff_synced_at TEXT,
    tariffs_active TEXT, tariffs_future TEXT, backlight TEXT, load_switch TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE register_import (
    register_id TEXT NOT NULL REFERENCES meter_registers(register_id),
    timestamp TEXT NOT NULL, read REAL NOT NULL, meter_time TEXT,
    UNIQUE (register_id, timestamp)
);
CREATE TABLE register_export (
    register_id TEXT NOT NULL REFERENCES meter_registers(register_id),
    timestamp TEXT NOT NULL, read REAL NOT NULL, meter_time TEXT,
    UNIQUE (register_id, timestamp)
);
CREATE TABLE register_interval_hh (
    register_id TEXT NOT NULL REFERENCES meter_registers(register_id),
    timestamp TEXT NOT NULL, kwh TEXT NOT NULL,
    UNIQUE (register_id, timestamp)
);
CREATE TABLE register_profile_hh (
    register_id TEXT NOT NULL REFERENCES meter_registers(register_id),
    timestamp TEXT NOT NULL, cumulative_wh INTEGER NOT NULL, status INTEGER NOT NULL,
    UNIQUE (register_id, timestamp)
);
CREATE TABLE meter_csq (meter_id TEXT NOT NULL, timestamp TEXT NOT NULL, csq INTEGER NOT NULL,
                        UNIQUE (meter_id, timestamp));
CREATE TABLE meter_prepay_balance (meter_id TEXT NOT NULL, timestamp TEXT NOT NULL,
                                   balance TEXT NOT NULL, UNIQUE (meter_id, timestamp));
CREATE TABLE meter_voltage (meter_id TEXT NOT NULL, timestamp TEXT NOT NULL, voltage TEXT NOT NULL,
                            UNIQUE (meter_id, timestamp));
CREATE TABLE meter_3p_voltage (meter_id TEXT NOT NULL, timestamp TEXT NOT NULL,
                               voltage_l1 REAL, voltage_l2 REAL, voltage_l3 REAL,
                               UNIQUE (meter_id, timestamp));
CREATE TABLE meter_health_history (meter_id TEXT NOT NULL, timestamp TEXT NOT NULL,
                                   health TEXT NOT NULL, details TEXT);
CREATE INDEX meter_health_history_meter ON meter_health_history (meter_id, timestamp);
CREATE TABLE meter_event_log (meter_id TEXT NOT NULL, timestamp TEXT NOT NULL,
                              event_type INTEGER NOT NULL, event_set INTEGER NOT NULL,
                              PRIMARY KEY (meter_id, timestamp, event_type));
CREATE TABLE read_problems (meter_id TEXT NOT NULL, timestamp TEXT NOT NULL, element TEXT NOT NULL,
                            direction TEXT NOT NULL, read REAL NOT NULL, problem TEXT NOT NULL);

-- Triggers -----------------------------------------------------------------------------------

CREATE TRIGGER meter_registry_create_shadow AFTER INSERT ON meter_registry BEGIN
    INSERT OR IGNORE INTO meter_shadows (id) VALUES (NEW.id);
END;

CREATE TRIGGER meter_registry_updated_at AFTER UPDATE ON meter_registry
WHEN NEW.updated_at IS OLD.updated_at BEGIN
    UPDATE meter_registry SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

-- History first (it reads the time itself), then updated_at / last_healthy_at.
CREATE TRIGGER meter_shadows_reads AFTER UPDATE ON meter_shadows
WHEN NEW.reads_at IS NOT OLD.reads_at
  OR NEW.import_a IS NOT OLD.import_a OR NEW.import_b IS NOT OLD.import_b
  OR NEW.export_a IS NOT OLD.export_a OR NEW.export_b IS NOT OLD.export_b BEGIN
    INSERT INTO read_problems
        SELECT NEW.id, COALESCE(NEW.reads_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), e.element,
               e.direction, e.read, 'no enabled register for this element'
          FROM (SELECT 'A' AS element, 'import' AS direction, NEW.import_a AS read
                UNION ALL SELECT 'B', 'import', NEW.import_b
                UNION ALL SELECT 'A', 'export', NEW.export_a
                UNION ALL SELECT 'B', 'export', NEW.export_b) AS e
         WHERE e.read IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM meter_registers r
                WHERE r.meter_id = NEW.id AND r.element = e.element AND r.status = 'enabled');
    INSERT OR IGNORE INTO register_import
        SELECT r.register_id, COALESCE(NEW.reads_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
               CASE r.element WHEN 'A' THEN NEW.import_a ELSE NEW.import_b END, NEW.reads_meter_time
          FROM meter_registers r
         WHERE r.meter_id = NEW.id AND r.status = 'enabled' AND r.element IN ('A', 'B')
           AND (CASE r.element WHEN 'A' THEN NEW.import_a ELSE NEW.import_b END) IS NOT NULL;
    INSERT OR IGNORE INTO register_export
        SELECT r.register_id, COALESCE(NEW.reads_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
               CASE r.element WHEN 'A' THEN NEW.export_a ELSE NEW.export_b END, NEW.reads_meter_time
          FROM meter_registers r
         WHERE r.meter_id = NEW.id AND r.status = 'enabled' AND r.element IN ('A', 'B')
           AND (CASE r.element WHEN 'A' THEN NEW.export_a ELSE NEW.export_b END) IS NOT NULL;
END;

CREATE TRIGGER meter_shadows_csq AFTER UPDATE ON meter_shadows
WHEN NEW.csq IS NOT NULL AND (NEW.csq_at IS NOT OLD.csq_at OR NEW.csq IS NOT OLD.csq) BEGIN
    INSERT OR IGNORE INTO meter_csq
        VALUES (NEW.id, COALESCE(NEW.csq_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), NEW.csq);
END;

CREATE TRIGGER meter_shadows_balance AFTER UPDATE ON meter_shadows
WHEN NEW.balance IS NOT NULL AND (NEW.balance_at IS NOT OLD.balance_at OR NEW.balance IS NOT OLD.balance)
BEGIN
    INSERT OR IGNORE INTO meter_prepay_balance
        VALUES (NEW.id, COALESCE(NEW.balance_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), NEW.balance);
END;

CREATE TRIGGER meter_shadows_voltage AFTER UPDATE ON meter_shadows
WHEN NEW.voltage IS NOT NULL AND (NEW.voltage_at IS NOT OLD.voltage_at OR NEW.voltage IS NOT OLD.voltage)
BEGIN
    INSERT OR IGNORE INTO meter_voltage
        VALUES (NEW.id, COALESCE(NEW.voltage_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), NEW.voltage);
END;

CREATE TRIGGER meter_shadows_3p_voltage AFTER UPDATE ON meter_shadows
WHEN COALESCE(NEW."3p_voltage_l1", NEW."3p_voltage_l2", NEW."3p_voltage_l3") IS NOT NULL
 AND (NEW."3p_voltage_l1" IS NOT OLD."3p_voltage_l1" OR NEW."3p_voltage_l2" IS NOT OLD."3p_voltage_l2"
      OR NEW."3p_voltage_l3" IS NOT OLD."3p_voltage_l3") BEGIN
    INSERT OR IGNORE INTO meter_3p_voltage VALUES (NEW.id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
        NEW."3p_voltage_l1", NEW."3p_voltage_l2", NEW."3p_voltage_l3");
END;

CREATE TRIGGER meter_shadows_health AFTER UPDATE ON meter_shadows
WHEN NEW.health IS NOT NULL AND NEW.health IS NOT OLD.health BEGIN
    INSERT INTO meter_health_history
        VALUES (NEW.id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NEW.health, NEW.health_details);
END;

CREATE TRIGGER meter_shadows_updated_at AFTER UPDATE ON meter_shadows
WHEN NEW.updated_at IS OLD.updated_at BEGIN
    UPDATE meter_shadows SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
        last_healthy_at = CASE WHEN NEW.health = 'healthy'
                               THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE last_healthy_at END
     WHERE id = NEW.id;
END;
