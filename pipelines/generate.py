"""Deterministic generator of realistic, dirty podcast listening logs and their reference CSVs.

    python -m pipelines.generate --events 20000 --out data/sample --files 4 --seed 42

Writes DIR/events/part-NNNNN.jsonl (NDJSON), DIR/users/users.csv, DIR/episodes/episodes.csv and
DIR/_manifest.json (how many rows of each dirt kind were written, for tests and benchmarks).

Listening is simulated per session (play, pause/seek, play, complete) with durations consistent
with the episode's length. Sessions are generated in vectorised chunks and streamed to disk, so
memory stays flat whatever the number of events. A share of rows (--dirty-rate) is made dirty in
every way real logs are; each dirty row carries exactly one kind of dirt.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EPOCH_START = np.datetime64("2024-01-01T00:00:00", "s")
EPOCH_END = np.datetime64("2024-07-01T00:00:00", "s")
SPAN_SECONDS = int((EPOCH_END - EPOCH_START) / np.timedelta64(1, "s"))
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "CA", "AU", "MX", "ES", "SE", "JP"]
COUNTRY_WEIGHTS = np.array([30, 12, 9, 7, 8, 9, 6, 5, 4, 4, 3, 3], dtype=float)
EVENT_TYPES = np.array(["play", "pause", "seek", "complete"])
PLAY, PAUSE, SEEK, COMPLETE, NONE = 0, 1, 2, 3, -1

# Session templates: event types in order; the last column says whether it ends completed.
TEMPLATES = np.array(
    [
        [PLAY, COMPLETE, NONE, NONE],
        [PLAY, PAUSE, PLAY, COMPLETE],
        [PLAY, SEEK, PLAY, COMPLETE],
        [PLAY, PAUSE, NONE, NONE],
        [PLAY, SEEK, PLAY, PAUSE],
        [PLAY, NONE, NONE, NONE],
    ]
)
TEMPLATE_WEIGHTS = np.array([0.30, 0.20, 0.15, 0.15, 0.10, 0.10])
TEMPLATE_COMPLETES = (TEMPLATES == COMPLETE).any(axis=1)

DIRT_KINDS = (
    "missing_user_id",
    "missing_episode_id",
    "bad_event_type",
    "bad_timestamp",
    "impossible_timestamp",
    "missing_duration",
    "bad_duration",
    "unexpected_duration",
    "duplicate",
    "orphan_user",
    "orphan_episode",
    "extra_fields",
    "not_json",
)
SESSIONS_PER_CHUNK = 50_000


@dataclass(frozen=True)
class Catalog:
    """The reference data events are drawn from."""

    n_users: int
    n_episodes: int
    episode_seconds: np.ndarray
    episode_release: np.ndarray  # seconds since EPOCH_START (negative: released before)
    user_weights: np.ndarray
    episode_weights: np.ndarray


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def write_reference(out: Path, n_events: int, rng: np.random.Generator) -> Catalog:
    """Write users.csv and episodes.csv sized to the number of events; return their catalog."""
    n_users = int(np.clip(n_events // 40, 50, 250_000))
    n_episodes = int(np.clip(n_events // 400, 30, 25_000))
    n_podcasts = max(3, n_episodes // 30)

    signup = np.datetime64("2022-01-01") + rng.integers(0, 900, n_users).astype("timedelta64[D]")
    countries = rng.choice(COUNTRIES, n_users, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
    (out / "users").mkdir(parents=True, exist_ok=True)
    with open(out / "users" / "users.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "signup_date", "country"])
        writer.writerows(
            zip(
                (f"user_{i}" for i in range(1, n_users + 1)),
                np.datetime_as_string(signup).tolist(),
                countries.tolist(),
                strict=True,
            )
        )

    podcast = rng.integers(1, n_podcasts + 1, n_episodes)
    release = rng.integers(-200 * 86400, SPAN_SECONDS - 7 * 86400, n_episodes)
    seconds = np.clip(rng.lognormal(np.log(2400), 0.5, n_episodes), 300, 14_400).astype(int)
    release_dates = np.datetime_as_string(EPOCH_START + release.astype("timedelta64[s]"), unit="D")
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    with open(out / "episodes" / "episodes.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["episode_id", "podcast_id", "title", "release_date", "duration_seconds"])
        for i in range(n_episodes):
            # Titles carry commas and quotes, as real ones do, so CSV quoting is exercised.
            title = f'Show {podcast[i]}, episode {i + 1}: "{_TOPICS[i % len(_TOPICS)]}"'
            writer.writerow([f"ep_{i + 1}", f"pod_{podcast[i]}", title, release_dates[i], seconds[i]])

    return Catalog(
        n_users=n_users,
        n_episodes=n_episodes,
        episode_seconds=seconds,
        episode_release=release,
        user_weights=_zipf_weights(n_users, 0.6, rng),
        episode_weights=_zipf_weights(n_episodes, 0.9, rng),
    )


_TOPICS = ["Origins", "The long game", "Q&A", "Deep dive", "Live", "Interview", "Recap"]


def simulate_sessions(
    n_sessions: int, window: tuple[int, int], catalog: Catalog, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Simulate listening sessions starting in `window` (seconds since EPOCH_START).

    Returns flat, time-ordered event columns: type code, user, episode, ts (s), duration (-1: none).
    """
    users = rng.choice(catalog.n_users, n_sessions, p=catalog.user_weights) + 1
    episodes = rng.choice(catalog.n_episodes, n_sessions, p=catalog.episode_weights)
    start = rng.integers(window[0], window[1], n_sessions)
    start = np.maximum(start, catalog.episode_release[episodes] + 3600)
    template = rng.choice(len(TEMPLATES), n_sessions, p=TEMPLATE_WEIGHTS)
    length = catalog.episode_seconds[episodes]

    completes = TEMPLATE_COMPLETES[template]
    fraction = np.where(completes, rng.uniform(0.85, 1.02, n_sessions), rng.uniform(0.03, 0.7, n_sessions))
    listened = np.maximum((fraction * length).astype(np.int64), 2)
    first = np.maximum((listened * rng.uniform(0.2, 0.8, n_sessions)).astype(np.int64), 1)
    second = np.maximum(listened - first, 1)
    gap = rng.integers(5, 1200, n_sessions)  # pause or seek before playing on

    kinds = TEMPLATES[template]  # (n, 4)
    offsets = np.zeros_like(kinds)
    durations = np.full_like(kinds, -1)
    single_segment = (kinds[:, 2] == NONE) | (kinds[:, 1] == COMPLETE)
    # event 0: play of the first segment (the whole listen when there is one segment)
    durations[:, 0] = np.where(single_segment, listened, first)
    # event 1: complete/pause/seek after the first segment
    offsets[:, 1] = np.where(single_segment, listened, first)
    durations[:, 1] = np.where(kinds[:, 1] == COMPLETE, listened, -1)
    # event 2: play again after a gap; event 3: complete (total listened) or pause
    offsets[:, 2] = offsets[:, 1] + gap
    durations[:, 2] = np.where(kinds[:, 2] == PLAY, second, -1)
    offsets[:, 3] = offsets[:, 2] + second
    durations[:, 3] = np.where(kinds[:, 3] == COMPLETE, listened, -1)

    mask = kinds != NONE
    events = {
        "type": kinds[mask],
        "user": np.repeat(users, mask.sum(axis=1)),
        "episode": np.repeat(episodes + 1, mask.sum(axis=1)),
        "ts": (start[:, None] + offsets)[mask],
        "duration": durations[mask],
    }
    order = np.argsort(events["ts"], kind="stable")
    return {name: column[order] for name, column in events.items()}


def format_lines(events: dict[str, np.ndarray], rng: np.random.Generator) -> list[bytes]:
    """Render clean events as NDJSON lines, with the harmless variety real clients produce."""
    ts_text = np.datetime_as_string(EPOCH_START + events["ts"].astype("timedelta64[s]"), unit="s")
    types = EVENT_TYPES[events["type"]].astype(object)
    n = len(ts_text)
    # ~0.5 % of clients send upper-case/padded types or a UTC 'Z' suffix: valid after normalising.
    odd_type = rng.random(n) < 0.005
    types[odd_type] = [f" {t.upper()}" for t in types[odd_type]]
    zulu = rng.random(n) < 0.005
    ts_text = ts_text.astype(object)
    ts_text[zulu] = [f"{t}Z" for t in ts_text[zulu]]
    lines = []
    for kind, user, episode, ts, duration in zip(
        types.tolist(),
        events["user"].tolist(),
        events["episode"].tolist(),
        ts_text.tolist(),
        events["duration"].tolist(),
        strict=True,
    ):
        tail = f', "duration": {duration}}}' if duration >= 0 else "}"
        lines.append(
            f'{{"event_type": "{kind}", "user_id": "user_{user}", "episode_id": "ep_{episode}", '
            f'"timestamp": "{ts}"{tail}'.encode()
        )
    return lines


class Dirtier:
    """Turns chosen clean lines into dirty ones, one dirt kind per line, and counts them."""

    def __init__(self, catalog: Catalog, rng: np.random.Generator) -> None:
        self.catalog = catalog
        self.rng = rng
        self.counts: Counter[str] = Counter()
        self.recent: deque[bytes] = deque(maxlen=2000)  # duplicates may come from earlier files

    def apply(self, lines: list[bytes], rate: float) -> list[bytes]:
        picks = np.flatnonzero(self.rng.random(len(lines)) < rate)
        kinds = self.rng.integers(0, len(DIRT_KINDS), len(picks))
        out = list(lines)
        for index, kind_index in zip(picks.tolist(), kinds.tolist(), strict=True):
            kind = DIRT_KINDS[kind_index]
            if kind == "duplicate" and len(lines) > 1:
                # A copy of an earlier line, often from an earlier chunk or file.
                pool = self.recent or [lines[index - 1]]
                out[index] = pool[int(self.rng.integers(len(pool)))]
            elif kind != "duplicate":
                out[index] = self._dirty(kind, json.loads(lines[index]))
            else:
                continue
            self.counts[kind] += 1
        self.recent.extend(lines[i] for i in self.rng.integers(0, len(lines), min(len(lines), 50)))
        return out

    def _dirty(self, kind: str, event: dict) -> bytes:
        rng = self.rng
        choice = int(rng.integers(0, 4))
        if kind == "missing_user_id":
            _blank(event, "user_id", choice)
        elif kind == "missing_episode_id":
            _blank(event, "episode_id", choice)
        elif kind == "bad_event_type":
            event["event_type"] = [None, "", "rewind", "stop"][choice]
        elif kind == "bad_timestamp":
            event["timestamp"] = [None, "malformed-date", "1999-12-31T23:00:00", "2099-01-01T00:00:00"][
                choice
            ]
        elif kind == "impossible_timestamp":
            # ISO-8601 in shape, but no such instant: what shifting a year of logs by a year does to
            # 29 February, and what broken clients send.
            day = str(event["timestamp"])[:10]
            event["timestamp"] = [
                "2023-02-29T08:15:00",
                f"{day[:8]}32T12:00:00",
                f"{day}T24:00:00",
                f"{day}T10:60:00Z",
            ][choice]
        elif kind == "missing_duration":
            event["event_type"] = ["play", "complete"][choice % 2]
            event.pop("duration", None)
        elif kind == "bad_duration":
            event["event_type"] = ["play", "complete"][choice % 2]
            event["duration"] = ["n/a", -int(rng.integers(1, 3000)), "12:30", 90_000][choice]
        elif kind == "unexpected_duration":
            event["event_type"] = ["pause", "seek"][choice % 2]
            event["duration"] = int(rng.integers(1, 3000))
        elif kind == "orphan_user":
            event["user_id"] = f"user_{self.catalog.n_users + 1 + int(rng.integers(0, 1000))}"
        elif kind == "orphan_episode":
            event["episode_id"] = f"ep_{self.catalog.n_episodes + 1 + int(rng.integers(0, 100))}"
        elif kind == "extra_fields":
            event["app_version"] = f"5.{choice}.{int(rng.integers(0, 10))}"
            if choice % 2:
                event["device"] = {"os": ["ios", "android"][choice // 2], "model": "x"}
        elif kind == "not_json":
            text = json.dumps(event)
            return [
                text[: len(text) // 2].encode(),  # truncated write
                b"<html>502 Bad Gateway</html>",
                text.replace('"user_id"', "user_id").encode(),
                text.encode()[:-12] + b"\xff\xfe\x00garbage",  # invalid UTF-8
            ][choice]
        return json.dumps(event).encode()


def _blank(event: dict, key: str, choice: int) -> None:
    if choice == 0:
        event.pop(key)
    else:
        event[key] = [None, "", "   ", None][choice]


def generate(
    out: Path,
    n_events: int,
    seed: int = 42,
    n_files: int = 4,
    dirty_rate: float = 0.02,
    window: tuple[float, float] = (0.0, 1.0),
) -> dict:
    """Write a complete dataset to `out`; return the manifest (also written to _manifest.json).

    `window` is the part of the six months the sessions start in, as shares of it: (0.99, 1) is
    the last 1 %, as the logs of the latest hours are (a session never starts before its episode's
    release, plus an hour, even when that is after the window)."""
    if n_events < 1 or n_files < 1 or not 0 <= dirty_rate <= 1:
        raise ValueError("events and files must be >= 1 and dirty-rate within [0, 1]")
    if not 0 <= window[0] < window[1] <= 1:
        raise ValueError("the window must be two shares of the six months, 0 <= start < end <= 1")
    rng = np.random.default_rng(seed)
    catalog = write_reference(out, n_events, rng)
    dirtier = Dirtier(catalog, rng)
    events_dir = out / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    for stale in events_dir.glob("part-*.jsonl"):
        stale.unlink()

    mean_events = float((TEMPLATES != NONE).sum(axis=1) @ TEMPLATE_WEIGHTS)
    written = 0
    file_bounds = np.linspace(window[0] * SPAN_SECONDS, window[1] * SPAN_SECONDS, n_files + 1).astype(
        np.int64
    )
    for file_index in range(n_files):
        target = n_events * (file_index + 1) // n_files - n_events * file_index // n_files
        chunks = max(1, int(np.ceil(target / mean_events / SESSIONS_PER_CHUNK)))
        chunk_bounds = np.linspace(file_bounds[file_index], file_bounds[file_index + 1], chunks + 1)
        remaining = target
        with open(events_dir / f"part-{file_index + 1:05d}.jsonl", "wb") as handle:
            for chunk in range(chunks):
                wanted = remaining // (chunks - chunk)
                # Session lengths vary: simulate with headroom, then keep exactly `wanted` lines.
                sessions = int(np.ceil(wanted / mean_events * 1.2)) + 10
                events = simulate_sessions(
                    sessions, (int(chunk_bounds[chunk]), int(chunk_bounds[chunk + 1])), catalog, rng
                )
                events = {name: column[:wanted] for name, column in events.items()}
                lines = format_lines(events, rng)
                lines = dirtier.apply(lines, dirty_rate)
                handle.write(b"\n".join(lines) + b"\n")
                remaining -= len(lines)
                written += len(lines)

    manifest = {
        "seed": seed,
        "events": written,
        "files": n_files,
        "users": catalog.n_users,
        "episodes": catalog.n_episodes,
        "dirty_rate": dirty_rate,
        "window": list(window),
        "dirt": {kind: dirtier.counts.get(kind, 0) for kind in DIRT_KINDS},
    }
    (out / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, required=True, help="number of event lines to write")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same bytes)")
    parser.add_argument("--files", type=int, default=4, help="number of NDJSON files")
    parser.add_argument("--dirty-rate", type=float, default=0.02, help="share of dirty rows (0-1)")
    args = parser.parse_args(argv)
    try:
        manifest = generate(args.out, args.events, args.seed, args.files, args.dirty_rate)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {manifest['events']:,} events in {args.files} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
