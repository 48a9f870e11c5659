"""`flows demo` end to end (smaller than `make demo`): fleet, mediator, syncs, views, report."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from flows.devtools.processes import FLOWS_COMMAND


@pytest.mark.slow
def test_demo_reports_health_unhealthy_meters_and_daily_usage(tmp_path: Path) -> None:
    result = subprocess.run([*FLOWS_COMMAND, "demo", "--dir", str(tmp_path / "demo"),
                             "--meters", "60", "--days", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    health = re.search(r"Fleet health: (\d+) healthy, (\d+) unhealthy", out)
    assert health, out
    healthy, unhealthy = int(health.group(1)), int(health.group(2))
    assert healthy > 0 and unhealthy > 0 and healthy + unhealthy == 60
    listed = re.findall(r"unhealthy (EML\d+): (.+)", out)
    assert len(listed) == unhealthy and all(reason for _, reason in listed)
    usage_rows = re.findall(r"C000\d: (.+)", out)
    assert len(usage_rows) == 5 and all(re.search(r"\d+\.\d\d", row) for row in usage_rows)
    assert "flows keys create" in out and "flows serve --views --database" in out
