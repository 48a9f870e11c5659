"""flows.api: the HTTP API and the dashboard (`flows serve`).

    app = create_app("sqlite:///flows.db", ApiKeys.parse("r3ad=read,adm1n=admin"))
"""

from flows.api.app import create_app
from flows.api.auth import ApiKeys, Role

__all__ = ["ApiKeys", "Role", "create_app"]
