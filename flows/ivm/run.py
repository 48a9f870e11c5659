"""Running a compiled graph: one iteration turns input changes into output changes.

`actions(store, graph)` is what users call: one `Action` per query input, each call to
``insert``/``remove``/``replace`` runs exactly one iteration inside one store transaction.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import is_, itemgetter
from typing import Any, Generic, NamedTuple, TypeVar, overload

from flows.ivm.errors import IvmError, StoreError
from flows.ivm.fixed_point import ExitKernel, PartKernel, execution_order
from flows.ivm.graph import A1, A2, A3, A4, A5, A6, Graph, Node, OperatorKind
from flows.ivm.kernels import (
    NO_CHANGES,
    Changes,
    Kernel,
    Loose,
    MapKernel,
    as_changes,
    make_kernel,
)
from flows.ivm.state import add_count
from flows.ivm.store import Store
from flows.ivm.zset import ZSet, ZSetPython

T = TypeVar("T")
B1 = TypeVar("B1")
B2 = TypeVar("B2")
B3 = TypeVar("B3")


@dataclass(frozen=True)
class Time:
    """Accepted for compatibility with stepping; every call here is one complete iteration."""

    input_time: int = -1
    frontier: int = -1
    flush_every_set: bool = False


class Scheduled(NamedTuple):
    """A kernel an iteration steps: its slot, and how it fetches its inputs' changes from
    the slots' results (an itemgetter: C, where a comprehension per kernel per iteration
    costs a Python frame)."""

    slot: int
    kernel: Kernel
    fetch: Callable[[list[Any]], Any]
    single: bool  # ``fetch`` returns the one input's changes, not a tuple of them

    @classmethod
    def of(cls, slot: int, kernel: Kernel, sources: tuple[int, ...]) -> Scheduled:
        fetch: Callable[[list[Any]], Any] = itemgetter(*sources) if sources else _nothing
        return cls(slot, kernel, fetch, len(sources) == 1)


def _nothing(results: list[Any]) -> tuple[()]:
    return ()


class _Schedules(dict[tuple[int, ...], list[Scheduled]]):
    """`Runner.schedule`'s cache: each set of changed inputs' schedule, built on first use
    (a plain dict lookup after that, in C)."""

    def __init__(self, build: Callable[[tuple[int, ...]], list[Scheduled]]) -> None:
        super().__init__()
        self.build = build

    def __missing__(self, changed: tuple[int, ...]) -> list[Scheduled]:
        schedule = self[changed] = self.build(changed)
        return schedule


class Runner:
    """The graph's kernels, in topological order, bound to one store's state."""

    def __init__(self, store: Store, graph: Graph[Any, Any]) -> None:
        self.store = store
        self.graph = graph
        outputs = {id(node) for node in graph.outputs}
        consumers: dict[int, list[Node]] = {id(node): [] for node in graph.nodes}
        for node in graph.nodes:
            for source in node.inputs:
                consumers[id(source)].append(node)
        readers_of = dict(consumers)  # what a loop's own kernels are built with
        # The graph's order; with loops, each loop stands in it as its exits (`fixed_point`).
        self.nodes, parts = execution_order(graph)
        slot = {id(node): position for position, node in enumerate(self.nodes)}
        exits = {id(node) for part in parts for node in part.exits}  # stepped by their part
        # A node read inside a loop is read by the loop (whose kernels keep scratch state): an
        # input must not count on a join inside one to hold its values.
        loop_of = {id(node): part.delays[0] for part in parts for node in part.nodes}
        consumers = {key: [loop_of.get(id(reader), reader) for reader in readers]
                     for key, readers in consumers.items()}
        # For each node: where its input changes come from (negative: the iteration's inputs).
        self.sources: list[tuple[int, ...]] = [
            (-1 - node.params["position"],) if node.kind == OperatorKind.INPUT
            else () if id(node) in exits
            else tuple(slot[id(source)] for source in node.inputs)
            for node in self.nodes
        ]
        self.kernels: list[Kernel] = [
            Kernel(node) if id(node) in exits
            else make_kernel(node, store, consumers[id(node)], id(node) in outputs)
            for node in self.nodes]
        for part in parts:
            first = slot[id(part.exits[0])]
            kernel = PartKernel(part, graph, store, readers_of)
            self.kernels[first] = kernel
            self.sources[first] = tuple(slot[id(source)] for source in part.external)
            for position, exit_node in enumerate(part.exits[1:], start=1):
                self.kernels[slot[id(exit_node)]] = ExitKernel(kernel, position)
                self.sources[slot[id(exit_node)]] = (first,)
        self._fuse_maps(slot, consumers, outputs)
        self.output_slots = [(slot[id(node)], self.kernels[slot[id(node)]].hands_on_input)
                             for node in graph.outputs]
        self._schedules = _Schedules(self._build_schedule)
        self._no_results: list[Changes | Loose] = [NO_CHANGES] * len(self.kernels)

    def _fuse_maps(self, slot: dict[int, int], consumers: dict[int, list[Node]],
                   outputs: set[int]) -> None:
        """Fuse each map into the kernel before it when the map is that node's only reader
        (and the node no output): the kernel applies the map's function as it builds its
        values and runs in the map's place; the map's own slot is never stepped. Chains of
        maps fold into one kernel. Saves a pass and a kernel step per map per iteration."""
        for map_slot, node in enumerate(self.nodes):
            map_kernel = self.kernels[map_slot]
            if node.kind != OperatorKind.MAP or not isinstance(map_kernel, MapKernel):
                continue
            producer = node.inputs[0]
            source = slot.get(id(producer))
            if (source is None or id(producer) in outputs or len(consumers[id(producer)]) != 1
                    or self.sources[map_slot] != (source,)):
                continue
            kernel = self.kernels[source]
            if kernel.fuse(map_kernel.f):
                kernel.loose = map_kernel.loose
                self.kernels[map_slot], self.sources[map_slot] = kernel, self.sources[source]
                self.kernels[source], self.sources[source] = Kernel(producer), ()

    def schedule(self, changed: tuple[int, ...]) -> list[Scheduled]:
        """The kernels an iteration with changes on the inputs at positions ``changed`` may
        have to step, in order: those downstream of a changed input or of a kernel that can
        run with no input change. Built once per set of changed inputs."""
        return self._schedules[changed]

    def _build_schedule(self, changed: tuple[int, ...]) -> list[Scheduled]:
        live: set[int] = set()
        schedule = []
        for slot, (kernel, sources) in enumerate(zip(self.kernels, self.sources)):
            if (any((-1 - s in changed) if s < 0 else (s in live) for s in sources)
                    or _overrides_runs_idle(type(kernel))):
                live.add(slot)
                schedule.append(Scheduled.of(slot, kernel, sources))
        return schedule

    def run(self, inputs: Sequence[Changes],
            before_commit: Callable[[tuple[ZSetPython[Any], ...]], None] | None = None,
            check_removals: bool = True,
            changed: tuple[int, ...] | None = None) -> tuple[ZSetPython[Any], ...]:
        """One iteration; ``changed``: the positions of the inputs with changes, if known."""
        if len(inputs) != len(self.graph.inputs):
            raise IvmError(f"{self.graph.name} takes {len(self.graph.inputs)} inputs, "
                           f"got {len(inputs)}")
        if changed is None:
            changed = tuple(n for n, changes in enumerate(inputs) if changes)
        return self.iterate(inputs, changed, before_commit, check_removals)

    def iterate(self, inputs: Sequence[Changes], changed: tuple[int, ...],
                before_commit: Callable[[tuple[ZSetPython[Any], ...]], None] | None = None,
                check_removals: bool = True) -> tuple[ZSetPython[Any], ...]:
        """`run` with its inputs checked: one per graph input, ``changed`` the positions of
        those with changes. One read per call makes every step here count."""
        # Each slot's changes, then the inputs backwards: a source -1 - p is input p.
        results: list[Changes | Loose] = self._no_results[:]
        results += reversed(inputs)
        schedule = self._schedules[changed]  # `schedule`, without its call
        # The cyclic garbage collector is paused for the iteration (reference counting still
        # frees all it drops). An iteration allocates its changes in bursts of thousands of
        # objects that die by its end; with the collector on, those bursts set off full
        # collections that walk the whole state (every value a join holds), so iterations
        # got slower as the state grew: 46k → 21k reads/s over a million reads of the seed
        # query; flat with it paused. It runs again after the iteration, on what survived.
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        try:
            store = self.store
            tx = store.begin()
            try:
                tx.check_removals = check_removals
                for slot, kernel, fetch, single in schedule:
                    changes = (fetch(results),) if single else fetch(results)
                    if any(changes) or kernel.runs_idle():
                        results[slot] = kernel.step(changes, tx)
                outputs = tuple([ZSetPython.from_counts(self._own(results, slot, may_share))
                                 for slot, may_share in self.output_slots])
                if before_commit is not None:
                    tx.before_commit.append(lambda: before_commit(outputs))
            except BaseException:
                store.rollback()
                raise
            store.commit(tx)
        finally:
            if collecting:
                gc.enable()
        return outputs

    @staticmethod
    def _own(results: list[Changes | Loose], slot: int, may_share: bool) -> Changes:
        """An output's changes for the caller to keep: a copy if anything else may hold the
        same dict (NO_CHANGES; or a kernel that hands on its input, e.g. an add with one side
        empty, when that dict is another slot's or an input's)."""
        changes = as_changes(results[slot])  # outputs are consolidated; this tells the type
        if changes is NO_CHANGES:
            return {}
        if may_share and sum(map(is_, results, repeat(changes))) > 1:
            return dict(changes)
        return changes


def _overrides_runs_idle(kernel_type: type) -> bool:
    """Whether the kernel class says when it runs with no input change (compiled methods
    are not comparable by identity: looked up by name instead)."""
    return any("runs_idle" in vars(base) for base in kernel_type.__mro__
               if base is not Kernel and base is not object)


def _changes(zset: ZSet[Any] | Iterable[tuple[Any, int]]) -> Changes:
    out: Changes = {}
    items = zset.iter() if hasattr(zset, "iter") else zset
    for value, count in items:
        if count:
            add_count(out, value, count)
    return out


def runner_for(store: Store, graph: Graph[Any, Any]) -> Runner:
    """The store's runner: built once (its kernels bound to the store's state), then reused."""
    check_graph(store.graph, graph)
    runner: Runner | None = store.runner_slot
    if runner is None:
        runner = store.runner_slot = Runner(store, store.graph)
    return runner


Outputs = Callable[[tuple[ZSetPython[Any], ...]], None]


@overload
def iteration(store: Store, g: Graph[Any, ZSet[B1]], inputs: Sequence[ZSet[Any]],
              time: Time | None = None, before_commit: Outputs | None = None,
              ) -> tuple[ZSetPython[B1]]: ...
@overload
def iteration(store: Store, g: Graph[Any, tuple[ZSet[B1], ZSet[B2]]],
              inputs: Sequence[ZSet[Any]], time: Time | None = None,
              before_commit: Outputs | None = None) -> tuple[ZSetPython[B1], ZSetPython[B2]]: ...
@overload
def iteration(store: Store, g: Graph[Any, tuple[ZSet[B1], ZSet[B2], ZSet[B3]]],
              inputs: Sequence[ZSet[Any]], time: Time | None = None,
              before_commit: Outputs | None = None,
              ) -> tuple[ZSetPython[B1], ZSetPython[B2], ZSetPython[B3]]: ...
@overload
def iteration(store: Store, g: Graph[Any, Any], inputs: Sequence[ZSet[Any]],
              time: Time | None = None, before_commit: Outputs | None = None,
              ) -> tuple[ZSetPython[Any], ...]: ...


def iteration(
    store: Store,
    g: Graph[Any, Any],
    inputs: Sequence[ZSet[Any]],
    time: Time | None = None,
    before_commit: Outputs | None = None,
) -> tuple[ZSetPython[Any], ...]:
    """Run one iteration with one change Z-set per input; returns one change Z-set per output.

    Inputs take any weights, as in DBSP (and stepping): ``ZSetPython({"b": -1})`` on an
    integrate gives ``b`` with count -1; `Action.remove` and `Action.replace` instead refuse to
    remove what an input does not hold (`RemoveError`).

    ``before_commit(outputs)`` runs inside the iteration's transaction, after the store's
    writes: what it writes on the store's connection commits together with them, or not at all
    (e.g. a derived table, or the position of the feed the inputs came from)."""
    runner = runner_for(store, g)
    return runner.run([_changes(zset) for zset in inputs], before_commit, check_removals=False)


class Action(Generic[T]):
    """Changes to one input of a query; each call is one iteration (one transaction)."""

    def __init__(self, runner: Runner, position: int) -> None:
        self._runner = runner
        self._position = position
        self._changed = (position,)
        self._inputs = len(runner.graph.inputs)

    @property
    def name(self) -> str:
        return self._runner.graph.inputs[self._position].name

    def _run(self, changes: Changes, removes: bool = True) -> tuple[ZSetPython[Any], ...]:
        inputs: list[Changes] = [NO_CHANGES] * self._inputs
        inputs[self._position] = changes
        # An insert has nothing to check removals of.
        return self._runner.iterate(inputs, self._changed if changes else (),
                                    check_removals=removes)

    def insert(self, *values: T, time: Time | None = None) -> tuple[ZSetPython[Any], ...]:
        return self._run(_counted(values, 1), removes=False)

    def remove(self, *values: T, time: Time | None = None) -> tuple[ZSetPython[Any], ...]:
        return self._run(_counted(values, -1))

    def replace(self, old: T, new: T, time: Time | None = None) -> tuple[ZSetPython[Any], ...]:
        changes: Changes = {}
        add_count(changes, old, -1)
        add_count(changes, new, 1)
        return self._run(changes)

    def __repr__(self) -> str:
        return f"<Action {self.name}>"


def _counted(values: tuple[Any, ...], sign: int) -> Changes:
    """``value → sign × occurrences``; one hash per value when they are distinct (the usual)."""
    changes = dict.fromkeys(values, sign)
    if len(changes) < len(values):
        changes = {}
        for value in values:
            changes[value] = changes.get(value, 0) + sign
    return changes


@overload
def actions(store: Store, g: Graph[tuple[A1], Any]) -> tuple[Action[A1]]: ...
@overload
def actions(store: Store, g: Graph[tuple[A1, A2], Any]) -> tuple[Action[A1], Action[A2]]: ...
@overload
def actions(store: Store, g: Graph[tuple[A1, A2, A3], Any]
            ) -> tuple[Action[A1], Action[A2], Action[A3]]: ...
@overload
def actions(store: Store, g: Graph[tuple[A1, A2, A3, A4], Any]
            ) -> tuple[Action[A1], Action[A2], Action[A3], Action[A4]]: ...
@overload
def actions(store: Store, g: Graph[tuple[A1, A2, A3, A4, A5], Any]
            ) -> tuple[Action[A1], Action[A2], Action[A3], Action[A4], Action[A5]]: ...
@overload
def actions(store: Store, g: Graph[tuple[A1, A2, A3, A4, A5, A6], Any]
            ) -> tuple[Action[A1], Action[A2], Action[A3], Action[A4], Action[A5], Action[A6]]: ...
@overload
def actions(store: Store, g: Graph[Any, Any]) -> tuple[Action[Any], ...]: ...


def actions(store: Store, g: Graph[Any, Any]) -> tuple[Action[Any], ...]:
    """One `Action` per input of ``g``, in parameter order, running on ``store``."""
    runner = runner_for(store, g)
    return tuple(Action(runner, position) for position in range(len(g.inputs)))


def batched(values: Iterable[T], n: int) -> Iterator[list[T]]:
    """``values`` in lists of ``n`` (the last may be shorter): to feed an action in batches,
    ``for batch in st.batched(reads, 1000): i_reads.insert(*batch)``."""
    if n < 1:
        raise ValueError(f"batches hold at least one value, not {n}")
    iterator = iter(values)
    while batch := list(islice(iterator, n)):
        yield batch


def check_graph(store_graph: Graph[Any, Any], graph: Graph[Any, Any]) -> None:
    if store_graph is not graph and store_graph != graph:
        raise StoreError(f"this store was built for query {store_graph.name!r} with a different "
                         f"shape than the graph given ({graph.name!r}); compile the same query "
                         "or build a new store")
