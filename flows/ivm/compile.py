"""`compile`: turn a query function into a `Graph` by running it once on symbolic streams
(see `flows.ivm.trace`: every operator call records a node, named after its variable)."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import traceback
import typing
from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from flows.ivm import graph, recursion
from flows.ivm.errors import CompileError
from flows.ivm.graph import A1, A2, A3, A4, A5, A6, Graph, Node, OperatorKind
from flows.ivm.trace import Stream, Tracer, tracing
from flows.ivm.zset import ZSet

TOut = TypeVar("TOut")
T = TypeVar("T")

# `compile` is stepping's name (it shadows the builtin on purpose, see pyproject's ruff ignores).
# The overloads carry a query's input value types and its output type to `actions` and
# `iteration` (as stepping does): ``st.compile(query)`` is a ``Graph[tuple[A, B], ZSet[C]]``.
@overload
def compile(func: Callable[[ZSet[A1]], TOut]) -> Graph[tuple[A1], TOut]: ...
@overload
def compile(func: Callable[[ZSet[A1], ZSet[A2]], TOut]) -> Graph[tuple[A1, A2], TOut]: ...
@overload
def compile(func: Callable[[ZSet[A1], ZSet[A2], ZSet[A3]], TOut]
            ) -> Graph[tuple[A1, A2, A3], TOut]: ...
@overload
def compile(func: Callable[[ZSet[A1], ZSet[A2], ZSet[A3], ZSet[A4]], TOut]
            ) -> Graph[tuple[A1, A2, A3, A4], TOut]: ...
@overload
def compile(func: Callable[[ZSet[A1], ZSet[A2], ZSet[A3], ZSet[A4], ZSet[A5]], TOut]
            ) -> Graph[tuple[A1, A2, A3, A4, A5], TOut]: ...
@overload
def compile(func: Callable[[ZSet[A1], ZSet[A2], ZSet[A3], ZSet[A4], ZSet[A5], ZSet[A6]], TOut]
            ) -> Graph[tuple[A1, A2, A3, A4, A5, A6], TOut]: ...
@overload
def compile(func: Callable[..., TOut]) -> Graph[Any, TOut]: ...


def compile(func: Callable[..., Any]) -> Graph[Any, Any]:
    """Build the graph of ``func(zset_1: st.ZSet[A], ...) -> st.ZSet[B] | tuple[...]``.

    The function runs once, at compile time, on symbolic streams: its body may only combine
    operator calls (plus ``+``/``-`` on streams, helper functions and ``cache[x](lambda a: ...)``).
    Compiling the same function twice gives equal graphs.
    """
    runnable = recursion.with_forward_streams(func) or func
    tracer = Tracer(runnable)
    caller = sys._getframe(1)
    element_types = _parameter_types(func, dict(caller.f_locals))
    with tracing(tracer):
        streams = [
            tracer.add(OperatorKind.INPUT, (), {"position": position}, t=t,
                       name=f"{func.__name__}.{param}")
            for position, (param, t) in enumerate(element_types)
        ]
        try:
            result = runnable(*streams)
        except CompileError:
            raise
        except Exception as error:
            raise _wrap_error(func, error) from error
    outputs = _outputs(func, result, tracer)
    recursion.check_resolved(tracer.nodes)
    tracer.name_from_variables()
    tracer.finish_names()
    for cache, node in tracer.cache_nodes:
        cache.bind(node.name)
    caches = {node.name: node for _, node in tracer.cache_nodes}
    compiled: Graph[Any, Any] = Graph(func.__name__, tracer.nodes, [s.node for s in streams],
                                      outputs, caches)
    recursion.recursive_parts(compiled)  # refuses what a loop cannot hold, now
    return compiled


_LAZY: dict[Callable[..., Any], Graph[Any, Any]] = {}


def compile_lazy(func: Callable[..., Any]) -> Callable[[], Graph[Any, Any]]:
    """``get_graph = st.compile_lazy(query)``: compiles on the first ``get_graph()`` (not at
    import), then returns the same graph every time."""
    def compiled() -> Graph[Any, Any]:
        found = _LAZY.get(func)
        if found is None:
            found = _LAZY[func] = compile(func)
        return found

    return compiled


def compile_typeof(value: T) -> type[T]:
    """The type of ``value`` while the query compiles: ``st.ZSet[X]`` for a stream whose
    values are ``X`` (``Any`` when unknown), else ``type(value)``. (A query runs at compile
    time, so this is an ordinary call here.)"""
    if isinstance(value, Stream):
        element = value.node.t if value.node.t is not None else Any
        return cast(type[T], ZSet[element])  # type: ignore[valid-type]
    return type(value)


# ``with st.at_compile_time: ...`` — stepping runs such a block while compiling; a flows.ivm
# query runs entirely at compile time, so the block needs nothing more.
at_compile_time = contextlib.nullcontext()


def _definition(func: Callable[..., Any]) -> str:
    code = func.__code__
    return f"{code.co_filename}:{code.co_firstlineno}"


def _parameter_types(func: Callable[..., Any], caller_locals: dict[str, Any]) -> list[tuple[str, Any]]:
    # String annotations (``from __future__ import annotations``) may name classes local to
    # the function that calls compile, so resolve them there too.
    unresolved = ""
    try:
        hints = typing.get_type_hints(func, localns=caller_locals)
    except Exception as error:  # noqa: BLE001 - report it with the parameter it concerns
        hints = dict(getattr(func, "__annotations__", {}))
        unresolved = f" (it could not be resolved: {error})"
    result = []
    for param in inspect.signature(func).parameters.values():
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            raise CompileError(f"{_definition(func)}: parameter {param.name!r} of "
                               f"{func.__name__} must be positional (one per input Z-set)")
        annotation = hints.get(param.name)
        if typing.get_origin(annotation) is not ZSet:
            raise CompileError(f"{_definition(func)}: parameter {param.name!r} of "
                               f"{func.__name__} needs an annotation st.ZSet[ValueType], got "
                               f"{annotation!r}{unresolved}")
        (element_type,) = typing.get_args(annotation)
        result.append((param.name, element_type))
    if not result:
        raise CompileError(f"{_definition(func)}: {func.__name__} needs at least one input")
    return result


def _outputs(func: Callable[..., Any], result: Any, tracer: Tracer) -> list[Node]:
    streams = result if isinstance(result, tuple) else (result,)
    for stream in streams:
        if not isinstance(stream, Stream):
            raise CompileError(f"{_definition(func)}: {func.__name__} must return a stream or "
                               f"a tuple of streams, got {type(stream).__name__}")
        if stream.grouped or stream.node.depth:
            raise CompileError(f"{_definition(func)}: {func.__name__} returns a grouped "
                               "stream; flatten it with st.flatten first")
        tracer.check_stream("compile", stream, 0)
    return [stream.node for stream in streams]


def _wrap_error(func: Callable[..., Any], error: Exception) -> CompileError:
    location = _definition(func)
    for frame_summary in reversed(traceback.extract_tb(error.__traceback__)):
        if not frame_summary.filename.startswith(_library_prefix()):
            location = f"{frame_summary.filename}:{frame_summary.lineno}"
            break
    hint = ""
    if isinstance(error, (UnboundLocalError, NameError)):
        hint = ("; streams must be assigned before use (a stream computed later is declared "
                "first, `name: st.ZSet[T]`, and assigned st.delay(...): see flows.ivm.recursion)")
    return CompileError(f"{location}: compiling {func.__name__} failed: "
                        f"{type(error).__name__}: {error}{hint}")


def _library_prefix() -> str:
    return os.path.dirname(os.path.abspath(graph.__file__)) + os.sep
