"""Monthly partitions of the history tables on plain PostgreSQL (TimescaleDB makes its own
chunks), made ahead by Flows itself: migration 0002 makes two years back and ahead, and
`ensure_ahead` — run by every `flows db migrate` and daily by the scheduler — keeps
`MONTHS_AHEAD` months made from the current one, so rows never land in the default partition
(which holds only what no month takes: a meter clock decades off) as time goes on.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from flows.db.connection import Database
from flows.db.errors import DatabaseError

log = logging.getLogger(__name__)
MONTHS_AHEAD = 24


def partitioned_tables(db: Database) -> list[str]:
    """The history tables partitioned by month here (none on SQLite or TimescaleDB)."""
    if db.engine != "postgres" or not db.query(  # before migration 0002: none
            "SELECT to_regprocedure('flows.history_tables()') IS NOT NULL AS made")[0]["made"]:
        return []
    return [row["name"] for row in db.query(
        "SELECT c.relname AS name FROM pg_partitioned_table p JOIN pg_class c ON c.oid = "
        "p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'flows' "
        "AND c.relname = ANY(flows.history_tables()) ORDER BY 1")]


def ensure_ahead(db: Database, today: date | None = None) -> int:
    """Make every missing monthly partition from this month to `MONTHS_AHEAD` ahead; how many
    were made. A month whose rows sit in the default partition already cannot be made (it
    would have to move them): it is logged and left, the others are made."""
    first = (today or datetime.now(UTC).date()).replace(day=1)
    made = 0
    for table in partitioned_tables(db):
        for offset in range(MONTHS_AHEAD + 1):
            year, month = divmod(first.month - 1 + offset, 12)
            start = date(first.year + year, month + 1, 1)
            try:
                with db.transaction():
                    made += int(db.query("SELECT flows.ensure_month_partitions(:t, :m, :m) AS n",
                                         {"t": table, "m": start})[0]["n"])
            except DatabaseError as error:
                log.warning("partition %s_%s not made: %s", table, start.strftime("%Y_%m"), error)
    return made
