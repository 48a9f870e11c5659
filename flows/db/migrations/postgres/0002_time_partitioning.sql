-- Large history tables, split by time: TimescaleDB hypertables (7-day chunks) when the extension
-- can be created (installed and, where the build needs it, preloaded); otherwise native range
-- partitions by month (a default partition catches anything outside the prepared months, so no
-- insert ever fails).
SET search_path TO flows, public;

CREATE FUNCTION ensure_month_partitions(parent text, first_month date, last_month date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', first_month);
    created integer := 0;
    name text;
BEGIN
    WHILE month <= last_month LOOP
        name := format('%s_%s', parent, to_char(month, 'YYYY_MM'));
        IF to_regclass(format('flows.%I', name)) IS NULL THEN
            EXECUTE format('CREATE TABLE flows.%I PARTITION OF flows.%I FOR VALUES FROM (%L) TO (%L)',
                           name, parent, month::timestamptz, (month + interval '1 month')::timestamptz);
            created := created + 1;
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END $$;

CREATE FUNCTION history_tables() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['register_import', 'register_export', 'register_interval_hh',
                 'register_profile_hh', 'meter_csq', 'meter_prepay_balance', 'meter_voltage',
                 'meter_3p_voltage', 'meter_health_history', 'meter_event_log']
$$;

DO $$
DECLARE
    t text;
    timescale boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        -- Whether it loads is only known by trying: a server build may need it preloaded
        -- (then CREATE EXTENSION fails and is undone here) or not (e.g. a WASM build).
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            timescale := true;
        EXCEPTION WHEN OTHERS THEN
            timescale := false;
        END;
    END IF;
    IF timescale THEN
        FOREACH t IN ARRAY flows.history_tables() LOOP
            PERFORM create_hypertable(format('flows.%I', t)::regclass, 'timestamp',
                                      chunk_time_interval => interval '7 days', migrate_data => true);
        END LOOP;
        RETURN;
    END IF;
    FOREACH t IN ARRAY flows.history_tables() LOOP
        EXECUTE format('ALTER TABLE flows.%I RENAME TO %I', t, t || '_flat');
        EXECUTE format('CREATE TABLE flows.%I (LIKE flows.%I INCLUDING DEFAULTS INCLUDING '
                       'CONSTRAINTS INCLUDING INDEXES) PARTITION BY RANGE (timestamp)', t, t || '_flat');
        EXECUTE format('CREATE TABLE flows.%I PARTITION OF flows.%I DEFAULT', t || '_default', t);
        -- Two years back and two ahead; older rows land in the default partition, and
        -- flows.ensure_month_partitions adds months (the collector calls it as time goes on).
        PERFORM flows.ensure_month_partitions(t, (current_date - interval '24 months')::date,
                                              (current_date + interval '24 months')::date);
        EXECUTE format('INSERT INTO flows.%I SELECT * FROM flows.%I', t, t || '_flat');
        EXECUTE format('DROP TABLE flows.%I', t || '_flat');
    END LOOP;
    ALTER TABLE register_import ADD FOREIGN KEY (register_id) REFERENCES meter_registers(register_id);
    ALTER TABLE register_export ADD FOREIGN KEY (register_id) REFERENCES meter_registers(register_id);
    ALTER TABLE register_interval_hh
        ADD FOREIGN KEY (register_id) REFERENCES meter_registers(register_id);
    ALTER TABLE register_profile_hh
        ADD FOREIGN KEY (register_id) REFERENCES meter_registers(register_id);
END $$;
