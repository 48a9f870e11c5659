"""flows.api: the HTTP API and the dashboard (served by `flows serve`).

    app = create_app("sqlite:///flows.db", ApiKeys.parse("r3ad=read,adm1n=admin"))

``create_app(..., admin_sync=...)`` enables the admin route that syncs one meter now; the
command line gives it the collector's cycle (see `flows.cli.serve`).
"""

from flows.api.app import DEFAULT_STALE_AFTER_S, create_app
from flows.api.auth import ApiKeys, Role
from flows.api.errors import http_error
from flows.api.limits import DEFAULT_BODY_TIMEOUT_S
from flows.api.routes.admin import AdminSync

__all__ = ["DEFAULT_BODY_TIMEOUT_S", "DEFAULT_STALE_AFTER_S", "AdminSync", "ApiKeys", "Role",
           "create_app", "http_error"]
