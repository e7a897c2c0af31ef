"""The server's pure parts, without a server: cursors, binds, the graph allow-list, server.json."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentient_graph.errors import ConfigError
from sentient_graph.server.auth import check_bind, is_loopback, token_matches
from sentient_graph.server.discovery import (
    read_url_file,
    remove_url_file,
    url_file_for,
    write_url_file,
)
from sentient_graph.server.graphs import GraphCatalog, GraphNotRegistered
from sentient_graph.server.sse import Cursor


def test_cursor_forms() -> None:
    assert Cursor.parse("abc:7") == Cursor(7, "abc")
    assert Cursor.parse("7") == Cursor(7)
    assert Cursor.parse(None) is None and Cursor.parse(" ") is None
    assert Cursor(3, "r").event_id() == "r:3"
    with pytest.raises(ValueError):
        Cursor.parse("abc")
    with pytest.raises(ValueError):
        Cursor.parse("-1")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_loopback_binds_need_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_other_binds_need_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="--token"):
        check_bind(host, None)
    check_bind(host, "t")


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc") and not token_matches(None, "abc")


def test_the_catalog_refuses_what_is_not_registered() -> None:
    catalog = GraphCatalog({})
    for name in ["./graphs/approval.py:graph", "os:system", "approval"]:
        with pytest.raises(GraphNotRegistered, match="not registered"):
            catalog.get(name)
    with pytest.raises(GraphNotRegistered, match="--graph"):
        catalog.for_ref("/somewhere/x.py:graph", "t1")


def test_server_json_lives_next_to_an_embedded_store(tmp_path: Path) -> None:
    assert url_file_for("mem://") is None
    assert url_file_for("ws://localhost:8000") is None
    path = url_file_for(f"surrealkv://{tmp_path}/.sentient/store")
    assert path == tmp_path / ".sentient" / "server.json"
    write_url_file(path, "http://127.0.0.1:1", token_required=False, store="x")
    info = read_url_file(f"surrealkv://{tmp_path}/.sentient/store")
    assert info is not None and info["pid"] == os.getpid()
    remove_url_file(path)
    assert not path.exists()
