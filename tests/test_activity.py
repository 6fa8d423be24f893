"""Voice activity with hysteresis: no flapping on a click, a stop only after the hang time."""

from media.activity import ActivityChange, ActivityTracker

STEP = 0.02


def feed(
    tracker: ActivityTracker, levels: list[dict[str, float]], start: int = 0
) -> list[ActivityChange]:
    changes: list[ActivityChange] = []
    for i, frame in enumerate(levels, start):
        changes += tracker.update(frame, round(i * STEP, 6))
    return changes


def test_two_loud_frames_start_talking_at_the_first_one() -> None:
    tracker = ActivityTracker()
    assert tracker.update({"ann": -20.0}, 0.0) == []
    assert tracker.update({"ann": -22.0}, 0.02) == [ActivityChange("ann", True, 0.0, -22.0)]
    assert tracker.talking() == {"ann"}


def test_a_single_loud_frame_does_not_start_talking() -> None:
    tracker = ActivityTracker()
    frames = [{"ann": -10.0}, {"ann": -70.0}, {}, {"ann": -10.0}, {"ann": -60.0}] * 10
    assert feed(tracker, frames) == []
    assert tracker.talking() == frozenset()


def test_levels_between_the_thresholds_neither_start_nor_stop() -> None:
    tracker = ActivityTracker(start_dbfs=-40.0, stop_dbfs=-50.0)
    assert feed(tracker, [{"ann": -45.0}] * 50) == []
    changes = feed(tracker, [{"ann": -30.0}] * 2 + [{"ann": -45.0}] * 100, start=50)
    assert changes == [ActivityChange("ann", True, 1.0, -30.0)]


def test_talking_stops_after_the_hang_time_below_the_stop_threshold() -> None:
    tracker = ActivityTracker(hang_seconds=0.5)
    feed(tracker, [{"ann": -20.0}] * 5)  # loud until 0.08 s
    quiet = feed(tracker, [{"ann": -70.0}] * 24, start=5)  # up to 0.56 s: within the hang
    assert quiet == []
    assert tracker.update({"ann": -70.0}, 0.58) == [ActivityChange("ann", False, 0.08, -70.0)]
    assert tracker.talking() == frozenset()


def test_a_pause_shorter_than_the_hang_keeps_talking() -> None:
    tracker = ActivityTracker(hang_seconds=0.5)
    frames = ([{"ann": -20.0}] * 10 + [{}] * 20) * 5  # 400 ms pauses between phrases
    assert feed(tracker, frames) == [ActivityChange("ann", True, 0.0, -20.0)]


def test_a_speaker_missing_from_the_levels_counts_as_silent() -> None:
    tracker = ActivityTracker(hang_seconds=0.1)
    feed(tracker, [{"ann": -20.0, "bob": -20.0}] * 3)
    changes = feed(tracker, [{"bob": -20.0}] * 10, start=3)
    assert changes == [ActivityChange("ann", False, 0.04, None)]
    assert tracker.talking() == {"bob"}


def test_speakers_change_independently_and_in_a_stable_order() -> None:
    tracker = ActivityTracker()
    assert tracker.update({"bob": -20.0, "ann": -20.0}, 0.0) == []
    assert tracker.update({"bob": -20.0, "ann": -20.0}, 0.02) == [
        ActivityChange("ann", True, 0.0, -20.0),
        ActivityChange("bob", True, 0.0, -20.0),
    ]
