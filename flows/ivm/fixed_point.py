"""Running a graph's recursive parts (`flows.ivm.recursion`): the order the runner steps a
graph with loops in, and the kernel that runs one loop to its fixed point each iteration.

A part's kernels are the ordinary ones (`make_kernel`), built afresh each iteration on scratch
state in memory and stepped round after round as if each round were an iteration: round 0
gets the part's inputs as they stand (whole), every later round only what its placeholder
delays carry from the round before. The store keeps, per part, its inputs as they stand and
its exits' last fixed point, so the part's output is the change between fixed points.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from flows.ivm.errors import IvmError
from flows.ivm.graph import Graph, Node
from flows.ivm.kernels import (
    NO_CHANGES,
    Changes,
    Kernel,
    as_changes,
    make_kernel,
    stored_type,
)
from flows.ivm.recursion import FORWARD, MAX_ROUNDS, Part, recursive_parts
from flows.ivm.state import Counts, Transaction, add_counts
from flows.ivm.store import StagedChanges, Store, StorePython


def execution_order(graph: Graph[Any, Any]) -> tuple[list[Node], list[Part]]:
    """The nodes the runner steps, in an order where every node follows what it reads: a
    part stands for its exits (consecutive, the first one stepping the whole part); nodes
    inside parts but not read outside are left out. Without loops: the graph's own order."""
    parts = recursive_parts(graph)
    if not parts:
        return list(graph.nodes), []
    part_of = {id(node): number for number, part in enumerate(parts) for node in part.nodes}

    def unit(node: Node) -> Any:
        return ("part", part_of[id(node)]) if id(node) in part_of else ("node", id(node))

    members: dict[Any, list[Node]] = {}
    for node in graph.nodes:
        members.setdefault(unit(node), []).append(node)
    needs: dict[Any, set[Any]] = {key: set() for key in members}
    for key, nodes in members.items():
        inputs = parts[key[1]].external if key[0] == "part" else nodes[0].inputs
        needs[key] = {unit(source) for source in inputs} - {key}
    waiting = {key: len(needed) for key, needed in needs.items()}
    readers: dict[Any, list[Any]] = {key: [] for key in members}
    for key, needed in needs.items():
        for other in needed:
            readers[other].append(key)
    first = {key: min(node.id for node in nodes) for key, nodes in members.items()}
    ready = [(first[key], key) for key, count in waiting.items() if not count]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        _, key = heapq.heappop(ready)
        order += parts[key[1]].exits if key[0] == "part" else members[key]
        for reader in readers[key]:
            waiting[reader] -= 1
            if not waiting[reader]:
                heapq.heappush(ready, (first[reader], reader))
    return order, parts


class PartKernel(Kernel):
    """Steps one part to its fixed point; its result is the first exit's change (the others
    are handed on by `ExitKernel`s)."""

    def __init__(self, part: Part, graph: Graph[Any, Any], store: Store,
                 consumers: dict[int, list[Node]]) -> None:
        super().__init__(part.exits[0])
        self.part, self.graph = part, graph
        self.consumers = consumers
        self.delays = part.delays
        owner = self.delays[0]
        self.input_states: list[Counts] = [
            store.counts(owner, f"loop_input_{n}", value_type=stored_type(node))
            for n, node in enumerate(part.external)]
        self.exit_states: list[Counts] = [
            store.counts(owner, f"loop_exit_{n}", value_type=stored_type(node))
            for n, node in enumerate(part.exits)]
        self.external_position = {id(node): n for n, node in enumerate(part.external)}
        self.changes: list[Changes] = []
        self.ran_in: Transaction | None = None

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        inputs = []
        for state, delta in zip(self.input_states, changes, strict=True):
            whole = dict(state.items())
            add_counts(whole, delta)
            tx.stage(state, delta)
            inputs.append(whole)
        self.changes = []
        for state, fixed in zip(self.exit_states, self._fixed_point(inputs), strict=True):
            change = {value: -count for value, count in state.items()}
            add_counts(change, fixed)
            tx.stage(state, change)
            self.changes.append(change)
        self.ran_in = tx
        return self.changes[0]

    def _fixed_point(self, inputs: list[Changes]) -> list[Changes]:
        scratch = StorePython(self.graph)
        # Every kernel in a loop hands on consolidated changes (as an output does): the rounds
        # compare and carry them as dicts.
        kernels = {id(node): make_kernel(node, scratch, self.consumers[id(node)], True)
                   for node in self.part.nodes if FORWARD not in node.params}
        totals: list[Changes] = [{} for _ in self.part.exits]
        carried: dict[int, Changes] = {id(delay): NO_CHANGES for delay in self.delays}
        for round_number in range(MAX_ROUNDS):
            results: dict[int, Changes] = {}
            staged = StagedChanges()
            staged.check_removals = False
            for node in self.part.nodes:
                if FORWARD in node.params:
                    results[id(node)] = carried[id(node)]
                    continue
                changes = [results[id(source)] if id(source) in results
                           else inputs[self.external_position[id(source)]] if round_number == 0
                           else NO_CHANGES for source in node.inputs]
                kernel = kernels[id(node)]
                results[id(node)] = (as_changes(kernel.step(changes, staged))
                                     if any(changes) or kernel.runs_idle() else NO_CHANGES)
            for apply in staged.prepare_states():
                apply()
            for total, exit_node in zip(totals, self.part.exits, strict=True):
                add_counts(total, results[id(exit_node)])
            carried = {id(delay): results[id(delay.inputs[0])] for delay in self.delays}
            if not any(carried.values()):
                return totals
        still = sum(len(changes) for changes in carried.values())
        names = ", ".join(delay.name for delay in self.delays)
        raise IvmError(f"the loop through {names} did not reach a fixed point within "
                       f"{MAX_ROUNDS:,} rounds (its last round still changed {still} values): "
                       "a loop that adds without st.distinct, or a total that keeps growing, "
                       "never settles; nothing was changed")


class ExitKernel(Kernel):
    """Another exit of a part: its change, when the part ran this iteration."""

    def __init__(self, part_kernel: PartKernel, position: int) -> None:
        super().__init__(part_kernel.part.exits[position])
        self.part_kernel, self.position = part_kernel, position

    def runs_idle(self) -> bool:
        return True

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        if self.part_kernel.ran_in is not tx:
            return NO_CHANGES
        return self.part_kernel.changes[self.position]
