"""The in-process vector index: exact cosine search over the vectors SurrealDB holds.

Owns a float32 matrix of unit vectors, one row per embedded text of an item
(an item may have several: several fields, or ``array[*]`` paths), and the
ranking of items by their best row's cosine similarity to a query, within a
namespace prefix. The rows are a copy derived from the ``store_vector`` table:
loaded whole by :meth:`VectorIndex.load`, then kept in step with the store's
own writes (:meth:`VectorIndex.apply`).

Exact search (a matrix-vector product) rather than an approximate graph: it
has recall 1 by construction, costs nothing to keep in step with writes, and
answers fast enough at the sizes BENCHMARKS.md measures.

Must not: do I/O, know SurrealQL, or decide which items a filter keeps
(``filters`` does, in SurrealDB).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

__all__ = ["ItemKey", "VectorIndex", "as_unit_bytes", "from_bytes"]

#: An item: (namespace joined with ".", key).
ItemKey = tuple[str, str]

_DTYPE = np.dtype("<f4")


def as_unit_bytes(vector: Sequence[float]) -> bytes:
    """A vector as it is stored: float32 little-endian, unit length (zero stays zero)."""
    arr = np.asarray(vector, dtype=_DTYPE)
    norm = float(np.linalg.norm(arr))
    if norm > 0:
        arr = arr / norm
    return arr.astype(_DTYPE).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=_DTYPE)


def _in_prefix(prefix: str, namespace: str) -> bool:
    return not prefix or namespace == prefix or namespace.startswith(prefix + ".")


class VectorIndex:
    """Unit vectors of items, searched exactly; thread-safe.

    ``version`` is the ``store_state:vectors`` counter the rows correspond
    to; ``None`` means "not loaded" (or out of step: load again).
    """

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.version: int | None = None
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self._matrix = np.zeros((0, self.dims), dtype=_DTYPE)
        self._alive = np.zeros(0, dtype=bool)
        self._row_prefix = np.zeros(0, dtype=np.int32)
        self._row_item: list[ItemKey | None] = []
        self._free: list[int] = []
        self._rows_of: dict[ItemKey, list[int]] = {}
        self._prefixes: dict[str, int] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._used = 0

    @property
    def loaded(self) -> bool:
        return self.version is not None

    def __len__(self) -> int:
        return len(self._rows_of)

    def has(self, item: ItemKey) -> bool:
        return item in self._rows_of

    def invalidate(self) -> None:
        """Forget the rows: the next search loads them again."""
        with self._lock:
            self.version = None
            self._reset()

    def load(self, rows: Iterable[tuple[str, str, bytes]], version: int) -> None:
        """Replace everything with ``rows`` of (namespace, key, unit vector bytes)."""
        with self._lock:
            self._reset()
            self._add(rows)
            self.version = version

    def apply(
        self,
        removed: Iterable[ItemKey],
        added: Iterable[tuple[str, str, bytes]],
        *,
        version: int | None,
    ) -> None:
        """Follow one committed write of this store.

        ``version`` is the counter that write returned: one past ours means no
        other writer came between, otherwise the rows are out of step and are
        dropped (the next search loads them again).
        """
        with self._lock:
            if not self.loaded:
                return
            if version is None or version != self.version + 1:  # type: ignore[operator]
                self.invalidate()
                return
            for item in removed:
                for row in self._rows_of.pop(item, ()):
                    self._alive[row] = False
                    self._row_item[row] = None
                    self._free.append(row)
            self._add(added)
            self.version = version

    def _add(self, rows: Iterable[tuple[str, str, bytes]]) -> None:
        rows = list(rows)
        needed = len(rows) - len(self._free)
        if self._used + needed > len(self._matrix):
            self._grow(self._used + needed)
        for namespace, key, data in rows:
            row = self._free.pop() if self._free else self._take()
            vector = from_bytes(data)
            if vector.shape[0] != self.dims:
                raise ValueError(
                    f"stored vector of {vector.shape[0]} dimensions in an index of {self.dims}"
                )
            self._matrix[row] = vector
            self._alive[row] = True
            self._row_prefix[row] = self._prefix_id(namespace)
            item = (namespace, key)
            if row < len(self._row_item):
                self._row_item[row] = item
            else:
                self._row_item.append(item)
            self._rows_of.setdefault(item, []).append(row)

    def _take(self) -> int:
        row = self._used
        self._used += 1
        return row

    def _grow(self, at_least: int) -> None:
        size = max(at_least, 2 * len(self._matrix), 1024)
        matrix = np.zeros((size, self.dims), dtype=_DTYPE)
        matrix[: self._used] = self._matrix[: self._used]
        alive = np.zeros(size, dtype=bool)
        alive[: self._used] = self._alive[: self._used]
        prefix = np.zeros(size, dtype=np.int32)
        prefix[: self._used] = self._row_prefix[: self._used]
        self._matrix, self._alive, self._row_prefix = matrix, alive, prefix

    def _prefix_id(self, namespace: str) -> int:
        found = self._prefixes.get(namespace)
        if found is None:
            found = self._prefixes[namespace] = len(self._prefixes)
            self._masks.clear()
        return found

    def _prefix_mask(self, prefix: str) -> np.ndarray | None:
        """Which namespace ids lie under ``prefix`` (``None``: all of them)."""
        if not prefix:
            return None
        mask = self._masks.get(prefix)
        if mask is None:
            mask = np.zeros(len(self._prefixes), dtype=bool)
            for namespace, number in self._prefixes.items():
                mask[number] = _in_prefix(prefix, namespace)
            self._masks[prefix] = mask
        return mask

    def ranked(
        self, query: Sequence[float], prefix: str, *, first: int = 40
    ) -> Iterator[list[tuple[ItemKey, float]]]:
        """Items under ``prefix`` by descending similarity, in growing batches.

        Each item appears once, with its best row's score. The first batch holds
        about ``first`` items; each next one four times as many, until every
        item under the prefix was given. Scores are computed once per call.
        """
        with self._lock:
            q = np.asarray(query, dtype=_DTYPE)
            if q.shape[0] != self.dims:
                raise ValueError(f"query vector has {q.shape[0]} dimensions, the index {self.dims}")
            norm = float(np.linalg.norm(q))
            used = self._used
            # einsum, not `@`: a matrix-vector product through a multithreaded BLAS
            # spins its threads on a busy machine (BENCHMARKS.md, "Long-term memory").
            scores = np.einsum("ij,j->i", self._matrix[:used], q / norm if norm > 0 else q)
            keep = self._alive[:used].copy()
            mask = self._prefix_mask(prefix)
            if mask is not None:
                keep &= mask[self._row_prefix[:used]]
            candidates = np.flatnonzero(keep)
            cand_scores = scores[candidates]
            row_item = list(self._row_item)
        seen: set[ItemKey] = set()
        given = 0
        want = first
        while given < len(candidates):
            take = min(len(candidates), max(want, given + 1))
            if take < len(candidates):
                top = np.argpartition(-cand_scores, take - 1)[:take]
            else:
                top = np.arange(len(candidates))
            order = top[np.argsort(-cand_scores[top], kind="stable")]
            batch: list[tuple[ItemKey, float]] = []
            for position in order:
                item = row_item[candidates[position]]
                if item is None or item in seen:
                    continue
                seen.add(item)
                batch.append((item, float(cand_scores[position])))
            given = take
            want = take * 4
            if batch:
                yield batch
