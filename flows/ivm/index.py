"""`Index`: a named key function over values, used by joins, grouping and caches."""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args, get_origin

T = TypeVar("T")
K = TypeVar("K")
T_co = TypeVar("T_co", covariant=True)
K_co = TypeVar("K_co", covariant=True)


@dataclass(frozen=True, eq=False)
class Index(Generic[T_co, K_co]):
    """A key ``f(value)`` with field names and sort direction.

    ``Index.pick(Meter, lambda m: m.user_id)`` records the picked field names
    (``("user_id",)``) and key type by calling ``f`` on a proxy, so the index can be named,
    compared and (in SQL stores) stored as typed columns. A tuple-returning ``f`` makes a
    composite key. Two indexes are equal when names, directions and types are.
    """

    names: tuple[str, ...]
    ascending: tuple[bool, ...]
    f: Callable[[T_co], K_co]
    t: Any
    k: Any
    is_composite: bool

    @classmethod
    def pick(
        cls, t: type[T], f: Callable[[T], K], ascending: bool | tuple[bool, ...] = True
    ) -> Index[T, K]:
        try:
            picked = f(_Proxy(t))  # type: ignore[arg-type]
        except Exception as error:
            raise TypeError(
                f"Index.pick({_type_name(t)}, f): f must only pick fields, e.g. "
                f"lambda v: v.field or lambda v: (v.a, v.b); calling it on {_type_name(t)} "
                f"failed: {error}"
            ) from error
        if isinstance(picked, tuple):
            parts = [_unproxy(p, t) for p in picked]
            names = tuple(p.path for p in parts)
            k: Any = tuple[tuple(p.t for p in parts)]  # type: ignore[misc]
            is_composite = True
        else:
            part = _unproxy(picked, t)
            k = part.t
            if get_origin(k) is tuple:
                names = tuple(f"{part.path}.{i}" for i, _ in enumerate(get_args(k)))
                is_composite = True
            else:
                names = (part.path,)
                is_composite = False
        if isinstance(ascending, bool):
            ascending = (ascending,) * len(names)
        if len(ascending) != len(names):
            raise ValueError(f"ascending has {len(ascending)} flags for {len(names)} key parts")
        return cls(names, tuple(ascending), f, t, k, is_composite)  # type: ignore[arg-type, return-value]

    @classmethod
    def atom(
        cls, name: str, t: type[T], k: type[K], f: Callable[[T], K], ascending: bool = True
    ) -> Index[T, K]:
        return cls((name,), (ascending,), f, t, k, False)  # type: ignore[arg-type, return-value]

    @classmethod
    def composite(
        cls,
        names: tuple[str, ...],
        t: type[T],
        k: type[K],
        f: Callable[[T], K],
        ascendings: tuple[bool, ...] | None = None,
    ) -> Index[T, K]:
        ascendings = ascendings if ascendings is not None else (True,) * len(names)
        if len(ascendings) != len(names):
            raise ValueError(f"ascendings has {len(ascendings)} flags for {len(names)} names")
        return cls(names, ascendings, f, t, k, True)  # type: ignore[arg-type, return-value]

    @classmethod
    def identity(cls, t: type[T], ascending: bool = True) -> Index[T, T]:
        return cls(("identity",), (ascending,), _identity, t, t, False)  # type: ignore[arg-type, return-value]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Index):
            return NotImplemented
        return self.signature == other.signature

    def __hash__(self) -> int:
        return hash(self.signature)

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.names, self.ascending, _type_name(self.t), _type_name(self.k))

    def sort_key(self, key: Any) -> Any:
        """A key for `sorted` that orders index keys by the index's directions."""
        if all(self.ascending):
            return key
        return _Directed(key, self.ascending, self.is_composite)


def _identity(value: T) -> T:
    return value


@functools.total_ordering
class _Directed:
    """Wraps an index key so that descending parts sort in reverse."""

    __slots__ = ("ascending", "is_composite", "key")

    def __init__(self, key: Any, ascending: tuple[bool, ...], is_composite: bool) -> None:
        self.key, self.ascending, self.is_composite = key, ascending, is_composite

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Directed) and self.key == other.key

    def __lt__(self, other: _Directed) -> bool:
        mine = self.key if self.is_composite else (self.key,)
        theirs = other.key if other.is_composite else (other.key,)
        for a, b, ascending in zip(mine, theirs, self.ascending):
            if a != b:
                return bool(a < b) if ascending else bool(b < a)
        return False


def _type_name(t: Any) -> str:
    return getattr(t, "__qualname__", None) or repr(t)


@dataclass(frozen=True)
class _Picked:
    path: str
    t: Any


class _Proxy:
    """Stands in for a value of type ``t`` and records which fields are read from it."""

    __slots__ = ("_path", "_t")
    _path: tuple[str, ...]
    _t: Any

    def __init__(self, t: Any, path: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "_t", t)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> _Proxy:
        hints = _field_types(self._t)
        if name not in hints:
            raise AttributeError(f"{_type_name(self._t)} has no field {name!r}")
        return _Proxy(hints[name], (*self._path, name))

    def __getitem__(self, position: int) -> _Proxy:
        args = get_args(self._t)
        if get_origin(self._t) is not tuple or not isinstance(position, int):
            raise TypeError(f"{_type_name(self._t)} cannot be indexed with {position!r}")
        return _Proxy(args[position], (*self._path, str(position)))


def _unproxy(value: Any, t: Any) -> _Picked:
    if not isinstance(value, _Proxy):
        raise TypeError(f"returned {value!r}, not a field of {_type_name(t)}")
    path = value._path
    return _Picked(".".join(path) if path else "identity", value._t)


def _field_types(t: Any) -> dict[str, Any]:
    """Field name → type, resolving generic parameters (``Pair[User, Meter].left`` → User)."""
    origin = get_origin(t) or t
    hints = typing.get_type_hints(origin)
    args = get_args(t)
    params = getattr(origin, "__parameters__", ())
    if args and params:
        mapping = dict(zip(params, args))
        hints = {name: mapping.get(hint, hint) for name, hint in hints.items()}
    return hints
