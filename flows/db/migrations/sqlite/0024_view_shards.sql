-- The views sharded by meter (see the PostgreSQL migration of the same number). SQLite has
-- one writer and so one feeder: one shard, every change in shard 0 (the column's default),
-- the one position renamed as shard 0's.

CREATE TABLE views_shards (
    only_row INTEGER PRIMARY KEY DEFAULT 1 CHECK (only_row = 1),
    shards INTEGER NOT NULL CHECK (shards = 1)
);
INSERT INTO views_shards (shards) VALUES (1);

ALTER TABLE register_value_changes ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;

UPDATE views_position SET feed = feed || '/0' WHERE feed IN ('register_value_changes', 'caught_up');
