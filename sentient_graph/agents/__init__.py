"""Agents: named LangGraph nodes with a timeout, retries, a concurrency cap and progress.

:mod:`~sentient_graph.agents.nodes` holds ``@agent``, :func:`add_agent` and
:func:`progress`; the agent runtime (queues, mailboxes, sleep and wake,
schedules) will live beside it.
"""

from sentient_graph.agents.nodes import AgentNode, RetryPolicy, add_agent, agent, progress

__all__ = ["AgentNode", "RetryPolicy", "add_agent", "agent", "progress"]
