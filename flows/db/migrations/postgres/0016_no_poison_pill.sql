-- No poison pill in the views:
-- * views_quarantine: a meter whose changes the views could not apply (a row written behind
--   Flows' back that no rule can read: a link outside 1990-2100 or overlapping another, a
--   value the rules refuse), with the error and the last change of the batch that found it.
--   Its changes wait there while every other meter's go on; `flows views retry` applies the
--   meter's whole history again once the row is fixed (`flows views quarantine` lists them).
-- * views_position.updated_at: when a position was written, so staleness can be told (the
--   `caught_up` feed: when the views last reflected every logged change).
SET search_path TO flows, public;

CREATE TABLE views_quarantine (
    meter_id uuid PRIMARY KEY,
    error text NOT NULL,
    change bigint NOT NULL,
    quarantined_at timestamptz NOT NULL
);
ALTER TABLE views_position ADD COLUMN updated_at timestamptz;

-- Customer links are audited like corrections: who, when, what (link, end, delete), the
-- link before and after, and why. Existing links keep the instants they hold: a link entered
-- as a date before this version starts at UTC midnight (01:00 local in summer); new link
-- dates mean Europe/London midnight (`flows customers link --from 2025-06-02`).
CREATE TABLE customer_link_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL CHECK (action IN ('link', 'end', 'delete')),
    customer_id text NOT NULL,
    meter_id uuid NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to_before timestamptz,
    valid_to_after timestamptz,
    reason text NOT NULL
);
CREATE INDEX customer_link_audit_meter ON customer_link_audit (meter_id, at);

-- Dashboard sessions live in the database (shared by every API process, surviving restarts):
-- only a digest of each session id is kept, with the digest of the key it was opened with,
-- so revoking the key ends its sessions.
CREATE TABLE api_sessions (
    id_digest text PRIMARY KEY,
    key_digest text NOT NULL,
    key_name text NOT NULL,
    role text NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX api_sessions_key ON api_sessions (key_digest);
