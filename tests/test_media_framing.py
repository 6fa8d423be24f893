"""The WebSocket listen framing and the mixing-mode rule, as pure functions."""

import json

import pytest

from media.listen import (
    HEADER,
    FramingError,
    OpusRecord,
    decode_message,
    encode_record,
    encode_records,
    room_message,
)
from media.room import CLIENT_MIX_MAX_SPEAKERS, mixing_mode


def test_a_record_is_kind_seq_capture_time_length_payload_big_endian() -> None:
    data = encode_record(7, 1_700_000_000_123_456, b"\xfc\x01\x02")
    assert data[:1] == b"\x01"
    assert data[1:5] == (7).to_bytes(4, "big")
    assert data[5:13] == (1_700_000_000_123_456).to_bytes(8, "big")
    assert data[13:15] == (3).to_bytes(2, "big")
    assert data[15:] == b"\xfc\x01\x02" and HEADER.size == 15


def test_several_records_in_one_message_round_trip() -> None:
    records = [OpusRecord(i, 1000 * i, bytes([i]) * (i + 1)) for i in range(5)]
    assert decode_message(encode_records(records)) == records


def test_sequence_numbers_wrap_at_32_bits() -> None:
    assert decode_message(encode_record(2**32 + 5, 1, b"x"))[0].seq == 5


def test_unknown_record_kinds_are_skipped() -> None:
    unknown = HEADER.pack(9, 1, 2, 3) + b"abc"
    assert decode_message(unknown + encode_record(4, 5, b"op")) == [OpusRecord(4, 5, b"op")]


@pytest.mark.parametrize("cut", [1, 14, 16])
def test_a_truncated_message_is_a_framing_error(cut: int) -> None:
    data = encode_record(1, 2, b"abc")
    with pytest.raises(FramingError):
        decode_message(data[: len(data) - cut] if cut < 15 else data[:cut])


def test_room_state_is_a_json_text_message() -> None:
    message = json.loads(room_message({"room_id": "r1", "status": "live", "version": 3}))
    assert message == {"type": "room", "room_id": "r1", "status": "live", "version": 3}


def test_mixing_is_server_side_unless_a_listener_asks_and_the_room_is_small() -> None:
    assert mixing_mode(3, 0)[0] == "server"
    assert mixing_mode(CLIENT_MIX_MAX_SPEAKERS, 1)[0] == "client"
    mode, reason = mixing_mode(CLIENT_MIX_MAX_SPEAKERS + 1, 2)
    assert mode == "server" and "exceed" in reason
