"""SQL stores' value encoding (`flows.ivm.codec`): the JSON msgspec writes for a dataclass,
built without touching a record's ``__dict__``."""

from __future__ import annotations

import gc
import pickle
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from hypothesis import given
from hypothesis import strategies as st_h

import flows.ivm as st
from flows.ivm.codec import encode
from tests.ivm.test_data import Awkward, Colour, Everything, Inner, UserMeterRead

# msgspec's own encoding of dataclasses (it reads each record's __dict__): what every store
# written so far holds, so the rows a value had stay its rows.
_msgspec_dataclass_json = msgspec.json.Encoder(order="deterministic")

inners = st_h.builds(Inner, n=st_h.integers())
records = st_h.builds(
    Everything, i=st_h.integers(), f=st_h.floats(allow_nan=False), s=st_h.text(max_size=5),
    b=st_h.booleans(), d=st_h.decimals(allow_nan=False, allow_infinity=False, places=2),
    day=st_h.dates(), at=st_h.datetimes(), u=st_h.uuids(), colour=st_h.sampled_from(Colour),
    t=st_h.tuples(st_h.integers()), fs=st_h.frozensets(st_h.text(max_size=3), max_size=3),
    inner=inners, maybe=st_h.none() | st_h.integers())
values = st_h.one_of(
    records, inners, st_h.builds(Awkward, self=st_h.integers(), d=st_h.integers()),
    st_h.builds(st.Pair, records, inners), st_h.tuples(st_h.integers(), inners, st_h.uuids()))


def _fresh_copy(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))


@given(values)
def test_records_encode_as_msgspec_encodes_dataclasses(value: Any) -> None:
    assert encode(value) == _msgspec_dataclass_json.encode(_fresh_copy(value)).decode()


def test_encoding_or_pickling_a_record_leaves_its_fields_inline() -> None:
    read = UserMeterRead(user_id=1, name="oli", meter_id=UUID(int=1), value=2.0,
                         date=date(2023, 1, 1))
    nested = st.Pair(read, (Inner(n=1), Decimal("1.5")))
    encode(nested)
    pickle.dumps(nested)
    for record in (read, nested.right[0]):
        assert not any(type(referent) is dict for referent in gc.get_referents(record))
    assert pickle.loads(pickle.dumps(read)) == read
