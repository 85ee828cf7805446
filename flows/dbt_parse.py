"""dbt's parse of the project, kept once per version of the project and shared by every warehouse.

dbt keeps its parse beside each warehouse (partial parsing, in the warehouse's dbt work folder) and
parses the whole project again for any other warehouse: its check compares the profile's connection
values, the warehouse's path among them, and the vars, which name the warehouse too. What a parse
holds depends on the project's files, dbt's and the adapter's versions, the target, the database's
name (the warehouse file's stem) and the other vars, not on the warehouse's folder. Keyed by those,
a parse is kept in DBT_PARSES_DIR and handed to dbt (`dbtRunner(manifest=...)`): a new warehouse
skips dbt's full parse, and a later run reads the kept parse back instead of checking its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
from pathlib import Path

from flows.exports import write_atomically
from pipelines.settings import DBT_DIR, DBT_PARSES_DIR

# dbt's file of the parse, written to the target folder whenever it parses
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# folders of the project that dbt writes, not reads
OUTPUT_FOLDERS = frozenset({"target", "logs"})
# what parses: a new version of any of them parses again
DBT_DISTRIBUTIONS = ("dbt-core", "dbt-adapters", "dbt-duckdb", "dbt-spark")
# kept parses beyond this many (the least recently used) are deleted when one is added
KEEP = 8


def parse_key(target: str, database: str, dbt_vars: dict[str, str], project_dir: Path = DBT_DIR) -> str:
    """A digest of everything a parse depends on but the warehouse's folder: the project's files,
    dbt-core's and the adapters' versions, the target, the database's name and the other vars."""
    digest = hashlib.sha256()
    versions = [_version(name) for name in DBT_DISTRIBUTIONS]
    other_vars = {name: value for name, value in dbt_vars.items() if name != "warehouse"}
    digest.update(json.dumps([versions, target, database, other_vars], sort_keys=True).encode())
    for path in sorted(_project_files(project_dir)):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:  # dbt-spark without `make install-spark`
        return None


def _project_files(project_dir: Path):
    for folder, subfolders, files in os.walk(project_dir):
        if Path(folder) == project_dir:
            subfolders[:] = [name for name in subfolders if name not in OUTPUT_FOLDERS]
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        yield from (Path(folder) / name for name in files if not name.startswith("."))


def load_kept_parse(key: str):
    """The kept parse of `key` as dbt's Manifest, ready for dbtRunner; None when none is kept
    (or it cannot be read: dbt then parses)."""
    kept = DBT_PARSES_DIR / f"{key}.msgpack"
    try:
        data = kept.read_bytes()
    except OSError:
        return None
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    try:
        manifest = Manifest.from_msgpack(data, decoder=extended_mashumuro_decoder)
    except Exception:  # noqa: BLE001 - a damaged or foreign file: parsing again replaces it
        return None
    # what dbt derives after reading a parse back (parser/manifest.py, get_full_manifest): the
    # parent and child maps for selection, the flat graph the macros read as `graph`
    manifest.build_parent_and_child_maps()
    manifest.build_flat_graph()
    with contextlib.suppress(OSError):  # recently used (a folder this run cannot write stays as it is)
        os.utime(kept)
    return manifest


def keep_parse(key: str, target_dir: Path) -> None:
    """Keep the parse dbt just wrote to `target_dir` under `key`, written whole or not at all; the
    least recently used beyond KEEP are deleted. A folder that cannot be written only costs the
    next new warehouse a parse."""
    written = target_dir / PARTIAL_PARSE_FILE
    try:
        write_atomically(DBT_PARSES_DIR / f"{key}.msgpack", lambda path: shutil.copyfile(written, path))
        kept = sorted(DBT_PARSES_DIR.glob("*.msgpack"), key=lambda path: path.stat().st_mtime, reverse=True)
        for stale in kept[KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError:
        return
