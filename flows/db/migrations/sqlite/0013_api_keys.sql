-- Named API keys: only a SHA-256 digest of each key is kept (keys are 32 random bytes, so a
-- digest cannot be reversed by guessing); a revoked key stays listed with when it was revoked.
CREATE TABLE api_keys (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('read', 'admin')),
    key_digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
