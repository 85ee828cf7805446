"""Read NDJSON event files into Arrow tables of text columns, one row per non-empty line.

The hot path never touches a line in Python: numpy finds the line breaks in a block of bytes,
the block becomes a zero-copy Arrow binary array, and DuckDB decodes, parses and projects it.
A line that is not a JSON object (truncated, garbage, invalid UTF-8, an array...) becomes a row
with its raw text and `_parse_error`, never an exception. Unknown keys become extra columns.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention

KNOWN_FIELDS = ("event_type", "user_id", "episode_id", "timestamp", "duration")
META_COLUMNS = ("_source_file", "_line_number", "_raw_line", "_parse_error")
BLOCK_BYTES = 32 * 1024 * 1024
_NAMING = NamingConvention()

# Decode, drop blank lines, classify what is not a JSON object (terminators are already blanked).
_CLASSIFY_SQL = """
    SELECT line_number, raw, text,
        CASE
            WHEN text IS NULL THEN 'invalid UTF-8'
            WHEN NOT json_valid(text) THEN 'invalid JSON'
            WHEN json_type(text) <> 'OBJECT' THEN 'JSON value is not an object'
        END AS parse_error
    FROM (SELECT line_number, raw, try(decode(raw)) AS text FROM block)
    WHERE text IS NULL OR regexp_matches(text, '\\S')
"""


@dataclass
class FileReadStats:
    """What reading one file found: every physical line is counted exactly once."""

    lines_read: int = 0
    empty_lines: int = 0
    rows: int = 0
    parse_errors: int = 0
    read_error: str | None = None
    extra_fields: set[str] = field(default_factory=set)


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


def iter_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[pa.Array, int]]:
    """Yield (binary array of lines, number of the first line) for a block of the file.

    Line terminators (LF or CRLF) and a leading UTF-8 BOM are blanked to spaces in place, which
    JSON ignores, so no per-line trimming is needed later. Memory is bounded by the block size
    plus the longest line. A `.gz` file is decompressed on the fly; a read error (truncated gzip,
    I/O) propagates after every complete line before it has been yielded.
    """
    next_line = 1
    with open(path, "rb") as handle:
        chunks = _gunzip(handle, block_bytes) if path.suffix == ".gz" else _read(handle, block_bytes)
        carry = b""
        while True:
            chunk = next(chunks, b"")
            data = carry + chunk if carry else chunk
            if not chunk:
                if data:
                    yield _lines_array(data, None, next_line == 1), next_line
                return
            newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            if len(newlines):
                cut = int(newlines[-1]) + 1
                yield _lines_array(data[:cut], newlines, next_line == 1), next_line
                next_line += len(newlines)
                carry = data[cut:]
            else:
                carry = data


def _read(handle: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


def _gunzip(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """Decompress gzip members in pieces of at most `size` bytes (no gzip bomb fills memory).

    A truncated stream first yields everything it had, then raises EOFError.
    """
    inflater, fed = zlib.decompressobj(wbits=31), False
    while data := handle.read(size // 8):
        while data:
            out, fed = inflater.decompress(data, size), True
            if out:
                yield out
            if inflater.eof:  # the next member of a multi-member file, if any
                data, inflater, fed = inflater.unused_data, zlib.decompressobj(wbits=31), False
            else:
                data = inflater.unconsumed_tail
    if fed and not inflater.eof:
        raise EOFError("compressed file ended before the end-of-stream marker")


def _lines_array(data: bytes, newlines: np.ndarray | None, file_start: bool) -> pa.Array:
    """A zero-copy Arrow array over `data` split after each newline (None: one final line)."""
    buffer = np.frombuffer(data, dtype=np.uint8).copy()
    if newlines is None:
        ends = np.array([len(buffer)], dtype=np.int64)
    else:
        ends = newlines.astype(np.int64) + 1
        carriage = newlines[(newlines > 0)] - 1
        buffer[carriage[buffer[carriage] == 13]] = 32
        buffer[newlines] = 32
    if file_start and data.startswith(b"\xef\xbb\xbf"):
        buffer[:3] = 32
    offsets = np.concatenate(([0], ends))
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(buffer)]
    )


class EventFileReader:
    """Turns one event file into Arrow tables ready for dlt, with per-file statistics."""

    def __init__(self, con: duckdb.DuckDBPyConnection, block_bytes: int = BLOCK_BYTES) -> None:
        self.con = con
        self.block_bytes = block_bytes
        # JSON key -> bronze column, stable across files; the known fields always come first.
        self.columns: dict[str, str] = {key: key for key in KNOWN_FIELDS}

    def read(self, path: Path, source_file: str, stats: FileReadStats) -> Iterator[pa.Table]:
        try:
            for lines, first_line in iter_line_blocks(path, self.block_bytes):
                table = self._parse_block(lines, first_line, source_file, stats)
                if table.num_rows:
                    yield table
        except (OSError, EOFError, zlib.error) as error:  # truncated gzip, vanished file, I/O
            stats.read_error = f"{type(error).__name__}: {error}"

    def _parse_block(
        self, lines: pa.Array, first_line: int, source_file: str, stats: FileReadStats
    ) -> pa.Table:
        numbers = pa.array(np.arange(first_line, first_line + len(lines), dtype=np.int64))
        self.con.register("block", pa.table({"line_number": numbers, "raw": lines}))
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE classified AS {_CLASSIFY_SQL}")
        self.con.unregister("block")
        keys = [
            row[0]
            for row in self.con.execute(
                "SELECT DISTINCT unnest(json_keys(text)) FROM classified WHERE parse_error IS NULL"
            ).fetchall()
        ]
        for key in sorted(keys):
            if key not in self.columns:
                self.columns[key] = column_name(key, set(self.columns.values()))
                if key not in KNOWN_FIELDS:
                    stats.extra_fields.add(self.columns[key])
        seen = set(keys)
        present = [key for key in self.columns if key in seen or key in KNOWN_FIELDS]
        pointers = ["/" + key.replace("~", "~0").replace("/", "~1") for key in present]
        projections = ", ".join(
            f"j[{i}] AS {_sql_identifier(self.columns[key])}" for i, key in enumerate(present, 1)
        )
        table = self.con.sql(
            f"""
            SELECT {projections},
                ? AS _source_file,
                line_number AS _line_number,
                CASE WHEN parse_error IS NOT NULL THEN rtrim(text) END AS _raw_line,
                parse_error AS _parse_error
            FROM (
                SELECT *, CASE WHEN parse_error IS NULL THEN json_extract_string(text, ?) END AS j
                FROM classified
            )
            """,
            params=[source_file, pointers],
        ).to_arrow_table()
        table = self._restore_undecodable(table, lines, first_line)
        stats.lines_read += len(lines)
        stats.rows += table.num_rows
        stats.empty_lines += len(lines) - table.num_rows
        stats.parse_errors += table.num_rows - table.column("_parse_error").null_count
        return table

    @staticmethod
    def _restore_undecodable(table: pa.Table, lines: pa.Array, first_line: int) -> pa.Table:
        """Give invalid-UTF-8 rows a readable raw text (bad bytes as \\xNN escapes)."""
        undecodable = pc.fill_null(pc.equal(table.column("_parse_error"), "invalid UTF-8"), False)
        if not pc.any(undecodable).as_py():
            return table
        raw = table.column("_raw_line").to_pylist()
        numbers = table.column("_line_number").to_numpy()
        for i in np.flatnonzero(undecodable.to_numpy(zero_copy_only=False)):
            text = lines[int(numbers[i]) - first_line].as_py().decode("utf-8", "backslashreplace")
            raw[i] = text.rstrip()
        index = table.schema.get_field_index("_raw_line")
        return table.set_column(index, "_raw_line", pa.array(raw, pa.string()))


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
