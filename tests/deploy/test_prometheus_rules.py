"""The Prometheus alert rules shipped in deploy/prometheus: valid for promtool, each alert with a
unit test where it fires and one where it stays quiet (`promtool test rules`), over metrics
Flows really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "flows-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "flows-alerts.test.yml"
# Metrics Prometheus makes itself, not Flows.
PROMETHEUS_OWN = {"up"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make promtool` installs Debian's prometheus package"
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=120,
                          cwd=RULES.parent)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_rules_are_valid_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts without a test where they fire"
    assert names - quiet == set(), "alerts without a test where they stay quiet"


def test_the_rules_read_metrics_flows_exports() -> None:
    """A metric renamed in Flows and not in the rules would leave an alert silent forever."""
    source = "\n".join(path.read_text() for path in (ROOT / "flows").rglob("*.py"))
    exported = set(re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"(\w+)"', source))
    for rule in alerts():
        for metric in set(re.findall(r"\b([a-z_]+)\{", rule["expr"])) - PROMETHEUS_OWN:
            base = metric.removesuffix("_total")
            assert base in exported, f"{rule['alert']} reads {metric}, which Flows does not export"
