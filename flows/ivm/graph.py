"""The query graph: nodes (operators), symbolic streams used while tracing, and `Graph`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Generic, TypeVar

from flows.ivm.errors import CompileError

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(eq=False)
class Node:
    """One operator of a graph.

    ``depth`` is the number of enclosing `per_group` scopes. At depth 0 the values flowing
    through the node are the user's values; at depth d > 0 each value is the tuple
    ``(value, group_keys)`` with ``group_keys`` the d enclosing group keys, outermost first.
    """

    id: int
    kind: str
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


def _describe(value: Any) -> Any:
    from flows.ivm.index import Index

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


class Stream:
    """A symbolic Z-set while a query is being compiled: the result of an operator.

    Only operator calls may use it. Anything else (``if``, ``for``, ``len``, attribute access)
    raises `CompileError` naming the line, because the query runs once, at compile time.
    """

    __slots__ = ("grouped", "node")

    def __init__(self, node: Node, grouped: bool = False) -> None:
        self.node = node
        self.grouped = grouped

    def _unsupported(self, what: str, hint: str) -> CompileError:
        return CompileError(f"{where(user_frame())}: {what} on a stream is not supported "
                            f"inside a compiled query; {hint}")

    def __bool__(self) -> bool:
        raise self._unsupported("truth testing (if/and/or/not)", "use st.filter")

    def __iter__(self) -> Any:
        raise self._unsupported("iteration", "use st.map or st.map_many")

    def __len__(self) -> int:
        raise self._unsupported("len()", "use st.count")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._unsupported(f"reading attribute {name!r}", "use st.map to reach into values")

    def __add__(self, other: Any) -> Any:
        from flows.ivm import operators

        return operators.add(self, other)

    def __neg__(self) -> Any:
        from flows.ivm import operators

        return operators.neg(self)

    def __sub__(self, other: Any) -> Any:
        from flows.ivm import operators

        return operators.add(self, operators.neg(other))

    def __repr__(self) -> str:
        return f"<Stream {self.node.name or self.node.kind}{' grouped' if self.grouped else ''}>"
