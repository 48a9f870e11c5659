"""flows.views: half-hourly intervals and daily usage per customer, meter and local day,
maintained incrementally with flows.ivm from the history tables, exactly once.

    summary = update(db)                  # catch up with every profile-log change
    rows = usage(db, meter_id=..., period_from=..., period_to=..., group_by="day")
"""

from flows.views.feeder import UpdateSummary, ViewsError, follow, update
from flows.views.usage import UsageRow, usage

__all__ = ["UpdateSummary", "UsageRow", "ViewsError", "follow", "update", "usage"]
