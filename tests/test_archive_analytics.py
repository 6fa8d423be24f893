"""A scripted room, archived by the real sink into chDB, gives exactly the expected analytics.

The scenario (room R1, host h, topic "music", live 10:00-10:30):
  listeners  a 10:01-10:11 (10 min) and again 10:25-end (5 min)
             b 10:02, joins again 10:03 (no effect), leaves 10:07 (5 min)
             c 10:05, removed 10:08 (3 min)
             d 10:20-end (10 min)
             e leaves at 10:09 without having joined (no session)
  => 4 unique listeners, 33 listener-minutes, peak 3 (a, b, c at 10:05)
  hands      a 10:02, b 10:03, c 10:04; promoted: a 10:06, x (no hand) 10:07
  => 3 raises, 2 promotions, conversion 1/3; speakers h, a, x = 3
  moderation mute a 10:09, remove c 10:08, one report 10:10
One presence batch is appended twice (a redelivery) and must count once.
Room R2 (same host, topics music+tech) runs 10:00-10:10 with nobody listening.
"""

import asyncio
import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events.admin import ensure_topics
from events.archive.remote import RemoteArchive
from events.archive.store import Result
from infra.localstack import ROOT, Stack, stoa_env
from schemas import events as e
from schemas.deadletter import DeadLetter
from tests.archive_log import Record, RoomScript, produce_all

pytestmark = pytest.mark.slow
DAY = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def scenario() -> list[Record]:
    r1 = RoomScript("R1", DAY)
    r1.event(e.RoomCreated, 0, "h", e.RoomCreatedData(host_id="h", title="Jazz", topics=("music",)))
    r1.event(e.RoomStarted, 0, "h", e.NoData())
    r1.presence(1, "a", True).presence(2, "b", True).user_event(e.HandRaised, 2, "a", "a")
    r1.presence(3, "b", True, twice=True).user_event(e.HandRaised, 3, "b", "b")
    r1.user_event(e.HandRaised, 4, "c", "c").presence(5, "c", True)
    r1.user_event(e.SpeakerPromoted, 6, "h", "a").user_event(e.SpeakerPromoted, 7, "h", "x")
    r1.presence(7, "b", False).user_event(e.ParticipantRemoved, 8, "h", "c")
    r1.user_event(e.SpeakerMuted, 9, "h", "a").presence(9, "e", False)
    report = e.ReportFiledData(report_id=uuid.uuid4(), target_user_id="x", reason="spam")
    r1.event(e.ReportFiled, 10, "b", report).presence(11, "a", False)
    r1.presence(20, "d", True).presence(25, "a", True)
    r1.event(e.RoomEnded, 30, "h", e.RoomEndedData())
    r2 = RoomScript("R2", DAY)
    r2.event(
        e.RoomCreated,
        0,
        "h",
        e.RoomCreatedData(host_id="h", title="Gear", topics=("music", "tech")),
    )
    r2.event(e.RoomStarted, 0, "h", e.NoData()).event(e.RoomEnded, 10, "h", e.RoomEndedData())
    letter = DeadLetter(
        source_topic="stoa.room-events",
        partition=0,
        offset=7,
        consumer="test",
        error="not JSON",
        payload_b64=base64.b64encode(b"\xff").decode(),
        received_at=DAY,
    )
    garbage: Record = ("stoa.room-events", "R3", b"\xff\x00 not an event")
    dead: Record = ("stoa.dead-letter", "R3", letter.model_dump_json().encode())
    return r1.records + r2.records + [garbage, dead]


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, RemoteArchive]]:
    stack = Stack(data_dir=Path(tmp_path_factory.mktemp("archive"))).start_broker()
    try:
        asyncio.run(ensure_topics(stack.broker.bootstrap, 4))
        stack.start_archiver()
        archive = RemoteArchive(stack.archive_url())
        records = scenario()
        produce_all(stack.broker.bootstrap, records)
        wait_for_rows(
            archive, "SELECT count() FROM stoa.events FINAL WHERE record = 1", len(set(records))
        )
        yield stack, archive
    finally:
        stack.stop()


def wait_for_rows(archive: RemoteArchive, sql: str, expected: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = archive.query(sql).rows[0][0]
        if seen >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"archive has {seen} rows, expected {expected}")


def one(result: Result) -> dict[str, Any]:
    assert len(result.rows) == 1, result.rows
    return dict(zip(result.columns, result.rows[0], strict=True))


def test_room_summary_numbers(archived: tuple[Stack, RemoteArchive]) -> None:
    _, archive = archived
    r1 = one(archive.query("SELECT * FROM stoa.room_summary WHERE room_id = 'R1'"))
    assert r1["title"] == "Jazz" and r1["host_id"] == "h" and r1["topics"] == ["music"]
    assert r1["duration_seconds"] == 1800
    assert r1["unique_listeners"] == 4
    assert r1["listener_minutes"] == pytest.approx(33.0, abs=1e-9)
    assert r1["peak_listeners"] == 3
    assert r1["speakers"] == 3
    assert (r1["hand_raises"], r1["promotions"], r1["hand_raisers"]) == (3, 2, 3)
    assert r1["promoted_after_hand"] == 1
    assert r1["hand_conversion"] == pytest.approx(1 / 3)
    assert (r1["mutes"], r1["removals"], r1["reports"]) == (1, 1, 1)
    r2 = one(archive.query("SELECT * FROM stoa.room_summary WHERE room_id = 'R2'"))
    assert r2["duration_seconds"] == 600 and r2["listener_minutes"] == 0
    assert r2["hand_conversion"] is None


def test_sessions_are_clipped_and_deduplicated(archived: tuple[Stack, RemoteArchive]) -> None:
    _, archive = archived
    sessions = archive.query(
        "SELECT user_id, dateDiff('second', joined_at, left_at) FROM stoa.listener_sessions "
        "WHERE room_id = 'R1' ORDER BY user_id, joined_at"
    ).rows
    assert sessions == [("a", 600), ("a", 300), ("b", 300), ("c", 180), ("d", 600)]
    batches = archive.query(
        "SELECT count() FROM stoa.events FINAL WHERE topic = 'stoa.presence' AND record = 1"
    )
    assert batches.rows[0][0] == 9  # 10 records appended, one of them twice


def test_topic_host_and_moderation_views(archived: tuple[Stack, RemoteArchive]) -> None:
    _, archive = archived
    music = one(archive.query("SELECT * FROM stoa.topic_daily WHERE topic = 'music'"))
    assert str(music["day"]) == "2026-11-01"
    assert (music["rooms"], music["listeners"], music["top_peak"]) == (2, 4, 3)
    assert music["listener_minutes"] == pytest.approx(33.0)
    tech = one(archive.query("SELECT rooms, listeners FROM stoa.topic_daily WHERE topic = 'tech'"))
    assert tech == {"rooms": 1, "listeners": 0}
    host = one(archive.query("SELECT * FROM stoa.host_history WHERE host_id = 'h'"))
    assert (host["rooms"], host["seconds_live"], host["listeners"], host["best_peak"]) == (
        2,
        2400,
        4,
        3,
    )
    moderation = one(archive.query("SELECT * FROM stoa.moderation_daily"))
    assert (moderation["reports"], moderation["mutes"], moderation["removals"]) == (1, 1, 1)
    assert moderation["dead_letters"] == 1
    reasons = archive.query("SELECT reason, reports FROM stoa.report_reasons").rows
    assert reasons == [("spam", 1)]


def test_every_record_is_kept_with_its_bytes(archived: tuple[Stack, RemoteArchive]) -> None:
    _, archive = archived
    garbage = one(
        archive.query(
            "SELECT type, key, record FROM stoa.events FINAL "
            "WHERE topic = 'stoa.room-events' AND type = 'Undecodable'"
        )
    )
    assert garbage == {"type": "Undecodable", "key": "R3", "record": 1}
    seqs = archive.query(
        "SELECT groupArray(seq) FROM (SELECT seq FROM stoa.events FINAL "
        "WHERE room_id = 'R1' AND topic = 'stoa.room-events' ORDER BY seq)"
    ).rows[0][0]
    assert seqs == list(range(1, 12))


def sql(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "sql", *args],
        cwd=ROOT,
        env=stoa_env(stack.data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_stoa_sql_formats(archived: tuple[Stack, RemoteArchive]) -> None:
    stack, _ = archived
    query = "SELECT room_id, peak_listeners FROM stoa.room_summary ORDER BY room_id"
    as_json = sql(stack, "--format", "json", query)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"room_id": "R1", "peak_listeners": 3},
        {"room_id": "R2", "peak_listeners": 0},
    ]
    as_csv = sql(stack, "--format", "csv", query)
    assert as_csv.stdout.splitlines() == ["room_id,peak_listeners", "R1,3", "R2,0"]
    table = sql(stack, query)
    assert "R1" in table.stdout and "2 rows" in table.stdout
    bad = sql(stack, "SELECT nope FROM stoa.nothing")
    assert bad.returncode == 1 and "query failed" in bad.stdout
    vandal = sql(stack, "DROP TABLE stoa.events")  # analysts read; they cannot write or drop
    assert vandal.returncode == 1 and "query failed" in vandal.stdout
    assert sql(stack, "SELECT count() FROM stoa.events", "--format", "csv").stdout.strip() != "0"


def test_replay_from_archive_needs_no_broker(archived: tuple[Stack, RemoteArchive]) -> None:
    stack, _ = archived
    stack.stop()  # archiver and broker gone: the chDB directory is all there is
    replay = subprocess.run(
        [sys.executable, "-m", "infra.cli", "replay", "--from-archive", "--room", "R1"],
        cwd=ROOT,
        env=stoa_env(stack.data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    state = json.loads(replay.stdout)
    assert state["status"] == "ended" and state["version"] == 11
    assert "c" in state["removed_ids"] and "a" in state["muted_ids"]
    direct = sql(
        stack,
        "--format",
        "json",
        "SELECT peak_listeners FROM stoa.room_summary WHERE room_id = 'R1'",
    )  # no archiver: chDB opened directly, read-only
    assert direct.returncode == 0 and json.loads(direct.stdout) == [{"peak_listeners": 3}]
    assert sql(stack, "DROP TABLE stoa.events").returncode == 1
