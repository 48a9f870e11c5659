-- SQLite's timestamp text gets one shape, enforced (see the SQLite migration of the same
-- number); PostgreSQL's timestamptz columns hold times, not text: nothing to do.
SET search_path TO flows, public;
