"""Z-sets: collections whose values carry signed integer counts (DBSP's data model)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

from flows.ivm.index import Index

T = TypeVar("T")
K = TypeVar("K")


class MatchAll:
    """Type of `MATCH_ALL`: iterate every value or key."""

    def __repr__(self) -> str:
        return "<MATCH_ALL>"


MATCH_ALL = MatchAll()


class ZSet(Protocol[T]):
    """What every Z-set offers: a value with count +n is present n times, -n is a retraction."""

    @property
    def indexes(self) -> tuple[Index[T, Any], ...]: ...

    def iter(self, match: frozenset[T] | MatchAll = MATCH_ALL) -> Iterator[tuple[T, int]]: ...

    def iter_by_index(
        self, index: Index[T, K], match_keys: frozenset[K] | MatchAll = MATCH_ALL
    ) -> Iterator[tuple[K, T, int]]: ...

    def __add__(self, other: ZSet[T]) -> ZSet[T]: ...

    def __neg__(self) -> ZSet[T]: ...


class ZSetPython(Generic[T]):
    """An in-memory Z-set backed by a dict ``value → count`` (zero counts are never kept).

    ``ZSetPython({a: 1, b: -1})`` or ``ZSetPython((value, count) pairs)``; counts of repeated
    values add up. Iteration follows insertion order; `iter_by_index` yields keys ascending
    (or as the index's directions say).
    """

    __slots__ = ("_data", "indexes")

    def __init__(
        self,
        data: Mapping[T, int] | Iterable[tuple[T, int]] | None = None,
        indexes: tuple[Index[T, Any], ...] = (),
    ) -> None:
        self._data: dict[T, int] = {}
        self.indexes = indexes
        if data is not None:
            items = data.items() if isinstance(data, Mapping) else data
            _accumulate(self._data, items)

    @classmethod
    def from_counts(cls, counts: dict[T, int], indexes: tuple[Index[T, Any], ...] = ()) -> ZSetPython[T]:
        """Wrap a dict without copying it; the caller must not change it afterwards."""
        zset = cls.__new__(cls)
        zset._data = counts
        zset.indexes = indexes
        return zset

    def iter(self, match: frozenset[T] | MatchAll = MATCH_ALL) -> Iterator[tuple[T, int]]:
        if isinstance(match, MatchAll):
            yield from self._data.items()
            return
        for value in match:
            count = self._data.get(value)
            if count:
                yield value, count

    def iter_by_index(
        self, index: Index[T, K], match_keys: frozenset[K] | MatchAll = MATCH_ALL
    ) -> Iterator[tuple[K, T, int]]:
        grouped: dict[Any, list[tuple[T, int]]] = {}
        f = index.f
        for value, count in self._data.items():
            key = f(value)
            if isinstance(match_keys, MatchAll) or key in match_keys:
                grouped.setdefault(key, []).append((value, count))
        for key in sorted(grouped, key=index.sort_key):
            for value, count in grouped[key]:
                yield key, value, count

    def get_count(self, value: T) -> int:
        return self._data.get(value, 0)

    def empty(self) -> bool:
        return not self._data

    def to_dict(self) -> dict[T, int]:
        return dict(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[tuple[T, int]]:
        return iter(self._data.items())

    def __add__(self, other: ZSet[T]) -> ZSetPython[T]:
        out = dict(self._data)
        _accumulate(out, other.iter())
        return ZSetPython.from_counts(out, self.indexes)

    def __neg__(self) -> ZSetPython[T]:
        return ZSetPython.from_counts({v: -c for v, c in self._data.items()}, self.indexes)

    def __sub__(self, other: ZSet[T]) -> ZSetPython[T]:
        return self + (-other)

    def __mul__(self, factor: int) -> ZSetPython[T]:
        if factor == 0:
            return ZSetPython(indexes=self.indexes)
        return ZSetPython.from_counts({v: c * factor for v, c in self._data.items()}, self.indexes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ZSetPython):
            return self._data == other._data
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        # Its contents: indexes hold functions (often lambdas) that cannot be pickled.
        return (ZSetPython, (self._data,))

    def __repr__(self) -> str:
        rows = ", ".join(f"{value!r}: {count}" for value, count in self._data.items())
        return f"ZSetPython({{{rows}}})"

    def __str__(self) -> str:
        return table("<ZSetPython>", self._data.items())

    def to_python(self) -> ZSetPython[T]:
        """Itself (every Z-set has `to_python`, as stepping's do)."""
        return self


def table(title: str, items: Iterable[tuple[Any, int]]) -> str:
    """A Z-set as a text table under ``title``: a column per field of `Data` values (``left``
    and ``right`` of pairs; else one ``_value_`` column), with the count first."""
    from flows.ivm.data import Data, Pair

    rows = list(items)
    kinds = {type(value) for value, _ in rows}
    only = next(iter(kinds)) if len(kinds) == 1 else None
    if only is not None and issubclass(only, Data):
        names = list(only.st_field_names)
        cells = [[str(count), *(str(getattr(value, name)) for name in names)]
                 for value, count in rows]
    elif only is Pair:
        names = ["left", "right"]
        cells = [[str(count), str(value.left), str(value.right)] for value, count in rows]
    else:
        names = ["_value_"]
        cells = [[str(count), repr(value)] for value, count in rows]
    header = ["_count_", *names]
    widths = [max(len(text) for text in column) for column in zip(header, *cells, strict=True)]

    def line(texts: list[str]) -> str:
        return "│ " + " │ ".join(text.ljust(width) for text, width in zip(texts, widths,
                                                                           strict=True)) + " │"

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * (width + 2) for width in widths) + right

    return "\n".join([title, rule("┌", "┬", "┐"), line(header), rule("├", "┼", "┤"),
                      *(line(row) for row in cells), rule("└", "┴", "┘")])


def _accumulate(counts: dict[T, int], items: Iterable[tuple[T, int]]) -> None:
    """Add (value, count) pairs into ``counts`` in place, dropping values that reach zero."""
    for value, count in items:
        total = counts.get(value, 0) + count
        if total:
            counts[value] = total
        else:
            counts.pop(value, None)
