"""The key of a kept dbt parse (flows/dbt_parse.py): the same for every warehouse folder, another
for any change a parse depends on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows import dbt_parse
from flows.dbt_parse import parse_key
from pipelines.settings import DBT_DIR

VARS = {"warehouse": "/a/podcast.duckdb", "duckdb_memory_limit": "1GB"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_the_warehouse_folder_and_dbt_output_do_not_change_the_key(project: Path) -> None:
    key = parse_key("local", "podcast", VARS, project)
    assert parse_key("local", "podcast", VARS | {"warehouse": "/b/c/podcast.duckdb"}, project) == key
    (project / "target" / "compiled").mkdir(parents=True)
    (project / "target" / "compiled" / "x.sql").write_text("select 1")
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("a line")
    assert parse_key("local", "podcast", VARS, project) == key


def test_what_a_parse_depends_on_changes_the_key(project: Path) -> None:
    key = parse_key("local", "podcast", VARS, project)
    assert parse_key("local", "other", VARS, project) != key  # the database's name
    assert parse_key("spark", "podcast", VARS, project) != key
    assert parse_key("local", "podcast", VARS | {"as_of": "2024-03-08"}, project) != key
    assert parse_key("local", "podcast", VARS | {"duckdb_memory_limit": "2GB"}, project) != key

    model = project / "models" / "answers" / "q1_top_completed_episodes.sql"
    model.write_text(model.read_text() + "\n")
    edited = parse_key("local", "podcast", VARS, project)
    assert edited != key
    (project / "macros" / "new_macro.sql").write_text("{% macro new_macro() %}1{% endmacro %}")
    assert parse_key("local", "podcast", VARS, project) not in (key, edited)


def test_a_kept_parse_is_read_from_a_folder_the_run_cannot_write(tmp_path: Path, monkeypatch) -> None:
    """dbt's parse file, kept and read back as dbt's manifest, also where the run may not write."""
    from dbt.contracts.graph.manifest import Manifest

    monkeypatch.setattr(dbt_parse, "DBT_PARSES_DIR", tmp_path / "parses")
    written = tmp_path / "target"
    written.mkdir()
    (written / dbt_parse.PARTIAL_PARSE_FILE).write_bytes(Manifest().to_msgpack())
    dbt_parse.keep_parse("a-key", written)
    assert dbt_parse.load_kept_parse("other-key") is None

    def refuse(*args) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(dbt_parse.os, "utime", refuse)
    assert isinstance(dbt_parse.load_kept_parse("a-key"), Manifest)
