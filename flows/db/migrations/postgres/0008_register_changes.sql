-- One change log for everything the views derive intervals from: profile-log values (source
-- 'profile') and periodic register reads (source 'reads', Wh), numbered in commit order as
-- before; each change also notifies 'flows_register_changes' (for `flows views follow`).
-- Existing reads are logged once. views_spans: what the views currently derive from
-- consecutive values that are not an exact half hour apart (written by the views in their own
-- transactions). register_zero_runs: the long-zero-run flag (48 or more consecutive zero half
-- hours), from the stored intervals.
ALTER TABLE register_profile_changes RENAME TO register_value_changes;
ALTER TABLE register_value_changes ADD COLUMN source text NOT NULL DEFAULT 'profile';
DROP TRIGGER register_profile_feed ON register_profile_hh;
DROP FUNCTION register_profile_feed();

CREATE FUNCTION register_value_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next bigint;
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
    UPDATE flows.views_feed_counter SET last = last + 1 WHERE id = 1 RETURNING last INTO next;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO flows.register_value_changes VALUES (next, NEW.register_id, NEW.timestamp, NULL, new_wh, source);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO flows.register_value_changes VALUES (next, OLD.register_id, OLD.timestamp, old_wh, NULL, source);
    ELSIF NEW.register_id = OLD.register_id AND NEW.timestamp = OLD.timestamp THEN
        INSERT INTO flows.register_value_changes VALUES (next, NEW.register_id, NEW.timestamp, old_wh, new_wh, source);
    ELSE
        INSERT INTO flows.register_value_changes VALUES (next, OLD.register_id, OLD.timestamp, old_wh, NULL, source);
        UPDATE flows.views_feed_counter SET last = last + 1 WHERE id = 1 RETURNING last INTO next;
        INSERT INTO flows.register_value_changes VALUES (next, NEW.register_id, NEW.timestamp, NULL, new_wh, source);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER register_profile_feed AFTER INSERT OR UPDATE OR DELETE ON register_profile_hh
    FOR EACH ROW EXECUTE FUNCTION register_value_feed('profile');

INSERT INTO register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
    SELECT c.last + row_number() OVER (ORDER BY i.timestamp, i.register_id), i.register_id,
           i.timestamp, NULL, round(i.read * 1000), 'reads'
      FROM register_import i CROSS JOIN views_feed_counter c;
UPDATE views_feed_counter SET last = (SELECT coalesce(max(seq), 0) FROM register_value_changes);
CREATE TRIGGER register_read_feed AFTER INSERT OR UPDATE OR DELETE ON register_import
    FOR EACH ROW EXECUTE FUNCTION register_value_feed('reads');

CREATE TABLE views_spans (
    register_id uuid NOT NULL,
    source text NOT NULL,
    flag text NOT NULL,
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    first_wh bigint NOT NULL,
    last_wh bigint NOT NULL,
    PRIMARY KEY (register_id, source, first_at)
);
CREATE INDEX views_spans_last ON views_spans (register_id, source, last_at);

CREATE VIEW register_zero_runs AS
    WITH zeros AS (  -- consecutive half hours share (half-hour number - row number)
        SELECT register_id, timestamp,
               floor(extract(epoch FROM timestamp) / 1800)::bigint
             - row_number() OVER (PARTITION BY register_id ORDER BY timestamp) AS island
          FROM register_interval_hh WHERE wh = 0)
    SELECT register_id, min(timestamp) AS first_at, max(timestamp) AS last_at,
           count(*)::int AS half_hours
      FROM zeros GROUP BY register_id, island HAVING count(*) >= 48;
