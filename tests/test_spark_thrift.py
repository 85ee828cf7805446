"""The Spark path with the models built by a Spark Thrift server, as on a cluster (dbt/profiles.yml,
output spark_thrift): the same answers, marts, row accounting and quarantine as DuckDB's, bronze in
the server's catalog, and a server that does not share the spark home, or none, refused in one
line. The server here is Spark's own HiveThriftServer2 from the pyspark package, on this machine,
with its own metastore, zone and timestamp type: the run's SQL settings come with each session the
pipeline opens.
Marked spark: `make test-spark` runs it after `make install-spark`."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.spark_engine import spark_sql
from pipelines.settings import Settings
from tests.test_cli import assert_one_error_line, run_cli
from tests.test_spark import generated_arrivals, marts, outcome, quarantine, run, warehouse_bronze
from tests.workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]
SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
# The server's own zone, not UTC (nor is its default timestamp type zone-less): the sessions the
# pipeline opens must set theirs (dbt/profiles.yml, flows/spark_engine.SQL_CONFIG).
SERVER_ZONE = "America/Los_Angeles"
# The one class of Hive's hive-llap-common that Hive's function registry needs (its get_splits function
# names it) and the pyspark package leaves out (SPARK-51041; Spark's own Thrift server tests add the
# jar). Spark's Thrift server reaches the registry when a session's close finds no Hive client on its
# thread fit for the session (Hive's SessionState.close -> Hive.get -> FunctionRegistry.<clinit>): the
# Hive objects are shared between the server's threads, so whether one is fit depends on what the other
# sessions' statements did just before. Without the class that close fails with NoClassDefFoundError
# (the run fails), and Hive's registration stays under way for good, so a later close reaching it waits.
LLAP_SIGNABLE = "org/apache/hadoop/hive/llap/security/LlapSigner$Signable"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def thrift_server(tables: Path, folder: Path) -> Iterator[int]:
    """A Spark Thrift server keeping its tables in `tables`, its metastore and log in `folder`;
    its port."""
    spark = Path(importlib.metadata.distribution("pyspark").locate_file("pyspark"))  # not imported here
    port = free_port()
    folder.mkdir(parents=True)
    metastore = f"jdbc:derby:;databaseName={folder / 'metastore'};create=true"
    command = [
        str(spark / "bin" / "spark-submit"),
        *("--class", SERVER_CLASS, "--master", "local[2]"),
        *("--conf", f"spark.sql.warehouse.dir={tables}"),
        *("--conf", f"spark.hadoop.javax.jdo.option.ConnectionURL={metastore}"),
        *("--conf", "spark.ui.enabled=false", "--conf", f"spark.sql.session.timeZone={SERVER_ZONE}"),
        *("--driver-java-options", f"-Dderby.system.home={folder} -Duser.timezone={SERVER_ZONE}"),
        *("--driver-class-path", str(_llap_signable_jar(folder / "llap-signable.jar"))),
        *("--hiveconf", f"hive.server2.thrift.port={port}"),
        *("--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1"),
        "spark-internal",
    ]
    with open(folder / "server.log", "wb") as log:
        environment = {**os.environ, "SPARK_HOME": str(spark)}
        server = subprocess.Popen(command, env=environment, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Thrift server did not start in 180 s"
            time.sleep(1)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _llap_signable_jar(jar: Path) -> Path:
    """A jar with LLAP_SIGNABLE as an empty public interface, as Hive declares it (the registry only
    names it in get_splits' method signatures); written here, so no JDK compiler is needed."""

    def utf8(text: str) -> bytes:
        return b"\x01" + struct.pack(">H", len(text)) + text.encode()

    # constant pool: #1 this class's name, #2 this class, #3 java/lang/Object's name, #4 that class
    pool = [utf8(LLAP_SIGNABLE), b"\x07\x00\x01", utf8("java/lang/Object"), b"\x07\x00\x03"]
    public_interface = 0x0001 | 0x0200 | 0x0400
    class_file = (
        struct.pack(">IHHH", 0xCAFEBABE, 0, 52, len(pool) + 1)  # Java 8 class file version
        + b"".join(pool)
        + struct.pack(">HHHHHHH", public_interface, 2, 4, 0, 0, 0, 0)  # no interfaces, fields, methods
    )
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr(f"{LLAP_SIGNABLE}.class", class_file)
    return jar


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.timeout(2400)
def test_a_spark_thrift_server_builds_the_same_answers(prefect_env: dict, tmp_path: Path) -> None:
    source, arriving = generated_arrivals(tmp_path, 2_000, seed=5, files=2)
    duckdb_side = Workspace.create(tmp_path / "duckdb", arriving)
    thrift_side = Workspace.create(tmp_path / "thrift", arriving)
    spark_home = thrift_side.root / ".podcast.spark"

    with thrift_server(spark_home / "tables", tmp_path / "server") as port:
        thrift_env = {
            **prefect_env,
            "PODCAST_BRONZE_URL": (tmp_path / "lake").as_uri(),
            "PODCAST_SPARK_THRIFT_HOST": "127.0.0.1",
            "PODCAST_SPARK_THRIFT_PORT": str(port),
        }
        for part in sorted((source / "events").glob("part-*.jsonl")):  # files one by one
            shutil.copy(part, arriving / "events" / part.name)
            run(duckdb_side, prefect_env)
            run(thrift_side, thrift_env, "--engine", "spark")
            assert outcome(duckdb_side) == outcome(thrift_side)
            assert quarantine(duckdb_side) == quarantine(thrift_side)
        assert len(outcome(thrift_side)["answers"]) == 4

        # the models are the server's tables, the contract ran in the run's own (catalog-less)
        # session, and bronze is in the server's catalog as it is in the warehouse file
        settings = Settings(
            warehouse=thrift_side.warehouse,
            engine="spark",
            spark_thrift_host="127.0.0.1",
            spark_thrift_port=port,
        )
        with spark_sql(settings) as sql:
            models = {name for _, name, _ in sql("SHOW TABLES IN marts")}
            bronze = {
                name: (
                    [row[0] for row in sql(f"DESCRIBE bronze.`{name}`")],
                    sql(f"SELECT count(*) FROM bronze.`{name}`")[0][0],
                )
                for _, name, temporary in sql("SHOW TABLES IN bronze")
                if not temporary
            }
        assert {"fct_listening_events", "fct_listening_sessions"} <= models
        assert bronze == warehouse_bronze(thrift_side)
        assert marts(duckdb_side) == marts(thrift_side)
        assert not (spark_home / "metastore").exists()

        # answers without rows: Spark writes no file, the empty tables are made from the server's
        # DESCRIBE of them
        run(duckdb_side, prefect_env, "--as-of", "2000-01-01")
        run(thrift_side, thrift_env, "--engine", "spark", "--as-of", "2000-01-01")
        assert outcome(duckdb_side) == outcome(thrift_side)

        # a server keeping its tables elsewhere than the spark home is refused in one line, before
        # any build
        elsewhere = {**thrift_env, "PODCAST_SPARK_DIR": str(tmp_path / "another-home")}
        error = assert_one_error_line(run_cli(thrift_side, elsewhere, "--engine", "spark"), code=2)
        assert "keeps its tables in " in error and "start it with spark.sql.warehouse.dir=" in error, error

    # no server there: one line, no traceback
    shutil.copy(next((source / "events").glob("part-*.jsonl")), arriving / "events" / "again.jsonl")
    error = assert_one_error_line(run_cli(thrift_side, thrift_env, "--engine", "spark"))
    assert f"no session on the Spark Thrift server at 127.0.0.1:{port}" in error, error
