"""The Prometheus alert rules shipped in deploy/prometheus: valid for promtool, each alert with a
unit test where it fires and one where it stays quiet (`promtool test rules`), over metrics
Flows really exports."""

from __future__ import annotations

import json
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
    for rule in alerts():
        assert_exported(rule["alert"], rule["expr"])


def exported_metrics() -> set[str]:
    source = "\n".join(path.read_text() for path in (ROOT / "flows").rglob("*.py"))
    return set(re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"(\w+)"', source))


def assert_exported(where: str, expr: str) -> None:
    read = set(re.findall(r"\b([a-z_]+)(?:\{|\[)", expr))
    assert read, f"{where}: no metric found in {expr!r}"
    for metric in read - PROMETHEUS_OWN:
        assert metric.removesuffix("_total") in exported_metrics(), (
            f"{where} reads {metric}, which Flows does not export")


GRAFANA = ROOT / "deploy" / "grafana" / "flows-dashboard.json"


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(GRAFANA.read_text())["panels"]
    return [(panel["title"], target["expr"]) for panel in panels for target in panel["targets"]]


def test_the_grafana_dashboard_queries_parse_and_read_what_flows_exports(tmp_path: Path) -> None:
    """Each panel's query is valid PromQL (promtool parses it as a recording rule) over
    metrics Flows exports; the panels do not overlap."""
    queries = dashboard_queries()
    recording = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"flows_dashboard_panel_{n}", "expr": expr}
        for n, (_, expr) in enumerate(queries)]}]}
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(recording))
    checked = promtool("check", "rules", str(tmp_path / "dashboard-rules.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for title, expr in queries:
        assert_exported(title, expr)
    taken: set[tuple[int, int]] = set()
    for panel in json.loads(GRAFANA.read_text())["panels"]:
        place = panel["gridPos"]
        cells = {(x, y) for x in range(place["x"], place["x"] + place["w"])
                 for y in range(place["y"], place["y"] + place["h"])}
        assert not cells & taken and max(x for x, _ in cells) < 24, panel["title"]
        taken |= cells
