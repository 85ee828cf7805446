"""Chunk planning and the staging scheduler: how a load is cut into checkpoint runs, and how the
next chunks are staged on a thread while GX validates the current one.

A load is validated in chunks of at most CHUNK_ROWS rows (whole files, or line ranges of a big
file). Each chunk pays GX's fixed cost; its batch table lives in DuckDB, which spills beyond the
memory limit (the README's "Measured figures" compare chunk sizes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

from gx.frames import TableContract

CHUNK_ROWS = 4_000_000


@dataclass(frozen=True)
class Chunk:
    """Rows of one load that one checkpoint run validates: a predicate on bronze and its parameters."""

    contract: TableContract
    load_id: str
    load_rows: int
    predicate: str
    params: list
    number: int
    of: int
    rows: int  # about: a file cut into line ranges is cut evenly

    @property
    def run_name(self) -> str:
        part = f"-part-{self.number}-of-{self.of}" if self.of > 1 else ""
        return f"{self.contract.table}-load-{self.load_id}{part}"


def load_chunks(contract: TableContract, load_id: str, files: list[tuple]) -> list[Chunk]:
    """The chunks of one load, given (source file, rows, first line, last line) per file."""
    rows = sum(count for _file, count, _first, _last in files)
    planned = plan_chunks(load_id, files, CHUNK_ROWS)
    return [
        Chunk(contract, load_id, rows, predicate, params, number, len(planned), rows // len(planned))
        for number, (predicate, params) in enumerate(planned, 1)
    ]


def plan_chunks(load_id: str, files: list[tuple], max_rows: int) -> list[tuple[str, list]]:
    """Split a load into chunks of at most about `max_rows` rows: (SQL predicate, parameters).

    `files` holds (source file, rows, first line, last line) per file of the load. Small files
    are packed whole; a larger file is cut into line ranges. Chunks follow the way bronze,
    silver and quarantine are stored (by file, then line), so the engine reads only a chunk's row
    groups instead of the whole load for each chunk."""
    if sum(count for _file, count, _first, _last in files) <= max_rows:
        return [("_dlt_load_id = ?", [load_id])]
    chunks: list[tuple[str, list]] = []
    packed: list[str] = []
    packed_rows = 0

    def flush() -> None:
        nonlocal packed, packed_rows
        if packed:
            marks = ", ".join("?" * len(packed))
            chunks.append((f"_dlt_load_id = ? AND _source_file IN ({marks})", [load_id, *packed]))
        packed, packed_rows = [], 0

    for name, count, first, last in files:
        if count > max_rows:
            flush()
            parts = math.ceil(count / max_rows)
            bounds = [first + (last - first + 1) * i // parts for i in range(parts + 1)]
            chunks += [
                (
                    "_dlt_load_id = ? AND _source_file = ? AND _line_number >= ? AND _line_number < ?",
                    [load_id, name, start, end],
                )
                for start, end in pairwise(bounds)
            ]
            continue
        if packed_rows + count > max_rows:
            flush()
        packed.append(name)
        packed_rows += count
    flush()
    return chunks


def stage_ahead(
    chunks: list[Chunk], index: int, staged: list[Future], submit: Callable[[Chunk, int], Future]
) -> None:
    """Queue the staging of chunk `index` if it is not queued yet (`staged` holds the queued
    ones, in order), then of the chunks after it for as long as those hold at most CHUNK_ROWS
    rows together."""
    ahead = sum(chunk.rows for chunk in chunks[index + 1 : len(staged)])
    while len(staged) < len(chunks):
        following = len(staged)
        if following > index:
            ahead += chunks[following].rows
            if ahead > CHUNK_ROWS:
                return
        staged.append(submit(chunks[following], following))


def staged_in_turn(
    chunks: list[Chunk], stage: Callable[[Chunk, int], int], waiting: Callable[[], object]
) -> Iterator[tuple[int, Chunk, int]]:
    """(index, chunk, rows staged) for each chunk in turn, once `stage(chunk, index)` has staged
    it; the next chunks are staged on a thread while the caller validates this one.

    Staging is engine work and GX mostly Python, so on two cores they overlap: at 1M events, the
    events batch is staged while the users and episodes checkpoints run. At most about CHUNK_ROWS
    rows are staged ahead, beside the batch being validated. `waiting()` is a context manager
    timing the wait for a chunk's staging."""
    with ThreadPoolExecutor(1) as pool:
        staged: list[Future] = []
        try:
            for index, chunk in enumerate(chunks):
                stage_ahead(chunks, index, staged, partial(pool.submit, stage))
                with waiting():
                    rows = staged[index].result()
                yield index, chunk, rows
        finally:
            for future in staged:
                future.cancel()  # on failure, what is not staged yet is not needed
