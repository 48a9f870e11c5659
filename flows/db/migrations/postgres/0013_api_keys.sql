-- Named API keys: only a SHA-256 digest of each key is kept (keys are 32 random bytes, so a
-- digest cannot be reversed by guessing); a revoked key stays listed with when it was revoked.
SET search_path TO flows, public;
CREATE TABLE api_keys (
    name text PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('read', 'admin')),
    key_digest text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
