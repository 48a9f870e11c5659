"""How fresh the views are: how many logged changes they have not applied yet, since when
they lag, and how many meters wait in quarantine (for /readyz, /metrics, usage responses and
the dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flows.db import Database
from flows.db.change_log import last_change
from flows.views.store import position, quarantine


@dataclass(frozen=True)
class Freshness:
    applied: int  # the last change the views applied
    logged: int  # the last change logged
    quarantined: int  # meters whose changes wait in quarantine
    caught_up_at: datetime | None  # when the views last saw every change applied
    now: datetime

    @property
    def lag_changes(self) -> int:
        return max(0, self.logged - self.applied)

    @property
    def data_as_of(self) -> datetime | None:
        """Usage reflects every change committed up to this time (None: the views never
        caught up)."""
        return self.now if self.lag_changes == 0 else self.caught_up_at

    @property
    def lag_seconds(self) -> float:
        """How long the views have lagged behind the change log (0: they have not): the
        oldest change waiting was logged after the views last saw none waiting (a running
        feeder looks every few seconds; `flows views update` from cron at each run)."""
        if self.lag_changes == 0:
            return 0.0
        since = self.caught_up_at
        return (self.now - since).total_seconds() if since is not None else float("inf")

    def problems(self, stale_after_s: float) -> list[str]:
        """What makes the views degraded: quarantined meters, or a lag beyond ``stale_after_s``."""
        found = []
        if self.quarantined:
            found.append(f"{self.quarantined} meter(s) quarantined by the views "
                         "(flows views quarantine)")
        if self.lag_seconds > stale_after_s:
            found.append(f"the views are {self.lag_changes:,} changes behind since "
                         + (f"{self.caught_up_at:%Y-%m-%d %H:%M:%S} UTC" if self.caught_up_at
                            else "they started") + " (is a feeder running? flows views follow)")
        return found


def freshness(db: Database) -> Freshness:
    return Freshness(position.views_position(db), last_change(db), quarantine.count(db),
                     position.caught_up_at(db), datetime.now(UTC))
