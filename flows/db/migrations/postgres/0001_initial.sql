-- Flows schema on PostgreSQL: the deployed names (../shared/spec/flows-schema.md), with the
-- deployed flaws fixed: history only on real reads (not every UPDATE naming a column),
-- NULL-guarded and duplicate-safe import AND export history, missing registers reported.
CREATE SCHEMA IF NOT EXISTS flows;
SET search_path TO flows, public;

CREATE TYPE meter_mode AS ENUM ('active', 'passive');
CREATE TYPE register_element AS ENUM ('A', 'B', 'SINGLE');
CREATE TYPE register_nature AS ENUM ('heat', 'power', 'solar');
CREATE TYPE register_status AS ENUM ('enabled', 'replaced');
CREATE TYPE run_frequency AS ENUM ('hourly', 'daily', '12hourly');
CREATE TYPE meter_health AS ENUM ('healthy', 'unhealthy');

CREATE TABLE escos (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code text NOT NULL UNIQUE,
    name text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meter_registry (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    serial text NOT NULL UNIQUE,
    name text,
    ip_address inet,
    port integer NOT NULL DEFAULT 8080,
    hardware text,
    firmware_version text,
    prepay_enabled boolean,
    esco uuid REFERENCES escos(id),
    mode meter_mode NOT NULL DEFAULT 'active',
    daylight_savings_correction_enabled boolean,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ip_address, port)  -- real meters all use port 8080; simulated ones may share a host
);

CREATE TABLE meter_registers (
    register_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    meter_id uuid NOT NULL REFERENCES meter_registry(id) ON DELETE CASCADE,
    element register_element NOT NULL,
    nature register_nature NOT NULL DEFAULT 'power',
    status register_status NOT NULL DEFAULT 'enabled',
    start_time timestamptz NOT NULL DEFAULT now(),
    end_time timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX meter_registers_enabled ON meter_registers (meter_id, element)
    WHERE status = 'enabled';

CREATE TABLE meter_metrics (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL UNIQUE,
    enabled boolean NOT NULL DEFAULT true,
    run_frequency run_frequency NOT NULL,
    notes text
);
INSERT INTO meter_metrics (name, run_frequency) VALUES
    ('SyncerVoltage', 'hourly'), ('SyncerCsq', 'hourly'), ('SyncerEventLog', 'hourly'),
    ('SyncerPrepayBalance', 'hourly'), ('SyncerReads', 'daily'), ('SyncerHardware', 'daily'),
    ('SyncerFirmwareVersion', 'daily'), ('SyncerClockDiff', 'daily'),
    ('SyncerTariffsActive', 'daily'), ('SyncerTariffsFuture', 'daily'), ('SyncerSerial', 'daily'),
    ('SyncerPrepayEnabled', 'daily'), ('SyncerDaylightSavingsEnabled', 'daily'),
    ('SyncerBacklight', 'daily'), ('SyncerLoadSwitch', 'daily');

CREATE TABLE meter_shadows (
    id uuid PRIMARY KEY REFERENCES meter_registry(id) ON DELETE CASCADE,
    -- kWh; double precision (the deployed `real` keeps only ~7 digits: 38630.933 → 38630.934)
    import_a double precision, import_b double precision,
    export_a double precision, export_b double precision,
    reads_at timestamptz,          -- when the registers were read (database time)
    reads_meter_time timestamptz,  -- the meter's own clock at that read
    balance numeric, balance_at timestamptz,
    csq integer, csq_at timestamptz,
    voltage numeric, voltage_at timestamptz,
    "3p_voltage_l1" real, "3p_voltage_l2" real, "3p_voltage_l3" real,
    health meter_health, health_details text, last_healthy_at timestamptz,
    clock_time_diff_seconds integer, clock_time_diff_synced_at timestamptz,
    tariffs_active jsonb, tariffs_future jsonb, backlight text, load_switch text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE register_import (
    register_id uuid NOT NULL REFERENCES meter_registers(register_id),
    timestamp timestamptz NOT NULL,
    read double precision NOT NULL,
    meter_time timestamptz,
    UNIQUE (register_id, timestamp)
);
CREATE TABLE register_export (LIKE register_import INCLUDING ALL);
ALTER TABLE register_export ADD FOREIGN KEY (register_id) REFERENCES meter_registers(register_id);
CREATE TABLE register_interval_hh (
    register_id uuid NOT NULL REFERENCES meter_registers(register_id),
    timestamp timestamptz NOT NULL,
    kwh numeric NOT NULL,
    UNIQUE (register_id, timestamp)
);
-- Raw profile-log values: cumulative Wh at each half hour, as the meter reported them.
CREATE TABLE register_profile_hh (
    register_id uuid NOT NULL REFERENCES meter_registers(register_id),
    timestamp timestamptz NOT NULL,
    cumulative_wh bigint NOT NULL,
    status integer NOT NULL,
    UNIQUE (register_id, timestamp)
);
CREATE TABLE meter_csq (meter_id uuid NOT NULL, timestamp timestamptz NOT NULL, csq integer NOT NULL,
                        UNIQUE (meter_id, timestamp));
CREATE TABLE meter_prepay_balance (meter_id uuid NOT NULL, timestamp timestamptz NOT NULL,
                                   balance numeric NOT NULL, UNIQUE (meter_id, timestamp));
CREATE TABLE meter_voltage (meter_id uuid NOT NULL, timestamp timestamptz NOT NULL,
                            voltage numeric NOT NULL, UNIQUE (meter_id, timestamp));
CREATE TABLE meter_3p_voltage (meter_id uuid NOT NULL, timestamp timestamptz NOT NULL,
                               voltage_l1 real, voltage_l2 real, voltage_l3 real,
                               UNIQUE (meter_id, timestamp));
CREATE TABLE meter_health_history (meter_id uuid NOT NULL, timestamp timestamptz NOT NULL,
                                   health meter_health NOT NULL, details text);
CREATE INDEX meter_health_history_meter ON meter_health_history (meter_id, timestamp);
CREATE TABLE meter_event_log (meter_id uuid NOT NULL, timestamp timestamptz NOT NULL,
                              event_type integer NOT NULL, event_set integer NOT NULL,
                              PRIMARY KEY (meter_id, timestamp, event_type));
-- A read for an element the meter has no register for: kept here instead of being lost.
CREATE TABLE read_problems (meter_id uuid NOT NULL, timestamp timestamptz NOT NULL,
                            element register_element NOT NULL, direction text NOT NULL,
                            read double precision NOT NULL, problem text NOT NULL);

-- Triggers -----------------------------------------------------------------------------------

CREATE FUNCTION create_shadow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO flows.meter_shadows (id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER meter_registry_create_shadow AFTER INSERT ON meter_registry
    FOR EACH ROW EXECUTE FUNCTION create_shadow();

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER meter_registry_updated_at BEFORE UPDATE ON meter_registry
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE FUNCTION shadow_before_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    IF NEW.health = 'healthy' THEN
        NEW.last_healthy_at := now();  -- a healthy write
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER meter_shadows_updated_at BEFORE UPDATE ON meter_shadows
    FOR EACH ROW EXECUTE FUNCTION shadow_before_update();

-- One history row per register per read: fires when a read happened (reads_at moved, or a
-- register value changed for writers that do not set reads_at), never for unrelated updates.
CREATE FUNCTION append_register(meter uuid, elem register_element, direction text,
                                value double precision,
                                at timestamptz, meter_time timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    register uuid;
BEGIN
    IF value IS NULL THEN
        RETURN;
    END IF;
    SELECT register_id INTO register FROM flows.meter_registers
     WHERE meter_id = meter AND element = elem AND status = 'enabled';
    IF register IS NULL THEN
        INSERT INTO flows.read_problems VALUES (meter, at, elem, direction, value,
                                                'no enabled register for this element');
    ELSIF direction = 'import' THEN
        INSERT INTO flows.register_import VALUES (register, at, value, meter_time)
            ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO flows.register_export VALUES (register, at, value, meter_time)
            ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE FUNCTION append_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := COALESCE(NEW.reads_at, NEW.updated_at);
BEGIN
    IF NEW.reads_at IS DISTINCT FROM OLD.reads_at
       OR NEW.import_a IS DISTINCT FROM OLD.import_a OR NEW.import_b IS DISTINCT FROM OLD.import_b
       OR NEW.export_a IS DISTINCT FROM OLD.export_a OR NEW.export_b IS DISTINCT FROM OLD.export_b THEN
        PERFORM flows.append_register(NEW.id, 'A', 'import', NEW.import_a, at, NEW.reads_meter_time);
        PERFORM flows.append_register(NEW.id, 'B', 'import', NEW.import_b, at, NEW.reads_meter_time);
        PERFORM flows.append_register(NEW.id, 'A', 'export', NEW.export_a, at, NEW.reads_meter_time);
        PERFORM flows.append_register(NEW.id, 'B', 'export', NEW.export_b, at, NEW.reads_meter_time);
    END IF;
    IF NEW.csq IS NOT NULL AND (NEW.csq_at IS DISTINCT FROM OLD.csq_at
                                OR NEW.csq IS DISTINCT FROM OLD.csq) THEN
        INSERT INTO flows.meter_csq VALUES (NEW.id, COALESCE(NEW.csq_at, NEW.updated_at), NEW.csq)
            ON CONFLICT DO NOTHING;
    END IF;
    IF NEW.balance IS NOT NULL AND (NEW.balance_at IS DISTINCT FROM OLD.balance_at
                                    OR NEW.balance IS DISTINCT FROM OLD.balance) THEN
        INSERT INTO flows.meter_prepay_balance
            VALUES (NEW.id, COALESCE(NEW.balance_at, NEW.updated_at), NEW.balance)
            ON CONFLICT DO NOTHING;
    END IF;
    IF NEW.voltage IS NOT NULL AND (NEW.voltage_at IS DISTINCT FROM OLD.voltage_at
                                    OR NEW.voltage IS DISTINCT FROM OLD.voltage) THEN
        INSERT INTO flows.meter_voltage
            VALUES (NEW.id, COALESCE(NEW.voltage_at, NEW.updated_at), NEW.voltage)
            ON CONFLICT DO NOTHING;
    END IF;
    IF NEW."3p_voltage_l1" IS DISTINCT FROM OLD."3p_voltage_l1"
       OR NEW."3p_voltage_l2" IS DISTINCT FROM OLD."3p_voltage_l2"
       OR NEW."3p_voltage_l3" IS DISTINCT FROM OLD."3p_voltage_l3" THEN
        IF COALESCE(NEW."3p_voltage_l1", NEW."3p_voltage_l2", NEW."3p_voltage_l3") IS NOT NULL THEN
            INSERT INTO flows.meter_3p_voltage VALUES (NEW.id, NEW.updated_at, NEW."3p_voltage_l1",
                                                       NEW."3p_voltage_l2", NEW."3p_voltage_l3")
                ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    IF NEW.health IS NOT NULL AND NEW.health IS DISTINCT FROM OLD.health THEN
        INSERT INTO flows.meter_health_history
            VALUES (NEW.id, NEW.updated_at, NEW.health, NEW.health_details);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER meter_shadows_history AFTER UPDATE ON meter_shadows
    FOR EACH ROW EXECUTE FUNCTION append_history();
