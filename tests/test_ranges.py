"""Byte ranges as players send them (RFC 9110 §14): what is served, and what is refused."""

import pytest

from api.ranges import ByteRange, RangeNotSatisfiable, select

SIZE = 1000
ETAG = "abc-1"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, ByteRange(0, 1000, partial=False)),
        ("bytes=0-", ByteRange(0, 1000, partial=True)),
        ("bytes=0-0", ByteRange(0, 1, partial=True)),
        ("bytes=100-199", ByteRange(100, 200, partial=True)),
        ("bytes=900-5000", ByteRange(900, 1000, partial=True)),  # clipped to the end
        ("bytes=-100", ByteRange(900, 1000, partial=True)),  # the last 100 bytes
        ("bytes=-5000", ByteRange(0, 1000, partial=True)),
        ("bytes=999-", ByteRange(999, 1000, partial=True)),
    ],
)
def test_a_range_selects_exactly_those_bytes(header: str | None, expected: ByteRange) -> None:
    assert select(header, None, SIZE, ETAG) == expected


@pytest.mark.parametrize(
    "header",
    ["bytes=1000-", "bytes=2000-3000", "bytes=5-1", "bytes=-0", "bytes=-", "bytes=a-b",
     "items=0-1", "bytes=0-1,5-6", "0-100"],
)  # fmt: skip
def test_a_malformed_or_unsatisfiable_range_is_refused(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        select(header, None, SIZE, ETAG)


def test_if_range_with_the_current_etag_keeps_the_range_and_a_stale_one_gets_everything() -> None:
    assert select("bytes=10-19", f'"{ETAG}"', SIZE, ETAG) == ByteRange(10, 20, partial=True)
    assert select("bytes=10-19", '"old"', SIZE, ETAG) == ByteRange(0, SIZE, partial=False)


def test_content_range_names_the_last_byte_inclusively() -> None:
    assert ByteRange(100, 200, partial=True).content_range(SIZE) == "bytes 100-199/1000"
