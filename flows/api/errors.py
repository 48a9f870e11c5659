"""Database errors as HTTP errors, mapped by type at the boundary."""

from __future__ import annotations

from fastapi import HTTPException

from flows.db import ConflictError, DatabaseError, NotFoundError, UnavailableError


def http_error(error: DatabaseError) -> HTTPException:
    """404 for what is not stored, 409 for a clash with what is, 503 while the database is
    unavailable, 422 for a refused value."""
    status = (404 if isinstance(error, NotFoundError) else 409 if isinstance(error, ConflictError)
              else 503 if isinstance(error, UnavailableError) else 422)
    return HTTPException(status, str(error))
