"""The views' errors."""

from __future__ import annotations


class ViewsError(Exception):
    """A problem maintaining the views (another feeder running, a statement refused)."""


class ViewsUnavailable(ViewsError):
    """The database went away while the views were updated (nothing of the batch in flight
    was committed; the next update goes on from the last committed batch)."""


class BadRow(ViewsError):
    """A row no rule of the views can read (written behind Flows' back): the meter it belongs
    to is quarantined, every other meter goes on."""


class FeederBusy(ViewsError):
    """Another process is updating the views of this database (one feeder at a time)."""
