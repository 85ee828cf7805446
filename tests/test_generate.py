"""The sample generator: deterministic, realistic, and dirty in every documented way."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.generate import DIRT_KINDS, generate, main


def _digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            sha.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    return out, generate(out, 20_000, seed=7, n_files=3, dirty_rate=0.05)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", 3000, seed=1, n_files=2)
    generate(tmp_path / "b", 3000, seed=1, n_files=2)
    generate(tmp_path / "c", 3000, seed=2, n_files=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_writes_exactly_the_requested_events_in_k_files(sample) -> None:
    out, manifest = sample
    files = sorted((out / "events").glob("*.jsonl"))
    assert len(files) == 3
    assert sum(len(f.read_bytes().splitlines()) for f in files) == 20_000 == manifest["events"]


def test_every_kind_of_dirt_is_present_and_counted(sample) -> None:
    out, manifest = sample
    assert set(manifest["dirt"]) == set(DIRT_KINDS)
    assert all(count > 0 for count in manifest["dirt"].values()), manifest["dirt"]
    lines = [line for f in sorted((out / "events").glob("*.jsonl")) for line in f.read_bytes().splitlines()]
    not_json = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            not_json += 1
            continue
        assert isinstance(record, dict)
    assert not_json == manifest["dirt"]["not_json"]
    # duplicates are exact copies of other lines
    assert len(lines) - len(set(lines)) >= manifest["dirt"]["duplicate"]


def _real_2024_instant(text) -> bool:
    try:
        return datetime.fromisoformat(text).year == 2024
    except (TypeError, ValueError):
        return False


def test_clean_events_are_plausible(sample) -> None:
    out, _ = sample
    episodes = {
        row["episode_id"]: int(row["duration_seconds"])
        for row in csv.DictReader(open(out / "episodes" / "episodes.csv", newline=""))
    }
    users = {row["user_id"]: row for row in csv.DictReader(open(out / "users" / "users.csv", newline=""))}
    assert len({u["country"] for u in users.values()}) >= 5
    kinds, months, ok = set(), set(), 0
    for line in (out / "events" / "part-00001.jsonl").read_bytes().splitlines()[:2000]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        clean_keys = {"event_type", "user_id", "episode_id", "timestamp"}
        if str(record.get("event_type")).strip().lower() in ("play", "complete"):
            clean_keys.add("duration")
        duration = record.get("duration")
        if (
            set(record) != clean_keys
            or str(record["event_type"]).strip().lower() not in ("play", "pause", "seek", "complete")
            or record.get("episode_id") not in episodes
            or record.get("user_id") not in users
            or not (duration is None or (isinstance(duration, int) and 0 < duration <= 86_400))
            or not _real_2024_instant(record.get("timestamp"))
        ):
            continue  # one of the dirty rows
        kinds.add(record["event_type"].strip().lower())
        months.add(record["timestamp"][:7])
        if record["event_type"] == "complete":
            # a completion listens to most of the episode, never wildly more
            length = episodes[record["episode_id"]]
            assert 0.8 * length <= duration <= 1.05 * length
        ok += 1
    assert kinds == {"play", "pause", "seek", "complete"}
    assert ok > 1500 and len(months) >= 2


def test_a_window_puts_the_sessions_in_that_part_of_the_six_months(tmp_path: Path) -> None:
    """The last 1 % of the six months (2024-01-01 to 2024-07-01) starts on 2024-06-29 at 04:19:12."""
    generate(tmp_path, 3000, seed=1, n_files=2, window=(0.99, 1.0))
    instants = []
    for path in sorted((tmp_path / "events").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                moment = datetime.fromisoformat(json.loads(line)["timestamp"])
            except (ValueError, TypeError, KeyError):
                continue  # one of the dirty rows
            moment = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
            if moment.year == 2024:  # not one of the far-off instants of the dirt
                instants.append(moment)
    assert len(instants) > 2500
    assert min(instants) >= datetime(2024, 6, 29, 4, 19, 12)
    with pytest.raises(ValueError, match="window"):
        generate(tmp_path / "bad", 10, window=(0.5, 0.5))


def test_cli_rejects_bad_arguments_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--events", "0", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
