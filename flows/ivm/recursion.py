"""Recursion written by hand: a stream declared before it is computed, through `st.delay`.

    def reachable(edges: st.ZSet[Edge]) -> st.ZSet[Edge]:
        delayed: st.ZSet[Edge]                       # declared, assigned below
        stepped = st.map(st.join(delayed, edges, on_left=by_to, on_right=by_from), f=hop)
        paths = st.distinct(st.add(edges, stepped))
        delayed = st.delay(paths)                    # closes the loop
        return paths

Python cannot read a local before it is assigned, so `compile` rewrites such a function first
(`with_forward_streams`): the declaration binds a placeholder stream, and the assignment from
`st.delay(x)` makes the placeholder that delay of ``x``. The nodes on the loop are a
*recursive part*; each iteration runs it to a fixed point in nested time (DBSP): from nothing,
round after round (the delay carries each round's result into the next) until a round changes
nothing, at most `MAX_ROUNDS` (then `IvmError`). Its outputs change by the difference between
the new fixed point and the previous one. The part's kernels run on scratch state, so a part
costs its fixed point's work each iteration its inputs change (`st.transitive_closure` is the
incremental reachability).
"""

from __future__ import annotations
import __future__

import ast
import inspect
import sys
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flows.ivm.errors import CompileError
from flows.ivm.graph import Graph, Node, OperatorKind, user_frame, where
from flows.ivm.trace import Stream, current_tracer

MAX_ROUNDS = 1_000
FORWARD = "forward"  # the param naming a placeholder delay's variable
_FORWARD_FUNCTION, _RESOLVE_FUNCTION = "__flows_forward__", "__flows_resolve__"


def with_forward_streams(func: Callable[..., Any]) -> Callable[..., Any] | None:
    """``func`` rewritten so that its declared-before-assigned streams work (see the module
    docstring); None when it declares none (or its source cannot be read)."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, ast.FunctionDef):
        return None
    declared = {statement.target.id for statement in definition.body
                if isinstance(statement, ast.AnnAssign) and statement.value is None
                and isinstance(statement.target, ast.Name)}
    if not declared:
        return None
    definition.body = [_rewritten(statement, declared) for statement in definition.body]
    definition.decorator_list = []
    free = func.__code__.co_freevars
    # The function is rebuilt inside one that takes its closure's values (and the two helpers)
    # as parameters, so it sees them exactly as the original did.
    outer = ast.FunctionDef(
        name="__flows_outer__",
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=name) for name in (
            _FORWARD_FUNCTION, _RESOLVE_FUNCTION, *free)], kwonlyargs=[], kw_defaults=[],
            defaults=[]),
        body=[definition, ast.Return(value=ast.Name(id=definition.name, ctx=ast.Load()))],
        decorator_list=[], returns=None)
    if sys.version_info >= (3, 12):
        outer.type_params = []
    module = ast.Module(body=[outer], type_ignores=[])
    ast.fix_missing_locations(module)
    ast.increment_lineno(module, func.__code__.co_firstlineno - 1)
    namespace: dict[str, Any] = {}
    # Annotations stay unevaluated (as with `from __future__ import annotations`): they may
    # name classes local to whoever compiles the query; the original's are kept.
    code = compile(module, func.__code__.co_filename, "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    exec(code, func.__globals__, namespace)
    cells = [cell.cell_contents for cell in func.__closure__ or ()]
    rebuilt: Callable[..., Any] = namespace["__flows_outer__"](
        _forward_for(func), _resolve, *cells)
    rebuilt.__annotations__ = func.__annotations__
    return rebuilt


def _rewritten(statement: ast.stmt, declared: set[str]) -> ast.stmt:
    """``name: T`` → ``name = __flows_forward__("name")``;
    ``name = value`` → ``name = __flows_resolve__(name, value)``."""
    if (isinstance(statement, ast.AnnAssign) and statement.value is None
            and isinstance(statement.target, ast.Name) and statement.target.id in declared):
        call = ast.Call(func=ast.Name(id=_FORWARD_FUNCTION, ctx=ast.Load()),
                        args=[ast.Constant(statement.target.id),
                              ast.Constant(ast.unparse(statement.annotation))], keywords=[])
        return ast.copy_location(ast.Assign(targets=[statement.target], value=call), statement)
    if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id in declared):
        name = statement.targets[0].id
        call = ast.Call(func=ast.Name(id=_RESOLVE_FUNCTION, ctx=ast.Load()),
                        args=[ast.Name(id=name, ctx=ast.Load()), statement.value], keywords=[])
        return ast.copy_location(ast.Assign(targets=statement.targets, value=call), statement)
    return statement


def _forward_for(func: Callable[..., Any]) -> Callable[[str, str], Stream]:
    def forward(name: str, annotation: str) -> Stream:
        """A placeholder: the delay of a stream computed later."""
        return current_tracer("delay").add(OperatorKind.DELAY, (), {FORWARD: name},
                                           t=_element_type(func, annotation))

    return forward


def _element_type(func: Callable[..., Any], annotation: str) -> Any:
    try:
        hint = eval(annotation, func.__globals__)
    except Exception:  # noqa: BLE001 - types are optional: values then keep a pickled copy
        return None
    args = typing.get_args(hint)
    return args[0] if len(args) == 1 else None


def _resolve(placeholder: Any, value: Any) -> Stream:
    """Close the loop: the placeholder becomes ``st.delay(x)``'s delay of ``x``."""
    tracer = current_tracer("delay")
    frame = user_frame()
    if not (isinstance(placeholder, Stream) and FORWARD in placeholder.node.params
            and not placeholder.node.inputs):
        raise CompileError(f"{where(frame)}: a declared stream is assigned once, from "
                           "st.delay(...)")
    node = value.node if isinstance(value, Stream) else None
    if node is None or node.kind != OperatorKind.DELAY or tracer.nodes[-1] is not node:
        raise CompileError(f"{where(frame)}: {placeholder.node.params[FORWARD]!r} is declared "
                           "before it is computed, so it must be assigned st.delay(stream): "
                           "the recursion's loop goes through a delay")
    if node.inputs[0].depth:
        raise CompileError(f"{where(frame)}: recursion cannot close inside st.per_group")
    tracer.drop_last(node)
    placeholder.node.inputs = node.inputs
    return placeholder


def check_resolved(graph_nodes: list[Node]) -> None:
    for node in graph_nodes:
        if FORWARD in node.params and not node.inputs:
            raise CompileError(f"{node.origin}: {node.params[FORWARD]!r} is declared but never "
                               "assigned st.delay(stream)")


# The recursive parts of a compiled graph ------------------------------------------------------


@dataclass
class Part:
    """One recursive part: its nodes in order (placeholders first), the streams it reads from
    outside, and its nodes read outside it (or outputs)."""

    nodes: list[Node]
    external: list[Node]
    exits: list[Node]

    @property
    def delays(self) -> list[Node]:
        """Its placeholder delays, the loop's ends (the first one owns the part's state)."""
        return [node for node in self.nodes if FORWARD in node.params]


def recursive_parts(graph: Graph[Any, Any]) -> list[Part]:
    """The graph's loops (strongly connected through their placeholder delays), one part each
    (loops sharing a node are one part)."""
    consumers: dict[int, list[Node]] = {id(node): [] for node in graph.nodes}
    for node in graph.nodes:
        for source in node.inputs:
            consumers[id(source)].append(node)
    parts: list[set[int]] = []
    for node in graph.nodes:
        if FORWARD not in node.params:
            continue
        reaches = _closure(node, lambda n: consumers[id(n)])  # downstream of the placeholder
        feeds = _closure(node.inputs[0], lambda n: list(n.inputs))  # upstream of its input
        members = (reaches & feeds) | {id(node)}
        for existing in [p for p in parts if p & members]:
            parts.remove(existing)
            members |= existing
        parts.append(members)
    outputs = {id(node) for node in graph.outputs}
    result = []
    for members in parts:
        nodes = [node for node in graph.nodes if id(node) in members]
        for node in nodes:
            if node.kind in (OperatorKind.INTEGRATE, OperatorKind.DELAY) and FORWARD not in node.params:
                raise CompileError(f"{node.origin}: st.{node.kind} inside a recursive loop; a "
                                   "loop's rounds are nested time, its only delay the declared one")
            if node.id in {cached.id for cached in graph.caches.values()}:
                raise CompileError(f"{node.origin}: a cache cannot be filled inside a loop")
        external: list[Node] = []
        for node in nodes:
            for source in node.inputs:
                if id(source) not in members and source not in external:
                    external.append(source)
        exits = [node for node in nodes if id(node) in outputs
                 or any(id(c) not in members for c in consumers[id(node)])]
        result.append(Part(nodes, external, exits))
    return result


def _closure(start: Node, step: Callable[[Node], list[Node]]) -> set[int]:
    seen, todo = {id(start)}, [start]
    while todo:
        for following in step(todo.pop()):
            if id(following) not in seen:
                seen.add(id(following))
                todo.append(following)
    return seen
