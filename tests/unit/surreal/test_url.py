"""URLs: what is refused, and that the message names where the URL came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentient_graph.errors import ConfigError
from sentient_graph.surreal import connect_sync, describe_url, is_embedded, parse_url
from sentient_graph.surreal.url import sdk_url


@pytest.mark.parametrize("value", ["every", "never", "1s", "250ms", "1m30s"])
def test_known_sync_values_pass(value: str, tmp_path: Path) -> None:
    url = parse_url(f"surrealkv://{tmp_path}/s?sync={value}")
    assert url.sync == value and url.embedded


def test_surrealkv_syncs_once_a_second_unless_told(tmp_path: Path) -> None:
    url = parse_url(f"surrealkv://{tmp_path}/s")
    assert url.sync == "1s"
    assert sdk_url(url) == f"surrealkv://{tmp_path}/s?sync=1s"


def test_an_unknown_sync_value_is_a_one_line_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown sync='evry'.*sync=every") as caught:
        parse_url(f"surrealkv://{tmp_path}/s?sync=evry")
    assert "\n" not in str(caught.value)


def test_the_error_names_surrealdb_url_when_the_url_came_from_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SURREALDB_URL", f"surrealkv://{tmp_path}/s?sync=sometimes")
    with pytest.raises(ConfigError, match=r"^unknown sync='sometimes' in SURREALDB_URL="):
        connect_sync()
    monkeypatch.setenv("SURREALDB_URL", "localhost:8000")
    with pytest.raises(ConfigError, match=r"^not a SurrealDB URL: SURREALDB_URL='localhost:8000'"):
        connect_sync()


def test_an_argument_url_is_not_blamed_on_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SURREALDB_URL", "mem://")
    with pytest.raises(ConfigError) as caught:
        connect_sync("redis://localhost")
    assert "SURREALDB_URL" not in str(caught.value)


@pytest.mark.parametrize("url", ["", "nothing", "postgres://x", "surrealkv://"])
def test_malformed_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_url(url)


def test_embedded_or_remote_and_credentials_hidden() -> None:
    assert is_embedded("mem://") and is_embedded("memory")
    assert not is_embedded("ws://127.0.0.1:8000")
    assert describe_url("ws://root:secret@db:8000/rpc") == "ws://db:8000/rpc"
