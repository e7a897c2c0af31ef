"""``sentient-graph serve``: the engine as a service (HTTP, SSE, WebSocket JSON-RPC, dashboard).

Owns: the ASGI app (:mod:`~sentient_graph.server.app`), its HTTP routes
(:mod:`~sentient_graph.server.api`), the JSON-RPC WebSocket
(:mod:`~sentient_graph.server.rpc`), event streams (:mod:`~sentient_graph.server.sse`),
the token and body limit (:mod:`~sentient_graph.server.auth`), metrics
(:mod:`~sentient_graph.server.metrics`), the graphs a server may run
(:mod:`~sentient_graph.server.graphs`), ``server.json``
(:mod:`~sentient_graph.server.discovery`), the runner (:mod:`~sentient_graph.server.runner`),
the HTTP client (:mod:`~sentient_graph.server.client`) and the dashboard (``static/``).

Must not: be imported by the engine, the checkpointer or the events package;
importing it configures nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentient_graph.server.app import DEFAULT_MAX_BODY, ServerConfig, create_app
    from sentient_graph.server.graphs import GraphCatalog, GraphNotRegistered

__all__ = ["DEFAULT_MAX_BODY", "GraphCatalog", "GraphNotRegistered", "ServerConfig", "create_app"]

_HOME = {
    "DEFAULT_MAX_BODY": "app",
    "ServerConfig": "app",
    "create_app": "app",
    "GraphCatalog": "graphs",
    "GraphNotRegistered": "graphs",
}


def __getattr__(name: str) -> Any:
    # Lazy: a client (``server.client``, the CLI through a server) needs httpx
    # only, not the engine and LangGraph that the app imports.
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
