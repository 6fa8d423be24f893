"""What a record becomes in ``stoa.events``: ids that deduplicate, rows that keep the bytes."""

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from events.archive.rows import COLUMNS, Record, rows_of
from schemas import commands as c
from schemas import events as e
from schemas.presence import PresenceBatch, presence_event

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp() * 1000)


def row(record: Record) -> dict[str, object]:
    return dict(zip(COLUMNS, rows_of(record, NOW)[0], strict=True))


def test_an_event_keeps_its_envelope_and_its_exact_bytes() -> None:
    event = e.HandRaised(
        event_id=uuid.uuid4(),
        room_id="r1",
        actor_id="ann",
        seq=7,
        occurred_at=NOW,
        data=e.UserData(user_id="ann"),
    )
    payload = event.model_dump_json().encode()
    got = row(Record("stoa.room-events", 3, 41, b"r1", payload, STAMP))
    assert got["event_id"] == event.event_id and got["type"] == "HandRaised"
    assert (got["room_id"], got["actor_id"], got["seq"]) == ("r1", "ann", 7)
    assert got["data"] == '{"user_id":"ann"}' and got["occurred_at"] == NOW
    assert (got["partition"], got["offset"], got["key"]) == (3, 41, "r1")
    assert got["payload"] == payload and got["record"] == 1


def test_a_command_is_identified_by_its_command_id() -> None:
    command = c.RaiseHand(command_id=uuid.uuid4(), room_id="r1", actor_id="ann", issued_at=NOW)
    got = row(Record("stoa.commands", 0, 5, b"r1", command.model_dump_json().encode(), STAMP))
    assert got["event_id"] == command.command_id and got["type"] == "RaiseHand"
    assert got["occurred_at"] == NOW and got["seq"] is None


def test_a_presence_batch_is_one_record_row_and_one_row_per_listener_event() -> None:
    joins = tuple(presence_event("r1", f"u{i}", True, NOW) for i in range(3))
    batch = PresenceBatch(
        batch_id=uuid.uuid4(), edge_id="e", batch_seq=1, room_id="r1", events=joins
    )
    rows = [
        dict(zip(COLUMNS, r, strict=True))
        for r in rows_of(
            Record("stoa.presence", 0, 9, b"r1", batch.model_dump_json().encode(), STAMP), NOW
        )
    ]
    assert [r["record"] for r in rows] == [1, 0, 0, 0]
    assert rows[0]["event_id"] == batch.batch_id and rows[0]["type"] == "PresenceBatch"
    assert [r["event_id"] for r in rows[1:]] == [j.event_id for j in joins]
    assert {r["type"] for r in rows[1:]} == {"ListenerJoined"}
    assert all(r["payload"] == b"" for r in rows[1:])


def test_records_without_an_id_are_identified_by_position_and_content() -> None:
    first = Record("stoa.presence-counts", 1, 10, b"r1", b'{"room_id":"r1"}', STAMP)
    again = Record("stoa.presence-counts", 1, 10, b"r1", b'{"room_id":"r1"}', STAMP + 5)
    later = Record("stoa.presence-counts", 1, 11, b"r1", b'{"room_id":"r1"}', STAMP)
    assert row(first)["event_id"] == row(again)["event_id"]  # a redelivery collapses
    assert row(first)["event_id"] != row(later)["event_id"]  # a new record never does


def test_garbage_is_kept_as_an_undecodable_record() -> None:
    got = row(Record("stoa.room-events", 0, 2, b"r9", b"\xff\xfe not json", STAMP))
    assert got["type"] == "Undecodable" and got["room_id"] == "r9"
    assert got["payload"] == b"\xff\xfe not json" and got["record"] == 1


@given(
    topic=st.sampled_from(
        ["stoa.room-events", "stoa.presence", "stoa.commands", "stoa.dead-letter"]
    ),
    key=st.none() | st.binary(max_size=20),
    value=st.none() | st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
)
def test_any_bytes_become_rows_without_raising(
    topic: str, key: bytes | None, value: bytes | None
) -> None:
    rows = rows_of(Record(topic, 0, 0, key, value, STAMP), NOW)
    assert rows and all(len(r) == len(COLUMNS) for r in rows)
    assert rows[0][COLUMNS.index("payload")] == (value or b"")
