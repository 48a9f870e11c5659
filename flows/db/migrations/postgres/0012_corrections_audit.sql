-- Every correction and deletion of a stored value, with who made it, when, the value before and
-- after (NULL: none) and why; and how far the views have applied the change log (written by
-- the views in each iteration's transaction), so a caller can tell whether a change shows yet.
SET search_path TO flows, public;
CREATE TABLE value_corrections (
    id bigserial PRIMARY KEY,
    made_at timestamptz NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL DEFAULT '',
    meter_id uuid NOT NULL,
    register_id uuid NOT NULL,
    source text NOT NULL CHECK (source IN ('profile', 'reads')),
    timestamp timestamptz NOT NULL,
    old_wh bigint,
    new_wh bigint,
    change bigint NOT NULL
);
CREATE INDEX value_corrections_meter ON value_corrections (meter_id, made_at);
CREATE TABLE views_position (feed text PRIMARY KEY, position bigint NOT NULL);
