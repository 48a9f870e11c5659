"""`st.Data`: kw-only, frozen, hashable value types with multiple inheritance as in the seed."""

from __future__ import annotations

import dataclasses
import enum
import gc
import pickle
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st_h

import flows.ivm as st


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(st.Data):
    n: int


class Awkward(st.Data):
    """Field names that could clash with names inside the generated __init__."""

    self: int
    d: int
    _defaults: int = 0


class Everything(st.Data):
    i: int
    f: float
    s: str
    b: bool
    d: Decimal
    day: date
    at: datetime
    u: UUID
    colour: Colour
    t: tuple[int, ...]
    fs: frozenset[str]
    inner: Inner
    maybe: int | None = None


class Tagged(st.Data):
    n: int
    tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)
    note: str = "none"


class User(st.Data):
    user_id: int
    name: str


class Meter(st.Data):
    meter_id: UUID
    user_id: int


class Read(st.Data):
    meter_id: UUID
    value: float


class UserMeterRead(User, Meter, Read):
    date: date


def everything(**changes: object) -> Everything:
    values: dict[str, object] = dict(
        i=1, f=1.5, s="x", b=True, d=Decimal("1.10"), day=date(2024, 3, 31),
        at=datetime(2024, 3, 31, 1, 30, tzinfo=UTC), u=UUID(int=7), colour=Colour.RED,
        t=(1, 2), fs=frozenset({"a"}), inner=Inner(n=3),
    )
    values.update(changes)
    return Everything(**values)  # type: ignore[arg-type]


def test_value_equality_and_hash() -> None:
    assert everything() == everything()
    assert hash(everything()) == hash(everything())
    assert everything() != everything(inner=Inner(n=4))
    assert len({everything(), everything(), everything(maybe=2)}) == 2


class SubUUID(UUID):
    """Not exactly a UUID: hashed through its own ``__hash__`` (the general path)."""


class Keyed(st.Data):
    meter_id: UUID
    other: uuid.UUID
    n: int


class OnlyUUID(st.Data):
    meter_id: UUID


@given(st_h.integers(0, 2**128 - 1), st_h.integers(0, 2**128 - 1), st_h.integers())
def test_uuid_fields_hash_as_the_general_rule(meter: int, other: int, n: int) -> None:
    """Exact UUIDs are hashed by their ``int`` (fast): the same hash as the general rule,
    so equal values hash alike whichever path each takes."""
    fast = Keyed(meter_id=UUID(int=meter), other=UUID(int=other), n=n)
    general = Keyed(meter_id=SubUUID(int=meter), other=UUID(int=other), n=n)
    assert fast == general
    assert hash(fast) == hash(general) == hash((Keyed, (UUID(int=meter), UUID(int=other), n)))
    assert hash(OnlyUUID(meter_id=UUID(int=meter))) == hash((OnlyUUID, UUID(int=meter)))


def test_a_uuid_field_holding_something_else_still_hashes() -> None:
    value = Keyed(meter_id="not a uuid", other=UUID(int=1), n=1)  # type: ignore[arg-type]
    assert hash(value) == hash((Keyed, ("not a uuid", UUID(int=1), 1)))
    assert len({value, Keyed(meter_id="not a uuid", other=UUID(int=1), n=1)}) == 1  # type: ignore[arg-type]


def test_any_field_name_works() -> None:
    value = Awkward(self=1, d=2)
    assert (value.self, value.d, value._defaults) == (1, 2, 0)


def test_kw_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        Inner(3)  # type: ignore[misc]
    with pytest.raises(TypeError, match="n"):
        Inner()  # type: ignore[call-arg]
    value = Inner(n=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.n = 4  # type: ignore[misc]


def test_defaults_and_factories_fill_the_fields_not_given() -> None:
    assert (Tagged(n=1).tags, Tagged(n=1).note) == ((), "none")
    assert Tagged(n=2, tags=("a",), note="x") == Tagged(note="x", tags=("a",), n=2)
    assert dataclasses.astuple(Tagged(n=3, note="y")) == (3, (), "y")


def test_fields_are_kept_inline_not_in_a_dict_of_their_own() -> None:
    # Built and hashed, a record refers to its field values itself (CPython's inline values);
    # had its fields gone through __dict__ it would refer to a dict of its own: a third more
    # memory per record, which counts when a join holds a million reads.
    read = UserMeterRead(user_id=1, name="oli", meter_id=UUID(int=1), value=2.0,
                         date=date(2023, 1, 1))
    hash(read)
    referents = gc.get_referents(read)
    assert "oli" in referents and not any(type(r) is dict for r in referents)
    assert read.__dict__["name"] == "oli"  # asking for the dict makes one, which shows:
    assert any(type(r) is dict for r in gc.get_referents(read))


def test_multiple_inheritance_as_in_the_seed() -> None:
    u = UUID(int=1)
    read = UserMeterRead(user_id=1, name="oli", meter_id=u, value=2.0, date=date(2023, 1, 1))
    assert isinstance(read, User) and isinstance(read, Meter) and isinstance(read, Read)
    # Fields come in dataclass order: bases from the last to the first, then the class's own.
    assert read.st_field_names == ("meter_id", "value", "user_id", "name", "date")
    assert read.user_id == 1 and read.meter_id == u and read.date == date(2023, 1, 1)


def test_unknown_field_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="nope"):
        Inner(n=1, nope=2)  # type: ignore[call-arg]


def test_pickle_round_trip_keeps_hash_consistent() -> None:
    value = everything()
    hash(value)
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value and hash(copy) == hash(value)


def test_ordering_and_repr() -> None:
    assert Inner(n=1) < Inner(n=2)
    assert repr(Inner(n=1)) == "Inner(n=1)"


def test_pair_and_empty() -> None:
    pair = st.Pair(1, "a")
    assert (pair.left, pair.right) == (1, "a") and pair == st.Pair(left=1, right="a")
    assert st.EMPTY is st.Empty() and repr(st.EMPTY) == "<EMPTY>"
    assert pickle.loads(pickle.dumps(st.EMPTY)) is st.EMPTY
