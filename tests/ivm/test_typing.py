"""A query's input and output types reach the caller through compile, actions and iteration
(as with stepping). mypy checks the `assert_type`s (this file is in its `files`); at run time
the test runs the same calls."""

from __future__ import annotations

from typing import assert_type

import flows.ivm as st


class Read(st.Data):
    serial: str
    wh: int


def query(reads: st.ZSet[Read], names: st.ZSet[str]) -> st.ZSet[int]:
    return st.map(reads, f=lambda read: read.wh)


def test_types_flow_from_the_query_to_the_caller() -> None:
    graph = st.compile(query)
    assert_type(graph, st.Graph[tuple[Read, str], st.ZSet[int]])
    store = st.StorePython.from_graph(graph)
    insert_reads, insert_names = st.actions(store, graph)
    assert_type(insert_reads, st.Action[Read])
    assert_type(insert_names, st.Action[str])
    (changes,) = st.iteration(store, graph, [st.ZSetPython({Read(serial="A", wh=5): 1}),
                                             st.ZSetPython({})])
    assert_type(changes, st.ZSetPython[int])
    assert dict(changes.iter()) == {5: 1}
