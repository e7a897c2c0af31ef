"""Agents as ordinary LangGraph nodes.

``@agent(name, timeout=..., retry=RetryPolicy(...), max_concurrency=...)`` wraps
an async or sync function ``(state) -> update`` into an async LangGraph node
that adds, around each attempt:

- a timeout (:class:`~sentient_graph.errors.AgentTimeout` names the agent and
  the limit);
- a concurrency cap per agent name, shared by every run in the process and
  across event loops (waiting for a slot does not count against the timeout);
- cooperative cancellation: ``asyncio.CancelledError`` always propagates, sync
  functions run in a worker thread (``asyncio.to_thread``);
- structlog context (``thread_id``, ``run_id``, ``node``) bound for the
  duration of the call, so every log line the agent writes carries them;
- :func:`progress`, which agents call to report progress on LangGraph's
  ``custom`` stream.

The node is an ``async`` function, so graphs of agents run under LangGraph's
async API (``ainvoke`` / ``astream``, which the engine uses); a sync
``graph.invoke()`` fails with LangGraph's "No synchronous function provided".

Retries stay LangGraph's own: the decorated node carries ``retry_policy`` and
:func:`add_agent` hands it to ``StateGraph.add_node``. Routing stays plain
LangGraph (conditional edges, ``Send``, ``Command``).

This module owns the node wrapper only. It must not touch checkpoints, events
or run records: the engine (``sentient_graph.runner``) turns the ``tasks`` and
``custom`` stream chunks the wrapper causes into events, and nodes made here
run the same in any LangGraph program without the engine.

Example:
    >>> from langgraph.types import RetryPolicy
    >>> @agent("researcher", timeout=30, retry=RetryPolicy(max_attempts=3), max_concurrency=4)
    ... async def researcher(state: dict) -> dict:
    ...     progress("searching", query=state["topic"])
    ...     return {"notes": ["..."]}
    >>> # add_agent(builder, researcher)  # == builder.add_node("researcher", researcher,
    >>> #                                 #        retry_policy=researcher.retry_policy)

A little over 500 lines: the decorator, its slots and its attempt wrapper are one
mechanism; :func:`progress` and the retry announcement write to the same stream.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar, cast, overload

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config, get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import CONFIG_KEY_RUNTIME, ExecutionInfo
from langgraph.types import RetryPolicy

from sentient_graph.errors import AgentTimeout
from sentient_graph.events.model import RETRY_MARK

__all__ = [
    "AgentNode",
    "RetryPolicy",
    "add_agent",
    "agent",
    "progress",
]


def _log() -> Any:
    # A fresh proxy per call: a logger cached at import (cache_logger_on_first_use)
    # would ignore later configuration, including structlog.testing.capture_logs().
    return structlog.get_logger(__name__)


# Keyword arguments LangGraph injects into a node when its signature asks for
# them (langgraph._internal._runnable.KWARGS_CONFIG_KEYS). The wrapper mirrors
# the user's parameters of these names so LangGraph injects them into it.
_INJECTABLE = frozenset({"config", "writer", "store", "runtime", "previous"})

# Name of the agent running in the current context, read by progress(). A
# contextvar (not config metadata) so it follows the call into to_thread.
_current_agent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sentient_current_agent", default=None
)

AgentFn = TypeVar("AgentFn", bound=Callable[..., Any])


class AgentNode(Protocol):
    """A function made into a node by :func:`agent`.

    It is an ``async`` function LangGraph accepts anywhere a node goes, with
    the agent's settings attached so the graph builder can read them.

    Attributes:
        name: The agent's name; also the node name and ``__name__``.
        timeout: Seconds one attempt may run, or ``None`` for no limit.
        retry_policy: LangGraph retry policy to pass to ``add_node``.
        max_concurrency: Most attempts running at once in this process, or ``None``.
    """

    __name__: str
    __wrapped__: Callable[..., Any]
    name: str
    timeout: float | None
    retry_policy: RetryPolicy | Sequence[RetryPolicy] | None
    max_concurrency: int | None

    def __call__(self, state: Any, config: RunnableConfig, **kwargs: Any) -> Awaitable[Any]:
        """Run one attempt of the agent."""
        ...


# --------------------------------------------------------------------------- #
# Concurrency: one counting semaphore per agent name, for the whole process.
# asyncio.Semaphore binds to one event loop; runs may live on several (the
# engine's sync facade, notebooks, tests), so waiters are (loop, future) pairs
# woken with call_soon_threadsafe under a threading lock.
# --------------------------------------------------------------------------- #


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    handed: bool = False  # a slot was given to this waiter by release()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class _AgentSlots:
    """A FIFO counting semaphore usable from any event loop in the process."""

    limit: int
    in_use: int = 0
    _waiters: deque[_Waiter] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is queued; never waits."""
        with self._lock:
            if self.in_use < self.limit and not self._waiters:
                self.in_use += 1
                return True
            return False

    async def acquire(self) -> None:
        with self._lock:
            if self.in_use < self.limit and not self._waiters:
                self.in_use += 1
                return
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            # Cancelled while queued: leave the queue, or pass on a slot that
            # release() handed over in the meantime so it is never lost.
            with self._lock:
                if waiter.handed:
                    self._release_locked()
                else:
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        with self._lock:
            self._release_locked()

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self.limit = limit
            while self.in_use < self.limit and self._waiters:
                self.in_use += 1
                self._release_locked()

    def _release_locked(self) -> None:
        # Hand the slot straight to the oldest live waiter (FIFO, no barging);
        # only when nobody waits does the count go down.
        while self._waiters:
            waiter = self._waiters.popleft()
            # done() is read off the waiter's loop: at worst a waiter cancelled this
            # instant is handed the slot, and its except-branch passes it on.
            if waiter.future.done():  # cancelled; its own handler cleans up
                continue
            try:
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
            except RuntimeError:  # its loop is closed: nobody will ever await it
                continue
            waiter.handed = True
            return
        self.in_use -= 1


_slots_lock = threading.Lock()
_slots: dict[str, _AgentSlots] = {}


def _slots_for(name: str, limit: int) -> _AgentSlots:
    """The process-wide slots of agent ``name``; a redefinition's limit wins."""
    with _slots_lock:
        slots = _slots.get(name)
        if slots is None:
            slots = _slots[name] = _AgentSlots(limit)
        elif slots.limit != limit:
            # Redefining an agent (notebook re-run, module reload) updates the
            # cap instead of splitting the agent's runs across two semaphores.
            slots.set_limit(limit)
        return slots


# --------------------------------------------------------------------------- #
# The decorator
# --------------------------------------------------------------------------- #


def _seconds(timeout: float | timedelta | None, name: str) -> float | None:
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if not seconds > 0:
        raise ValueError(f"agent {name!r}: timeout must be > 0 seconds, got {timeout!r}")
    return seconds


def _execution_info(config: RunnableConfig) -> ExecutionInfo | None:
    runtime = (config.get("configurable") or {}).get(CONFIG_KEY_RUNTIME)
    return getattr(runtime, "execution_info", None)


def _ids_from_config(config: RunnableConfig | None) -> dict[str, Any]:
    """``thread_id`` and ``run_id`` of the run, from wherever the caller put them."""
    if not config:
        return {}
    configurable = config.get("configurable") or {}
    metadata = config.get("metadata") or {}
    ids: dict[str, Any] = {}
    thread_id = configurable.get("thread_id", metadata.get("thread_id"))
    if thread_id is not None:
        ids["thread_id"] = thread_id
    # The engine puts run_id in metadata; callers may also use configurable
    # (LangChain copies it into metadata) or set config["run_id"], which
    # LangGraph pops from the node's config but keeps in execution_info.
    info = _execution_info(config)
    run_id = configurable.get("run_id", metadata.get("run_id"))
    if run_id is None:
        run_id = getattr(info, "run_id", None) or config.get("run_id")
    if run_id is not None:
        ids["run_id"] = str(run_id)
    return ids


def _node_signature(fn: Callable[..., Any], name: str) -> tuple[inspect.Signature, set[str]]:
    """The wrapper's signature and the injected kwargs ``fn`` wants.

    The wrapper always takes ``(state, config)``; it also declares any
    LangGraph-injectable parameter ``fn`` declares (``runtime``, ``writer``,
    ``store``, ...) with the same annotation, so LangGraph injects it.
    """
    params = list(inspect.signature(fn).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in positional:
        raise TypeError(
            f"agent {name!r}: the function must take the graph state as its first argument"
        )
    state_param = params[0].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
    wanted: set[str] = set()
    extra: list[inspect.Parameter] = []
    for p in params[1:]:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if p.name in _INJECTABLE:
            wanted.add(p.name)
            if p.name != "config":
                extra.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
        elif p.default is inspect.Parameter.empty:
            raise TypeError(
                f"agent {name!r}: parameter {p.name!r} has no default and LangGraph cannot "
                f"supply it (nodes receive state plus any of: {', '.join(sorted(_INJECTABLE))})"
            )
    config_param = inspect.Parameter(
        "config", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=RunnableConfig
    )
    return inspect.Signature([state_param, config_param, *extra]), wanted


@overload
def agent(name: AgentFn, /) -> AgentNode: ...


@overload
def agent(
    name: str | None = None,
    *,
    timeout: float | timedelta | None = None,
    retry: RetryPolicy | Sequence[RetryPolicy] | None = None,
    max_concurrency: int | None = None,
) -> Callable[[Callable[..., Any]], AgentNode]: ...


def agent(
    name: str | Callable[..., Any] | None = None,
    *,
    timeout: float | timedelta | None = None,
    retry: RetryPolicy | Sequence[RetryPolicy] | None = None,
    max_concurrency: int | None = None,
) -> AgentNode | Callable[[Callable[..., Any]], AgentNode]:
    """Make a function an agent: an ordinary LangGraph node with limits.

    The function takes the graph state first and returns an update (a partial
    state dict, a ``Command``, ...). It may be ``async`` or sync (sync ones run
    in a worker thread) and may also declare ``config`` or any keyword
    LangGraph injects into nodes (``runtime``, ``writer``, ``store``).

    Args:
        name: Agent and node name; defaults to the function's ``__name__``.
            ``@agent`` without parentheses is also accepted.
        timeout: Seconds (or a ``timedelta``) one attempt may run before it is
            cancelled and :class:`~sentient_graph.errors.AgentTimeout` is
            raised. Time spent waiting for a concurrency slot does not count.
            A sync function's thread cannot be stopped: it is abandoned and
            its result discarded.
        retry: LangGraph ``RetryPolicy`` (or several) for this node, exposed
            as ``.retry_policy`` and applied by :func:`add_agent`. LangGraph's
            default ``retry_on`` does not retry ``TimeoutError``; pass
            ``RetryPolicy(retry_on=AgentTimeout)`` to retry timeouts.
        max_concurrency: Most attempts of this agent (by name) running at once
            in the process, over all runs and event loops; others wait in
            FIFO order. ``None`` means no cap.

    Returns:
        The node (an :class:`AgentNode`), or a decorator producing it.

    Raises:
        ValueError: ``timeout`` or ``max_concurrency`` is not positive.
        TypeError: The function cannot be a node (no state parameter, or a
            required parameter LangGraph cannot supply).
    """
    if callable(name):
        return agent()(name)
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"agent {name!r}: max_concurrency must be >= 1, got {max_concurrency}")

    def decorate(fn: Callable[..., Any]) -> AgentNode:
        agent_name = name or getattr(fn, "__name__", None)
        if not agent_name or agent_name == "<lambda>":
            raise TypeError("agent(): give a name for a lambda or callable without __name__")
        if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
            raise TypeError(f"agent {agent_name!r}: generators are not supported; return an update")
        return _make_node(fn, agent_name, _seconds(timeout, agent_name), retry, max_concurrency)

    return decorate


def _make_node(
    fn: Callable[..., Any],
    name: str,
    timeout: float | None,
    retry: RetryPolicy | Sequence[RetryPolicy] | None,
    max_concurrency: int | None,
) -> AgentNode:
    signature, wanted = _node_signature(fn, name)
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with async __call__
    )
    slots = _slots_for(name, max_concurrency) if max_concurrency is not None else None

    async def call(state: Any, kwargs: dict[str, Any]) -> Any:
        if is_async:
            return await fn(state, **kwargs)
        # to_thread copies contextvars, so progress(), interrupt() and the
        # structlog context work inside the sync function too.
        return await asyncio.to_thread(fn, state, **kwargs)

    @functools.wraps(fn)
    async def node(state: Any, config: RunnableConfig, **injected: Any) -> Any:
        kwargs = {k: v for k, v in injected.items() if k in wanted}
        if "config" in wanted:
            kwargs["config"] = config
        info = _execution_info(config)
        attempt = info.node_attempt if info is not None else 1
        agent_token = _current_agent.set(name)
        try:
            node_name = (config.get("metadata") or {}).get("langgraph_node", name)
            if attempt > 1:
                _announce_retry(name, node_name, attempt)
            with structlog.contextvars.bound_contextvars(
                **_ids_from_config(config), node=node_name
            ):
                if slots is None:
                    return await _attempt(name, timeout, call, state, kwargs, attempt)
                if not slots.try_acquire():
                    _log().info("agent waiting for a slot", max_concurrency=slots.limit)
                    await slots.acquire()
                try:
                    return await _attempt(name, timeout, call, state, kwargs, attempt)
                finally:
                    slots.release()
        finally:
            _current_agent.reset(agent_token)

    node.__name__ = name
    node.__signature__ = signature  # type: ignore[attr-defined]
    result = cast(AgentNode, node)
    result.name = name
    result.timeout = timeout
    result.retry_policy = retry
    result.max_concurrency = max_concurrency
    return result


async def _attempt(
    name: str,
    limit: float | None,
    call: Callable[[Any, dict[str, Any]], Awaitable[Any]],
    state: Any,
    kwargs: dict[str, Any],
    attempt: int,
) -> Any:
    started = time.perf_counter()
    _log().debug("agent started", attempt=attempt)
    try:
        async with asyncio.timeout(limit) as deadline:
            result = await call(state, kwargs)
    except TimeoutError as exc:
        # Only our own deadline becomes AgentTimeout; a TimeoutError the agent
        # raised itself (an HTTP client's, say) passes through unchanged.
        if deadline.expired():
            _log().warning("agent timed out", timeout=limit)
            raise AgentTimeout(name, cast(float, limit)) from exc
        _log().warning("agent failed", error=repr(exc))
        raise
    except asyncio.CancelledError:
        _log().info("agent cancelled", seconds=round(time.perf_counter() - started, 3))
        raise
    except GraphBubbleUp:
        # interrupt() and parent-graph commands: control flow, not failure.
        _log().debug("agent interrupted")
        raise
    except Exception as exc:
        _log().warning("agent failed", error=repr(exc))
        raise
    _log().debug("agent finished", seconds=round(time.perf_counter() - started, 3))
    return result


def add_agent(builder: Any, node: AgentNode, **kwargs: Any) -> Any:
    """Add an agent to a ``StateGraph`` under its name, with its retry policy.

    Same as ``builder.add_node(node.name, node, retry_policy=node.retry_policy,
    **kwargs)``. ``builder.add_node(node)`` also works (LangGraph reads the
    name from ``__name__``) but does not know about the retry policy.

    Args:
        builder: A ``langgraph.graph.StateGraph``.
        node: A node made with :func:`agent`.
        **kwargs: Passed to ``add_node`` (``destinations``, ``defer``,
            ``metadata``, ...); an explicit ``retry_policy`` wins.

    Returns:
        The builder, for chaining.
    """
    kwargs.setdefault("retry_policy", node.retry_policy)
    return builder.add_node(node.name, node, **kwargs)


def _announce_retry(agent_name: str, node: str, attempt: int) -> None:
    """Tell the stream (the engine's ``node_retried`` event) that LangGraph retries a node."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not inside a runnable context
        return
    writer({RETRY_MARK: True, "agent": agent_name, "node": node, "attempt": attempt})


def progress(message: str, /, **data: Any) -> None:
    """Report progress from inside an agent on LangGraph's ``custom`` stream.

    Writes ``{"agent": <agent name>, "node": <node name>, "message": message,
    **data}`` with LangGraph's stream writer, so ``astream(...,
    stream_mode="custom")`` and the engine's ``node_progress`` events see it
    (the engine attributes the event to ``node``). The two names are equal
    unless an agent was added under another node name; from a plain node,
    ``agent`` is the node name. Outside a graph run, or when nobody streams
    ``custom``, it does nothing, so agents can call it unconditionally.

    Args:
        message: Short human-readable text ("drafting API", "3/5 files").
        **data: JSON-serialisable extras (``percent=40``, ``task="api"``).
            ``agent``, ``node`` and ``message`` are reserved and win over ``data``.
    """
    try:
        writer = get_stream_writer()
        node = get_config().get("metadata", {}).get("langgraph_node")
    except RuntimeError:  # not inside a runnable context
        return
    agent_name = _current_agent.get() or node
    writer({**data, "agent": agent_name, "node": node, "message": message})
