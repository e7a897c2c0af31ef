"""The one driver of sans-IO operations, and the missing-schema error."""

from __future__ import annotations

from collections.abc import Generator

from sentient_graph.errors import StoreUnavailable
from sentient_graph.surreal.steps import adrive, drive, explain_missing_schema


def _doubling() -> Generator[int, int, list[int]]:
    got = [(yield 1)]
    got.append((yield got[-1] + 1))
    return got


def test_drive_answers_each_request_and_returns_the_result() -> None:
    asked: list[int] = []

    def answer(request: int) -> int:
        asked.append(request)
        return request * 10

    assert drive(_doubling(), answer) == [10, 110]
    assert asked == [1, 11]


async def test_adrive_awaits_each_answer() -> None:
    async def answer(request: int) -> int:
        return request * 10

    assert await adrive(_doubling(), answer) == [10, 110]


def test_a_missing_table_of_the_component_names_the_fix() -> None:
    missing = RuntimeError("The table 'checkpoint_latest' does not exist")
    explained = explain_missing_schema(missing, "checkpoint", "saver.setup()")
    assert isinstance(explained, StoreUnavailable)
    assert "call saver.setup() once first" in str(explained)
    other = RuntimeError("The table 'store_item' does not exist")
    assert explain_missing_schema(other, "checkpoint", "saver.setup()") is other
