"""Finding input files and remembering which versions of them were already loaded.

The ledger lives in dlt's source state, which dlt commits together with the load package: a
file counts as loaded only once its rows are in the warehouse. A file is identified by its path
relative to the data directory and its SHA-256; size and mtime only let an unchanged file skip
the hashing.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path

EVENT_SUFFIXES = (".json", ".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
SOURCE_NAME = "podcast"  # the dlt source (pipelines/sources.py), under which dlt keeps the ledger
LEDGER_TABLE = "source_files"  # bronze table with one row per file version read
# Input folders under the data directory and the file names each one takes.
INPUTS = {"events": EVENT_SUFFIXES, "users": CSV_SUFFIXES, "episodes": CSV_SUFFIXES}
# The columns each reference CSV must have, its key first.
REFERENCE_COLUMNS = {
    "users": ("user_id", "signup_date", "country"),
    "episodes": ("episode_id", "podcast_id", "title", "release_date", "duration_seconds"),
}
# Folders of dlt's working directory that hold a load not finished yet.
UNFINISHED = ("normalize/extracted", "load/new", "load/normalized")


@dataclass(frozen=True)
class SourceFile:
    """One input file as found on disk."""

    path: Path
    name: str  # path relative to the data directory, with forward slashes
    size: int
    mtime_ns: int


def discover(data_dir: Path, subdir: str, suffixes: tuple[str, ...]) -> list[SourceFile]:
    """Regular files under data_dir/subdir whose name ends in a suffix (optionally + `.gz`).

    Symlinked directories are not followed (no loops); directories whose name looks like a data
    file are not files and are skipped. Sorted by name, so loads are reproducible.
    """
    root = data_dir / subdir
    found = []
    for folder, _dirs, names in os.walk(root, followlinks=False):
        for name in names:
            stem = name[:-3] if name.endswith(".gz") else name
            if not stem.lower().endswith(suffixes):
                continue
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError:  # a dangling symlink: reported as unreadable by the reader
                stat = None
            found.append(
                SourceFile(
                    path=path,
                    name=path.relative_to(data_dir).as_posix(),
                    size=stat.st_size if stat else -1,
                    mtime_ns=stat.st_mtime_ns if stat else -1,
                )
            )
    return sorted(found, key=lambda file: file.name)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class FileLedger:
    """Which version of each input file is already loaded, kept in a dlt state dict."""

    def __init__(self, state: dict) -> None:
        self.files: dict[str, dict] = state.setdefault("files", {})

    def new_version(self, file: SourceFile, hashing: Executor) -> Future[str] | None:
        """The SHA-256 of `file`, computed on `hashing`, if this version is not loaded yet, else None.

        A new file is hashed while the caller reads it; only a known file whose size or mtime
        changed is hashed before the answer. Raises OSError (there, or from the future's result)
        when the file cannot be read (permissions, dangling link).
        """
        known = self.files.get(file.name)
        if known and known["size"] == file.size and known["mtime_ns"] == file.mtime_ns:
            return None
        digest = hashing.submit(sha256_of, file.path)
        if known and digest.result() == known["sha256"]:
            # Touched, not changed. The state is left as it is, so that a run with nothing new
            # writes nothing at all; such a file is hashed again on each run.
            return None
        return digest

    def record(self, file: SourceFile, digest: str) -> None:
        self.files[file.name] = {"sha256": digest, "size": file.size, "mtime_ns": file.mtime_ns}


def nothing_new(data_dir: Path, working_dir: Path) -> bool:
    """True when every input file is a version already loaded (as in the ledger of dlt's local
    state: same size and mtime, or same SHA-256 for a file merely touched) and dlt holds no
    unfinished load: the run can skip dlt.

    Any doubt answers False and lets dlt decide: no local state, an unfinished load, a file
    unknown or changed, a file that cannot be read."""
    try:
        state = json.loads((working_dir / "state.json").read_text())
        ledger = state["sources"][SOURCE_NAME]["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for folder in UNFINISHED:
        if (working_dir / folder).is_dir() and any((working_dir / folder).iterdir()):
            return False
    for subdir, suffixes in INPUTS.items():
        for file in discover(data_dir, subdir, suffixes):
            known = ledger.get(file.name)
            if not known or known["size"] != file.size:
                return False
            if known["mtime_ns"] != file.mtime_ns:
                try:
                    if sha256_of(file.path) != known["sha256"]:
                        return False
                except OSError:
                    return False
    return True
