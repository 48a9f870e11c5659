"""flows.views: half-hourly intervals and daily usage per meter, customer and esco, maintained
incrementally from the change log, exactly once (the touched keys recomputed set-based).

    summary = update(db)                  # catch up with every logged change
    rows = usage(db, meter_id=..., period_from=..., period_to=..., group_by="day")

Where things are: `rules` (the interval rules and half-hour quality, with their SQL twins),
`changes` (what a batch of changes touches), `feeder` (update, follow), `shards` (the change
log split by meter, feeders' claims on the shards), `rebuild`, `usage` (reading), `store` (the
views' tables: all their SQL).
"""

from flows.views.corrections import correct
from flows.views.errors import FeederBusy, ViewsError
from flows.views.feeder import UpdateSummary, follow, update
from flows.views.freshness import Freshness, freshness
from flows.views.rules import DayTotal, quality
from flows.views.store.intervals import latest_interval
from flows.views.store.position import views_position
from flows.views.store.quarantine import Quarantined, quarantined
from flows.views.usage import UsageRow, usage

__all__ = ["DayTotal", "FeederBusy", "Freshness", "Quarantined", "UpdateSummary", "UsageRow", "ViewsError",
           "correct", "follow", "freshness", "latest_interval", "quality", "quarantined",
           "update", "usage", "views_position"]
