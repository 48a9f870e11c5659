"""flows.api: the HTTP API and the dashboard (served by `flows serve`).

    app = create_app("sqlite:///flows.db", ApiKeys.parse("r3ad=read,adm1n=admin"))

``create_app(..., admin_sync=...)`` enables the admin route that syncs one meter now; the
command line gives it the collector's cycle (see `flows.cli.serve`).
"""

from flows.api.app import AdminSync, create_app, http_error
from flows.api.auth import ApiKeys, Role

__all__ = ["AdminSync", "ApiKeys", "Role", "create_app", "http_error"]
