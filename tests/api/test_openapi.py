"""schemathesis against the served OpenAPI schema: no request it generates makes a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import ADMIN_KEY, Served

EXAMPLES = 200  # per operation


@pytest.mark.slow
def test_no_generated_request_makes_a_server_error(served: Served) -> None:
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    # The Octopus-compatible surface has its own run (tests/api/test_octopus.py).
    operations = [result.ok() for result in schema.get_all_operations()
                  if not result.ok().path.startswith("/v1/")]
    assert len(operations) >= 8
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(base_url=served.url, headers={"X-API-Key": ADMIN_KEY},
                                 timeout=30)
            assert response.status_code < 500, (case.method, case.formatted_path, case.query,
                                                response.text[:300])

        no_server_error()



