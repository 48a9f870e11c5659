-- Usage you can bill on: intervals carry their direction (import from the profile log and
-- register reads, export from export reads); export reads and registry changes (registers,
-- customer links) reach the views through the change log; the views write their daily
-- aggregates into usage_meter_daily and usage_customer_daily. The views' store has a new shape:
-- `flows views rebuild` builds it again from the tables.
SET search_path TO flows, public;

ALTER TABLE register_interval_hh ADD COLUMN direction text NOT NULL DEFAULT 'import'
    CHECK (direction IN ('import', 'export'));
DO $$
DECLARE
    found record;
BEGIN
    -- The (register_id, timestamp) key has a generated name (it came through LIKE or
    -- TimescaleDB): drop whatever unique constraint or index the table has.
    FOR found IN SELECT conname FROM pg_constraint
                  WHERE conrelid = 'flows.register_interval_hh'::regclass AND contype = 'u' LOOP
        EXECUTE format('ALTER TABLE flows.register_interval_hh DROP CONSTRAINT %I', found.conname);
    END LOOP;
    FOR found IN SELECT indexrelid::regclass::text AS name FROM pg_index
                  WHERE indrelid = 'flows.register_interval_hh'::regclass AND indisunique LOOP
        EXECUTE format('DROP INDEX %s', found.name);
    END LOOP;
END $$;
CREATE UNIQUE INDEX register_interval_hh_key ON register_interval_hh (register_id, direction, timestamp);

CREATE OR REPLACE VIEW register_interval_hh_missing AS
    WITH spans AS (SELECT register_id, min(timestamp) AS first_at, max(timestamp) AS last_at
                     FROM register_interval_hh WHERE direction = 'import' GROUP BY register_id)
    SELECT s.register_id, d.day, d.half_hours AS expected,
           (SELECT count(*) FROM register_interval_hh i
             WHERE i.register_id = s.register_id AND i.direction = 'import'
               AND i.timestamp >= d.start_utc AND i.timestamp < d.end_utc) AS present,
           d.half_hours - (SELECT count(*) FROM register_interval_hh i
                            WHERE i.register_id = s.register_id AND i.direction = 'import'
                              AND i.timestamp >= d.start_utc AND i.timestamp < d.end_utc) AS missing
      FROM spans s JOIN local_days d
        ON d.start_utc >= s.first_at AND d.end_utc <= s.last_at + interval '30 minutes';
CREATE OR REPLACE VIEW register_zero_runs AS
    WITH zeros AS (  -- consecutive half hours share (half-hour number - row number)
        SELECT register_id, timestamp,
               floor(extract(epoch FROM timestamp) / 1800)::bigint
             - row_number() OVER (PARTITION BY register_id ORDER BY timestamp) AS island
          FROM register_interval_hh WHERE wh = 0 AND direction = 'import')
    SELECT register_id, min(timestamp) AS first_at, max(timestamp) AS last_at,
           count(*)::int AS half_hours
      FROM zeros GROUP BY register_id, island HAVING count(*) >= 48;

-- Export reads feed the views like import reads (source 'export', Wh).
INSERT INTO register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
    SELECT c.last + row_number() OVER (ORDER BY e.timestamp, e.register_id), e.register_id,
           e.timestamp, NULL, round(e.read * 1000), 'export'
      FROM register_export e CROSS JOIN views_feed_counter c;
UPDATE views_feed_counter SET last = (SELECT coalesce(max(seq), 0) FROM register_value_changes);
CREATE TRIGGER register_export_feed AFTER INSERT OR UPDATE OR DELETE ON register_export
    FOR EACH ROW EXECUTE FUNCTION register_value_feed('export');

-- A change to a meter's registers or customer links: source 'meter', register_id holds the
-- meter's id (the views re-read that meter's registers and links).
CREATE FUNCTION meter_registry_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next bigint;
BEGIN
    PERFORM pg_notify('flows_register_changes', '');
    IF TG_OP <> 'INSERT' THEN
        UPDATE flows.views_feed_counter SET last = last + 1 WHERE id = 1 RETURNING last INTO next;
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
            VALUES (next, OLD.meter_id, now(), NULL, NULL, 'meter');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE flows.views_feed_counter SET last = last + 1 WHERE id = 1 RETURNING last INTO next;
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
            VALUES (next, NEW.meter_id, now(), NULL, NULL, 'meter');
    END IF;
    RETURN NULL;
END $$;
INSERT INTO register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
    SELECT c.last + row_number() OVER (ORDER BY m.meter_id), m.meter_id, now(), NULL, NULL, 'meter'
      FROM (SELECT meter_id FROM meter_registers UNION SELECT meter_id FROM customer_meters) m
      CROSS JOIN views_feed_counter c;
UPDATE views_feed_counter SET last = (SELECT coalesce(max(seq), 0) FROM register_value_changes);
CREATE TRIGGER meter_registers_feed AFTER INSERT OR UPDATE OR DELETE ON meter_registers
    FOR EACH ROW EXECUTE FUNCTION meter_registry_feed();
CREATE TRIGGER customer_meters_feed AFTER INSERT OR UPDATE OR DELETE ON customer_meters
    FOR EACH ROW EXECUTE FUNCTION meter_registry_feed();

-- Daily aggregates of the half hours, maintained by the views: energy (Wh) of the usable half
-- hours and, counted in register half hours, how many were actual, estimated (derived) and
-- invalid (reversal, sentinel, spike: their Wh apart in invalid_wh).
CREATE TABLE usage_meter_daily (
    meter_id uuid NOT NULL,
    direction text NOT NULL,
    day date NOT NULL,
    wh bigint NOT NULL,
    actual integer NOT NULL,
    estimated integer NOT NULL,
    invalid integer NOT NULL,
    invalid_wh bigint NOT NULL,
    PRIMARY KEY (meter_id, direction, day)
);
CREATE TABLE usage_customer_daily (
    customer_id text NOT NULL,
    meter_id uuid NOT NULL,
    direction text NOT NULL,
    day date NOT NULL,
    wh bigint NOT NULL,
    actual integer NOT NULL,
    estimated integer NOT NULL,
    invalid integer NOT NULL,
    invalid_wh bigint NOT NULL,
    PRIMARY KEY (customer_id, direction, day, meter_id)
);
