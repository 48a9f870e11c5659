"""Ending peers frozen mid-statement (`flows.db.claims.end_stalled_sessions`), PostgreSQL."""

from __future__ import annotations

import time

import psycopg
import pytest

from flows.db import claims, connect


@pytest.mark.parametrize("key", [7, -(2**62) - 12345], ids=["positive", "negative"])
def test_a_session_frozen_mid_statement_holding_a_one_key_lock_is_ended(
        migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch, key: int) -> None:
    """Only the session holding that key (a one-key lock's 64 bits, whatever their sign) and
    only once the claim timeout has passed."""
    monkeypatch.setattr(claims, "CLAIM_TIMEOUT_S", 1)
    db = connect(migrated_postgres_url)
    url = migrated_postgres_url
    with psycopg.connect(url, autocommit=True) as frozen, \
            psycopg.connect(url, autocommit=True) as neighbour:
        frozen.execute("SELECT pg_advisory_lock(%s)", (key,))
        neighbour.execute("SELECT pg_advisory_lock(%s)", (key + 1,))
        with pytest.raises(psycopg.OperationalError), frozen.cursor() as cursor, \
                cursor.copy("COPY flows.register_value_changes (seq) FROM STDIN"):
            with neighbour.cursor() as other, \
                    other.copy("COPY flows.register_value_changes (seq) FROM STDIN"):
                assert claims.end_stalled_sessions(db, lock_keys=(key,)) == 0  # not yet
                time.sleep(1.5)  # the claim timeout is what is tested: it must pass
                assert claims.end_stalled_sessions(db, lock_keys=(key,)) == 1
        assert neighbour.execute("SELECT 1").fetchone() == (1,)  # frozen too, other key
