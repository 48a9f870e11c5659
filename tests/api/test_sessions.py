"""Dashboard sessions as secrets: kept in the database (two API processes share them, a restart
keeps them), protected by CSRF tokens, and ended the moment their key is revoked."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from flows.cli import main as cli
from flows.db import api_keys, connect, migrate
from flows.devtools.processes import FLOWS_COMMAND


@contextmanager
def serving(url: str) -> Iterator[str]:
    process = subprocess.Popen([*FLOWS_COMMAND, "serve", "--port", "0", "--database", url,
                                "--allow-empty"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        found = re.search(r"http://[\d.]+:\d+", process.stdout.readline())
        assert found, "flows serve did not start"
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


def log_in(base: str, key: str) -> str:
    """The session cookie a login through the form gives."""
    form = httpx.get(base + "/login")
    token = re.search(r"name=csrf value='([^']+)'", form.text)
    assert token and "flows_csrf" in form.cookies
    # Without the form's token (a login posted from another site): refused.
    forged = httpx.post(base + "/login", data={"key": key})
    assert forged.status_code == 403 and "flows_session" not in forged.cookies
    answer = httpx.post(base + "/login", data={"key": key, "csrf": token.group(1)},
                        cookies={"flows_csrf": form.cookies["flows_csrf"]})
    assert answer.status_code == 303, answer.text
    return answer.cookies["flows_session"]


@pytest.mark.slow
def test_sessions_are_shared_survive_restarts_and_end_with_their_key(
        migrated_postgres_url: str) -> None:
    with connect(migrated_postgres_url) as db:
        key = api_keys.create(db, "ops", "read")
    with serving(migrated_postgres_url) as first, serving(migrated_postgres_url) as second:
        session = log_in(first, key)
        cookies = {"flows_session": session}
        assert httpx.get(second + "/", cookies=cookies).status_code == 200  # shared
        with connect(migrated_postgres_url) as db:  # only a digest is stored
            stored = db.query("SELECT id_digest FROM api_sessions")
            assert [row["id_digest"] for row in stored] == [api_keys.digest(session)]
        # A logout posted without the session's token is refused.
        assert httpx.post(first + "/logout", cookies=cookies).status_code == 403
        assert httpx.get(first + "/", cookies=cookies).status_code == 200
    with serving(migrated_postgres_url) as restarted:
        assert httpx.get(restarted + "/", cookies=cookies).status_code == 200  # survives
        result = CliRunner().invoke(cli, ["keys", "revoke", "ops", "--database",
                                          migrated_postgres_url])
        assert result.exit_code == 0, result.output
        ended = httpx.get(restarted + "/", cookies=cookies)
        assert ended.status_code == 401 and "session has ended" in ended.text
        with connect(migrated_postgres_url) as db:
            assert db.query("SELECT count(*) AS n FROM api_sessions")[0]["n"] == 0


@pytest.mark.slow
def test_logout_with_its_token_ends_the_session_everywhere(migrated_postgres_url: str) -> None:
    with connect(migrated_postgres_url) as db:
        key = api_keys.create(db, "ops", "read")
    with serving(migrated_postgres_url) as first, serving(migrated_postgres_url) as second:
        session = log_in(first, key)
        cookies = {"flows_session": session}
        page = httpx.get(first + "/", cookies=cookies)
        token = re.search(r"action=/logout><input type=hidden name=csrf "
                          r"value='([^']+)'", page.text)
        assert token
        out = httpx.post(first + "/logout", cookies=cookies, data={"csrf": token.group(1)})
        assert out.status_code == 303
        assert httpx.get(second + "/", cookies=cookies).status_code == 401


@pytest.mark.slow
def test_guessing_keys_is_throttled_per_client_and_logged_with_its_address(tmp_path: Path
                                                                           ) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(url) as db:
        migrate(db)
    log = tmp_path / "serve.log"
    process = subprocess.Popen([*FLOWS_COMMAND, "serve", "--port", "0", "--database", url,
                                "--allow-empty", "--api-keys", "right-key-0123456789=read"],
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    try:
        assert process.stdout is not None
        found = re.search(r"http://[\d.]+:\d+", process.stdout.readline())
        assert found, log.read_text()
        base = found.group(0)
        for n in range(10):
            guess = {"X-API-Key": f"wrong-key-{n:010d}",
                     "X-Forwarded-For": f"10.0.0.{n}"}  # no trusted proxy: ignored
            assert httpx.get(base + "/meters", headers=guess).status_code == 401
        throttled = httpx.get(base + "/meters", headers={"X-API-Key": "right-key-0123456789"})
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) <= 61
        form = httpx.get(base + "/login")
        token = re.search(r"name=csrf value='([^']+)'", form.text)
        assert token
        assert httpx.post(base + "/login", data={"key": "x", "csrf": token.group(1)},
                          cookies=form.cookies).status_code == 429
        assert httpx.get(base + "/healthz").status_code == 200  # the rest still answers
    finally:
        process.terminate()
        process.wait(timeout=10)
    lines = [line for line in log.read_text().splitlines() if '"event": "request"' in line]
    assert lines and all('"client": "127.0.0.1"' in line for line in lines)
