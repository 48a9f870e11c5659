"""Tracing a query: `Stream`, the symbolic Z-set a query function gets while it is compiled,
and `Tracer`, which records one graph node per operator call and names the nodes after the
variables that hold them (``query.join_meters``), read from the function's locals when it
returns, so names are readable and stable across runs and processes as long as the query's
code is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from flows.ivm.errors import CompileError
from flows.ivm.graph import Node, OperatorKind, is_library_frame, user_frame, where

_current: Tracer | None = None


def current_tracer(operator: str) -> Tracer:
    """The tracer of the query being compiled; a clear error outside `compile`."""
    if _current is None:
        raise CompileError(
            f"{where(user_frame())}: st.{operator} builds a query graph; call it inside the "
            "query function passed to st.compile(query), not on concrete data"
        )
    return _current


class Tracer:
    """Collects the nodes created while the query function runs, and names them."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.root_name = func.__name__
        self.nodes: list[Node] = []
        self.cache_nodes: list[tuple[Any, Node]] = []
        self._root_frame_id: int | None = None
        self._pending: dict[int, list[Node]] = {}
        # Frames that created nodes are kept alive so their final locals can be read after the
        # query returned (CPython keeps a finished frame's locals while it is referenced).
        self._frames: dict[int, FrameType] = {}
        self._frame_depth: dict[int, int] = {}
        self._paths: dict[int, tuple[str, ...]] = {}
        self._creation_path: dict[int, tuple[str, ...]] = {}

    def add(
        self,
        kind: OperatorKind,
        inputs: tuple[Stream, ...],
        params: dict[str, Any],
        *,
        t: Any = None,
        depth: int | None = None,
        grouped: bool = False,
        name: str = "",
    ) -> Stream:
        frame = user_frame()
        for position, stream in enumerate(inputs):
            self.check_stream(kind, stream, position)
        depths = {stream.node.depth for stream in inputs}
        if len(depths) > 1:
            raise CompileError(
                f"{where(frame)}: st.{kind} combines streams from inside and outside a "
                "st.per_group scope; use only the group's own stream inside per_group"
            )
        node_depth = depth if depth is not None else (depths.pop() if depths else 0)
        node = Node(len(self.nodes), kind, tuple(s.node for s in inputs), params, node_depth,
                    t=t, name=name, origin=where(frame))
        self.nodes.append(node)
        if not name and frame is not None:
            self._find_root(frame)
            self._remember(frame)
            self._pending.setdefault(id(frame), []).append(node)
            self._creation_path[node.id] = self._path(frame)
        return Stream(node, grouped)

    def drop_last(self, node: Node) -> None:
        """Forget ``node``, the last one recorded and read by none (a loop's closing delay,
        replaced by its placeholder)."""
        assert self.nodes[-1] is node
        self.nodes.pop()
        for pending in self._pending.values():
            if node in pending:
                pending.remove(node)
        self._creation_path.pop(node.id, None)

    def check_stream(self, kind: str, stream: Any, position: int, grouped: bool = False) -> None:
        frame = user_frame()
        if not isinstance(stream, Stream):
            raise CompileError(
                f"{where(frame)}: argument {position + 1} of st.{kind} must be a stream (a "
                f"query parameter or an operator's result), got {type(stream).__name__}"
            )
        if stream.node.id >= len(self.nodes) or self.nodes[stream.node.id] is not stream.node:
            raise CompileError(f"{where(frame)}: st.{kind} got a stream of another query")
        if stream.node.scalar and kind not in ("make_set", "delay"):
            raise CompileError(
                f"{where(frame)}: st.{kind} got a scalar stream (from st.make_scalar); a scalar "
                "goes to st.make_set (a Z-set again) or st.delay here"
                + ("; a query returns Z-sets: return st.make_set(scalar)"
                   if kind == "compile" else "")
            )
        if kind == "make_set" and not stream.node.scalar:
            raise CompileError(f"{where(frame)}: st.make_set takes a scalar stream (from "
                               "st.make_scalar, or a st.delay of one); this one carries Z-sets")
        if stream.grouped and not grouped:
            raise CompileError(
                f"{where(frame)}: st.{kind} got a grouped stream; apply operators per group "
                "with st.per_group[grouped](lambda g: ...) or flatten it with st.flatten"
            )
        if grouped and not stream.grouped:
            raise CompileError(f"{where(frame)}: st.{kind} needs a grouped stream (from st.group)")

    def register_cache(self, cache: Any, node: Node) -> None:
        variable = next((name for name, value in self.func.__globals__.items() if value is cache),
                        None)
        if variable is not None:
            node.name = f"{self.root_name}.{variable}"
            self._creation_path.pop(node.id, None)
        self.cache_nodes.append((cache, node))

    # Naming ---------------------------------------------------------------------------

    def _path(self, frame: FrameType) -> tuple[str, ...]:
        frame_id = id(frame)
        if frame_id not in self._paths:
            names: list[str] = []
            current: FrameType | None = frame
            while current is not None and id(current) != self._root_frame_id:
                if not is_library_frame(current):
                    names.append(current.f_code.co_name.strip("<>"))
                current = current.f_back
            self._paths[frame_id] = (self.root_name, *reversed(names))
        return self._paths[frame_id]

    def _find_root(self, frame: FrameType) -> None:
        if self._root_frame_id is not None:
            return
        current: FrameType | None = frame
        while current is not None:
            if current.f_code is self.func.__code__:
                self._root_frame_id = id(current)
                self._paths[id(current)] = (self.root_name,)
                self._remember(current)
            current = current.f_back

    def _remember(self, frame: FrameType) -> None:
        frame_id = id(frame)
        if frame_id not in self._frames:
            self._frames[frame_id] = frame
            depth, current = 0, frame.f_back
            while current is not None:
                depth, current = depth + 1, current.f_back
            self._frame_depth[frame_id] = depth

    def name_from_variables(self) -> None:
        """Name nodes after the variables holding them, innermost frames (lambdas, helpers)
        first, so that a result a helper returns unnamed is named by its caller."""
        while self._pending:
            frame_id = max(self._pending, key=self._frame_depth.__getitem__)
            nodes = self._pending.pop(frame_id)
            self._name_from_locals(self._frames[frame_id], nodes)
        self._frames.clear()

    def _name_from_locals(self, frame: FrameType, nodes: list[Node]) -> None:
        variables: dict[int, str] = {}
        for variable, value in frame.f_locals.items():
            if isinstance(value, Stream):
                variables.setdefault(id(value.node), variable)
        path = self._path(frame)
        unnamed = []
        for node in nodes:
            if node.name:
                continue
            name = variables.get(id(node))
            if name is not None and name != "_":
                node.name = ".".join((*path, name))
            else:
                unnamed.append(node)
        parent = user_frame(frame.f_back) if id(frame) != self._root_frame_id else None
        if unnamed and parent is not None:
            # Let the caller name them: `daily = helper(reads)` names helper's result "daily".
            self._remember(parent)
            self._path(parent)
            self._pending.setdefault(id(parent), []).extend(unnamed)

    def finish_names(self) -> None:
        for node in self.nodes:
            if not node.name:
                path = self._creation_path.get(node.id, (self.root_name,))
                node.name = ".".join((*path, node.kind))
        seen: dict[str, int] = {}
        for node in self.nodes:
            if node.name in seen:
                seen[node.name] += 1
                node.name = f"{node.name}_{seen[node.name]}"
            else:
                seen[node.name] = 1


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

    def __add__(self, other: Any) -> Stream:
        return current_tracer("add").add(OperatorKind.ADD, (self, other), {}, t=self.node.t)

    def __neg__(self) -> Stream:
        return current_tracer("neg").add(OperatorKind.NEG, (self,), {}, t=self.node.t)

    def __sub__(self, other: Any) -> Stream:
        t = other.node.t if isinstance(other, Stream) else None
        negated = current_tracer("neg").add(OperatorKind.NEG, (other,), {}, t=t)
        return self + negated

    def __repr__(self) -> str:
        return f"<Stream {self.node.name or self.node.kind}{' grouped' if self.grouped else ''}>"


@contextmanager
def tracing(tracer: Tracer) -> Iterator[Tracer]:
    """Operators called inside record their nodes on ``tracer``; one query at a time."""
    global _current
    if _current is not None:
        raise CompileError("st.compile cannot be called while another query is compiling")
    _current = tracer
    try:
        yield tracer
    finally:
        _current = None
