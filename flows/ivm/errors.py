"""Exceptions raised by flows.ivm; each message says what to change."""

from __future__ import annotations


class IvmError(Exception):
    """Base class of every flows.ivm error."""


class CompileError(IvmError):
    """The query function uses something `compile` cannot turn into a graph."""


class RemoveError(IvmError, ValueError):
    """An input change would leave a value with a negative count (e.g. removing an absent value)."""


class StoreError(IvmError):
    """The store does not match the graph, or is used in a way it does not support."""


class InputTypeError(IvmError, TypeError):
    """A value given to an input is not of the type the query's parameter declares."""
