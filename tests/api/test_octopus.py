"""The Octopus-compatible surface read by Octopus client libraries from PyPI, unchanged but for
their base URL, against a real `flows serve` on a seeded database: the same consumption as
Flows' own route, by half hour and by day, on an import and an export MPAN. Then what an
integrator meets first (Basic auth, 400s, slashes, numbers, local times) and schemathesis."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import schemathesis
from dateutil.parser import isoparse
from hypothesis import HealthCheck, given, settings
from octopus_energy import Aggregate, OctopusEnergyRestClient
from octopus_energy_client import Aggregate as ClientAggregate
from octopus_energy_client import OctopusEnergy, ResourceType

from tests.api.conftest import DAYS, EXPORT_MPAN, IMPORT_MPAN, READ_KEY, START, Served

SERIAL = "EML0000"
END = START + timedelta(days=DAYS)  # 2025-04-01 00:00 UTC: the data cross the clocks going forward
Row = tuple[datetime, datetime, Decimal]


def flows_own(served: Served, direction: str, group_by: str) -> list[Row]:
    """The rows of Flows' own consumption route (UTC, decimal strings), oldest first."""
    answer = httpx.get(f"{served.url}/meters/{SERIAL}/consumption",
                       params={"direction": direction, "group_by": group_by, "page_size": 25_000,
                               "period_from": START.isoformat(), "period_to": END.isoformat(),
                               "order_by": "period"},
                       headers={"X-API-Key": READ_KEY})
    assert answer.status_code == 200, answer.text
    return [(isoparse(r["interval_start"]), isoparse(r["interval_end"]),
             Decimal(r["consumption"])) for r in answer.json()["results"]]


def as_rows(results: list[dict[str, Any]]) -> list[Row]:
    """An Octopus client's rows as instants and exact kWh, oldest first; each as Octopus
    writes it: a number, times in the local offset."""
    for result in results:
        assert isinstance(result["consumption"], int | float)
        start = isoparse(result["interval_start"])
        assert start.utcoffset() == (timedelta(hours=1) if start >= datetime(
            2025, 3, 30, 1, tzinfo=UTC) else timedelta(0)), result["interval_start"]
    return sorted((isoparse(r["interval_start"]), isoparse(r["interval_end"]),
                   Decimal(str(r["consumption"]))) for r in results)


async def read_with_octopus_energy(url: str, mpan: str, group_by: Aggregate) -> list[dict[str, Any]]:
    """octopus-energy's REST client, its base URL Flows', every page of 50."""
    results: list[dict[str, Any]] = []
    async with OctopusEnergyRestClient(READ_KEY, base_url=url) as client:
        page: int | None = 1
        while page:
            answer = await client.get_electricity_consumption_v1(
                mpan, SERIAL, page=page, page_size=50, period_from=START, period_to=END,
                group_by=group_by)
            results += answer["results"]
            page = page + 1 if answer["next"] else None
    return results


@pytest.mark.parametrize(("mpan", "direction"), [(IMPORT_MPAN, "import"), (EXPORT_MPAN, "export")])
@pytest.mark.parametrize(("group_by", "aggregate"), [("hh", Aggregate.HALF_HOURLY),
                                                     ("day", Aggregate.DAY)])
def test_octopus_energy_reads_what_flows_own_route_gives(
        served: Served, mpan: str, direction: str, group_by: str, aggregate: Aggregate) -> None:
    results = asyncio.run(read_with_octopus_energy(served.url, mpan, aggregate))
    expected = flows_own(served, direction, group_by)
    assert len(expected) >= (DAYS if group_by == "day" else 100)  # not vacuous
    assert sum(row[2] for row in expected) > 0
    assert as_rows(results) == expected


@pytest.mark.parametrize(("mpan", "direction"), [(IMPORT_MPAN, "import"), (EXPORT_MPAN, "export")])
@pytest.mark.parametrize(("group_by", "aggregate"), [("hh", ClientAggregate.HALF_HOURLY),
                                                     ("day", ClientAggregate.DAILY)])
def test_octopus_energy_client_reads_what_flows_own_route_gives(
        served: Served, mpan: str, direction: str, group_by: str,
        aggregate: ClientAggregate) -> None:
    client = OctopusEnergy(api_key=READ_KEY, electricity_serial=SERIAL, electricity_mpan=mpan,
                           gas_serial="unused", gas_mprn="unused")
    client.base_url = f"{served.url}/v1"  # the one change: where the API is
    answer = client.get_consumption_for_period(ResourceType.ELECTRICITY, START, END,
                                               page_size=25_000, group_by=aggregate)
    assert answer["count"] == len(answer["results"]) and answer["next"] is None
    assert as_rows(answer["results"]) == flows_own(served, direction, group_by)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


CONSUMPTION = f"/v1/electricity-meter-points/{IMPORT_MPAN}/meters/{SERIAL}/consumption/"


def test_what_an_integrator_meets_first(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers=basic(READ_KEY)) as client:
        period = {"period_from": "2025-03-30T00:00:00Z", "period_to": "2025-03-30T03:00:00Z"}
        page = client.get(CONSUMPTION, params={**period, "order_by": "period"})
        assert page.status_code == 200, page.text
        body = page.json()
        assert set(body) >= {"count", "next", "previous", "results"}
        # 01:00 UTC is when the clocks go forward: local offsets from then on.
        assert [r["interval_start"] for r in body["results"]][:4] == [
            "2025-03-30T00:00:00Z", "2025-03-30T00:30:00Z", "2025-03-30T02:00:00+01:00",
            "2025-03-30T02:30:00+01:00"]
        assert '"consumption":0.1' in page.text  # a number: 100 Wh a half hour, exactly
        assert body["results"][0]["quality"] == "actual"  # Flows' extras ride along
        # With or without the trailing slash, no redirect; pages link to pages.
        no_slash = client.get(CONSUMPTION.rstrip("/"), params={**period, "page_size": 2})
        assert no_slash.status_code == 200 and no_slash.json()["count"] == 6
        assert "page=2" in no_slash.json()["next"] and no_slash.json()["previous"] is None
        # An unencoded "+01:00" arrives as " 01:00": taken for what it meant.
        plus = client.get(f"{CONSUMPTION}?period_from=2025-03-30T03:00:00 01:00"
                          "&period_to=2025-03-30T04:00:00%2B01:00")
        assert plus.status_code == 200 and plus.json()["count"] == 2
        # From the running half hour on, no end given: nothing yet (not an error).
        later = client.get(CONSUMPTION, params={"period_from": datetime.now(UTC).isoformat()})
        assert later.status_code == 200 and later.json()["results"] == []
        # Bad parameters are 400s that name the problem, as Octopus answers them.
        for params, named in (({"page_size": 0}, "page_size"), ({"group_by": "fortnight"}, "group_by"),
                              ({"period_from": "yesterday"}, "period_from"),
                              ({"period_from": "2025-03-30T00:00:00"}, "period_from"),
                              ({**period, "period_to": "2025-03-29T00:00:00Z"}, "later than")):
            refused = client.get(CONSUMPTION, params=params)
            assert refused.status_code == 400 and named in refused.text, (params, refused.text)
        # An MPAN that is not this meter's, and a meter point nobody is on: 404.
        assert client.get(CONSUMPTION.replace(IMPORT_MPAN, "1012345678903")).status_code == 404
        point = client.get(f"/v1/electricity-meter-points/{EXPORT_MPAN}/")
        assert point.json() == {"mpan": EXPORT_MPAN, "gsp": "_J", "profile_class": None,
                                "meters": [{"serial_number": SERIAL, "direction": "export"}]}
        assert client.get("/v1/electricity-meter-points/1012345678903").status_code == 404
    # No key, or an unknown one: 401 with Octopus' challenge (HTTP Basic).
    for headers in ({}, basic("not-a-key-at-all")):
        refused = httpx.get(served.url + CONSUMPTION, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
    # Flows' own routes take the same Basic key.
    assert httpx.get(f"{served.url}/meters/{SERIAL}", headers=basic(READ_KEY)).json()[
        "import_mpan"] == IMPORT_MPAN


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_on_the_octopus_surface(served: Served) -> None:
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()
                  if result.ok().path.startswith("/v1/")]
    assert len(operations) == 2
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def no_server_error(case: schemathesis.Case) -> None:
            parameters = case.path_parameters or {}
            if int(parameters.get("mpan", "0")[-1:] or 0) % 2 == 0:  # half: reach the data too
                parameters.update({"mpan": IMPORT_MPAN} | (
                    {"serial": SERIAL} if "serial" in parameters else {}))
            response = case.call(base_url=served.url, headers=basic(READ_KEY), timeout=30)
            assert response.status_code < 500, (case.formatted_path, case.query,
                                                response.text[:300])

        no_server_error()
