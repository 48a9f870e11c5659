"""Value types: `Data` records, `Pair` and the `EMPTY` marker of outer joins."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar, dataclass_transform
from uuid import UUID

from flows.ivm import frozen

T = TypeVar("T")
U = TypeVar("U")

_HASH_KEY = "_flows_hash"
# Fields are set past the frozen guard by `flows.ivm.frozen` where it is compiled (one C call
# for all of a record's fields); interpreted, one ``object.__setattr__`` per field is faster
# than a Python function looping over them.
_COMPILED_FIELDS = not str(frozen.__file__).endswith(".py")
_set_field: Callable[[object, str, Any], None] = (
    frozen.set_field if _COMPILED_FIELDS else object.__setattr__)


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Data:
    """Base class of immutable records: ``class Meter(st.Data): meter_id: UUID``.

    Subclasses become frozen, keyword-only dataclasses with value equality, ordering and a
    cached hash (values are hashed many times as keys of the engine's state). Multiple
    inheritance combines the fields of every base, in dataclass order. Construction does no
    validation or conversion, so it stays cheap (well under a microsecond for a few fields).
    """

    st_field_names: ClassVar[tuple[str, ...]] = ()
    _st_values: ClassVar[Any]
    _flows_hash: ClassVar[int | None] = None  # an instance's own once it is hashed

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, kw_only=True, order=True)(cls)
        names = tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]
        cls.st_field_names = names
        # The field values of an instance in one C call (hashing runs millions of times).
        cls._st_values = staticmethod(attrgetter(*names) if names else (lambda value: ()))
        cls.__init__ = _make_init(cls, names)  # type: ignore[method-assign]
        cls.__hash__ = _make_hash(cls, names)  # type: ignore[method-assign]
        cls.__eq__ = _equal  # type: ignore[method-assign, assignment]

    def __getstate__(self) -> dict[str, Any]:
        # The fields only: the cached hash of a str-bearing value differs between processes.
        # Read one by one: asking for __dict__ would give the record a dict for good.
        return {name: getattr(self, name) for name in self.st_field_names}


def _cached_hash(self: Data) -> int:
    cached: int | None = self._flows_hash  # the class's None until computed
    if cached is None:
        cached = hash((type(self), type(self)._st_values(self)))
        _set_field(self, _HASH_KEY, cached)
    return cached


def _make_hash(cls: type, names: tuple[str, ...]) -> Any:
    """The class's cached hash. Fields annotated ``UUID`` that hold exact UUIDs are hashed by
    their ``int``, fetched in C: ``hash(uuid) == hash(uuid.int)``, so the hash is the same,
    without a Python-level ``UUID.__hash__`` call per field (a third of a first hash)."""
    uuid_fields = [field.name for field in dataclasses.fields(cls)
                   if field.type in _UUID_ANNOTATIONS]
    if not uuid_fields:
        return _cached_hash
    # Local names start with "__flows" so that no field name can shadow them.
    source = (
        "def __hash__(self):\n"
        "    cached = self._flows_hash\n"
        "    if cached is None:\n"
        f"        if {' and '.join(f'type(self.{name}) is __flows_uuid' for name in uuid_fields)}:\n"
        "            cached = hash((__flows_cls, __flows_by_int(self)))\n"
        "        else:\n"
        "            cached = hash((__flows_cls, __flows_cls._st_values(self)))\n"
        f"        __flows_set(self, {_HASH_KEY!r}, cached)\n"
        "    return cached\n")
    # Shaped as `_st_values` (one field: the value, not a tuple), so the hash is the same.
    by_int = attrgetter(*(f"{name}.int" if name in uuid_fields else name for name in names))
    namespace: dict[str, Any] = {"__flows_uuid": UUID, "__flows_cls": cls,
                                 "__flows_by_int": by_int, "__flows_set": _set_field}
    exec(source, namespace)
    hash_function = namespace["__hash__"]
    hash_function.__qualname__ = f"{cls.__qualname__}.__hash__"
    return hash_function


_UUID_ANNOTATIONS = (UUID, "UUID", "uuid.UUID")


def _equal(self: Data, other: object) -> Any:
    # The dataclass rule (same class, equal fields), the fields fetched in one C call each.
    if type(other) is type(self):
        values = type(self)._st_values
        return values(self) == values(other)
    return NotImplemented


def _make_init(cls: type, names: tuple[str, ...]) -> Any:
    """A keyword-only __init__ that sets the fields directly (frozen-safe, fast)."""
    defaults: dict[str, Any] = {}
    factories: dict[str, Any] = {}
    params: list[str] = []
    # Local names start with "__flows" so that no field name can shadow them. The fields are
    # set past the frozen guard (all in one call where `frozen` is compiled, else one by
    # one), never through __dict__: touching it would make CPython give every instance a
    # dict of its own, where it otherwise keeps the values inline — a third of a small
    # record's memory, which counts when a join holds millions of them.
    body = []
    for field in dataclasses.fields(cls):
        name = field.name
        if field.default is not dataclasses.MISSING:
            defaults[name] = field.default
            params.append(f"{name}=__flows_defaults[{name!r}]")
        elif field.default_factory is not dataclasses.MISSING:
            factories[name] = field.default_factory
            params.append(f"{name}=__flows_missing")
            body.append(f"    if {name} is __flows_missing: {name} = __flows_factories[{name!r}]()")
        else:
            params.append(name)
    if names and _COMPILED_FIELDS:
        body.append(f"    __flows_set_fields(__flows_self, __flows_names, ({', '.join(names)},))")
    else:
        body.extend(f"    __flows_set(__flows_self, {name!r}, {name})" for name in names)
    if hasattr(cls, "__post_init__"):
        body.append("    __flows_self.__post_init__()")
    signature = f"__flows_self, *, {', '.join(params)}" if params else "__flows_self"
    source = f"def __init__({signature}):\n" + ("\n".join(body) or "    pass")
    namespace: dict[str, Any] = {"__flows_defaults": defaults, "__flows_factories": factories,
                                 "__flows_missing": object(), "__flows_names": names,
                                 "__flows_set_fields": frozen.set_fields, "__flows_set": _set_field}
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


class Pair(NamedTuple, Generic[T, U]):
    """Two values, e.g. the result of a join: ``Pair(left, right)``.

    A named tuple, so building and hashing one is as cheap as for a tuple.
    """

    left: T
    right: U


# ``new_pair((left, right))``: a Pair built in C (``Pair(left, right)`` runs the named tuple's
# Python ``__new__``); for the kernels' per-row hot paths.
new_pair: Callable[[tuple[Any, Any]], Pair[Any, Any]] = partial(tuple.__new__, Pair)


class Empty:
    """Type of `EMPTY`, the right side of an outer-join row that matched nothing."""

    _instance: ClassVar[Empty | None] = None

    def __new__(cls) -> Empty:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<EMPTY>"

    def __reduce__(self) -> str:
        return "EMPTY"


EMPTY = Empty()
