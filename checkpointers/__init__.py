"""LangGraph checkpoint savers shipped with sentient-graph.

``checkpointers.surrealdb`` holds ``SurrealSaver`` (sync) and
``AsyncSurrealSaver`` (async); they work in any LangGraph program, with or
without the sentient-graph engine.
"""
