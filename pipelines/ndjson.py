"""Read NDJSON event files into Parquet parts of text columns, one row per non-empty line.

The hot path never touches a line in Python: numpy finds the line breaks in a block of bytes,
Python's C decoder checks the block's UTF-8, the block becomes a zero-copy Arrow string array,
DuckDB classifies and parses it, and pyarrow writes the result as a Parquet part that dlt
imports as it is. A line that is not a JSON object (truncated, garbage, invalid UTF-8, an
array...) becomes a row with its raw text and `_parse_error`, never an exception. Unknown keys
become extra columns.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.common.normalizers.naming.snake_case import NamingConvention

KNOWN_FIELDS = ("event_type", "user_id", "episode_id", "timestamp", "duration")
META_COLUMNS = ("_source_file", "_line_number", "_raw_line", "_parse_error")
LOAD_ID_COLUMN = "_dlt_load_id"  # written by the reader: dlt imports the parts as they are
CONSTANT_COLUMNS = ["_source_file", LOAD_ID_COLUMN]  # dictionary-encoded in the Parquet parts
PART_ROW_GROUP_ROWS = 122_880  # DuckDB's row group: the load reads a part's groups in parallel
BLOCK_BYTES = 64 * 1024 * 1024  # one Parquet part per block: dlt loads each with one INSERT
SCAN_BATCH_ROWS = 64 * 1024  # Arrow batches DuckDB scans in parallel
UTF8_WINDOW_BYTES = 256 * 1024
_NAMING = NamingConvention()

# The keys of the block's JSON objects (a valid JSON text whose first non-blank character is `{`
# is an object): the ones beyond the columns known so far become new columns.
_OBJECT = "regexp_matches(text, '^[ \\t\\r\\n]*[{]')"
_KEYS_SQL = f"SELECT DISTINCT unnest(json_keys(text)) FROM block WHERE json_valid(text) AND {_OBJECT}"
# The block's non-blank lines (terminators are already blanked), each with its parse error, if any.
_LINES_SQL = f"""
    SELECT line_number, text,
        CASE
            WHEN NOT json_valid(text) THEN 'invalid JSON'
            WHEN NOT {_OBJECT} THEN 'JSON value is not an object'
        END AS parse_error
    FROM block
    WHERE text IS NOT NULL AND regexp_matches(text, '\\S')
"""
_UNDECODABLE_ERROR = "invalid UTF-8"
T = TypeVar("T")


@dataclass
class FileReadStats:
    """What reading one file found: every physical line is counted exactly once."""

    lines_read: int = 0
    empty_lines: int = 0
    rows: int = 0
    parse_errors: int = 0
    read_error: str | None = None


@dataclass(frozen=True)
class LineBlock:
    """Consecutive lines of a file: their text (null where not UTF-8) and the raw undecodable ones."""

    first_line: int
    text: pa.Array  # large_string, terminators and a leading BOM blanked to spaces
    undecodable: dict[int, str]  # index in the block -> text with bad bytes as \\xNN escapes

    def __len__(self) -> int:
        return len(self.text)


@dataclass(frozen=True)
class ParquetPart:
    """One block of an event file, written as Parquet for dlt to import."""

    path: Path
    rows: int
    schema: pa.Schema


def column_name(key: str, taken: set[str]) -> str:
    """The bronze column for a JSON key: known keys as they are, others snake_cased and unique."""
    if key in KNOWN_FIELDS:
        return key
    try:
        name = _NAMING.normalize_identifier(key)
    except ValueError:  # an empty or unprintable key
        name = "unnamed_field"
    if name in KNOWN_FIELDS or name in META_COLUMNS or name.startswith("_dlt"):
        name = f"extra_{name.lstrip('_')}"
    base, suffix = name, 2
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    return name


def iter_line_blocks(path: Path, block_bytes: int) -> Iterator[LineBlock]:
    """Yield the file's lines block by block.

    Line terminators (LF or CRLF) and a leading UTF-8 BOM are blanked to spaces in place, which
    JSON ignores, so no per-line trimming is needed later. Memory is bounded by the block size
    plus the longest line: a block's buffer is referenced by the yielded block only. A `.gz`
    file is decompressed on the fly; a read error (truncated gzip, I/O) propagates after every
    complete line before it has been yielded.
    """
    next_line = 1
    with open(path, "rb") as handle:
        chunks = _gunzip(handle, block_bytes) if path.suffix == ".gz" else _read(handle, block_bytes)
        carry = np.empty(0, dtype=np.uint8)
        for chunk in chunks:
            data = np.concatenate((carry, chunk)) if len(carry) else chunk
            del chunk
            newlines = np.flatnonzero(data == 10)
            if not len(newlines):
                carry = data
                continue
            cut = int(newlines[-1]) + 1
            carry = data[cut:].copy()
            first_line, next_line = next_line, next_line + len(newlines)
            yield _line_block(data[:cut], newlines + 1, first_line)
            del data, newlines
        if len(carry):
            yield _line_block(carry, np.array([len(carry)]), next_line)


def _read(handle: BinaryIO, size: int) -> Iterator[np.ndarray]:
    """The file in new buffers of at most `size` bytes, read straight into them."""
    while True:
        buffer = np.empty(size, dtype=np.uint8)
        count = handle.readinto(memoryview(buffer))
        if not count:
            return
        yield buffer[:count]


def _gunzip(handle: BinaryIO, size: int) -> Iterator[np.ndarray]:
    """Decompress gzip members in pieces of at most `size` bytes (no gzip bomb fills memory).

    A truncated stream first yields everything it had, then raises EOFError.
    """
    inflater, fed = zlib.decompressobj(wbits=31), False
    while data := handle.read(size // 8):
        while data:
            out, fed = inflater.decompress(data, size), True
            if out:
                yield np.frombuffer(out, dtype=np.uint8).copy()  # writable: terminators get blanked
            if inflater.eof:  # the next member of a multi-member file, if any
                data, inflater, fed = inflater.unused_data, zlib.decompressobj(wbits=31), False
            else:
                data = inflater.unconsumed_tail
    if fed and not inflater.eof:
        raise EOFError("compressed file ended before the end-of-stream marker")


def _line_block(data: np.ndarray, ends: np.ndarray, first_line: int) -> LineBlock:
    """The lines of `data` (which it owns and edits) ending before each offset in `ends`."""
    ends = ends.astype(np.int64)
    newlines = ends[data[ends - 1] == 10] - 1
    carriage = newlines[newlines > 0] - 1
    data[carriage[data[carriage] == 13]] = 32
    data[newlines] = 32
    if first_line == 1 and data[:3].tobytes() == codecs.BOM_UTF8:
        data[:3] = 32
    offsets = np.concatenate(([0], ends))
    undecodable = _undecodable_lines(data, offsets)
    validity = None
    if undecodable:
        valid = np.ones(len(ends), dtype=bool)
        valid[list(undecodable)] = False
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    text = pa.LargeStringArray.from_buffers(
        len(ends), pa.py_buffer(offsets), pa.py_buffer(data), validity, len(undecodable)
    )
    return LineBlock(first_line, text, undecodable)


def _undecodable_lines(data: np.ndarray, offsets: np.ndarray) -> dict[int, str]:
    """Lines that are not valid UTF-8, by index, with their bad bytes as \\xNN escapes.

    Python's C decoder checks the block window by window (an error copies only its window).
    """
    found: dict[int, str] = {}
    view, start, size = memoryview(data), 0, len(data)
    while start < size:
        end = min(start + UTF8_WINDOW_BYTES, size)
        try:
            start += codecs.utf_8_decode(view[start:end], "strict", end == size)[1]
        except UnicodeDecodeError as error:
            line = int(np.searchsorted(offsets, start + error.start, side="right")) - 1
            raw = bytes(view[offsets[line] : offsets[line + 1]])
            found[line] = raw.decode("utf-8", "backslashreplace").rstrip()
            start = int(offsets[line + 1])
    return found


class EventFileReader:
    """Turns event files into Parquet parts ready for dlt to import, with per-file statistics.

    Every part has the bronze table's columns in the table's order (then any new ones), with
    fixed types and nullability, so dlt imports it as it is instead of rewriting it. Three
    things overlap: a thread reads the next block while DuckDB parses this one, and another
    writes the previous block's part.
    """

    def __init__(
        self, scratch_dir: Path, load_id: str, table_columns: list[str], block_bytes: int | None = None
    ) -> None:
        self.scratch_dir = scratch_dir
        self.load_id = load_id
        self.block_bytes = block_bytes or BLOCK_BYTES
        self.parts_written = 0
        # JSON key -> bronze column, stable across files; the known fields always come first.
        self.columns: dict[str, str] = {key: key for key in KNOWN_FIELDS}
        # Part columns: the table's as loaded so far, then new ones as they are first seen.
        self.output: list[str] = list(table_columns)
        self._add_output([*KNOWN_FIELDS])
        self._con = duckdb.connect(config={"preserve_insertion_order": False})  # rows carry line numbers
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="event-reader")

    def __enter__(self) -> EventFileReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._threads.shutdown(cancel_futures=True)
        self._con.close()

    def read(self, path: Path, source_file: str, stats: FileReadStats) -> Iterator[ParquetPart]:
        """The file's parts, each yielded once written; a read error ends the file after every
        complete line before it, and is kept in `stats.read_error`."""
        blocks = _read_ahead(iter_line_blocks(path, self.block_bytes), self._threads)
        writing: Future[ParquetPart] | None = None
        while True:
            try:
                block = next(blocks, None)
            except (OSError, EOFError, zlib.error) as error:  # truncated gzip, vanished file, I/O
                stats.read_error, block = f"{type(error).__name__}: {error}", None
            rows = self._parse(block, source_file, stats) if block is not None else None
            del block  # DuckDB's result owns its data: free the block's buffer
            if writing is not None:
                yield writing.result()
                writing = None
            if rows is None:
                return
            if rows.num_rows:
                self.parts_written += 1
                path = self.scratch_dir / f"events-{self.parts_written:06d}.parquet"
                writing = self._threads.submit(_write_part, rows, path, part_schema(self.output))

    def _parse(self, block: LineBlock, source_file: str, stats: FileReadStats) -> pa.Table:
        """The block's non-blank lines as a table of the part's columns; counts them in `stats`."""
        numbers = pa.array(np.arange(block.first_line, block.first_line + len(block), dtype=np.int64))
        lines = pa.table({"line_number": numbers, "text": block.text})
        self._con.register("block", pa.Table.from_batches(lines.to_batches(SCAN_BATCH_ROWS)))
        lines_sql = _LINES_SQL
        if block.undecodable:
            self._con.register("undecodable", _undecodable_table(block))
            lines_sql += "UNION ALL SELECT line_number, text, $undecodable FROM undecodable"
        try:
            present = self._present_keys()
            self._add_output([self.columns[key] for key in present] + [*META_COLUMNS, LOAD_ID_COLUMN])
            rows = self._con.sql(
                f"""
                SELECT {self._projections(present)} FROM (
                    SELECT *, CASE WHEN parse_error IS NULL THEN json_extract_string(text, $pointers) END AS j
                    FROM ({lines_sql})
                )
                """,
                params={
                    "pointers": ["/" + key.replace("~", "~0").replace("/", "~1") for key in present],
                    "source_file": source_file,
                    "load_id": self.load_id,
                    **({"undecodable": _UNDECODABLE_ERROR} if block.undecodable else {}),
                },
            ).to_arrow_table()
        finally:
            self._con.unregister("block")
            if block.undecodable:
                self._con.unregister("undecodable")
        stats.lines_read += len(block)
        stats.rows += rows.num_rows
        stats.empty_lines += len(block) - rows.num_rows
        stats.parse_errors += rows.num_rows - rows.column("_parse_error").null_count
        return rows

    def _present_keys(self) -> list[str]:
        """The known fields and every other key of the block's objects, registering new ones as columns."""
        seen = {key for (key,) in self._con.execute(_KEYS_SQL).fetchall()}
        for key in sorted(seen - self.columns.keys()):
            self.columns[key] = column_name(key, set(self.columns.values()))
        return [key for key in self.columns if key in seen or key in KNOWN_FIELDS]

    def _projections(self, present: list[str]) -> str:
        extracted = {self.columns[key]: f"j[{i}]" for i, key in enumerate(present, 1)}
        meta = {
            "_source_file": "$source_file::VARCHAR",
            "_line_number": "line_number",
            "_raw_line": "CASE WHEN parse_error IS NOT NULL THEN rtrim(text) END",
            "_parse_error": "parse_error",
            LOAD_ID_COLUMN: "$load_id::VARCHAR",
        }
        return ", ".join(
            f"{meta.get(name) or extracted.get(name) or 'NULL::VARCHAR'} AS {_sql_identifier(name)}"
            for name in self.output
        )

    def _add_output(self, names: list[str]) -> None:
        self.output += [name for name in names if name not in self.output]


def _write_part(rows: pa.Table, path: Path, schema: pa.Schema) -> ParquetPart:
    pq.write_table(
        rows.cast(schema),
        path,
        compression="none",
        use_dictionary=CONSTANT_COLUMNS,
        write_statistics=False,
        row_group_size=PART_ROW_GROUP_ROWS,
    )
    return ParquetPart(path, rows.num_rows, schema)


def _undecodable_table(block: LineBlock) -> pa.Table:
    return pa.table(
        {
            "line_number": pa.array([block.first_line + i for i in block.undecodable], pa.int64()),
            "text": pa.array(list(block.undecodable.values()), pa.large_string()),
        }
    )


def _read_ahead(items: Iterator[T], threads: ThreadPoolExecutor) -> Iterator[T]:
    """`items`, each fetched on a thread while the caller works on the one before."""
    ahead = threads.submit(next, items, None)
    while (item := ahead.result()) is not None:
        ahead = threads.submit(next, items, None)
        yield item


def part_schema(names: list[str]) -> pa.Schema:
    """Text columns, nullable, but for the line number and dlt's load id."""
    return pa.schema(
        pa.field(
            name,
            pa.int64() if name == "_line_number" else pa.string(),
            nullable=name != LOAD_ID_COLUMN,
        )
        for name in names
    )


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
