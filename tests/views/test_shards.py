"""The views sharded by meter over several feeders (PostgreSQL): the change log's shard
column, feeders claiming and sharing shards, takeover of a closed one's, the esco days two
feeders share, changing the shard count."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from click.testing import CliRunner

from flows.cli import main as cli
from flows.db import (
    Database,
    change_log,
    claims,
    connect,
    corrections,
    customers,
    migrate,
    registry,
)
from flows.devtools.processes import FLOWS_COMMAND
from flows.views import FeederBusy, follow, update
from flows.views.feeder import UpdateSummary, feeder_connection
from flows.views.shards import MEMBER_LOCK, SHARD_LOCK, ShardClaims, owners, set_shard_count
from flows.views.store import aggregates, intervals, position
from tests.views.helpers import (
    HALF_HOUR,
    LINKED_FROM,
    recomputed_intervals,
    recomputed_views,
    stored_intervals,
    stored_views,
    write_values,
)

START = datetime(2025, 6, 1, tzinfo=UTC)
SHARDS = 64


def esco_fleet(db: Database, meters: int, escos: int = 3) -> tuple[list[UUID], set[UUID], set[UUID]]:
    """``meters`` twin-element meters spread over ``escos`` escos, each linked to a customer:
    (their registers, the meters, the escos)."""
    esco_ids = [registry.add_esco(db, f"E{n}") for n in range(escos)]
    registers: list[UUID] = []
    meter_ids: set[UUID] = set()
    for n in range(meters):
        serial = f"EML{n:04d}"
        meter_ids.add(registry.add_meter(db, serial, f"127.0.1.{n + 1}", "C1.w",
                                         esco_ids[n % escos]))
        customers.add_customer(db, f"C{n}")
        customers.link_meter(db, f"C{n}", serial, LINKED_FROM)
        registers += [registry.register_id(db, serial, element) for element in ("A", "B")]
    return registers, meter_ids, set(esco_ids)


def half_hours(registers: list[UUID], first: int, count: int) -> list[tuple[UUID, datetime, int]]:
    return [(register, START + n * HALF_HOUR, 10_000 + 120 * n + hash(register) % 7)
            for register in registers for n in range(first, first + count)]


def shard_of(meter: UUID, shards: int = SHARDS) -> int:
    """The rule of `meter_shard()` in SQL, written again independently."""
    return int.from_bytes(meter.bytes[14:16], "big") % shards


@contextlib.contextmanager
def claims_on(url: str, count: int) -> Iterator[list[ShardClaims]]:
    """``count`` feeders' claims, each on a session of its own."""
    sessions = [connect(url) for _ in range(count)]
    try:
        yield [ShardClaims(session) for session in sessions]
    finally:
        for session in sessions:
            session.close()


def test_every_change_carries_its_meters_shard(migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    registers, meters, _ = esco_fleet(db, meters=12)
    write_values(db, half_hours(registers, 0, 3))  # a bulk insert: the statement trigger
    db.execute("UPDATE register_profile_hh SET cumulative_wh = cumulative_wh + 1 "
               "WHERE timestamp = :t", {"t": START})  # the row trigger
    # Registry changes: the meters' registers and links (above), a meter moved to another esco.
    db.execute("UPDATE meter_registry SET esco = (SELECT id FROM escos WHERE code = 'E0') "
               "WHERE serial = 'EML0004'")
    change_log.log_retry(db, [registry.meter_id(db, "EML0005")])
    meter_of = {row["register_id"]: row["meter_id"]
                for row in db.query("SELECT register_id, meter_id FROM meter_registers")}
    rows = db.query("SELECT register_id, source, shard FROM register_value_changes")
    assert {row["source"] for row in rows} == {"profile", "meter", "retry"}
    for row in rows:
        meter = row["register_id"] if row["source"] in ("meter", "retry") else meter_of[row["register_id"]]
        assert row["shard"] == shard_of(meter), row
    assert len({shard_of(meter) for meter in meters}) >= 8  # spread, not all in one
    assert position.shard_count(db) == SHARDS


def test_followers_share_the_shards_and_take_over_a_closed_ones(migrated_postgres_url: str
                                                                ) -> None:
    with claims_on(migrated_postgres_url, 3) as feeders:
        for _ in range(2):  # joining, then releasing beyond the fair share and claiming up to it
            for feeder in feeders:
                feeder.rebalance()
        owned = [feeder.owned for feeder in feeders]
        assert sorted(len(shards) for shards in owned) == [20, 22, 22]  # 64 = 22 + 22 + 20
        assert set().union(*owned) == set(range(SHARDS))
        assert sum(map(len, owned)) == SHARDS  # each shard has one owner
        closed = feeders.pop(0)
        closed.db.close()  # its session ends: its claims and its membership with it
        # The server ends the session after the client has gone: wait until it has.
        wait_for("the closed feeder's membership gone",
                 lambda: len(claims.held(feeders[0].db, MEMBER_LOCK)) == 2, 10)
        for feeder in feeders:
            feeder.rebalance()
        assert {len(feeder.owned) for feeder in feeders} == {32}
        assert feeders[0].owned | feeders[1].owned == set(range(SHARDS))
        assert set(owners(feeders[0].db)) == set(range(SHARDS))


def test_update_applies_the_free_shards_only(migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    registers, meters, escos = esco_fleet(db, meters=16)
    write_values(db, half_hours(registers, 0, 6))
    logged_before = logged(db)
    with claims_on(migrated_postgres_url, 1) as (holder,):
        holder.claim_free()
        with pytest.raises(FeederBusy, match="every shard"):
            update(db)
        held = set(range(0, SHARDS, 2))
        holder.release(set(range(SHARDS)) - held)
        summary = update(db)
        assert summary.shards == SHARDS // 2 and summary.changes > 0
        positions = position.shard_positions(db, range(SHARDS))
        newest = change_log.last_change(db)
        assert all((positions[shard] == 0) == (shard in held) for shard in range(SHARDS))
        assert all(positions[shard] == newest for shard in range(SHARDS) if shard not in held)
        with pytest.raises(FeederBusy, match="rebuild needs every shard"):
            update(db, rebuild=True)
        # Nothing is pruned from the log while a shard has not applied it.
        assert logged(db) == logged_before
    assert update(db).shards == SHARDS
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)
    assert position.views_position(db) == change_log.last_change(db) == newest
    assert logged(db) == 1  # every shard applied them: only the newest is kept (the numbering)
    write_values(db, half_hours(registers, 6, 1))
    assert change_log.last_change(db) == newest + len(registers)  # numbering goes on
    update(db)
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)


def test_a_feeder_gives_up_its_shards_before_closing_its_session(migrated_postgres_url: str
                                                                    ) -> None:
    """Closing gives the claims up only once the server has ended the session, after the
    client has gone: an update right after another could find every shard still owned (seen
    under load as `FeederBusy`). A feeder's connection gives them up first (`release_all`)."""
    db = connect(migrated_postgres_url)
    with feeder_connection(db) as writer:
        ShardClaims(writer).claim_free()
        assert len(owners(db)) == SHARDS
        claims.release_all(writer)
        assert owners(db) == {}
        assert writer.query("SELECT 1 AS alive") == [{"alive": 1}]  # its session goes on


def logged(db: Database) -> int:
    return int(db.query("SELECT count(*) AS n FROM register_value_changes")[0]["n"])


@pytest.mark.parametrize("first_shard", ["old meter's", "new meter's"])
def test_a_register_moving_to_a_meter_of_another_shard_is_counted_once(
        migrated_postgres_url: str, first_shard: str) -> None:
    """Changes of a register logged before its move (its old meter's shard) and after it (its
    new meter's), applied by the feeders of the two shards one after the other, in either
    order: its half hours count for the new meter only, as a recomputation has them."""
    db = connect(migrated_postgres_url)
    registers, meters, escos = esco_fleet(db, meters=6, escos=2)
    write_values(db, half_hours(registers, 0, 6))
    update(db)
    meter_of = dict(registry.register_meters(db, meters))
    old_meter = meter_of[registers[0]]
    new_meter = next(m for m in sorted(meters) if shard_of(m) != shard_of(old_meter))
    moved = registers[0]
    write_values(db, [(moved, START + n * HALF_HOUR, 20_000 + 150 * n) for n in range(6, 10)])
    db.execute("UPDATE meter_registers SET meter_id = :m, status = 'replaced' "
               "WHERE register_id = :r", {"m": new_meter, "r": moved})
    write_values(db, [(moved, START + n * HALF_HOUR, 20_000 + 150 * n) for n in range(10, 14)])
    shards = [shard_of(old_meter), shard_of(new_meter)]
    if first_shard == "new meter's":
        shards.reverse()
    with claims_on(migrated_postgres_url, 1) as (holder,):
        holder.claim_free()
        holder.release({shards[0]})
        assert update(db).shards == 1  # only the first shard's feeder
    assert update(db).shards == SHARDS
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)
    days = db.query("SELECT meter_id, sum(wh) AS wh FROM usage_meter_daily WHERE direction = "
                    "'import' GROUP BY meter_id")
    assert {row["meter_id"] for row in days} == meters
    assert sum(int(row["wh"]) for row in days) == sum(
        int(row["wh"]) for row in db.query("SELECT wh FROM register_interval_hh "
                                           "WHERE direction = 'import'"))


def test_a_feeder_computes_a_moved_register_after_the_other_shards_writer_committed(
        migrated_postgres_url: str) -> None:
    """A register moved to a meter of another shard with a correction waiting in its old
    shard: while a writer of the new shard's views holds its write lock, the old shard's
    feeder waits before computing; it then counts what that writer committed (a newer
    correction), not the older values — one feeder never writes older rows over another's."""
    db = connect(migrated_postgres_url)
    registers, meters, escos = esco_fleet(db, meters=6, escos=2)
    write_values(db, half_hours(registers, 0, 12))
    update(db)
    meter_of = dict(registry.register_meters(db, meters))
    moved = registers[0]
    old_meter = meter_of[moved]
    new_meter = next(m for m in sorted(meters) if shard_of(m) != shard_of(old_meter))
    corrected_at = START + 6 * HALF_HOUR
    corrections.correct_profile_value(db, moved, corrected_at, 15_000)  # in the old shard
    db.execute("UPDATE meter_registers SET meter_id = :m, status = 'replaced' "
               "WHERE register_id = :r", {"m": new_meter, "r": moved})
    other = connect(migrated_postgres_url)
    outcome: list[UpdateSummary] = []
    with claims_on(migrated_postgres_url, 1) as (holder,):
        holder.claim_free()
        holder.release({shard_of(old_meter)})
        with other.transaction():  # a writer of the new meter's shard, mid-batch
            intervals.lock_writes(other, [moved], [])
            feeder_db = connect(migrated_postgres_url)
            feeder = threading.Thread(target=lambda: outcome.append(update(feeder_db)))
            feeder.start()
            wait_for(
                "the old shard's feeder to wait for the write lock",
                lambda: bool(db.query(
                    "SELECT 1 AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT "
                    "granted AND classid = :lock AND objid = :shard",
                    {"lock": intervals.WRITE_LOCK, "shard": shard_of(new_meter)})),
                within_s=30)
            corrections.correct_profile_value(other, moved, corrected_at, 15_500)
        feeder.join(timeout=60)
        assert not feeder.is_alive() and outcome[0].shards == 1
        feeder_db.close()
    other.close()
    # What the old shard's feeder wrote already counts the newer correction (its change still
    # waits in the new shard).
    of_moved = {key: value for key, value in stored_intervals(db).items() if key[0] == str(moved)}
    assert of_moved == {key: value for key, value in recomputed_intervals(db).items()
                        if key[0] == str(moved)}
    assert update(db).shards == SHARDS
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)


def test_half_hours_another_writer_stores_first_are_computed_again_not_quarantined(
        migrated_postgres_url: str) -> None:
    """Two other writers (as another feeder would, applying the same register at once) each
    hold a new half hour of a meter uncommitted while a feeder copies the meter's new half
    hours in: each commit makes the feeder's copy fail on the unique key, first for its batch,
    then for the meter alone; it computes the meter again each time and ends right, with
    nothing quarantined."""
    db = connect(migrated_postgres_url)
    registers, meters, escos = esco_fleet(db, meters=1, escos=1)
    write_values(db, half_hours(registers, 0, 4))
    update(db)
    write_values(db, half_hours(registers[:1], 4, 400))  # ≥ COPY_ROWS new rows: copied in
    others = [psycopg.connect(migrated_postgres_url, autocommit=False) for _ in range(2)]
    xids = []
    try:
        for other, n in zip(others, (100, 300), strict=True):
            other.execute("INSERT INTO flows.register_interval_hh (register_id, direction, timestamp, "
                          "kwh, wh, flags, derived) VALUES (%s, 'import', %s, 0, 0, '', false)",
                          (registers[0], START + n * HALF_HOUR))
            row = other.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
            assert row is not None
            xids.append(row[0])
        outcome: list[UpdateSummary] = []
        feeder_db = connect(migrated_postgres_url)
        feeder = threading.Thread(target=lambda: outcome.append(update(feeder_db)))
        feeder.start()
        pending = list(xids)
        while pending:  # the feeder waits for one of them; that one commits
            wait_for("the feeder to wait for one of the other writers",
                     lambda: bool(waited_for(db, pending)), within_s=30)
            (waited_on, *_) = waited_for(db, pending)
            others[xids.index(waited_on)].commit()
            pending.remove(waited_on)
        feeder.join(timeout=60)
        assert not feeder.is_alive()
        feeder_db.close()
    finally:
        for other in others:
            other.close()
    assert outcome and outcome[0].quarantined == 0
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)


def waited_for(db: Database, xids: list[int]) -> list[int]:
    """The transactions of ``xids`` some session waits for now."""
    return [int(row["xid"]) for row in db.query(
        "SELECT transactionid::text::bigint AS xid FROM pg_locks WHERE locktype = "
        "'transactionid' AND NOT granted") if row["xid"] in xids]


def test_an_escos_day_counts_the_meters_two_feeders_apply_at_once(migrated_postgres_url: str
                                                                   ) -> None:
    """Two meters of one esco in different shards, their days refreshed by two feeders at
    once: the second waits for the first's commit (the esco's lock) and counts both meters."""
    db = connect(migrated_postgres_url)
    registers, meters, escos = esco_fleet(db, meters=2, escos=1)
    first, second = sorted(meters)
    write_values(db, half_hours(registers, 0, 4))
    update(db)
    expected = stored_views(db, meters, escos)["esco_days"]
    assert {totals[5] for totals in expected.values()} == {2}  # both meters reported
    db.execute("DELETE FROM usage_esco_daily")
    day = {START.date()}
    writer_a, writer_b = connect(migrated_postgres_url), connect(migrated_postgres_url)
    other = threading.Thread(target=lambda: _refresh_in_transaction(writer_b, {second: day}))
    with writer_a.transaction():
        aggregates.refresh(writer_a, {first: day})  # holds the esco's lock to its commit
        other.start()
        deadline = time.monotonic() + 10
        while not db.query("SELECT 1 AS waiting FROM pg_stat_activity WHERE wait_event_type = "
                           "'Lock' AND wait_event = 'advisory' AND datname = current_database()"):
            assert other.is_alive() and time.monotonic() < deadline, "B did not wait for A"
            time.sleep(0.02)
    other.join(timeout=20)
    assert stored_views(db, meters, escos)["esco_days"] == expected


def _refresh_in_transaction(writer: Database, touched: dict[UUID, set]) -> None:
    with writer.transaction():
        aggregates.refresh(writer, touched)


def test_the_shard_count_is_set_while_no_feeder_runs(migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    registers, meters, escos = esco_fleet(db, meters=10)
    write_values(db, half_hours(registers, 0, 4))
    update(db, max_batches=3, batch=7)  # some shards applied, most not
    runner = CliRunner()
    with claims_on(migrated_postgres_url, 1) as (feeder,):
        feeder.claim_free(1)
        refused = runner.invoke(cli, ["views", "shards", "--set", "8", "--database",
                                      migrated_postgres_url])
        assert refused.exit_code != 0 and "stop them first" in refused.output
    result = runner.invoke(cli, ["views", "shards", "--set", "8", "--database",
                                 migrated_postgres_url])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("8 shards;")
    assert position.shard_count(db) == 8
    write_values(db, half_hours(registers, 4, 4))
    rows = db.query("SELECT c.shard, coalesce(r.meter_id, c.register_id) AS meter FROM "
                    "register_value_changes c LEFT JOIN meter_registers r ON r.register_id = "
                    "c.register_id WHERE c.seq > :at", {"at": position.views_position(db)})
    assert rows and all(row["shard"] == shard_of(row["meter"], 8) for row in rows)
    assert update(db).shards == 8
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)
    with feeder_connection(db) as writer:
        claims = ShardClaims(writer)
        claims.claim_free()
        with pytest.raises(Exception, match="from 1 to 4096"):
            set_shard_count(writer, claims, 0)


def test_a_feeder_frozen_mid_statement_is_ended_by_the_others(
        migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A session waiting for its client in the middle of a COPY (a feeder frozen there: no
    idle timeout applies) is ended by a live feeder once the claim timeout has passed; a
    session busy with a long statement is not."""
    monkeypatch.setattr(claims, "CLAIM_TIMEOUT_S", 1)
    url = migrated_postgres_url
    with psycopg.connect(url, autocommit=True) as frozen, \
            psycopg.connect(url, autocommit=True) as busy, claims_on(url, 1) as (live,):
        for session, shard in ((frozen, 0), (busy, 1)):
            session.execute("SELECT pg_advisory_lock(%s, %s)", (SHARD_LOCK, shard))
        busy_statement = threading.Thread(target=busy.execute, args=("SELECT pg_sleep(4)",))
        busy_statement.start()
        with pytest.raises(psycopg.OperationalError), frozen.cursor() as cursor, \
                cursor.copy("COPY flows.register_value_changes (seq) FROM STDIN"):
            started = time.monotonic()

            def taken_over() -> bool:
                live.rebalance()
                return 0 in live.owned

            wait_for("the frozen session's shard taken over", taken_over, 10)
            assert time.monotonic() - started >= 1  # not before the claim timeout
            assert 1 not in live.owned and busy_statement.is_alive()
        with pytest.raises(psycopg.OperationalError):
            frozen.execute("SELECT 1")  # its session is gone
        busy_statement.join()
        assert busy.execute("SELECT 1").fetchone() == (1,)


def test_a_follower_waiting_for_an_escos_lock_a_frozen_feeder_holds_goes_on(
        migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A feeder frozen mid-statement while holding an esco's lock: a follower needing that
    esco gives up waiting after the claim timeout, ends the frozen session and goes on
    (waiting on, it would never end it: the views would stop for good)."""
    monkeypatch.setattr(claims, "CLAIM_TIMEOUT_S", 1)
    url = migrated_postgres_url
    db = connect(url)
    registers, meters, escos = esco_fleet(db, meters=4, escos=1)
    update(db)
    (esco,) = escos
    free_shard = next(shard for shard in range(SHARDS)
                      if shard not in {shard_of(meter) for meter in meters})
    stop = threading.Event()
    with psycopg.connect(url) as frozen:
        frozen.execute("SELECT pg_advisory_lock(%s, %s)", (SHARD_LOCK, free_shard))
        frozen.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s::text))",
                       (aggregates.ESCO_LOCK, esco))
        with pytest.raises(psycopg.OperationalError), frozen.cursor() as cursor, \
                cursor.copy("COPY flows.register_value_changes (seq) FROM STDIN"):
            write_values(db, half_hours(registers, 0, 4))
            newest = change_log.last_change(db)
            follower_db = connect(url)
            following = threading.Thread(target=follow, args=(follower_db,),
                                         kwargs={"poll_s": 0.2, "stop": stop.is_set})
            following.start()
            try:
                wait_for("the follower past the frozen feeder's esco lock",
                         lambda: position.views_position(db) == newest, 15)
            finally:
                stop.set()
                following.join(timeout=20)
                follower_db.close()
            assert not following.is_alive()
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)


# Three `flows views follow` processes, killed and frozen ----------------------------------------

FEEDERS, CLAIM_TIMEOUT_S, POLL_S = ("a", "b", "c"), 3, 0.5
KILL_TAKEOVER_S = 10.0  # a killed feeder's session ends at once: the others' next look
FREEZE_TAKEOVER_S = CLAIM_TIMEOUT_S + 10.0  # a frozen one's claims expire first


def owned_by(db: Database) -> dict[int, str]:
    """shard → the name (application_name) of the feeder owning it."""
    rows = db.query("SELECT l.objid::bigint AS shard, a.application_name AS feeder FROM pg_locks "
                    "l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.granted AND l.objsubid = 2 AND l.classid::bigint = :lock AND "
                    "l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    {"lock": SHARD_LOCK})
    return {int(row["shard"]): row["feeder"] for row in rows}


def wait_for(what: str, condition: Callable[[], bool], within_s: float) -> float:
    """Seconds until ``condition()`` holds (polled); fails past ``within_s``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within_s, f"not within {within_s} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.slow
def test_three_feeders_over_64_shards_survive_kills_and_a_freeze(
        migrated_postgres_url: str, tmp_path: Path) -> None:
    url = migrated_postgres_url
    db = connect(url)
    registers, meters, escos = esco_fleet(db, meters=24)
    write_values(db, half_hours(registers, 0, 48))
    rng = random.Random(32)
    feeders: dict[str, subprocess.Popen[str]] = {}

    def start(name: str) -> None:
        feeders[name] = subprocess.Popen(
            [*FLOWS_COMMAND, "views", "follow", "--poll", str(POLL_S), "--database", url],
            env={**os.environ, "FLOWS_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT_S), "PGAPPNAME": name},
            stdout=subprocess.DEVNULL, stderr=(tmp_path / f"{name}.log").open("a"), text=True)

    def settled(names: tuple[str, ...]) -> Callable[[], bool]:
        """Every shard owned by these feeders, each with its fair share."""
        def check() -> bool:
            owned = owned_by(db)
            shares = Counter(owned.values())
            return (len(owned) == SHARDS and set(shares) == set(names)
                    and max(shares.values()) - min(shares.values()) <= 2)
        return check

    stop_writing = threading.Event()

    def write_rounds() -> None:  # values arriving and corrected while the feeders work
        with connect(url) as writer:
            for round_ in range(1, 400):
                if stop_writing.wait(0.05):
                    return
                write_values(writer, half_hours(registers, 48 + 2 * round_, 2))
                if round_ % 5 == 0:
                    writer.execute("UPDATE register_profile_hh SET cumulative_wh = cumulative_wh "
                                   "+ 3 WHERE register_id = :r AND timestamp >= :t",
                                   {"r": rng.choice(registers), "t": START + round_ * HALF_HOUR})

    writing = threading.Thread(target=write_rounds)
    try:
        for name in FEEDERS:
            start(name)
        wait_for("three feeders share the shards", settled(FEEDERS), 30)
        writing.start()
        for _ in range(4):
            victim = rng.choice(FEEDERS)
            feeders[victim].kill()
            feeders[victim].wait()
            others = tuple(name for name in FEEDERS if name != victim)
            took = wait_for(f"the shards of killed {victim} taken over", settled(others),
                            KILL_TAKEOVER_S)
            print(f"killed {victim}: its shards taken over in {took:.2f} s")
            start(victim)
            wait_for(f"{victim} back with its share", settled(FEEDERS), 30)
        frozen = rng.choice(FEEDERS)
        feeders[frozen].send_signal(signal.SIGSTOP)  # alive, connected, holding its shards
        others = tuple(name for name in FEEDERS if name != frozen)
        took = wait_for(f"the shards of frozen {frozen} taken over", settled(others),
                        FREEZE_TAKEOVER_S)
        print(f"froze {frozen}: its shards taken over in {took:.2f} s")
        assert took >= CLAIM_TIMEOUT_S - 0.5  # not before its claims expired
        feeders[frozen].send_signal(signal.SIGCONT)  # wakes to a closed session: rejoins
        wait_for(f"{frozen} back with its share", settled(FEEDERS), 30)
        stop_writing.set()
        writing.join()
        newest = change_log.last_change(db)
        wait_for("every shard caught up", lambda: min(position.shard_positions(
            db, range(SHARDS)).values()) == newest, 60)
        assert all(process.poll() is None for process in feeders.values())
        assert set(owned_by(db)) == set(range(SHARDS))
        assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)
        for process in feeders.values():
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=20) for process in feeders.values()] == [0, 0, 0]
    finally:
        stop_writing.set()
        if writing.is_alive():
            writing.join()
        for process in feeders.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
                process.kill()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_the_migration_starts_every_shard_where_the_one_feeder_was(
        engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'flows.db'}" if engine == "sqlite"
           else request.getfixturevalue("postgres_url"))
    db = connect(url)
    migrate(db, upto=23)
    registers, meters, escos = esco_fleet(db, meters=6)
    write_values(db, half_hours(registers, 0, 4))  # logged before shards
    applied = 7  # where the one feeder was
    db.executemany("INSERT INTO views_position (feed, position, updated_at) VALUES (:feed, "
                   ":at, :now)", [{"feed": feed, "at": applied, "now": datetime.now(UTC)}
                                  for feed in ("register_value_changes", "caught_up")])
    migrate(db)
    count = position.shard_count(db)
    assert count == (1 if engine == "sqlite" else SHARDS)
    assert position.shard_positions(db, range(count)) == dict.fromkeys(range(count), applied)
    assert position.views_position(db) == applied and position.caught_up_at(db) is not None
    if engine == "postgres":
        meter_of = {row["register_id"]: row["meter_id"] for row in db.query(
            "SELECT register_id, meter_id FROM meter_registers")}
        for row in db.query("SELECT register_id, source, shard FROM register_value_changes"):
            meter = meter_of.get(row["register_id"], row["register_id"])
            assert row["shard"] == shard_of(meter)
    update(db)
    assert stored_views(db, meters, escos) == recomputed_views(db, meters, escos)
