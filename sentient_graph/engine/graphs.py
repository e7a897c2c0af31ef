"""Which graph a run uses: references, the graphs this engine has seen, its checkpointer.

Owns: resolving a graph argument (a compiled graph or a reference) to a
compiled graph and its reference, remembering graphs that have no importable
reference (defined in ``__main__`` or a notebook) by thread, and attaching the
engine's checkpointer (and store) to a copy of a graph.

Must not: import anything a caller names except through
:func:`sentient_graph.loader.load_graph`, touch the store, or run graphs.
"""

from __future__ import annotations

import weakref
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

from sentient_graph.errors import GraphLoadError
from sentient_graph.loader import load_graph, ref_of

__all__ = ["GraphRegistry"]


class GraphRegistry:
    """The graphs of one engine.

    Args:
        saver: The checkpointer every graph run through the engine gets.
        store: The store every graph gets, unless it was compiled with its own.
    """

    def __init__(self, saver: BaseCheckpointSaver[Any], store: BaseStore | None = None) -> None:
        self.saver = saver
        self.store = store
        # Graphs with no importable reference (notebooks, __main__), by thread.
        self._by_thread: dict[str, Pregel] = {}
        self._by_ref: dict[str, Pregel] = {}
        self._attached: weakref.WeakKeyDictionary[Pregel, Pregel] = weakref.WeakKeyDictionary()
        # A graph object's reference, or None, looked up once: the lookup scans
        # every module, and a graph without one (a notebook's) would be scanned
        # for at every start.
        self._refs: weakref.WeakKeyDictionary[Pregel, str | None] = weakref.WeakKeyDictionary()

    def attach(self, graph: Pregel) -> Pregel:
        """``graph`` with our checkpointer (a copy; the caller's graph is untouched)."""
        attached = self._attached.get(graph)
        if attached is None:
            if not isinstance(graph, Pregel):
                raise GraphLoadError(
                    f"expected a compiled LangGraph graph, got {type(graph).__name__} "
                    "(call builder.compile())"
                )
            update: dict[str, Any] = {"checkpointer": self.saver}
            if graph.store is None and self.store is not None:
                update["store"] = self.store
            attached = graph.copy(update=update)
            self._attached[graph] = attached
        return attached

    def resolve(self, graph: Pregel | str) -> tuple[Pregel, str | None]:
        """The compiled graph and its reference (``None`` when it has none)."""
        if isinstance(graph, str):
            cached = self._by_ref.get(graph)
            if cached is not None:
                return cached, self._ref_of(cached) or graph
            loaded = load_graph(graph)
            self._by_ref[graph] = loaded.graph
            self._by_ref[loaded.ref] = loaded.graph
            return loaded.graph, loaded.ref
        if not isinstance(graph, Pregel):
            raise GraphLoadError(
                f"expected a compiled LangGraph graph or a reference, got {type(graph).__name__} "
                "(call builder.compile())"
            )
        return graph, self._ref_of(graph)

    def _ref_of(self, graph: Pregel) -> str | None:
        try:
            return self._refs[graph]
        except KeyError:
            ref = self._refs[graph] = ref_of(graph)
            return ref

    def remember(self, thread_id: str, graph: Pregel, ref: str | None) -> None:
        """Keep a graph without a reference for the thread's later resumes."""
        if ref is None:
            self._by_thread[thread_id] = graph

    def for_thread(
        self, thread_id: str, stored_ref: str | None, graph: Pregel | str | None
    ) -> Pregel:
        """The graph to continue a thread with: the one given, the one this engine
        ran it with, or the stored reference.

        Raises:
            GraphLoadError: none of them is available, or the reference does not load.
        """
        if graph is not None:
            return self.resolve(graph)[0]
        known = self._by_thread.get(thread_id)
        if known is not None:
            return known
        if stored_ref:
            return self.resolve(stored_ref)[0]
        raise GraphLoadError(
            f"thread {thread_id!r} was started from a graph with no importable reference "
            "(defined in __main__ or a notebook); pass graph=... (CLI: --graph path.py:graph)"
        )
