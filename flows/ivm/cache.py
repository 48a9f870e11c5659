"""`Cache`: names the integrated result of part of a query so it can be read back from a store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from flows.ivm.errors import CompileError, StoreError
from flows.ivm.graph import OperatorKind, user_frame, where
from flows.ivm.store import Store
from flows.ivm.trace import Stream, current_tracer
from flows.ivm.zset import ZSet

T = TypeVar("T")


class Cache(Generic[T]):
    """``cache = st.Cache[Daily]()``; in the query ``cache[daily](lambda a: st.integrate_indexed(
    a, indexes=(by_date,)))``; afterwards ``cache.zset(store).iter_by_index(by_date, keys)``."""

    def __init__(self) -> None:
        self.node_name: str | None = None

    def __getitem__(self, stream: ZSet[T]) -> Callable[[Callable[[ZSet[T]], ZSet[T]]], ZSet[T]]:
        tracer = current_tracer("Cache")
        tracer.check_stream("Cache", stream, 0)

        def apply(make: Callable[[ZSet[T]], ZSet[T]]) -> ZSet[T]:
            result: Any = make(stream)
            if not isinstance(result, Stream) or result.node.kind != OperatorKind.INTEGRATE:
                raise CompileError(f"{where(user_frame())}: a cache must hold the result of "
                                   "st.integrate or st.integrate_indexed")
            if result.node.depth:
                raise CompileError(f"{where(user_frame())}: a cache cannot be filled inside "
                                   "st.per_group")
            tracer.register_cache(self, result.node)
            return result

        return apply

    def bind(self, node_name: str) -> None:
        """Called by `compile` once node names are final."""
        if self.node_name is not None and self.node_name != node_name:
            raise CompileError(f"this cache is already filled by {self.node_name}; one cache "
                               f"per query node (also asked to hold {node_name})")
        self.node_name = node_name

    def zset(self, store: Store) -> ZSet[T]:
        """The cached, integrated Z-set as the store holds it now."""
        if self.node_name is None:
            raise StoreError("this cache is not used by any compiled query; st.compile the "
                             "query that fills it first")
        return store.cached_zset(self.node_name)
