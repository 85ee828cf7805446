"""Bronze at a URL (pipelines/bronze.py): Parquet files there, views in the warehouse, a run
stopped between the load and the views caught up by the next, and a warehouse that keeps bronze
where its first load put it. (tests/test_ingest.py runs every ingestion test in both places.)"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines import bronze
from pipelines.ingest import ingest
from pipelines.settings import Settings, SettingsError
from tests.conftest import event, query, write_csv, write_lines


@pytest.fixture
def at_url(settings: Settings, tmp_path: Path) -> Settings:
    return replace(settings, bronze_url=(tmp_path / "lake").as_uri())


def test_bronze_lands_as_parquet_and_the_warehouse_holds_only_views(at_url: Settings, tmp_path: Path) -> None:
    write_lines(at_url.data_dir / "events" / "a.jsonl", [event(), event(user="user_2")])
    report = ingest(at_url)
    lake = tmp_path / "lake" / "bronze"
    assert [
        p.name.split(".")[0] + "." + p.name.split(".")[1] for p in (lake / "events").glob("*.parquet")
    ] == [report.load_ids[0]]
    assert query(at_url, f"SELECT count(*) FROM '{lake}/events/*.parquet'") == [(2,)]
    kinds = query(
        at_url,
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'bronze' ORDER BY 1",
    )
    assert kinds == [(name, "VIEW") for name in ("_dlt_loads", "episodes", "events", "source_files", "users")]


def test_a_run_stopped_before_the_views_is_caught_up_by_the_next(at_url: Settings, monkeypatch) -> None:
    episodes = (at_url.data_dir / "episodes" / "episodes.csv").read_text()
    shutil.rmtree(at_url.data_dir / "episodes")
    write_lines(at_url.data_dir / "events" / "a.jsonl", [event()])
    ingest(at_url)
    write_lines(at_url.data_dir / "events" / "b.jsonl", [event(user="user_2", device="tv")])
    write_csv(at_url.data_dir / "episodes" / "episodes.csv", episodes)  # a table new to bronze
    real_register = bronze.register_views
    monkeypatch.setattr(bronze, "register_views", lambda settings: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        ingest(at_url)  # b.jsonl landed; the warehouse's views were not refreshed
    monkeypatch.setattr(bronze, "register_views", real_register)
    assert ingest(at_url).load_ids == ()  # nothing new to load
    assert query(at_url, "SELECT count(*), count(device) FROM bronze.events") == [(2, 1)]
    assert query(at_url, "SELECT count(*) FROM bronze._dlt_loads") == [(2,)]
    assert query(at_url, "SELECT episode_id FROM bronze.episodes") == [("ep_1",)]


def test_a_warehouse_keeps_bronze_where_its_first_load_put_it(settings: Settings, at_url: Settings) -> None:
    write_lines(settings.data_dir / "events" / "a.jsonl", [event()])
    ingest(at_url)
    with pytest.raises(
        SettingsError, match=f"keeps bronze at {at_url.bronze_url}: run it with PODCAST_BRONZE_URL="
    ):
        ingest(settings)
    with pytest.raises(SettingsError, match="keeps bronze at"):
        ingest(replace(at_url, bronze_url=at_url.bronze_url + "-elsewhere"))
    in_file = replace(settings, warehouse=settings.warehouse.with_name("other.duckdb"))
    ingest(in_file)
    with pytest.raises(
        SettingsError, match="keeps bronze in its own file: run it with no PODCAST_BRONZE_URL"
    ):
        ingest(replace(in_file, bronze_url=at_url.bronze_url))


def test_a_first_load_that_stops_midway_is_finished_not_loaded_twice(at_url: Settings, monkeypatch) -> None:
    """The Parquet files landed, dlt's record of the load did not (no warehouse file yet): the
    next run finishes that load rather than dropping it and loading the files again."""
    from dlt.destinations.impl.filesystem.filesystem import FilesystemClient

    write_lines(at_url.data_dir / "events" / "a.jsonl", [event(user=f"user_{i}") for i in range(5)])

    def stopped(self, load_id):
        raise RuntimeError("stopped before the load was recorded")

    with monkeypatch.context() as patched:
        patched.setattr(FilesystemClient, "complete_load", stopped)
        with pytest.raises(Exception, match="stopped before the load was recorded"):
            ingest(at_url)
    assert not at_url.warehouse.exists()
    ingest(at_url)
    assert query(at_url, "SELECT count(*), count(DISTINCT _dlt_load_id) FROM bronze.events") == [(5, 1)]
    assert query(at_url, "SELECT count(*) FROM bronze._dlt_loads") == [(1,)]
    lake = Path(at_url.bronze_url.removeprefix("file://")) / "bronze"
    assert len(list((lake / "events").glob("*.parquet"))) == 1  # the files were not loaded again
