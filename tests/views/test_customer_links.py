"""Customer links: one customer per meter at a time, ending a link, and the views following it
(a customer's days change only from the link's end)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main as cli
from flows.db import (
    ConflictError,
    Database,
    DatabaseError,
    InvalidValueError,
    NotFoundError,
    connect,
    customers,
    migrate,
)
from flows.views import update
from tests.views.helpers import (
    HALF_HOUR,
    LINKED_FROM,
    linked_meters,
    recomputed_daily,
    sql_daily,
    view_daily,
    write_values,
)

START = datetime(2025, 6, 1, tzinfo=UTC)
MOVE_OUT = START + timedelta(days=1, hours=12)


def links(db: Database) -> list[tuple[str, datetime, datetime | None]]:
    return [(link["customer_id"], link["valid_from"], link["valid_to"])
            for link in customers.links_of_meter(db, "EML0000")]


def test_an_overlapping_link_is_refused_naming_the_link_it_meets(db: Database) -> None:
    linked_meters(db, meters=1)  # C0 has EML0000 from LINKED_FROM, open-ended
    customers.add_customer(db, "C9")
    with pytest.raises(ConflictError, match=r"customer 'C0' from 2020-01-01T00:00:00\+00:00 until "
                                            r"open-ended"):
        customers.link_meter(db, "C9", "EML0000", START)
    with pytest.raises(ConflictError):  # the same customer twice, too
        customers.link_meter(db, "C0", "EML0000", START, START + timedelta(days=1))
    assert links(db) == [("C0", LINKED_FROM, None)]  # nothing stored
    # Writers that bypass flows.db are stopped by the database itself.
    meter = db.query("SELECT meter_id FROM customer_meters")[0]["meter_id"]
    with pytest.raises(DatabaseError, match="linked to a customer for part of that period"):
        db.execute("INSERT INTO customer_meters (customer_id, meter_id, valid_from) "
                   "VALUES ('C9', :m, :f)", {"m": meter, "f": START})
    assert links(db) == [("C0", LINKED_FROM, None)]


def test_unlink_ends_the_link_and_a_new_one_may_follow(db: Database) -> None:
    linked_meters(db, meters=1)
    customers.add_customer(db, "C9")
    with pytest.raises(InvalidValueError, match="would leave it empty"):
        customers.unlink_meter(db, "EML0000", LINKED_FROM)
    with pytest.raises(NotFoundError, match="linked to no customer"):
        customers.unlink_meter(db, "EML0000", LINKED_FROM - timedelta(days=1))
    ended = customers.unlink_meter(db, "EML0000", MOVE_OUT)
    assert ended["customer_id"] == "C0"
    with pytest.raises(NotFoundError):
        customers.unlink_meter(db, "EML0000", MOVE_OUT)  # ends are exclusive: nobody has it now
    customers.link_meter(db, "C9", "EML0000", MOVE_OUT)  # adjacent, not overlapping
    assert links(db) == [("C0", LINKED_FROM, MOVE_OUT), ("C9", MOVE_OUT, None)]


def test_the_views_follow_a_move_out_and_in(db: Database) -> None:
    registers = linked_meters(db, meters=1)
    write_values(db, [(r, START + n * HALF_HOUR, 5_000 + 100 * n)
                      for r in registers for n in range(4 * 48)])
    update(db)
    before = view_daily(db)
    assert before == recomputed_daily(db) and {customer for customer, _, _ in before} == {"C0"}

    customers.unlink_meter(db, "EML0000", MOVE_OUT)
    customers.add_customer(db, "C9")
    customers.link_meter(db, "C9", "EML0000", MOVE_OUT)
    update(db)
    after = view_daily(db)
    assert after == recomputed_daily(db) == sql_daily(db)
    moved_on = MOVE_OUT.date()
    for (customer, meter, day), wh in before.items():
        if day < moved_on:  # days wholly before the move: unchanged
            assert after[(customer, meter, day)] == wh
    assert max(day for customer, _, day in after if customer == "C0") == moved_on
    assert min(day for customer, _, day in after if customer == "C9") == moved_on
    # The day of the move is shared, every half hour counted once.
    shared = [wh for (customer, _, day), wh in after.items() if day == moved_on]
    whole_day = sum(wh for (_, _, day), wh in before.items() if day == moved_on)
    assert len(shared) == 2 and sum(shared) == whole_day


def test_unlink_on_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(url) as db:
        migrate(db)
        linked_meters(db, meters=1)
    command = ["customers", "unlink", "--meter", "EML0000", "--at", MOVE_OUT.isoformat(),
               "--database", url]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert "now ends at 2025-06-02T12:00:00+00:00" in result.output
    again = CliRunner().invoke(cli, command)
    assert again.exit_code != 0 and "linked to no customer" in again.output


def test_a_year_typo_in_a_link_is_refused_where_it_enters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(url) as db:
        migrate(db)
        linked_meters(db, meters=1)
        customers.add_customer(db, "C9")
        with pytest.raises(InvalidValueError, match="outside the dates a link may have"):
            customers.link_meter(db, "C9", "EML0000", datetime(1, 1, 1, tzinfo=UTC),
                                 LINKED_FROM)
    result = CliRunner().invoke(cli, ["customers", "link", "C9", "--meter", "EML0000", "--from",
                                      "0001-01-01", "--to", "2019-01-01", "--database", url])
    assert result.exit_code != 0 and "outside the dates a link may have" in result.output
    with connect(url) as db:
        assert customers.link_history(db, "EML0000")[0]["action"] == "link"  # C0's only
        assert len(customers.links_of_meter(db, "EML0000")) == 1


def test_a_summer_move_in_gives_the_new_customer_the_whole_local_day(tmp_path: Path) -> None:
    """2025-06-02 is a BST day: it starts at 23:00 UTC on 1 June."""
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(url) as db:
        migrate(db)
        [register] = [r for r in linked_meters(db, meters=1)][:1]
        write_values(db, [(register, datetime(2025, 5, 31, tzinfo=UTC) + n * HALF_HOUR, 1_000 + n)
                          for n in range(5 * 48)])

    def flows_cli(*args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--database", url])
        assert result.exit_code == 0, result.output
        return result.output

    flows_cli("customers", "add", "NEW")
    flows_cli("customers", "unlink", "--meter", "EML0000", "--at", "2025-06-02",
              "--reason", "moved out")
    flows_cli("customers", "link", "NEW", "--meter", "EML0000", "--from", "2025-06-02",
              "--reason", "moved in")
    with connect(url) as db:
        update(db)
        days = {(row["customer_id"], str(row["day"])): int(row["actual"]) for row in db.query(
            "SELECT customer_id, day, actual FROM usage_customer_daily "
            "WHERE meter_id = (SELECT meter_id FROM meter_registers WHERE register_id = :r)",
            {"r": register})}
        assert days[("NEW", "2025-06-02")] == 48 and ("C0", "2025-06-02") not in days
        assert days[("C0", "2025-06-01")] == 48
        audit = customers.link_history(db, "EML0000")
        assert [row["action"] for row in audit][:2] == ["link", "end"]
        assert audit[0]["reason"] == "moved in" and audit[0]["actor"].startswith("cli:")
        assert audit[0]["valid_from"] == datetime(2025, 6, 1, 23, tzinfo=UTC)
    listed = flows_cli("customers", "links", "--meter", "EML0000")
    assert "NEW: 2025-06-01T23:00:00+00:00 until open-ended" in listed
    flows_cli("customers", "delete-link", "--meter", "EML0000", "--from", "2025-06-02",
              "--reason", "wrong tenant")
    with connect(url) as db:
        assert [link["customer_id"] for link in customers.links_of_meter(db, "EML0000")] == ["C0"]
        assert customers.link_history(db, "EML0000")[0]["action"] == "delete"
