"""Silver's Parquet copy for Spark (`publish_silver`): each validated load's rows as the
contract's ledger counts them, loads grouped into one file once a group is full, files written
again only when what they hold changes; all without starting Spark."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows import spark_silver
from flows.spark_silver import publish_silver
from gx.ledger import LEDGER_DDL
from pipelines.settings import Settings

LEDGER_ROW = "INSERT OR REPLACE INTO contract.validated_loads VALUES ('users', ?, 'f', ?, now(), ?, ?, 0)"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(warehouse=tmp_path / "podcast.duckdb", engine="spark")
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(LEDGER_DDL)
        con.execute("CREATE TABLE silver.users AS SELECT '1' AS _dlt_load_id, 'u1' AS user_id")
        con.execute("INSERT INTO silver.users VALUES ('1', 'u2'), ('2', 'u3')")
        con.execute(LEDGER_ROW, ["1", "run a", 2, 2])
        con.execute(LEDGER_ROW, ["2", "run a", 1, 1])
    return settings


def published(settings: Settings) -> dict[str, list[str]]:
    """The Parquet files Spark reads under silver/users (not the hidden ones), each with its users."""
    folder = settings.spark_home / "silver" / "users"
    with duckdb.connect() as con:
        return {
            path.name: sorted(u for (u,) in con.execute(f"SELECT user_id FROM '{path}'").fetchall())
            for path in sorted(folder.iterdir())
            if not path.name.startswith(".")
        }


def add_load(settings: Settings, load_id: str, *users: str, run: str = "run b") -> None:
    with duckdb.connect(str(settings.warehouse)) as con:
        for user in users:
            con.execute("INSERT INTO silver.users VALUES (?, ?)", [load_id, user])
        con.execute(LEDGER_ROW, [load_id, run, len(users), len(users)])


def assert_every_silver_row_once(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        silver = sorted(u for (u,) in con.execute("SELECT user_id FROM silver.users").fetchall())
    assert sorted(u for users in published(settings).values() for u in users) == silver


def test_each_validated_load_is_one_file_written_once(settings: Settings) -> None:
    assert publish_silver(settings) == {"users": 3}
    files = published(settings)
    assert sorted(files.values()) == [["u1", "u2"], ["u3"]]
    assert sorted(name.split("-")[0] for name in files) == ["1", "2"]
    assert publish_silver(settings) == {"users": 0}  # nothing validated since: nothing written

    with duckdb.connect(str(settings.warehouse)) as con:  # load 2 validated again, by another run
        con.execute(LEDGER_ROW, ["2", "run b", 1, 1])
    folder = settings.spark_home / "silver" / "users"
    (folder / ".half-written.parquet").write_bytes(b"")  # left by a publish that was stopped
    (folder / "stray.parquet").write_bytes(b"")
    (folder / "stray" / "part.parquet").parent.mkdir()  # a folder, which Spark would read into the table
    (folder / "stray" / "part.parquet").write_bytes(b"")
    assert publish_silver(settings) == {"users": 1}
    again = published(settings)
    assert len(again) == 2 and len(set(again) & set(files)) == 1  # load 2's old file is gone
    assert sorted(p.name for p in folder.iterdir()) == sorted(again)  # and so is what no run wants

    with duckdb.connect(str(settings.warehouse)) as con:  # silver gets a column: every file anew
        con.execute("ALTER TABLE silver.users ADD COLUMN country VARCHAR")
    assert publish_silver(settings) == {"users": 3}
    assert not set(published(settings)) & set(again)


def test_a_table_without_loads_is_one_file_of_its_columns(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("DELETE FROM silver.users; DELETE FROM contract.validated_loads")
    assert publish_silver(settings) == {"users": 0}
    (name,) = published(settings)
    with duckdb.connect() as con:
        columns = [
            c[0]
            for c in con.execute(
                f"DESCRIBE SELECT * FROM '{settings.spark_home}/silver/users/{name}'"
            ).fetchall()
        ]
    assert columns == ["_dlt_load_id", "user_id"]


def test_silver_rows_the_ledger_does_not_count_stop_the_publish(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("INSERT INTO silver.users VALUES ('3', 'u4'), (NULL, 'u5')")
    with pytest.raises(RuntimeError, match="rows in loads the contract's ledger does not name: 2$"):
        publish_silver(settings)

    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("DELETE FROM silver.users WHERE _dlt_load_id = '3' OR _dlt_load_id IS NULL")
        con.execute(LEDGER_ROW, ["2", "run b", 1, 5])  # the ledger counted 5 valid rows of load 2
    with pytest.raises(
        RuntimeError,
        match=r"silver.users: 2-\w+.parquet would hold 1 of its rows, the contract's ledger counts 5$",
    ):
        publish_silver(settings)
    assert not [p for p in (settings.spark_home / "silver" / "users").iterdir() if p.name.startswith(".")]


def test_full_groups_of_loads_are_one_file_and_a_load_validated_again_rewrites_only_its_group(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark_silver, "COMPACT_AT", 2)
    assert publish_silver(settings) == {"users": 3}
    ((first_group, users),) = published(settings).items()  # loads 1 and 2 in one file
    assert first_group.startswith("1-2-") and users == ["u1", "u2", "u3"]
    assert publish_silver(settings) == {"users": 0}

    add_load(settings, "3", "u4")  # a group still filling: a file of its own
    assert publish_silver(settings) == {"users": 1}
    assert sorted(published(settings).values()) == [["u1", "u2", "u3"], ["u4"]]
    add_load(settings, "4", "u5", "u6")  # the group is full: loads 3 and 4 in one file
    assert publish_silver(settings) == {"users": 3}
    files = published(settings)
    assert sorted(name[:4] for name in files) == ["1-2-", "3-4-"]
    assert_every_silver_row_once(settings)

    second_group = next(name for name in files if name.startswith("3-4-"))
    written = (settings.spark_home / "silver" / "users" / second_group).stat().st_mtime_ns
    with duckdb.connect(str(settings.warehouse)) as con:  # load 1 validated again: a row less
        con.execute("DELETE FROM silver.users WHERE user_id = 'u2'")
        con.execute(LEDGER_ROW, ["1", "run c", 2, 1])
    assert publish_silver(settings) == {"users": 2}  # its group only
    files = published(settings)
    assert first_group not in files and second_group in files
    assert (settings.spark_home / "silver" / "users" / second_group).stat().st_mtime_ns == written
    assert_every_silver_row_once(settings)
