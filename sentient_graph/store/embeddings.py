"""An offline, deterministic text embedding: hashed word and character n-grams.

Owns :class:`HashingEmbeddings`, a LangChain ``Embeddings`` that needs no
model download and no network, so notebooks, tests and the CLI work anywhere
and give the same vectors on every machine. Texts that share words land close
together (cosine similarity); it knows no synonyms. Any LangChain
``Embeddings`` (or ``"provider:model"``) replaces it in the store's ``index``.

Must not: do I/O.
"""

from __future__ import annotations

import hashlib
import math
import re

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig

__all__ = ["DEFAULT_DIMS", "HashingEmbeddings", "default_index"]

#: Dimensions of the default (offline) embedding.
DEFAULT_DIMS = 256

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbeddings(Embeddings):
    """Feature hashing of lower-cased words (weight 1) and their character trigrams (0.5).

    Args:
        dims: Length of every vector.
    """

    def __init__(self, dims: int = 256) -> None:
        if dims <= 0:
            raise ValueError(f"dims must be positive, got {dims}")
        self.dims = dims

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = [w.lower() for w in _WORD.findall(text)]
        features = [(f"w:{w}", 1.0) for w in words]
        for w in words:
            padded = f"^{w}$"
            features += [(f"c:{padded[i : i + 3]}", 0.5) for i in range(max(1, len(padded) - 2))]
        return features

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        for feature, weight in self._features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % self.dims
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[slot] += sign * weight
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector] if norm else vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text."""
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query (the same function as for documents)."""
        return self._embed(text)


def default_index(fields: list[str] | None = None) -> IndexConfig:
    """The index every sentient-graph entry point uses unless told otherwise.

    Offline :class:`HashingEmbeddings` of :data:`DEFAULT_DIMS` over ``fields``
    (default ``["$"]``, the whole value). Stores that share a database must
    share this choice: vectors of one embedding mean nothing to another.
    """
    return IndexConfig(
        dims=DEFAULT_DIMS, embed=HashingEmbeddings(DEFAULT_DIMS), fields=list(fields or ["$"])
    )
