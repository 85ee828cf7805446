"""Silver's Parquet copy for Spark (`publish_silver`): one file per validated load, as the
contract's ledger names it and with the rows it counted, merged once there are enough of them;
written without starting Spark."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from flows import spark_silver
from flows.spark_silver import MANIFEST, publish_silver
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
            if not path.name.startswith(("_", "."))
        }


def test_each_validated_load_is_one_file_written_once(settings: Settings) -> None:
    assert publish_silver(settings) == {"users": 3}
    files = published(settings)
    assert sorted(files.values()) == [["u1", "u2"], ["u3"]]
    assert publish_silver(settings) == {"users": 0}  # nothing validated since: nothing written

    with duckdb.connect(str(settings.warehouse)) as con:  # load 2 validated again, by another run
        con.execute(LEDGER_ROW, ["2", "run b", 1, 1])
    assert publish_silver(settings) == {"users": 1}
    again = published(settings)
    assert len(again) == 2 and set(again) != set(files)  # its old file is gone


def test_silver_rows_the_ledger_does_not_count_stop_the_publish(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("INSERT INTO silver.users VALUES ('3', 'u4')")
    with pytest.raises(RuntimeError, match="rows in loads the contract's ledger does not name: 1$"):
        publish_silver(settings)

    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("DELETE FROM silver.users WHERE _dlt_load_id = '3'")
        con.execute(LEDGER_ROW, ["2", "run b", 1, 5])  # the ledger counted 5 valid rows of load 2
    with pytest.raises(
        RuntimeError,
        match=r"silver.users: 2-\w+.parquet would hold 1 of its rows, the contract's ledger counts 5$",
    ):
        publish_silver(settings)
    assert not [p for p in (settings.spark_home / "silver" / "users").iterdir() if p.name.startswith(".")]


def test_single_load_files_are_merged_and_a_load_validated_again_leaves_its_merged_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark_silver, "COMPACT_AT", 2)
    assert publish_silver(settings) == {"users": 3}
    ((merged, users),) = published(settings).items()  # the two loads' files, merged
    assert merged.startswith("compacted-") and users == ["u1", "u2", "u3"]
    folder = settings.spark_home / "silver" / "users"
    assert json.loads((folder / MANIFEST).read_text()) == {
        merged: [p for p in json.loads((folder / MANIFEST).read_text())[merged]]
    }
    assert publish_silver(settings) == {"users": 0}
    assert list(published(settings)) == [merged]  # kept while its loads are as validated

    with duckdb.connect(str(settings.warehouse)) as con:  # load 3 arrives
        con.execute("INSERT INTO silver.users VALUES ('3', 'u4')")
        con.execute(LEDGER_ROW, ["3", "run b", 1, 1])
    assert publish_silver(settings) == {"users": 1}
    assert sorted(published(settings).values()) == [["u1", "u2", "u3"], ["u4"]]

    with duckdb.connect(str(settings.warehouse)) as con:  # load 1 validated again
        con.execute("DELETE FROM silver.users WHERE user_id = 'u2'")
        con.execute(LEDGER_ROW, ["1", "run c", 2, 1])
    assert publish_silver(settings) == {"users": 2}  # loads 1 and 2 written singly again, then merged
    files = published(settings)
    assert merged not in files and len(files) == 1
    assert sorted(u for users in files.values() for u in users) == ["u1", "u3", "u4"]
    assert json.loads((folder / MANIFEST).read_text()).keys() == files.keys()
