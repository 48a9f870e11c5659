-- Where the history kept begins once retention has dropped older months (`flows db
-- retention`): a value changed before it (a late read for a month already dropped) is
-- outside the history kept, and the views leave the days before it as they are.
SET search_path TO flows, public;

CREATE TABLE history_kept_from (
    only_row boolean PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    kept_from timestamptz NOT NULL
);
