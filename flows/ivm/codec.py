"""How SQL stores write values: readable JSON, decoded back to the exact Python types.

Every stored value is written as deterministic JSON (msgspec; sets sorted, fields in order), which
is both the row's identity and what a person reads with plain SQL. Decoding needs the value's
type: when a state's type is known (query inputs, annotated functions, join pairs, group keys)
the JSON is decoded with a typed msgspec decoder; otherwise a pickled copy is kept beside it.

A Z-set value (a `ZSetPython`, alone or a field of a `Data`) is written as
``{"$zset": [[value, count], ...]}`` ordered by each value's JSON, so equal Z-sets share a row;
it is decoded from its pickled copy (its contents; not the indexes it was built with).

Values equal in Python must encode equally to be one row: keep Decimals, floats (-0.0) and
datetimes (one time zone) normalised, as Flows does (UTC, integer Wh).
"""

from __future__ import annotations

import dataclasses
import enum
import pickle
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec

from flows.ivm.data import Data, Empty
from flows.ivm.errors import StoreError
from flows.ivm.zset import ZSetPython

_EMPTY_JSON = {"$empty": True}


def _encode_hook(value: Any) -> Any:
    if isinstance(value, Empty):
        return _EMPTY_JSON
    if isinstance(value, ZSetPython):
        return {"$zset": _zset_entries(value)}
    raise NotImplementedError(f"cannot store values of type {type(value).__qualname__}")


def _zset_entries(zset: ZSetPython[Any]) -> list[msgspec.Raw]:
    """A Z-set's ``[value, count]`` pairs ordered by the value's JSON: equal Z-sets (whatever
    order their values came in) encode alike, so they are one row."""
    encoded = sorted((_json(value), count) for value, count in zset.iter())
    return [msgspec.Raw(b"[%s,%d]" % (text, count)) for text, count in encoded]


_encoder = msgspec.json.Encoder(enc_hook=_encode_hook, order="deterministic")

# Per `Data` class, a msgspec Struct with the same fields in the same order: it encodes as the
# dataclass does ({"field": value, ...}), from the values themselves. msgspec reads a
# dataclass through its __dict__, and asking for that makes CPython give the record a dict
# for good (it otherwise keeps the fields inline): a dict more per stored value, as long as
# the caller keeps the value — and a hundred thousand of them for the garbage collector to
# walk in every full collection (lookups of 1 ms that took 60 when one landed).
_MIRRORS: dict[type, Any] = {}


def _mirror(cls: type[Data]) -> Any:
    mirror = _MIRRORS.get(cls)
    if mirror is None:
        mirror = _MIRRORS[cls] = msgspec.defstruct(
            cls.__name__, [(name, Any) for name in cls.st_field_names])
    return mirror


def _without_records(value: Any) -> Any:
    """``value`` for msgspec: each `Data` record in it (itself, or in tuples, pairs and its own
    fields) as its mirror Struct — the same JSON, the record untouched."""
    if isinstance(value, Data):
        cls = type(value)
        fields = cls._st_values(value)  # one field: the value, not a tuple
        if len(cls.st_field_names) == 1:
            fields = (fields,)
        return _mirror(cls)(*map(_without_records, fields))
    if isinstance(value, tuple):  # named tuples (`Pair`) too: arrays, like tuples
        return tuple(map(_without_records, value))
    return value


def _json(value: Any) -> bytes:
    return _encoder.encode(_without_records(value))


def encode(value: Any) -> str:
    """The canonical JSON text of ``value``."""
    try:
        return _json(value).decode()
    except (TypeError, NotImplementedError) as error:
        raise StoreError(f"cannot store {value!r}: {error}") from error


class Codec:
    """Decodes one state's values: typed JSON when the type is known, else the pickled copy."""

    def __init__(self, t: Any, where: str) -> None:
        self.where = where
        self.t = t
        self.decoder: msgspec.json.Decoder[Any] | None = None
        if _decodable(t):
            try:
                self.decoder = msgspec.json.Decoder(t)
            except TypeError:
                self.decoder = None

        self.many_decoder: msgspec.json.Decoder[Any] | None = (
            msgspec.json.Decoder(list[t]) if self.decoder is not None else None)

    def decode_many(self, texts: list[str], payloads: list[bytes | None] | None) -> list[Any]:
        """Decode many values; typed JSON is decoded in one call, as one JSON array."""
        if self.many_decoder is None:
            if payloads is None:
                raise StoreError(f"{self.where}: stored values have no payload to decode")
            return [self.decode(text, payload) for text, payload in zip(texts, payloads)]
        try:
            values: list[Any] = self.many_decoder.decode("[" + ",".join(texts) + "]")
            return values
        except msgspec.ValidationError:
            return [self.decode(text, None) for text in texts]  # to name the value that fails

    @property
    def needs_payload(self) -> bool:
        return self.decoder is None

    def payload(self, value: Any) -> bytes | None:
        return None if self.decoder is not None else pickle.dumps(value, protocol=5)

    def decode(self, text: str, payload: bytes | None) -> Any:
        if self.decoder is None:
            if payload is None:
                raise StoreError(f"{self.where}: a stored value has no payload to decode")
            return pickle.loads(payload)
        try:
            return self.decoder.decode(text)
        except msgspec.ValidationError as error:
            raise StoreError(f"{self.where}: stored value {text} does not decode as "
                             f"{_name(self.t)}: {error} (does the query's type annotation "
                             "match the values it produces?)") from error


_SCALARS = (int, float, str, bool, Decimal, date, datetime, UUID)


def _decodable(t: Any) -> bool:
    """Whether values of type ``t`` decode from their JSON to equal Python values."""
    if t is None or t is Any:
        return False
    origin = typing.get_origin(t)
    if origin is None:
        if not isinstance(t, type):
            return False
        if t in _SCALARS or issubclass(t, enum.Enum):
            return True
        from flows.ivm.data import Data

        if issubclass(t, Data):
            try:
                hints = typing.get_type_hints(t)
            except Exception:  # noqa: BLE001 - unresolvable annotations: keep a pickled copy
                return False
            return all(_decodable(hints[field.name])
                       for field in dataclasses.fields(t))  # type: ignore[arg-type]
        return False
    args = typing.get_args(t)
    if origin in (tuple, frozenset, typing.Union, types.UnionType) or _is_pair(origin):
        return all(arg is Ellipsis or arg is type(None) or _decodable(arg) for arg in args)
    return False


def _is_pair(origin: Any) -> bool:
    from flows.ivm.data import Pair

    return origin is Pair


def _name(t: Any) -> str:
    return getattr(t, "__qualname__", None) or repr(t)
