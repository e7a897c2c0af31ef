"""The in-process vector index: exact cosine search over the vectors SurrealDB holds.

Owns a float32 matrix of unit vectors, one row per embedded text of an item
(an item may have several: several fields, or ``array[*]`` paths), and the
ranking of items by their best row's cosine similarity to a query, within a
namespace prefix. The rows are a copy derived from the ``store_vector`` table:
loaded whole by :meth:`VectorIndex.load`, then kept in step with the store's
own writes (:meth:`VectorIndex.apply`).

Below ``approximate_from`` rows every search is exact (a matrix-vector
product: recall 1, nothing to maintain). From there on, a ``usearch`` HNSW
graph over the same rows is built in a background thread (searches stay exact
meanwhile), then kept in step with every write; a search takes its first
candidates from the graph and falls back to the exact ranking only when it
needs more (a selective prefix or filter). Why both: BENCHMARKS.md,
"Long-term memory".

Must not: do I/O, know SurrealQL, or decide which items a filter keeps
(``filters`` does, in SurrealDB).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import structlog

__all__ = ["ItemKey", "VectorIndex", "as_unit_bytes", "from_bytes"]

#: An item: (namespace joined with ".", key).
ItemKey = tuple[str, str]

_DTYPE = np.dtype("<f4")
log = structlog.get_logger(__name__)

#: The HNSW graph's shape: links per node, and the candidate lists of adds and searches.
_CONNECTIVITY, _EXPANSION = 16, 128


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

    Args:
        dims: Length of every vector.
        approximate_from: Rows from which an HNSW graph serves searches
            (``None``: always exact; needs the ``usearch`` package).
    """

    def __init__(self, dims: int, *, approximate_from: int | None = None) -> None:
        self.dims = dims
        self.approximate_from = approximate_from
        self.version: int | None = None
        self._lock = threading.RLock()
        self._generation = 0
        self._built = threading.Event()
        self._built.set()
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
        # The HNSW graph (keys are row numbers), or the rows changed while one is built.
        self._graph: Any = None
        self._changed_rows: set[int] | None = None
        self._generation += 1  # a graph still being built for older rows is dropped

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
                    self._follow(row)
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
            self._follow(row)

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

    # -- the approximate graph -------------------------------------------------

    def _follow(self, row: int) -> None:
        """Carry one row's change into the graph (or note it for the graph being built)."""
        if self._graph is not None:
            if row in self._graph:
                self._graph.remove(row)
            if self._alive[row]:
                self._graph.add(row, self._matrix[row])
        elif self._changed_rows is not None:
            self._changed_rows.add(row)

    def _maybe_build(self) -> None:
        """Start building the graph once there are enough rows (caller holds the lock)."""
        if self.approximate_from is None or self._graph is not None:
            return
        if self._changed_rows is not None or len(self._rows_of) < self.approximate_from:
            return
        try:
            from usearch.index import Index
        except ImportError:
            log.warning("store.exact_search_only", reason="pip install usearch")
            self.approximate_from = None
            return
        rows = np.flatnonzero(self._alive[: self._used]).astype(np.uint64)
        vectors = self._matrix[rows.astype(np.int64)].copy()
        self._changed_rows = set()
        self._built.clear()
        threading.Thread(
            target=self._build,
            args=(Index, rows, vectors, self._generation),
            daemon=True,
            name="store-vector-graph",
        ).start()

    def _build(
        self, index_class: Any, rows: np.ndarray, vectors: np.ndarray, generation: int
    ) -> None:
        try:
            graph = index_class(
                ndim=self.dims,
                metric="cos",
                dtype="f32",
                connectivity=_CONNECTIVITY,
                expansion_add=_EXPANSION,
                expansion_search=_EXPANSION,
            )
            graph.add(rows, vectors)
            with self._lock:
                if generation != self._generation:
                    return
                for row in self._changed_rows or ():
                    if row in graph:
                        graph.remove(row)
                    if row < self._used and self._alive[row]:
                        graph.add(row, self._matrix[row])
                self._graph, self._changed_rows = graph, None
        except Exception as exc:  # searches stay exact
            log.warning("store.vector_graph_failed", error=str(exc))
            with self._lock:
                if generation == self._generation:
                    self._changed_rows, self.approximate_from = None, None
        finally:
            self._built.set()

    def wait_approximate(self, timeout: float | None = None) -> bool:
        """Wait for a graph being built; True when searches now use one."""
        self._built.wait(timeout)
        return self._graph is not None

    # -- search ------------------------------------------------------------------

    def _unit(self, query: Sequence[float]) -> np.ndarray:
        q = np.asarray(query, dtype=_DTYPE)
        if q.shape[0] != self.dims:
            raise ValueError(f"query vector has {q.shape[0]} dimensions, the index {self.dims}")
        norm = float(np.linalg.norm(q))
        return q / norm if norm > 0 else q

    def _from_graph(self, q: np.ndarray, prefix: str, first: int) -> list[tuple[ItemKey, float]]:
        """The graph's nearest rows under ``prefix``, by exact score (caller holds the lock)."""
        k = min(len(self._graph), max(first, 64))
        if k == 0:
            return []
        self._graph.expansion_search = max(_EXPANSION, k)
        rows = np.asarray(self._graph.search(q, k).keys, dtype=np.int64)
        rows = rows[(rows >= 0) & (rows < self._used)]
        rows = rows[self._alive[rows]]
        mask = self._prefix_mask(prefix)
        if mask is not None:
            rows = rows[mask[self._row_prefix[rows]]]
        scores = np.einsum("ij,j->i", self._matrix[rows], q)
        batch: list[tuple[ItemKey, float]] = []
        seen: set[ItemKey] = set()
        for position in np.argsort(-scores, kind="stable"):
            item = self._row_item[rows[position]]
            if item is not None and item not in seen:
                seen.add(item)
                batch.append((item, float(scores[position])))
        # Searched wider than asked (recall), handed back as asked: each item
        # given costs the caller a record to read.
        return batch[:first]

    def ranked(
        self, query: Sequence[float], prefix: str, *, first: int = 40
    ) -> Iterator[list[tuple[ItemKey, float]]]:
        """Items under ``prefix`` by descending similarity, in growing batches.

        Each item appears once, with its best row's score. The first batch holds
        about ``first`` items (from the graph, when there is one); each next one
        comes from the exact ranking, four times as many, until every item
        under the prefix was given. A graph may miss an item the exact ranking
        then gives later: callers that keep several batches sort them by score.
        """
        q = self._unit(query)
        seen: set[ItemKey] = set()
        with self._lock:
            self._maybe_build()
            approximate = self._from_graph(q, prefix, first) if self._graph is not None else []
        if approximate:
            seen.update(item for item, _ in approximate)
            yield approximate
        yield from self._exact(q, prefix, first, seen)

    def _exact(
        self, q: np.ndarray, prefix: str, first: int, seen: set[ItemKey]
    ) -> Iterator[list[tuple[ItemKey, float]]]:
        with self._lock:
            used = self._used
            # einsum, not `@`: a matrix-vector product through a multithreaded BLAS
            # spins its threads on a busy machine (BENCHMARKS.md, "Long-term memory").
            scores = np.einsum("ij,j->i", self._matrix[:used], q)
            keep = self._alive[:used].copy()
            mask = self._prefix_mask(prefix)
            if mask is not None:
                keep &= mask[self._row_prefix[:used]]
            candidates = np.flatnonzero(keep)
            cand_scores = scores[candidates]
            row_item = list(self._row_item)
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
