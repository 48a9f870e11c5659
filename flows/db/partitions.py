"""Monthly partitions of the history tables on plain PostgreSQL (TimescaleDB makes its own
chunks), made ahead by Flows itself: migration 0002 makes two years back and ahead, and
`ensure_ahead` — run by every `flows db migrate` and daily by the scheduler — keeps
`MONTHS_AHEAD` months made from the current one, so rows never land in the default partition
(which holds only what no month takes: a meter clock decades off) as time goes on.

Retention (`expired_history`, `drop_expired_history`; `flows db retention`, or the scheduler
daily with ``--keep-months``) drops whole months (TimescaleDB: whole chunks) of the history
tables older than the months kept — never row by row, so nothing is logged for the views and
the daily usage of those days stays. A month the change log still has a value change for (not
applied and pruned by the views yet) is kept until it has none. Where the history kept begins
is recorded (`history_kept_from`): a value written later for a month already dropped (a meter
clock months behind) is outside it — the views leave the days before it as they are, and the
next retention deletes such rows.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime

from flows.db.change_log import REGISTRY_SOURCE, RETRY_SOURCE
from flows.db.connection import Database
from flows.db.errors import DatabaseError, InvalidValueError

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


def month_start(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s (before it when negative)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, 1)


def ensure_ahead(db: Database, today: date | None = None) -> int:
    """Make every missing monthly partition from this month to `MONTHS_AHEAD` ahead; how many
    were made. A month whose rows sit in the default partition already cannot be made (it
    would have to move them): it is logged and left, the others are made."""
    first = (today or datetime.now(UTC).date()).replace(day=1)
    made = 0
    for table in partitioned_tables(db):
        for offset in range(MONTHS_AHEAD + 1):
            start = month_start(first, offset)
            try:
                with db.transaction():
                    made += int(db.query("SELECT flows.ensure_month_partitions(:t, :m, :m) AS n",
                                         {"t": table, "m": start})[0]["n"])
            except DatabaseError as error:
                log.warning("partition %s_%s not made: %s", table, start.strftime("%Y_%m"), error)
    return made


def expired_history(db: Database, keep_months: int, today: date | None = None
                    ) -> tuple[date, list[str]]:
    """(the cutoff, the partitions or chunks of the history tables wholly before it): the
    current month and ``keep_months`` before it are kept, and every month from the oldest
    value change still in the change log (SQLite: refused)."""
    if keep_months < 1:
        raise InvalidValueError(f"keep at least one month before the current one, not {keep_months}")
    if db.engine != "postgres":
        raise InvalidValueError("retention drops whole months of the history tables on "
                                "PostgreSQL; on SQLite history is kept")
    cutoff = month_start(today or datetime.now(UTC).date(), -keep_months)
    oldest = db.query("SELECT min(timestamp) AS at FROM register_value_changes WHERE source "
                      "NOT IN (:meter, :retry)", {"meter": REGISTRY_SOURCE, "retry": RETRY_SOURCE}
                      )[0]["at"]
    if oldest is not None:
        cutoff = min(cutoff, oldest.astimezone(UTC).date().replace(day=1))
    if hypertables := _hypertables(db):
        return cutoff, [row["chunk"] for table in hypertables for row in db.query(
            "SELECT chunk::text AS chunk FROM show_chunks(CAST(:t AS regclass), older_than => "
            "CAST(:cutoff AS timestamptz)) AS chunk", {"t": f"flows.{table}", "cutoff": cutoff})]
    months = re.compile(r"_(\d{4})_(\d{2})$")
    expired = []
    for row in db.query("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = "
                        "i.inhrelid JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n "
                        "ON n.oid = p.relnamespace WHERE n.nspname = 'flows' AND p.relname = "
                        "ANY(flows.history_tables()) ORDER BY 1"):
        month = months.search(row["name"])
        if month and date(int(month[1]), int(month[2]), 1) < cutoff:
            expired.append(f'flows."{row["name"]}"')
    return cutoff, expired


def drop_expired_history(db: Database, keep_months: int, today: date | None = None
                         ) -> tuple[date, list[str]]:
    """Drop what `expired_history` lists, a month (TimescaleDB: a table's chunks) per
    transaction; then delete the rows written since for months already dropped (before
    `history_kept_from`: the views leave them aside). (cutoff, what was dropped)."""
    cutoff, expired = expired_history(db, keep_months, today)
    if hypertables := _hypertables(db):
        dropped = [chunk for table in hypertables for chunk in _drop_chunks(db, table, cutoff)]
    else:
        dropped = [name for name in expired if _drop_month(db, name, cutoff)]
    if dropped:
        log.info("history before %s dropped: %d partitions or chunks", cutoff, len(dropped))
    if (kept_from := history_kept_from(db)) is not None:
        for table in hypertables or partitioned_tables(db):
            with db.transaction():
                late = db.execute(f'DELETE FROM flows."{table}" WHERE timestamp < :kept_from',
                                  {"kept_from": kept_from})
            if late:
                log.info("%s: %d rows before %s deleted (written after their month was "
                         "dropped)", table, late, kept_from.date())
    return cutoff, dropped


def history_kept_from(db: Database) -> datetime | None:
    """Where the history kept begins (None: all is kept, as before any retention and always
    on SQLite). Values before it are outside history: the views do not apply them."""
    rows = db.query("SELECT kept_from FROM history_kept_from")
    if not rows:
        return None
    kept_from: datetime = rows[0]["kept_from"]
    return kept_from.astimezone(UTC)


def _record_kept_from(db: Database, cutoff: date) -> None:
    """History is kept from ``cutoff`` on (never moved back), in the dropping transaction."""
    db.execute("INSERT INTO history_kept_from (kept_from) VALUES (:cutoff) ON CONFLICT "
               "(only_row) DO UPDATE SET kept_from = greatest(history_kept_from.kept_from, "
               "EXCLUDED.kept_from)",
               {"cutoff": datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)})


def _drop_month(db: Database, name: str, cutoff: date) -> bool:
    """Drop one month (whole: no rows logged) unless a value change came for it meanwhile:
    once the month is locked, every write into it has committed, its change logged."""
    with db.transaction():
        if db.query("SELECT to_regclass(:name) IS NULL AS gone", {"name": name})[0]["gone"]:
            return False  # another scheduler dropped it
        db.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
        if _changes_waiting(db, name, cutoff):
            return False
        _record_kept_from(db, cutoff)
        db.execute(f"DROP TABLE {name}")
    return True


def _drop_chunks(db: Database, table: str, cutoff: date) -> list[str]:
    """A hypertable's chunks before ``cutoff``, as `_drop_month` (writes wait meanwhile)."""
    with db.transaction():
        db.execute(f'LOCK TABLE flows."{table}" IN EXCLUSIVE MODE')  # reads go on
        if _changes_waiting(db, table, cutoff):
            return []
        _record_kept_from(db, cutoff)
        return [row["chunk"] for row in db.query(
            "SELECT chunk FROM drop_chunks(CAST(:t AS regclass), older_than => "
            "CAST(:cutoff AS timestamptz)) AS chunk", {"t": f"flows.{table}", "cutoff": cutoff})]


def _changes_waiting(db: Database, name: str, cutoff: date) -> bool:
    if db.query("SELECT 1 AS waiting FROM register_value_changes WHERE timestamp < :cutoff "
                "AND source NOT IN (:meter, :retry) LIMIT 1",
                {"cutoff": cutoff, "meter": REGISTRY_SOURCE, "retry": RETRY_SOURCE}):
        log.info("%s kept: a change before %s waits for the views", name, cutoff)
        return True
    return False


def _hypertables(db: Database) -> list[str]:
    if not db.query("SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL "
                    "AS timescale")[0]["timescale"]:
        return []
    return [row["name"] for row in db.query(
        "SELECT hypertable_name AS name FROM timescaledb_information.hypertables WHERE "
        "hypertable_schema = 'flows' AND hypertable_name = ANY(flows.history_tables()) "
        "ORDER BY 1")]
