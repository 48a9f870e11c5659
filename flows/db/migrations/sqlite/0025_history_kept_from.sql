-- Where the history kept begins (see the PostgreSQL migration of the same number). SQLite
-- keeps all history (retention is PostgreSQL's): the table stays empty.

CREATE TABLE history_kept_from (
    only_row INTEGER PRIMARY KEY DEFAULT 1 CHECK (only_row = 1),
    kept_from TEXT NOT NULL
);
