"""One change years away from its neighbours (a year typo, a meter whose clock was reset) is
applied in bounded memory: `flows views update` runs in its own process, which reports the
kernel's count of its peak resident memory (VmHWM: the rusage of a child also counts the
parent it was forked from) as it exits."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.db import connect, migrate
from flows.devtools.processes import FLOWS_COMMAND
from flows.views import update
from flows.views.changes import KEEP_ROWS
from tests.views.helpers import HALF_HOUR, linked_meters, view_days, write_values

PEAK_RSS_BOUND_MB = 300  # the README states this bound
# `flows` as FLOWS_COMMAND runs it, printing its peak resident memory to stderr at exit.
REPORTING_PEAK = ("import atexit, sys\n"
                  "atexit.register(lambda: sys.stderr.write(open('/proc/self/status').read()))\n"
                  + FLOWS_COMMAND[-1])
START = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.mark.slow
def test_a_year_typo_is_applied_within_the_memory_bound(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    db = connect(url)
    migrate(db)
    register = linked_meters(db, meters=1)[0]
    write_values(db, [(register, START + n * HALF_HOUR, 5_000 + 100 * n) for n in range(96)])
    update(db)
    # A value dated twenty years too early: its span to the next value covers 350,000 half
    # hours, more than the feeder keeps in memory (the rest is spilled to a temporary file).
    typo_at = START.replace(year=2005)
    write_values(db, [(register, typo_at, 1_000)])
    half_hours = int((START + 95 * HALF_HOUR - typo_at) / HALF_HOUR)
    assert half_hours > KEEP_ROWS

    done = subprocess.run([sys.executable, "-c", REPORTING_PEAK, "views", "update",
                           "--database", url], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    peak_mb = int(re.findall(r"^VmHWM:\s+(\d+) kB", done.stderr, re.M)[-1]) / 1024
    print(f"peak RSS of the update: {peak_mb:.0f} MB")
    assert peak_mb < PEAK_RSS_BOUND_MB, f"peak RSS {peak_mb:.0f} MB"
    # Applied completely: every half hour from the typo on, adding up to the advance.
    counted = db.query("SELECT count(*) AS n, sum(wh) AS wh, min(timestamp) AS first_at "
                       "FROM register_interval_hh WHERE register_id = :r", {"r": register})[0]
    assert (counted["n"], int(counted["wh"]), counted["first_at"]) == (
        half_hours, 5_000 + 100 * 95 - 1_000, typo_at)
    meter_days, _ = view_days(db)
    assert len(meter_days) == (START.date() - typo_at.date()).days + 2  # through 2 March 2025
    assert sum(wh for wh, *_ in meter_days.values()) == 5_000 + 100 * 95 - 1_000
    # And the views go on from there.
    write_values(db, [(register, START + 96 * HALF_HOUR + timedelta(hours=1), 20_000)])
    update(db)
