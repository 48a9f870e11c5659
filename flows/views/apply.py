"""Applying changes to the views: a batch of the change log in one transaction, or meter by
meter with the meters that fail quarantined (`flows.views.store.quarantine`).

The steps of a batch: the touched keys ((register, local days) for changed values; every day
of a meter whose registers, customer links or esco changed); their half hours computed again
from the base tables and only the difference written to ``register_interval_hh``; the days
whose half hours changed refreshed in every daily aggregate; the position moved.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from uuid import UUID

from flows.db import ConflictError, Database, is_unavailable, partitions, registry
from flows.db.change_log import ChangeBatch
from flows.views.changes import (
    SOURCE_DIRECTION,
    ValueEnds,
    compute,
    interval_days,
    meter_days,
    value_days,
)
from flows.views.checks import check_links, check_value_windows
from flows.views.errors import ViewsError
from flows.views.store import aggregates, intervals, position, quarantine

log = logging.getLogger(__name__)

Windows = dict[tuple[str, UUID], tuple[datetime, datetime]]


def apply_batch(writer: Database, changed: ChangeBatch, feed: str,
                statistics: intervals.Statistics | None = None) -> int:
    """One batch, in one transaction: the touched half hours written, the touched days of
    every aggregate refreshed, the position of ``feed`` (the batch's shard) moved; its last
    change number.

    The changes of quarantined meters are left aside (a retry applies their whole history,
    releasing them in the same transaction). When the batch cannot be applied (a row no rule
    can read), it is applied meter by meter instead and the meters that fail are quarantined
    with their error: one bad row never stops the other meters."""
    windows, meters = changed.value_windows(), changed.changed_meters()
    retried = changed.retried_meters()
    aside = quarantine.quarantined_meters(writer) - retried
    if aside:
        windows, meters = _without(writer, windows, meters, aside)
    if retried:
        windows = {**windows, **whole_history(writer, retried)}
        meters |= retried
    try:
        _apply(writer, windows, meters, retried, (feed, changed.last), statistics)
    except Exception as error:
        if is_unavailable(error):
            raise
        log.warning("views: the batch up to change %d could not be applied (%s); applying it "
                    "meter by meter", changed.last, error)
        _apply_meter_by_meter(writer, windows, meters, retried, (feed, changed.last), statistics)
    return changed.last


def _apply(writer: Database, windows: Windows, meters: set[UUID], released: set[UUID],
           moved: tuple[str, int] | None, statistics: intervals.Statistics | None) -> None:
    """The changed values (``windows``) and changed meters applied in one transaction, the
    ``released`` meters taken out of quarantine and ``moved`` — (feed, last change) — the
    position moved (None: left where it is)."""
    check_value_windows(windows)
    registers = {register for _, register in windows}
    with writer.transaction():
        # Computed inside the transaction, under the write locks: what another feeder writing
        # the same meters committed first is counted, never written over (`lock_writes`).
        intervals.lock_writes(writer, registers, meters)
        ends = ValueEnds(writer, registers)
        writes = compute(writer, value_days(writer, windows, ends,
                                            partitions.history_kept_from(writer)), ends)
        try:
            writes.write(writer)
            touched = registry_days(writer, meters)
            for meter, days in meter_days(registry.meters_of_registers(writer, writes.days),
                                          writes.days).items():
                touched.setdefault(meter, set()).update(days)
            # A link reaches the views only as a change of its meter (a registry change), so
            # only those meters' links need reading again.
            check_links(writer, meters)
            aggregates.refresh(writer, touched)
            for meter in released:
                quarantine.release(writer, meter)
            if moved is not None:
                position.write_position(writer, *moved)
        finally:
            writes.close()
    if statistics is not None:
        statistics.written(writes.new_rows)


def _apply_meter_by_meter(writer: Database, windows: Windows, meters: set[UUID],
                          released: set[UUID], moved: tuple[str, int],
                          statistics: intervals.Statistics | None) -> None:
    """Each meter's part of a batch in a transaction of its own; a meter whose part fails is
    quarantined. Then the position moves (a crash before it applies the parts again: states
    are compared, so that does no harm)."""
    meter_of = registry.meters_of_registers(writer, {register for _, register in windows})
    parts: dict[UUID, Windows] = {meter: {} for meter in meters}
    for key, window in windows.items():
        if key[1] in meter_of:  # a register removed since has nothing left to show
            parts.setdefault(meter_of[key[1]], {})[key] = window
    for meter, part in parts.items():
        try:
            _apply_meter(writer, meter, part, {meter} & meters, {meter} & released, statistics)
        except Exception as error:
            if is_unavailable(error):
                raise
            _quarantine(writer, meter, error, moved[1])
    with writer.transaction():
        position.write_position(writer, *moved)


def apply_meters(writer: Database, meters: list[UUID], change: int) -> None:
    """The whole history of each of these meters applied again, each in a transaction of its
    own; the meters that fail are quarantined (with ``change``, the change log's number the
    caller has reached)."""
    for meter in meters:
        try:
            _apply_meter(writer, meter, whole_history(writer, {meter}), {meter}, set(), None)
        except Exception as error:
            if is_unavailable(error):
                raise
            _quarantine(writer, meter, error, change)


KEY_TAKEN_ATTEMPTS = 3


def _apply_meter(writer: Database, meter: UUID, windows: Windows, meters: set[UUID],
                 released: set[UUID], statistics: intervals.Statistics | None) -> None:
    """One meter's part, computed again when another writer committed some of the same new
    half hours between its computing and its writing (a feeder whose register moved to this
    meter in the middle of its batch, past the write locks; a tool writing the table): a
    race, not a bad row, so it quarantines the meter only when it keeps happening."""
    for attempt in range(1, KEY_TAKEN_ATTEMPTS + 1):
        try:
            _apply(writer, windows, meters, released, None, statistics)
            return
        except Exception as error:
            # ConflictError: a unique key taken (flows.db translates the driver's errors).
            if attempt == KEY_TAKEN_ATTEMPTS or not isinstance(error, ConflictError):
                raise
            log.warning("views: meter %s: another writer stored some of its half hours first "
                        "(%s); computing them again", meter, error)


def _quarantine(writer: Database, meter: UUID, error: Exception, change: int) -> None:
    log.error("views: meter %s quarantined: %s", meter, error,
              extra={"event": "views_quarantined", "meter_id": str(meter)})
    with writer.transaction():
        quarantine.quarantine(writer, meter, _error_text(error), change)


def _error_text(error: Exception) -> str:
    return str(error) if isinstance(error, ViewsError) else f"{type(error).__name__}: {error}"


def _without(writer: Database, windows: Windows, meters: set[UUID], aside: set[UUID]
             ) -> tuple[Windows, set[UUID]]:
    """The batch without the changes of the meters set ``aside``."""
    meter_of = registry.meters_of_registers(writer, {register for _, register in windows})
    return ({key: window for key, window in windows.items() if meter_of.get(key[1]) not in aside},
            meters - aside)


def whole_history(writer: Database, meters: set[UUID]) -> Windows:
    """Each value source's first and last value of every register of these meters: applied
    as changes, they compute every half hour of the meters again."""
    registers = [register for register, _ in registry.register_meters(writer, meters)]
    ends = ValueEnds(writer, registers)
    return {(source, register): found for source in SOURCE_DIRECTION for register in registers
            if (found := ends.of(source, register)) is not None}


def registry_days(db: Database, meters: set[UUID]) -> dict[UUID, set[date]]:
    """Every day of these meters (their registers, links or esco changed): the days the views
    hold for them and the days of their registers' half hours."""
    if not meters:
        return {}
    days = aggregates.held_days(db, meters)
    for meter, of_intervals in interval_days(db, dict(registry.register_meters(db, meters))).items():
        days.setdefault(meter, set()).update(of_intervals)
    return days


