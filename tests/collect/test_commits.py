"""GroupCommit: meters finishing together share a transaction, each stays all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from flows.collect.commits import GroupCommit, Write
from flows.db import Database, DatabaseError, connect


class CountingDatabase(Database):
    """The real database, counting the transactions it is asked for."""

    transactions = 0

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        self.transactions += 1
        with super().transaction() as db:
            yield db


@pytest.fixture
def counted(db: Database) -> CountingDatabase:
    db.execute("CREATE TABLE commit_probe (n INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    return CountingDatabase(db.url, db.raw, db.engine)


def insert(n: int, *, then_fail: bool = False) -> Write:
    def write(db: Database) -> None:
        db.execute("INSERT INTO commit_probe (n, note) VALUES (:n, 'x')", {"n": n})
        if then_fail:
            db.execute("INSERT INTO commit_probe (n, note) VALUES (:n, NULL)", {"n": n + 1000})
    return write


def stored(db: Database) -> list[int]:
    return [row["n"] for row in db.query("SELECT n FROM commit_probe ORDER BY n")]


def test_writes_finishing_together_share_one_transaction(counted: CountingDatabase) -> None:
    async def main() -> None:
        commits = GroupCommit(counted, window_s=0.05)
        await asyncio.gather(*(commits.write(insert(n)) for n in range(50)))
        # Committed before `write` returned: another connection sees every row.
        with connect(counted.url) as other:
            assert stored(other) == list(range(50))

    asyncio.run(main())
    assert counted.transactions == 1


def test_a_full_group_commits_without_waiting_for_the_window(counted: CountingDatabase) -> None:
    async def main() -> None:
        commits = GroupCommit(counted, window_s=3600, most=10)
        await asyncio.wait_for(asyncio.gather(*(commits.write(insert(n)) for n in range(10))), 5)

    asyncio.run(main())
    assert stored(counted) == list(range(10)) and counted.transactions == 1


def test_one_failing_write_costs_only_itself(counted: CountingDatabase) -> None:
    async def main() -> list[BaseException | None]:
        commits = GroupCommit(counted)
        writes = [commits.write(insert(n, then_fail=n == 3)) for n in range(6)]
        return await asyncio.gather(*writes, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert [type(o).__name__ for o in outcomes] == ["NoneType"] * 3 + ["InvalidValueError"] + ["NoneType"] * 2
    assert isinstance(outcomes[3], DatabaseError) and "note" in str(outcomes[3])
    assert stored(counted) == [0, 1, 2, 4, 5]  # nothing of write 3, not even its first row
    assert counted.transactions == 1 + 6  # the group, then each write alone
