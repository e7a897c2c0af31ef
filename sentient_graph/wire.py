"""Old home of the embedded engine's codec, kept so that existing imports keep working.

The codec lives in :mod:`sentient_graph.surreal.codec`, the only module that
touches the SDK's internals; this module only re-exports its names.
"""

from __future__ import annotations

from sentient_graph.surreal.codec import decode_answer, encode_query

__all__ = ["decode_answer", "encode_query"]
