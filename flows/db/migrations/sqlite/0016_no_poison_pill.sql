-- No poison pill in the views (see the PostgreSQL migration of the same number):
-- * views_quarantine: a meter whose changes the views could not apply (a row written behind
--   Flows' back that no rule can read), with the error; its changes wait there while every
--   other meter's go on (`flows views quarantine`, `flows views retry`).
-- * views_position.updated_at: when a position was written, so staleness can be told (the
--   `caught_up` feed: when the views last reflected every logged change).

CREATE TABLE views_quarantine (
    meter_id TEXT PRIMARY KEY,
    error TEXT NOT NULL,
    change INTEGER NOT NULL,
    quarantined_at TEXT NOT NULL
);
ALTER TABLE views_position ADD COLUMN updated_at TEXT;

-- Customer links are audited like corrections: who, when, what (link, end, delete), the
-- link before and after, and why. Existing links keep the instants they hold: a link entered
-- as a date before this version starts at UTC midnight (01:00 local in summer); new link
-- dates mean Europe/London midnight (`flows customers link --from 2025-06-02`).
CREATE TABLE customer_link_audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('link', 'end', 'delete')),
    customer_id TEXT NOT NULL,
    meter_id TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to_before TEXT,
    valid_to_after TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX customer_link_audit_meter ON customer_link_audit (meter_id, at);

-- Dashboard sessions live in the database (shared by every API process, surviving restarts):
-- only a digest of each session id is kept, with the digest of the key it was opened with,
-- so revoking the key ends its sessions.
CREATE TABLE api_sessions (
    id_digest TEXT PRIMARY KEY,
    key_digest TEXT NOT NULL,
    key_name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX api_sessions_key ON api_sessions (key_digest);
