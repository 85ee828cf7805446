"""Read a reference CSV (users, episodes) into an Arrow table of text columns.

Reference files are small (thousands of rows), so Python's csv module reads them: it gives
exact line numbers, handles quoted newlines, a BOM and another delimiter. Values stay text as
received; the contract in gx/ judges them. A row with more fields than the header keeps the
surplus in `_extra_values` (a JSON list); a row with fewer gets nulls, as does a column missing
from the header.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa

from pipelines.ndjson import FileReadStats, column_name

DELIMITERS = ",;\t|"


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_reference_csv(
    path: Path, source_file: str, stats: FileReadStats, expected: tuple[str, ...] = ()
) -> pa.Table | None:
    """The file as a table (None when it has no header); `stats` counts what was read.

    An `expected` column missing from the header (or a file without a header row) is loaded as
    nulls, so the contract judges those rows instead of the SQL failing on a missing column."""
    try:
        with _open_text(path) as handle:
            sample = handle.read(64 * 1024)
            handle.seek(0)
            reader = csv.reader(handle, delimiter=_sniff_delimiter(sample))
            header = next(reader, None)
            if header is None:
                stats.lines_read = reader.line_num
                return None
            names: list[str] = []
            for key in header:
                names.append(column_name(key.strip(), set(names)))
            columns: dict[str, list] = {name: [] for name in names}
            missing = [name for name in expected if name not in columns]
            line_numbers: list[int] = []
            extras: list[str | None] = []
            previous_line = reader.line_num
            for row in reader:
                first_line, previous_line = previous_line + 1, reader.line_num
                if not any(value.strip() for value in row):
                    stats.empty_lines += reader.line_num - first_line + 1
                    continue
                for index, name in enumerate(names):
                    columns[name].append(row[index] if index < len(row) else None)
                extras.append(json.dumps(row[len(names) :]) if len(row) > len(names) else None)
                line_numbers.append(first_line)
            stats.lines_read = reader.line_num
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        stats.read_error = f"{type(error).__name__}: {error}"
        return None
    stats.rows = len(line_numbers)
    table = pa.table(
        {
            **{name: pa.array(values, pa.string()) for name, values in columns.items()},
            **{name: pa.nulls(len(line_numbers), pa.string()) for name in missing},
            "_source_file": pa.array([source_file] * len(line_numbers), pa.string()),
            "_line_number": pa.array(line_numbers, pa.int64()),
        }
    )
    if any(value is not None for value in extras):
        table = table.append_column("_extra_values", pa.array(extras, pa.string()))
    return table
