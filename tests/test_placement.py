"""Placement from relay load reports: leaves, load, liveness, failover order."""

from datetime import UTC, datetime, timedelta

from projections.placement import alive, leaves, place, remember, upstreams
from schemas.relay import RelayLoad

NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
ORIGIN = "http://mix:8000"


def relay(
    name: str,
    listeners: int = 0,
    upstream: str = ORIGIN,
    rooms: tuple[str, ...] = (),
    age: float = 0.2,
    capacity: int = 500,
) -> RelayLoad:
    return RelayLoad(
        relay_id=name,
        url=f"http://{name}:9000",
        upstream=upstream,
        listeners=listeners,
        capacity=capacity,
        rooms=rooms,
        reported_at=NOW - timedelta(seconds=age),
    )


def test_a_listener_goes_to_the_least_loaded_leaf() -> None:
    reports = [relay("a", 300), relay("b", 100), relay("c", 200)]
    assert [r.relay_id for r in place(reports, "room", NOW)] == ["b", "c", "a"]


def test_a_leaf_already_carrying_the_room_comes_first_unless_it_is_full() -> None:
    reports = [relay("a", 300, rooms=("room",)), relay("b", 100), relay("c", 500, rooms=("room",))]
    assert [r.relay_id for r in place(reports, "room", NOW)] == ["a", "b", "c"]


def test_relays_with_children_are_not_leaves() -> None:
    reports = [relay("top"), relay("leaf1", upstream="http://top:9000"), relay("leaf2", 10)]
    assert {r.relay_id for r in leaves(reports)} == {"leaf1", "leaf2"}
    assert "top" not in {r.relay_id for r in place(reports, "room", NOW)}


def test_a_relay_that_stopped_reporting_or_said_goodbye_is_not_used() -> None:
    stale = relay("stale", age=5.0)
    assert alive([stale, relay("fresh")], NOW) == [relay("fresh")]
    known = remember({}, relay("a"))
    gone = relay("a").model_copy(update={"state": "gone", "reported_at": NOW})
    assert remember(known, gone) == {}


def test_an_older_report_does_not_replace_a_newer_one() -> None:
    newer, older = relay("a", 10, age=0.1), relay("a", 99, age=1.0)
    assert remember(remember({}, newer), older)["a"].listeners == 10


def test_a_burst_of_placements_spreads_across_leaves() -> None:
    reports = [relay("a", 100), relay("b", 110)]
    assert place(reports, "room", NOW, placed={"a": 20})[0].relay_id == "b"


def test_excluded_urls_are_skipped() -> None:
    reports = [relay("a"), relay("b", 50)]
    assert [r.relay_id for r in place(reports, "room", NOW, exclude=["http://a:9000/"])] == ["b"]


def test_a_relay_fails_over_to_its_upstream_s_siblings_then_the_mixing_node() -> None:
    reports = [
        relay("p1"),
        relay("p2", 50),
        relay("p3", 10),
        relay("me", upstream="http://p1:9000"),
    ]
    order = upstreams(reports, "http://p1:9000", ORIGIN, NOW, me="http://me:9000")
    assert order == ["http://p1:9000", "http://p3:9000", "http://p2:9000", ORIGIN]
