"""The database connection every API and dashboard route depends on, from a small pool of
the app's own: opening one per request cost more than a year of daily usage takes to read.
A connection that failed (the database restarted) is dropped, not given back; the next request
opens a fresh one."""

from __future__ import annotations

import contextlib
import queue
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from flows.db import Database, UnavailableError, connect

MOST_IDLE = 16  # connections kept for the next requests (route threads: 40 by default)


class ConnectionPool:
    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: queue.SimpleQueue[Database] = queue.SimpleQueue()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Database]:
        """An idle connection (a new one when none is idle), given back afterwards unless the
        database went away while it was used."""
        try:
            db = self._idle.get_nowait()
        except queue.Empty:
            db = await run_in_threadpool(connect, self.url)  # connecting may wait
        try:
            yield db
        except UnavailableError:
            db.close()
            raise
        except BaseException:
            self._give_back(db)  # an error of the request, not of the connection
            raise
        self._give_back(db)

    def _give_back(self, db: Database) -> None:
        if self._idle.qsize() >= MOST_IDLE:
            db.close()
        else:
            self._idle.put(db)


async def request_database(request: Request) -> AsyncIterator[Database]:
    """async: taking an idle connection and giving it back never waits, so FastAPI need not
    hand either to a worker thread (the route itself still runs in one)."""
    pool: ConnectionPool = request.app.state.connections
    async with pool.connection() as db:
        yield db


Db = Annotated[Database, Depends(request_database)]
