"""The views' shards: the change log split by meter, and the feeders' claims on them.

Every output row of the views belongs to one meter (its registers' half hours, its days, its
customers' days of it), so the change log is split by meter into a fixed number of shards
(``views_shards``: 64 on PostgreSQL; ``meter_shard()`` in SQL is the one rule placing a meter,
the logging triggers fill each change's ``shard``), each with its own position. Feeders that
own different shards write disjoint rows; the per-esco days they share are refreshed under a
lock per esco (`flows.views.store.aggregates`), and a register moved to a meter of another
shard is computed under the write locks of its meters' shards (`intervals.lock_writes`).

A feeder owns a shard while its session holds the shard's advisory lock (`flows.db.claims`:
the claims of a feeder that dies or freezes expire with its session, and a session ended so
has rolled back whatever it had not committed: the position moves only with what it applied,
so every change is applied exactly once per shard). Following feeders (`flows views follow`)
are members of one group, each holding a member lock: between batches each takes its fair
share — the shards divided by the members, rounded up — releasing what it holds beyond it and
claiming free shards up to it, so one, two or eight feeders each own about 1/n of the shards
and a dead one's shards are taken over by the others. A one-off `flows views update` claims
every free shard for its run; a rebuild needs them all.

SQLite has one writer: one shard, owned by the feeder holding the database's views lock.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from flows.db import Database, change_log, claims
from flows.views.errors import FeederBusy, ViewsError
from flows.views.store import position

log = logging.getLogger(__name__)
SHARD_LOCK = 0x666C7673  # 'flvs': (SHARD_LOCK, k) is shard k's claim
MEMBER_LOCK = 0x666C766D  # 'flvm': (MEMBER_LOCK, n) is a following feeder's membership
MAX_SHARDS = 4096


class ShardClaims:
    """The shards this feeder's session (``writer``) owns."""

    def __init__(self, writer: Database) -> None:
        self.db = writer
        self.count = position.shard_count(writer)
        self.member: int | None = None
        self.expiring = False  # the session ends when idle too long (claims held)
        # SQLite: the one shard is the caller's while it holds the database's views lock.
        self.owned: set[int] = set() if writer.engine == "postgres" else set(range(self.count))

    def owns_all(self) -> bool:
        return len(self.owned) == self.count

    def claim_free(self, up_to: int | None = None) -> None:
        """Claim free shards until this feeder owns ``up_to`` (None: every free one)."""
        if self.db.engine != "postgres":
            return
        self._expire_when_idle()
        wanted = self.count if up_to is None else min(up_to, self.count)
        free = sorted(set(range(self.count)) - claims.held(self.db, SHARD_LOCK).keys())
        random.shuffle(free)  # feeders claiming at once mostly try different shards
        for shard in free:
            if len(self.owned) >= wanted:
                break
            if claims.try_claim(self.db, SHARD_LOCK, shard):
                self.owned.add(shard)

    def release(self, shards: set[int]) -> None:
        """Give these shards up (between batches: never inside a transaction)."""
        for shard in sorted(shards & self.owned):
            claims.release_claim(self.db, SHARD_LOCK, shard)
            self.owned.discard(shard)

    def join(self) -> None:
        """Become a member of the following feeders (counted in everyone's fair share)."""
        if self.db.engine != "postgres" or self.member is not None:
            return
        self._expire_when_idle()
        taken = claims.held(self.db, MEMBER_LOCK)
        for slot in range(len(taken) + MAX_SHARDS):
            if slot not in taken and claims.try_claim(self.db, MEMBER_LOCK, slot):
                self.member = slot
                return
        raise FeederBusy("no member slot is free for another feeder")  # pragma: no cover

    def fair_share(self) -> int:
        """The shards each following feeder owns once they settle."""
        return math.ceil(self.count / max(1, len(claims.held(self.db, MEMBER_LOCK))))

    def rebalance(self) -> None:
        """Release what this member holds beyond its fair share, claim free shards up to it."""
        if self.db.engine != "postgres":
            return
        self.join()
        if ended := claims.end_stalled_sessions(self.db, (SHARD_LOCK, MEMBER_LOCK)):
            log.warning("views: ended %d session(s) of feeders frozen mid-statement", ended)
        share = self.fair_share()
        if len(self.owned) > share:
            extra = set(sorted(self.owned)[share:])
            log.info("views: releasing %d shard(s) to other feeders", len(extra))
            self.release(extra)
        elif len(self.owned) < share:
            before = len(self.owned)
            self.claim_free(share)
            if len(self.owned) > before:
                log.info("views: now owning %d of %d shards", len(self.owned), self.count)

    @contextlib.contextmanager
    def kept_while_idle(self) -> Iterator[None]:
        """For a pause of this session on purpose (a rebuild works on other connections)."""
        if not self.expiring:
            yield
            return
        claims.keep_claims_when_idle(self.db)
        try:
            yield
        finally:
            claims.expire_claims_when_idle(self.db)

    def _expire_when_idle(self) -> None:
        """A frozen feeder's claims must expire: its session ends when idle too long."""
        if not self.expiring:
            claims.expire_claims_when_idle(self.db)
            self.expiring = True


def owners(db: Database) -> dict[int, int]:
    """PostgreSQL: shard → the process id (on the server) of the session owning it."""
    return claims.held(db, SHARD_LOCK)


@dataclass(frozen=True)
class ShardStatus:
    count: int
    owners: dict[int, int]  # shard → server process id of its owner (PostgreSQL)
    positions: dict[int, int]  # shard → its position
    logged: int  # the newest change logged

    def line(self) -> str:
        per_owner = Counter(self.owners.values())
        owned = ", ".join(f"pid {pid}: {n}" for pid, n in sorted(per_owner.items()))
        behind = sum(1 for at in self.positions.values() if at < self.logged)
        return (f"{self.count} shard{'s' * (self.count != 1)}; "
                + (f"owned by {len(per_owner)} feeder(s) ({owned}); " if per_owner else "")
                + (f"{self.count - len(self.owners)} not owned; " if self.owners else "")
                + f"{behind} behind change {self.logged} (the furthest at "
                f"{min(self.positions.values(), default=0)})")


def status(db: Database) -> ShardStatus:
    count = position.shard_count(db)
    return ShardStatus(count, owners(db) if db.engine == "postgres" else {},
                       position.shard_positions(db, range(count)), change_log.last_change(db))


def set_shard_count(writer: Database, owned: ShardClaims, shards: int) -> None:
    """Split the change log into ``shards`` from now on (PostgreSQL; ``owned`` must own
    every shard: no feeder runs). Logging waits meanwhile (the numbering lock); the changes
    not applied by every shard yet are placed again and every new shard starts at the old
    shards' lowest position (changes applied twice do no harm)."""
    if writer.engine != "postgres":
        raise ViewsError("SQLite has one writer and so one shard (one feeder); shards are for "
                         "PostgreSQL")
    if not 1 <= shards <= MAX_SHARDS:
        raise ViewsError(f"the shard count must be from 1 to {MAX_SHARDS}, not {shards}")
    if not owned.owns_all():
        raise FeederBusy(f"{owned.count - len(owned.owned)} of {owned.count} shards are "
                         "owned by running feeders: stop them first (flows views shards)")
    with writer.transaction():
        at = min(position.shard_positions(writer, range(owned.count)).values())
        change_log.reshard(writer, shards, at)
        position.start_shards_at(writer, shards, at)
    owned.release(set(owned.owned))
    owned.count = shards
