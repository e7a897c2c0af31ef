"""Which graphs a server runs: the ``langgraph.json`` names and the ``serve --graph`` refs.

Owns: :class:`GraphCatalog`, the allow-list built when the server starts (the
operator's choice), loading those graphs once, and describing their nodes and
edges for ``GET /graphs``.

Must not: load anything a client names. A request names a graph by its
registered name only; a file path, a module or an unknown name is refused
before :func:`~sentient_graph.loader.load_graph` is ever called with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.pregel import Pregel

from sentient_graph.errors import SentientError
from sentient_graph.loader import graph_names, load_graph

__all__ = ["GraphCatalog", "GraphNotRegistered", "RegisteredGraph"]


class GraphNotRegistered(SentientError, PermissionError):
    """A client named a graph this server was not started with."""


@dataclass(frozen=True)
class RegisteredGraph:
    """One graph a client may run.

    Attributes:
        name: What clients send (``approval``).
        ref: The canonical reference stored with its runs.
        graph: The compiled graph.
    """

    name: str
    ref: str
    graph: Pregel

    def describe(self) -> dict[str, Any]:
        """Name, nodes and edges, as ``GET /graphs`` returns them."""
        drawn = self.graph.get_graph()
        return {
            "name": self.name,
            "ref": self.ref,
            "nodes": [node_id for node_id in drawn.nodes],
            "edges": [
                {"source": e.source, "target": e.target, "conditional": bool(e.conditional)}
                for e in drawn.edges
            ],
        }


class GraphCatalog:
    """The graphs one server may run, loaded when it starts.

    Args:
        graphs: The registered graphs by name.
    """

    def __init__(self, graphs: dict[str, RegisteredGraph]) -> None:
        self._by_name = dict(graphs)
        self._by_ref = {g.ref: g for g in graphs.values()}

    @classmethod
    def load(cls, extra: list[str] | None = None, *, start: Path | None = None) -> GraphCatalog:
        """Load the ``langgraph.json`` graphs and each ``extra`` reference.

        Args:
            extra: ``serve --graph`` values: a ``langgraph.json`` name, a
                reference (``path.py:graph``, ``module:graph``; registered
                under its attribute name) or ``NAME=REFERENCE``.
            start: Where to look for ``langgraph.json`` and relative paths.

        Raises:
            GraphLoadError: a registered graph does not load (the server does not start).
        """
        refs = dict(graph_names(start))
        for item in extra or []:
            name, sep, ref = item.partition("=")
            if not sep:
                ref = item
                name = item if ":" not in item else item.rpartition(":")[2]
            refs[name.strip()] = refs.get(ref.strip(), ref.strip())
        graphs: dict[str, RegisteredGraph] = {}
        for name, ref in refs.items():
            loaded = load_graph(ref, start=start)
            graphs[name] = RegisteredGraph(name, loaded.ref, loaded.graph)
        return cls(graphs)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._by_name)

    def get(self, name: str) -> RegisteredGraph:
        """The graph registered as ``name``.

        Raises:
            GraphNotRegistered: ``name`` is not a registered name (a path or a
                module is never loaded).
        """
        found = self._by_name.get(name)
        if found is None:
            known = ", ".join(self.names()) or "none"
            raise GraphNotRegistered(
                f"graph {name!r} is not registered on this server (registered: {known}; "
                "add it to langgraph.json or start the server with --graph)"
            )
        return found

    def for_ref(self, ref: str | None, thread_id: str) -> Pregel:
        """The compiled graph of a thread whose run stored ``ref``.

        Raises:
            GraphNotRegistered: the thread's graph is not one this server runs.
        """
        found = self._by_ref.get(ref or "")
        if found is None:
            raise GraphNotRegistered(
                f"thread {thread_id!r} runs graph {ref!r}, which this server does not run "
                "(start the server with --graph for it)"
            )
        return found.graph

    def describe(self) -> list[dict[str, Any]]:
        """Every registered graph with its nodes and edges."""
        return [self._by_name[name].describe() for name in self.names()]
