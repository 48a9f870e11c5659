"""The database connection every API and dashboard route depends on: one per request, opened
on the app's database URL and closed after the response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from flows.db import Database, connect


def request_database(request: Request) -> Iterator[Database]:
    db = connect(request.app.state.database_url)
    try:
        yield db
    finally:
        db.close()


Db = Annotated[Database, Depends(request_database)]
