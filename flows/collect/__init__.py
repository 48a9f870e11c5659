"""flows.collect: sync cycles over the fleet through the mediator, with health tracking."""

from flows.collect.sync import CycleSummary, sync_cycle, sync_meter
from flows.collect.syncers import SYNCERS

__all__ = ["SYNCERS", "CycleSummary", "sync_cycle", "sync_meter"]
