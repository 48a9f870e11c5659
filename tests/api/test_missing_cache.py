"""Missing half hours kept between changes of the views: the same answer while the views
stand, a new one as soon as they apply a change (a real database, a real views update)."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.api.missing_cache import MissingHalfHours
from flows.db import Database, registry, shadows
from flows.views import update
from tests.db.test_monitoring import profile

NOW = datetime(2025, 6, 6, 12, tzinfo=UTC)


def test_recomputed_only_when_the_views_move_on(db: Database) -> None:
    meter = registry.add_meter(db, "EML1", "127.30.0.1", "C1.w", None)
    shadows.update_shadow_healthy(db, meter, {"csq": 20, "csq_at": NOW})
    profile(db, registry.register_id(db, "EML1", "A"), datetime(2025, 6, 1, 9, tzinfo=UTC), NOW)
    update(db)
    missing = MissingHalfHours()
    first = missing(db, NOW)
    assert first == [{"serial": "EML1", "missing": 4 * 48}]  # element B: 2–5 June
    assert missing(db, NOW) is first  # the views stand: kept
    profile(db, registry.register_id(db, "EML1", "B"), datetime(2025, 6, 1, 9, tzinfo=UTC), NOW)
    assert missing(db, NOW) is first  # logged, not yet applied: as of the views' position
    update(db)
    assert missing(db, NOW) == []  # applied: computed again
