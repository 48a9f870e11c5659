"""`flows.ivm.state`: `add_count`, the one rule by which every in-memory Z-set takes a
change, and the in-memory indexed counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st_h

from flows.ivm.errors import StoreError
from flows.ivm.index import Index
from flows.ivm.state import PythonIndexedCounts, add_count


class CountedHash:
    """A value that counts how often it is hashed (a `Data` value's hash is a Python call)."""

    hashes = 0

    def __hash__(self) -> int:
        CountedHash.hashes += 1
        return 7


@pytest.mark.parametrize(("before", "change", "after"), [
    (None, 1, 1),     # new
    (None, -1, -1),   # Z-sets take negative counts
    (2, 1, 3),
    (1, -1, None),    # the last count taken away: dropped
    (-1, 1, None),
    (3, -1, 2),
    (-1, -1, -2),
])
def test_add_count(before: int | None, change: int, after: int | None) -> None:
    counts = {"other": 5} if before is None else {"other": 5, "value": before}
    assert add_count(counts, "value", change) == (before or 0)
    assert counts == ({"other": 5} if after is None else {"other": 5, "value": after})


def test_a_new_value_and_a_last_count_taken_away_hash_once() -> None:
    value = CountedHash()
    counts: dict[object, int] = {"other": 1}
    CountedHash.hashes = 0
    add_count(counts, value, 1)
    assert CountedHash.hashes == 1
    assert list(counts.items()) == [("other", 1), (value, 1)]
    CountedHash.hashes = 0
    add_count(counts, value, -1)
    assert CountedHash.hashes == 1
    assert counts == {"other": 1}


@given(st_h.lists(st_h.tuples(st_h.sampled_from("abc"), st_h.integers(-3, 3).filter(bool))))
def test_add_count_sums_and_keeps_no_zero(changes: list[tuple[str, int]]) -> None:
    counts: dict[str, int] = {}
    for value, change in changes:
        add_count(counts, value, change)
    sums = {value: sum(c for v, c in changes if v == value) for value, _ in changes}
    assert counts == {value: total for value, total in sums.items() if total}


def test_indexed_counts_keep_counts_in_their_first_index() -> None:
    by_length = Index.atom("length", str, int, len)
    by_first = Index.atom("first", str, str, lambda s: s[0])
    counts = PythonIndexedCounts((by_length, by_first))
    counts.prepare({"ab": 2, "cd": 1, "xyz": -1})()
    counts.prepare({"cd": -1, "xyz": 1, "ef": 3})()
    assert dict(counts.items()) == {"ab": 2, "ef": 3} and len(counts) == 2
    assert list(counts.iter_by_index(by_length, None)) == [(2, "ab", 2), (2, "ef", 3)]
    assert list(counts.iter_by_index(by_first, None)) == [("a", "ab", 2), ("e", "ef", 3)]
    assert list(counts.iter_by_index(by_first, ["e", "q"])) == [("e", "ef", 3)]
    # A value its index cannot key (here a number has no len) was never stored: absent.
    assert counts.get_many(["ab", "cd", 5]) == {"ab": 2}
    with pytest.raises(StoreError, match="no index"):
        list(counts.iter_by_index(Index.atom("upper", str, str, str.upper), None))
