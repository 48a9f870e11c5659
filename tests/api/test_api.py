"""The HTTP API over a real server: auth, meters, consumption, fleet health, metrics, admin
actions, bad parameters and injection attempts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from flows.cli import main as cli
from flows.db import api_keys
from tests.api.conftest import ADMIN_KEY, DAYS, READ_KEY, START, Served

READ = {"Authorization": f"Bearer {READ_KEY}"}
ADMIN = {"X-API-Key": ADMIN_KEY}
PERIOD = {"period_from": "2025-03-28T00:00:00Z", "period_to": "2025-04-01T00:00:00Z"}


def get(served: Served, path: str, headers: dict[str, str] | None = READ, **params: object
        ) -> httpx.Response:
    return httpx.get(served.url + path, headers=headers, params=params, timeout=30)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/meters", "/meters/EML0000", "/fleet/health",
                                  "/meters/EML0000/consumption?period_from=2025-03-28T00:00:00Z"
                                  "&period_to=2025-03-29T00:00:00Z", "/"])
def test_no_key_is_401_and_unknown_key_is_401(served: Served, path: str) -> None:
    expected = 303 if path == "/" else 401  # a page without a session: to the login form
    response = httpx.get(served.url + path)
    assert response.status_code == expected
    if expected == 303:
        assert response.headers["location"] == "/login"
    assert httpx.get(served.url + path, headers={"Authorization": "Bearer nope-nope-nope"}
                     ).status_code == 401


def test_a_key_in_the_url_is_refused_and_never_logged(served: Served) -> None:
    response = httpx.get(served.url + "/meters", params={"key": READ_KEY})
    assert response.status_code == 401 and "?key= is not accepted" in response.text
    assert get(served, "/meters").status_code == 200
    log = served.log.read_text()
    assert READ_KEY not in log and ADMIN_KEY not in log
    logged = [json.loads(line) for line in log.splitlines() if '"event": "request"' in line]
    assert any(line["path"] == "/meters" and line["status"] == 200
               and line["key"].startswith("read-key-") for line in logged)


def test_named_keys_work_until_revoked(served: Served) -> None:
    key = api_keys.create(served.db, "billing-team", "read")
    assert httpx.get(served.url + "/meters", headers={"X-API-Key": key}).status_code == 200
    assert httpx.put(served.url + "/meters/EML0000/reads", headers={"X-API-Key": key},
                     json={"timestamp": "2025-03-29T10:00:00Z", "wh": 1}).status_code == 403
    api_keys.revoke(served.db, "billing-team")
    assert httpx.get(served.url + "/meters", headers={"X-API-Key": key}).status_code == 401
    assert [row["name"] for row in api_keys.listed(served.db)] == ["billing-team"]
    assert key not in str(served.db.query("SELECT * FROM api_keys"))


def test_pages_say_what_they_may_load_and_the_schema_declares_the_schemes(served: Served) -> None:
    login = httpx.get(served.url + "/login")
    policy = login.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert login.headers["x-content-type-options"] == "nosniff"
    schemes = httpx.get(served.url + "/openapi.json").json()["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} == {"http", "apiKey"}


def test_health_endpoints_need_no_key(served: Served) -> None:
    assert httpx.get(served.url + "/healthz").text == "ok\n"
    ready = httpx.get(served.url + "/readyz")
    assert ready.status_code == 200 and ready.text == "ready\n"


def test_read_key_on_admin_endpoints_is_403(served: Served) -> None:
    body = {"timestamp": "2025-03-29T10:00:00Z", "wh": 1}
    assert httpx.put(served.url + "/meters/EML0000/reads", json=body, headers=READ).status_code == 403
    assert httpx.delete(served.url + "/meters/EML0000/reads", headers=READ,
                        params={"timestamp": "2025-03-29T10:00:00Z"}).status_code == 403
    assert httpx.post(served.url + "/meters/EML0000/sync", headers=READ).status_code == 403


def test_meters_with_health_and_pagination(served: Served) -> None:
    first = get(served, "/meters", page_size=2).json()
    assert [m["serial"] for m in first["results"]] == ["EML0000", "EML0001"]
    rest = get(served, "/meters", page_size=2, cursor=first["next"]).json()
    assert [m["serial"] for m in rest["results"]] == ["EML0002"] and rest["next"] is None
    unhealthy = get(served, "/meters", health="unhealthy").json()["results"]
    assert [m["serial"] for m in unhealthy] == ["EML0002"]
    meter = get(served, "/meters/EML0002").json()
    assert meter["health"] == "unhealthy" and "failed to connect" in meter["health_details"]
    assert meter["esco"] == "ESCO1" and meter["registers"][0]["element"] == "A"
    assert get(served, "/meters/NOPE").status_code == 404
    # The shadow holds deci-volts (as the deployed collector stores them); the API shows volts.
    assert get(served, "/meters/EML0000").json()["voltage"] == "231.1"


def test_consumption_octopus_like(served: Served) -> None:
    page = get(served, "/meters/EML0001/consumption", group_by="hh", page_size=48,
               order_by="period", **PERIOD).json()
    assert page["count"] == DAYS * 48 and page["previous"] is None
    first = page["results"][0]
    assert first["interval_start"].startswith("2025-03-28T00:00:00")
    assert first["interval_end"].startswith("2025-03-28T00:30:00")
    assert Decimal(first["consumption"]) == Decimal("0.110") and first["unit"] == "kWh"
    assert first["quality"] == "actual"
    # next/previous are the URLs of the neighbouring pages; count is the whole result's.
    # Relative links (no public URL configured): never built from the Host header.
    assert page["next"].startswith("/meters/")
    following = httpx.get(served.url + page["next"], headers=READ, timeout=30).json()
    assert datetime.fromisoformat(following["results"][0]["interval_start"]) == START + timedelta(days=1)
    assert following["count"] == page["count"] and "page=2" in page["next"]
    assert httpx.get(served.url + following["previous"], headers=READ,
                     timeout=30).json()["results"] == page["results"]
    # Newest first by default, as Octopus.
    newest = get(served, "/meters/EML0001/consumption", group_by="hh", page_size=48, **PERIOD).json()
    starts = [datetime.fromisoformat(row["interval_start"]) for row in newest["results"]]
    assert starts == [START + timedelta(days=DAYS) - n * timedelta(minutes=30) for n in range(1, 49)]
    days = get(served, "/meters/EML0001/consumption", group_by="day", order_by="period",
               **PERIOD).json()["results"]
    # 28 March: 48 half hours of 110 Wh; 30 March (clock change, 46 half hours in London).
    by_day = {row["interval_start"][:10]: Decimal(row["consumption"]) for row in days}
    assert by_day["2025-03-28"] == Decimal("5.28") and by_day["2025-03-30"] == Decimal("5.06")
    customer = get(served, "/customers/C1/usage", group_by="day", **PERIOD).json()["results"]
    assert {row["interval_start"][:10]: Decimal(row["consumption"]) for row in customer} == by_day
    assert get(served, "/customers/NOPE/usage", **PERIOD).status_code == 404
    # Hours are two half hours; a quarter holds its months; both ends of the period may be left out.
    hours = get(served, "/meters/EML0001/consumption", group_by="hour", order_by="period",
                page_size=2, **PERIOD).json()
    assert hours["count"] == DAYS * 24  # UTC hours (London's offsets are whole hours)
    assert Decimal(hours["results"][0]["consumption"]) == Decimal("0.220")
    quarters = get(served, "/meters/EML0001/consumption", group_by="quarter", **PERIOD).json()
    # The period cuts both quarters: each row says so and has the cut's bounds.
    assert [(row["interval_start"], row["interval_end"], row["partial"]) for row in quarters["results"]] == [
        ("2025-04-01T00:00:00+01:00", "2025-04-01T00:00:00Z", True),
        ("2025-03-28T00:00:00Z", "2025-04-01T00:00:00+01:00", True)]
    assert sum(Decimal(row["consumption"]) for row in quarters["results"]) == sum(by_day.values())
    everything = get(served, "/meters/EML0001/consumption", group_by="day").json()
    assert {row["interval_start"][:10]: Decimal(row["consumption"])
            for row in everything["results"]} == by_day
    assert get(served, "/meters/EML0001/consumption", page=99, **PERIOD).status_code == 404


def test_days_carry_their_counts_and_export_is_served(served: Served) -> None:
    days = get(served, "/meters/EML0001/consumption", group_by="day", order_by="period",
               **PERIOD).json()["results"]
    assert [(row["interval_start"][:10], row["quality"], row["counts"]) for row in days[1:3]] == [
        ("2025-03-29", "actual", {"actual": 48, "estimated": 0, "invalid": 0, "missing": 0,
                                  "expected": 48}),
        ("2025-03-30", "actual", {"actual": 46, "estimated": 0, "invalid": 0, "missing": 0,
                                  "expected": 46})]
    assert Decimal(days[0]["invalid_consumption"]) == 0
    # Half hours carry no counts: their quality is their own.
    (half_hour,) = get(served, "/meters/EML0001/consumption", group_by="hh", page_size=1,
                       **PERIOD).json()["results"]
    assert half_hour["counts"] is None and half_hour["quality"] == "actual"
    export = get(served, "/meters/EML0001/consumption", group_by="day", order_by="period",
                 direction="export", **PERIOD).json()["results"]
    # Apportioned from reads 12 hours apart: estimated, 1.2 kWh a day (46/48 of it on 30 March).
    assert {row["quality"] for row in export} == {"estimated"}
    assert Decimal(export[0]["consumption"]) == Decimal("1.2")
    customer_export = get(served, "/customers/C1/usage", group_by="day", order_by="period",
                          direction="export", **PERIOD).json()["results"]
    assert [row["consumption"] for row in customer_export] == [row["consumption"] for row in export]
    assert get(served, "/meters/EML0001/consumption", direction="both").status_code == 422


def test_an_escos_usage_adds_up_its_meters(served: Served) -> None:
    for direction in ("import", "export"):
        params = {"group_by": "day", "order_by": "period", "direction": direction, **PERIOD}
        esco = get(served, "/escos/ESCO1/usage", **params).json()["results"]
        meters = [get(served, f"/meters/{serial}/consumption", **params).json()["results"]
                  for serial in ("EML0000", "EML0001", "EML0002")]
        assert len(esco) == DAYS + 1 and [row["interval_start"] for row in esco] == [
            row["interval_start"] for row in meters[0]]
        for n, row in enumerate(esco):
            assert Decimal(row["consumption"]) == sum(Decimal(m[n]["consumption"]) for m in meters)
            assert row["counts"] == {name: sum(m[n]["counts"][name] for m in meters)
                                     for name in row["counts"]}
        months = get(served, "/escos/ESCO1/usage", **{**params, "group_by": "month"}).json()
        assert sum(Decimal(row["consumption"]) for row in months["results"]) == sum(
            Decimal(row["consumption"]) for row in esco)
    cli_lines = CliRunner().invoke(cli, [
        "usage", "--esco", "ESCO1", "--from", PERIOD["period_from"][:10],
        "--to", PERIOD["period_to"][:10], "--database", served.database_url]).output.splitlines()
    assert len(cli_lines) == DAYS + 1 and all("kWh" in line for line in cli_lines)
    assert "partial" in cli_lines[-1]  # 1 April from midnight BST to midnight UTC
    assert get(served, "/escos/ESCO1/usage", group_by="hh", **PERIOD).status_code == 422
    assert get(served, "/escos/NOPE/usage", **PERIOD).status_code == 404


def test_a_period_that_cuts_a_day_says_so(served: Served) -> None:
    """From noon: the day's row starts at noon, is partial, and holds only the afternoon."""
    whole = get(served, "/meters/EML0001/consumption", group_by="day", order_by="period",
                period_from="2025-03-28T00:00:00Z", period_to="2025-03-29T00:00:00Z").json()["results"]
    assert [(row["interval_start"], row["partial"]) for row in whole] == [("2025-03-28T00:00:00Z", False)]
    afternoon = get(served, "/meters/EML0001/consumption", group_by="day", order_by="period",
                    period_from="2025-03-28T12:00:00Z", period_to="2025-03-29T00:00:00Z").json()["results"]
    assert [(row["interval_start"], row["interval_end"], row["partial"]) for row in afternoon] == [
        ("2025-03-28T12:00:00Z", "2025-03-29T00:00:00Z", True)]
    assert Decimal(afternoon[0]["consumption"]) * 2 == Decimal(whole[0]["consumption"])


@pytest.mark.parametrize("params, message", [
    ({"group_by": "year"}, "group_by"),
    ({"period_from": "2025-03-29T00:00:00Z", "period_to": "2025-03-28T00:00:00Z"}, "later"),
    ({"period_from": "2025-03-28T00:00:00"}, "timezone"),
    ({"page_size": 0}, "page_size"),
    ({"period_from": "yesterday"}, "period_from"),
])
def test_invalid_parameters_are_422_with_a_clear_message(served: Served, params: dict[str, str],
                                                         message: str) -> None:
    response = get(served, "/meters/EML0000/consumption", **{**PERIOD, **params})
    assert response.status_code == 422
    assert message in response.text


def test_fleet_health_and_metrics(served: Served) -> None:
    health = get(served, "/fleet/health").json()
    assert health["counts"]["active"] == 3 and health["counts"]["healthy"] == 2
    assert [(m["serial"], "failed to connect" in m["details"]) for m in health["unhealthy"]] == [
        ("EML0002", True)]
    assert [m["serial"] for m in health["low_balance"]] == ["EML0001"]
    last_healthy = datetime.fromisoformat(health["last_healthy_sync_at"])
    assert datetime.now(UTC) - last_healthy < timedelta(minutes=10)  # synced by the fixture
    metrics = httpx.get(served.url + "/metrics").text
    assert 'flows_meters{state="unhealthy"} 1.0' in metrics
    samples = {sample.name: sample.value for family in text_string_to_metric_families(metrics)
               for sample in family.samples}
    assert samples["flows_last_healthy_sync_timestamp_seconds"] == last_healthy.timestamp()


def test_admin_corrects_a_read_and_the_views_follow(served: Served) -> None:
    stamp = "2025-03-29T10:00:00Z"
    before = get(served, "/meters/EML0000/consumption", group_by="hh", page_size=1,
                 period_from="2025-03-29T09:30:00Z", period_to="2025-03-29T10:00:00Z").json()
    response = httpx.put(served.url + "/meters/EML0000/reads", headers=ADMIN,
                         json={"timestamp": stamp, "wh": 10_000 + 68 * 100 + 25,
                               "reason": "meter photo"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["old_wh"] == 10_000 + 68 * 100 and answer["change"] > 0
    # `flows serve --views` applies it within seconds: the audit trail says when.
    deadline = time.monotonic() + 20
    while not get(served, "/meters/EML0000/corrections").json()["results"][0]["views_applied"]:
        assert time.monotonic() < deadline, "the server's views did not apply the correction"
        time.sleep(0.1)
    after = get(served, "/meters/EML0000/consumption", group_by="hh", page_size=1,
                period_from="2025-03-29T09:30:00Z", period_to="2025-03-29T10:00:00Z").json()
    assert Decimal(after["results"][0]["consumption"]) == Decimal(
        before["results"][0]["consumption"]) + Decimal("0.025")
    (audit,) = get(served, "/meters/EML0000/corrections").json()["results"]
    assert audit["actor"].startswith("admin-key-") and ADMIN_KEY not in audit["actor"]
    assert (audit["old_wh"], audit["new_wh"], audit["reason"]) == (
        10_000 + 68 * 100, 10_000 + 68 * 100 + 25, "meter photo")
    assert httpx.put(served.url + "/meters/EML0000/reads", headers=ADMIN,
                     json={"timestamp": "2025-03-29T10:00:00", "wh": 5,
                           "reason": "x"}).status_code == 422
    reversal = httpx.put(served.url + "/meters/EML0000/reads", headers=ADMIN,
                         json={"timestamp": stamp, "wh": 0, "reason": "typo"})
    assert reversal.status_code == 422 and "allow_reversal" in reversal.text
    assert httpx.put(served.url + "/meters/EML0000/reads", headers=ADMIN,
                     json={"timestamp": "2025-03-29T10:07:00Z", "wh": 16_900,
                           "reason": "x"}).status_code == 422  # off the half-hour grid
    missing = httpx.delete(served.url + "/meters/EML0000/reads", headers=ADMIN,
                           params={"timestamp": "2020-01-01T00:00:00Z", "reason": "x"})
    assert missing.status_code == 404 and "no profile value" in missing.text
    assert httpx.post(served.url + "/meters/EML0000/sync", headers=ADMIN).status_code == 409


@pytest.mark.parametrize("body, message", [
    ({"timestamp": "2025-03-29T10:00:00Z", "wh": 5, "Element": "B"}, "Extra inputs"),
    ({"timestamp": "2025-03-29T10:00:00Z", "wh": "NaN"}, "integer"),
    ({"timestamp": "2025-03-29T10:00:00Z", "wh": 5.5}, "integer"),
    ({"timestamp": "0", "wh": 5}, "between"),  # read as 1970-01-01, seconds since the epoch
    ({"timestamp": "-1", "wh": 5}, "between"),
    ({"timestamp": "0001-01-01T00:00:00+01:00", "wh": 5}, "between"),
    ({"timestamp": "9999-12-31T23:00:00-01:00", "wh": 5}, "between"),
    ({"timestamp": "2099-01-01T00:00:00Z", "wh": 5}, "in the future"),
    ({"timestamp": "2016-03-29T10:00:00Z", "wh": 5}, "before the register's first"),
    ({"timestamp": "2025-03-29T10:00:00Z", "wh": 2**32}, "less than or equal"),
])
def test_absurd_corrections_are_422_and_store_nothing(served: Served, body: dict[str, object],
                                                      message: str) -> None:
    before = served.db.query("SELECT count(*) AS n FROM value_corrections")[0]["n"]
    response = httpx.put(served.url + "/meters/EML0001/reads", headers=ADMIN,
                         json={"reason": "test", **body})
    assert response.status_code == 422 and message in response.text, response.text
    assert served.db.query("SELECT count(*) AS n FROM value_corrections")[0]["n"] == before


@pytest.mark.parametrize("period_from", ["0001-01-01T00:00:00+01:00", "9999-12-31T00:00:00-05:00"])
def test_periods_far_out_are_422_not_500(served: Served, period_from: str) -> None:
    response = get(served, "/meters/EML0001/consumption", period_from=period_from)
    assert response.status_code == 422 and "between" in response.text


INJECTIONS = ["'; DROP TABLE meter_registry; --", "\" OR 1=1 --", "EML0000' OR '1'='1"]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_sql_injection_strings_are_harmless(served: Served, attack: str) -> None:
    assert get(served, f"/meters/{attack}").status_code == 422  # not a serial at all
    assert "pattern" in get(served, f"/meters/{attack}").text
    assert get(served, "/meters", esco=attack).json()["results"] == []
    assert get(served, "/meters", cursor=attack).status_code == 200
    assert get(served, f"/customers/{attack}/usage", **PERIOD).status_code == 404
    assert get(served, f"/meters/{attack}/consumption", **PERIOD).status_code == 422
    assert get(served, "/meters/EML0000/consumption", group_by=attack, **PERIOD).status_code == 422
    assert get(served, "/meters/EML0000/consumption", page=attack, **PERIOD).status_code == 422
    assert get(served, "/meters/EML0000/consumption", order_by=attack, **PERIOD).status_code == 422
    assert len(get(served, "/meters").json()["results"]) == 3  # nothing dropped or changed


def test_admin_links_and_ends_links_with_the_rules_of_the_cli_audited(served: Served) -> None:
    from flows.db import customers

    customers.add_customer(served.db, "MOVER")
    base = served.url
    end = httpx.post(f"{base}/meters/EML0002/links/end", headers=ADMIN, timeout=30,
                     json={"at": "2025-06-02", "reason": "moved out"})
    assert end.status_code == 200, end.text
    assert end.json()["valid_to"] == "2025-06-01T23:00:00Z"  # local midnight (BST)
    refused = httpx.post(f"{base}/customers/MOVER/links", headers=ADMIN, timeout=30,
                         json={"serial": "EML0002", "valid_from": "0001-01-01",
                               "reason": "typo"})
    assert refused.status_code == 422 and "outside the dates" in refused.text
    no_reason = httpx.post(f"{base}/customers/MOVER/links", headers=ADMIN, timeout=30,
                           json={"serial": "EML0002", "valid_from": "2025-06-02"})
    assert no_reason.status_code == 422
    assert httpx.post(f"{base}/customers/MOVER/links", headers=READ, timeout=30,
                      json={"serial": "EML0002", "valid_from": "2025-06-02",
                            "reason": "moved in"}).status_code == 403
    linked = httpx.post(f"{base}/customers/MOVER/links", headers=ADMIN, timeout=30,
                        json={"serial": "EML0002", "valid_from": "2025-06-02",
                              "reason": "moved in"})
    assert linked.status_code == 201, linked.text
    listed = get(served, "/meters/EML0002/links").json()
    assert [link["customer_id"] for link in listed["results"]] == ["C2", "MOVER"]
    newest = listed["audit"][0]
    assert newest["action"] == "link" and newest["reason"] == "moved in"
    assert newest["actor"].startswith("admin-key-")
    deleted = httpx.delete(f"{base}/meters/EML0002/links", headers=ADMIN, timeout=30,
                           params={"valid_from": "2025-06-01T23:00:00Z", "reason": "wrong"})
    assert deleted.status_code == 200 and deleted.json()["customer_id"] == "MOVER"


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_numbers_that_are_not_numbers_are_422(served: Served, number: bytes) -> None:
    body = b'{"timestamp": "2025-03-29T10:00:00Z", "reason": "x", "wh": ' + number + b"}"
    response = httpx.put(served.url + "/meters/EML0001/reads", content=body, timeout=30,
                         headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 422 and "integer" in response.text
    assert number.decode() not in response.text  # the input is not echoed


def test_every_route_declares_what_it_answers(served: Served) -> None:
    schema = httpx.get(served.url + "/openapi.json", timeout=30).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answer = next(operation["responses"][code] for code in ("200", "201", "202")
                          if code in operation["responses"])
            content = answer.get("content", {})
            assert "text/plain" in content or "$ref" in str(content), (method, path)
