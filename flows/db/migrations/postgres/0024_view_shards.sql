-- The views sharded by meter, over any number of feeders (`flows.views.shards`).
-- * views_shards: how many shards (64; `flows views shards --set N` changes it while no
--   feeder runs). meter_shard() is the one rule placing a meter in a shard (the count is
--   written into it, so that it inlines; changing the count writes it again).
-- * register_value_changes.shard: the shard of the change's meter (a value's register's
--   meter), filled by the logging triggers; each feeder reads its shards by (shard, seq).
-- * views_position: a position per shard ('register_value_changes/k', 'caught_up/k') in
--   place of the one feed; every shard starts where the one feeder was.
SET search_path TO flows, public;

CREATE TABLE views_shards (
    only_row boolean PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    shards integer NOT NULL CHECK (shards BETWEEN 1 AND 4096)
);
INSERT INTO views_shards (shards) VALUES (64);

CREATE FUNCTION meter_shard(meter uuid) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (get_byte(uuid_send(meter), 14) * 256 + get_byte(uuid_send(meter), 15)) % 64
$$;
-- A value's shard: its register's meter's (a register without a meter: by its own id).
CREATE FUNCTION register_shard(register uuid) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT flows.meter_shard(coalesce(
        (SELECT meter_id FROM flows.meter_registers WHERE register_id = register), register))
$$;

ALTER TABLE register_value_changes ADD COLUMN shard smallint NOT NULL DEFAULT 0;
UPDATE register_value_changes SET shard = CASE WHEN source IN ('meter', 'retry')
    THEN meter_shard(register_id) ELSE register_shard(register_id) END;
CREATE INDEX register_value_changes_shard ON register_value_changes (shard, seq);

CREATE OR REPLACE FUNCTION register_value_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    source text := TG_ARGV[0];
    old_wh bigint;
    new_wh bigint;
BEGIN
    -- Separate statements: PL/pgSQL plans only the one it runs (the tables' columns differ).
    IF TG_OP <> 'INSERT' AND source = 'profile' THEN
        old_wh := OLD.cumulative_wh;
    ELSIF TG_OP <> 'INSERT' THEN
        old_wh := round(OLD.read * 1000);
    END IF;
    IF TG_OP <> 'DELETE' AND source = 'profile' THEN
        new_wh := NEW.cumulative_wh;
    ELSIF TG_OP <> 'DELETE' THEN
        new_wh := round(NEW.read * 1000);
    END IF;
    IF TG_OP = 'UPDATE' AND new_wh IS NOT DISTINCT FROM old_wh
       AND NEW.timestamp = OLD.timestamp AND NEW.register_id = OLD.register_id THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('flows_register_changes', '');
    IF TG_OP = 'INSERT' THEN
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), NEW.register_id, NEW.timestamp, NULL, new_wh, source, flows.register_shard(NEW.register_id));
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), OLD.register_id, OLD.timestamp, old_wh, NULL, source, flows.register_shard(OLD.register_id));
    ELSIF NEW.register_id = OLD.register_id AND NEW.timestamp = OLD.timestamp THEN
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), NEW.register_id, NEW.timestamp, old_wh, new_wh, source, flows.register_shard(NEW.register_id));
    ELSE
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), OLD.register_id, OLD.timestamp, old_wh, NULL, source, flows.register_shard(OLD.register_id));
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), NEW.register_id, NEW.timestamp, NULL, new_wh, source, flows.register_shard(NEW.register_id));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION register_values_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7378707111521281379);
    IF TG_ARGV[0] = 'profile' THEN
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source, shard)
            SELECT nextval('flows.register_value_changes_seq'), i.register_id, i.timestamp, NULL,
                   i.cumulative_wh, 'profile', flows.meter_shard(coalesce(r.meter_id, i.register_id))
              FROM inserted i LEFT JOIN flows.meter_registers r ON r.register_id = i.register_id
             ORDER BY i.register_id, i.timestamp;
    ELSE
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source, shard)
            SELECT nextval('flows.register_value_changes_seq'), i.register_id, i.timestamp, NULL,
                   round(i.read * 1000), TG_ARGV[0], flows.meter_shard(coalesce(r.meter_id, i.register_id))
              FROM inserted i LEFT JOIN flows.meter_registers r ON r.register_id = i.register_id
             ORDER BY i.register_id, i.timestamp;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('flows_register_changes', '');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION meter_registry_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flows_register_changes', '');
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source, shard)
            VALUES (flows.next_change(), OLD.meter_id, now(), NULL, NULL, 'meter', flows.meter_shard(OLD.meter_id));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source, shard)
            VALUES (flows.next_change(), NEW.meter_id, now(), NULL, NULL, 'meter', flows.meter_shard(NEW.meter_id));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION meter_esco_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flows_register_changes', '');
    INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source, shard)
        VALUES (flows.next_change(), NEW.id, now(), NULL, NULL, 'meter', flows.meter_shard(NEW.id));
    RETURN NULL;
END $$;

INSERT INTO views_position (feed, position, updated_at)
    SELECT p.feed || '/' || k,
           p.position, p.updated_at
      FROM views_position p CROSS JOIN generate_series(0, 63) AS k
     WHERE p.feed IN ('register_value_changes', 'caught_up');
DELETE FROM views_position WHERE feed IN ('register_value_changes', 'caught_up');
