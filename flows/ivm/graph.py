"""The query graph: nodes (operators) and `Graph`, plus where in the user's code a node came from."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from types import FrameType
from typing import Any, Generic, TypeVar

from flows.ivm.index import Index

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")
# The value types of a graph's inputs, as `compile` and `actions` carry them (up to six inputs).
A1 = TypeVar("A1")
A2 = TypeVar("A2")
A3 = TypeVar("A3")
A4 = TypeVar("A4")
A5 = TypeVar("A5")
A6 = TypeVar("A6")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class OperatorKind(StrEnum):
    """What a node does. The values are the names stored in a SQL store's shape (and the
    stepping operator names), so they never change."""

    INPUT = "input"
    MAP = "map"
    MAP_MANY = "map_many"
    FILTER = "filter"
    ADD = "add"
    NEG = "neg"
    JOIN = "join"
    OUTER_JOIN = "outer_join"
    GROUP_REDUCE_FLATTEN = "group_reduce_flatten"
    REDUCE = "reduce"
    COUNT = "count"
    DISTINCT = "distinct"
    FIRST_N = "first_n"
    INTEGRATE = "integrate"
    DELAY = "delay"
    TRANSITIVE_CLOSURE = "transitive_closure"
    GROUP = "group"
    FLATTEN = "flatten"
    HAITCH = "haitch"
    MAKE_SCALAR = "make_scalar"
    MAKE_SET = "make_set"


@dataclass(eq=False)
class Node:
    """One operator of a graph.

    ``depth`` is the number of enclosing `per_group` scopes. At depth 0 the values flowing
    through the node are the user's values; at depth d > 0 each value is the tuple
    ``(value, group_keys)`` with ``group_keys`` the d enclosing group keys, outermost first.
    """

    id: int
    kind: OperatorKind
    inputs: tuple[Node, ...]
    params: dict[str, Any]
    depth: int
    t: Any = None
    name: str = ""
    origin: str = ""

    def shape(self) -> tuple[Any, ...]:
        """What identifies this node's behaviour and stored state, without function identities."""
        described = tuple(sorted((key, _describe(value)) for key, value in self.params.items()))
        return (self.name, self.kind, tuple(n.name for n in self.inputs), self.depth, described)

    def __repr__(self) -> str:
        inputs = ", ".join(n.name for n in self.inputs)
        return f"<Node {self.name} = {self.kind}({inputs}) depth={self.depth}>"

    @property
    def scalar(self) -> bool:
        """Whether the node's stream carries one value per iteration (`make_scalar`, or a
        delay of one), not Z-set changes. Inside, each value travels as ``{value: 1}``."""
        return self.kind == OperatorKind.MAKE_SCALAR or (
            self.kind == OperatorKind.DELAY and SCALAR_ZERO in self.params)


SCALAR_ZERO = "scalar_zero"
"""A delay's parameter when it delays a scalar stream: what it outputs first."""


def _describe(value: Any) -> Any:
    if isinstance(value, Index):
        return ("index", value.signature)
    if isinstance(value, tuple):
        return tuple(_describe(v) for v in value)
    if isinstance(value, (int, str, bool, type(None))):
        return value
    if isinstance(value, type):
        return value.__qualname__
    return type(value).__name__  # functions: only their presence counts


@dataclass(eq=False)
class Graph(Generic[TIn, TOut]):
    """A compiled query: nodes in topological order, the input and output nodes, and the
    nodes that fill a `Cache`. Two graphs are equal when their shapes are."""

    name: str
    nodes: list[Node]
    inputs: list[Node]
    outputs: list[Node]
    caches: dict[str, Node] = field(default_factory=dict)

    def shape(self) -> tuple[Any, ...]:
        return (
            self.name,
            tuple(node.shape() for node in self.nodes),
            tuple(node.name for node in self.outputs),
            tuple(sorted(self.caches)),
        )

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.shape() == other.shape()

    def __hash__(self) -> int:
        return hash(self.shape())

    def __repr__(self) -> str:
        lines = [f"Graph {self.name}:"]
        lines += [f"  {node!r}" for node in self.nodes]
        lines.append(f"  outputs: {', '.join(n.name for n in self.outputs)}")
        return "\n".join(lines)


def user_frame(start: FrameType | None = None) -> FrameType | None:
    """The innermost frame that is not flows.ivm's own code: where the user's query is."""
    frame: FrameType | None = start if start is not None else sys._getframe(1)
    while frame is not None and is_library_frame(frame):
        frame = frame.f_back
    return frame


def is_library_frame(frame: FrameType) -> bool:
    return os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR


def where(frame: FrameType | None) -> str:
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
