"""What one process stored on ``surrealkv://`` another process finds after it exited."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sentient_graph.store import HashingEmbeddings, SurrealStore

NS = ("agents", "researcher", "long_term")

WRITER = textwrap.dedent(
    """
    import sys
    from sentient_graph.store import HashingEmbeddings, SurrealStore

    index = {"dims": 64, "embed": HashingEmbeddings(64), "fields": ["text"]}
    with SurrealStore.from_conn_string(sys.argv[1], index=index) as store:
        store.setup()
        ns = ("agents", "researcher", "long_term")
        store.put(ns, "f1", {"text": "SurrealDB stores vectors with an HNSW index", "n": 1})
        store.put(ns, "f2", {"text": "LangGraph checkpoints every superstep", "n": 2})
        store.put(ns, "f3", {"text": "to be deleted", "n": 3})
        store.delete(ns, "f3")
        # Loaded in this process, then kept in step with the writes above.
        print(store.search(ns, query="vector index", limit=1)[0].key)
    """
)


def test_items_and_vectors_survive_a_process_restart(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    written = subprocess.run(
        [sys.executable, "-c", WRITER, url], capture_output=True, text=True, timeout=120
    )
    assert written.returncode == 0, written.stderr
    assert written.stdout.split() == ["f1"]

    index = {"dims": 64, "embed": HashingEmbeddings(64), "fields": ["text"]}
    with SurrealStore.from_conn_string(url, index=index) as store:
        store.setup()
        assert store.get(NS, "f3") is None
        item = store.get(NS, "f2")
        assert item is not None and item.value == {
            "text": "LangGraph checkpoints every superstep",
            "n": 2,
        }
        hits = store.search(NS, query="vector index")
        assert [h.key for h in hits] == ["f1", "f2"]
        assert hits[0].score > hits[1].score
        assert store.list_namespaces() == [NS]
        assert json.loads(json.dumps(item.dict()))["namespace"] == list(NS)
