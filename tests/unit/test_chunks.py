"""gx/chunks.py on its own: how a load is cut into checkpoint runs and how far staging runs ahead."""

from __future__ import annotations

import pytest

from gx.chunks import Chunk, plan_chunks, stage_ahead
from gx.frames import EVENTS


def test_chunk_plan_packs_small_files_and_cuts_large_ones_into_line_ranges() -> None:
    files = [("a", 10, 1, 11), ("b", 2, 1, 2), ("c", 2, 1, 2), ("d", 1, 1, 1)]
    chunks = plan_chunks("L", files, max_rows=4)
    line_range = "_dlt_load_id = ? AND _source_file = ? AND _line_number >= ? AND _line_number < ?"
    assert chunks == [
        (line_range, ["L", "a", 1, 4]),
        (line_range, ["L", "a", 4, 8]),
        (line_range, ["L", "a", 8, 12]),
        ("_dlt_load_id = ? AND _source_file IN (?, ?)", ["L", "b", "c"]),
        ("_dlt_load_id = ? AND _source_file IN (?)", ["L", "d"]),
    ]
    assert plan_chunks("L", files, max_rows=15) == [("_dlt_load_id = ?", ["L"])]


def test_chunks_are_staged_ahead_up_to_chunk_rows_beside_the_one_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gx.chunks.CHUNK_ROWS", 40)
    chunks = [Chunk(EVENTS, "L", 0, "", [], 1, 1, rows) for rows in (10, 10, 30, 30, 30, 50)]
    staged: list = []
    ahead = []
    for index in range(len(chunks)):
        stage_ahead(chunks, index, staged, lambda _chunk, at: at)
        ahead.append(staged[index + 1 :])
    assert staged == list(range(6))
    # While chunk 0 is validated, 1 and 2 (40 rows) wait staged; 3 would make 70. Chunk 5 (50
    # rows) is more than CHUNK_ROWS alone: it is staged only once it is the one validated.
    assert ahead == [[1, 2], [2], [3], [4], [], []]
