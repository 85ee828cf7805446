"""A warehouse folder (warehouse, exports, dlt state, its own copy of the GX project) and
`python flows/main.py` run on it as a subprocess: shared by the crash harness and the benchmark."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import GX_DIR, PROJECT_DIR


@dataclass
class Workspace:
    """One warehouse with its exports, dlt state and GX data docs, and the data it reads."""

    root: Path
    data_dir: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "podcast.duckdb"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    def command(self, *flags: str) -> list[str]:
        """`python flows/main.py` on this workspace, with extra `flags` (e.g. --verbose)."""
        return [
            sys.executable,
            "flows/main.py",
            "--data-dir",
            str(self.data_dir),
            "--warehouse",
            str(self.warehouse),
            "--exports-dir",
            str(self.exports),
            *flags,
        ]

    @classmethod
    def create(cls, root: Path, data_dir: Path) -> Workspace:
        """A new workspace with its own copy of the contract (its data docs are its own)."""
        shutil.copytree(GX_DIR, root / "gx", ignore=shutil.ignore_patterns("uncommitted", "__pycache__"))
        return cls(root, data_dir)

    def start(self, env: dict, *flags: str, **popen: object) -> subprocess.Popen:
        """Launch `python flows/main.py` on this workspace, against the Prefect API in `env`."""
        return subprocess.Popen(
            self.command(*flags),
            cwd=PROJECT_DIR,
            env={**env, "PODCAST_GX_DIR": str(self.root / "gx")},
            **popen,
        )

    def copy_to(self, root: Path, data_dir: Path) -> Workspace:
        shutil.copytree(self.root, root, symlinks=True)
        return Workspace(root, data_dir)
