"""Wrapping counters unwrap to the nearest value, across the wrap in both directions."""

from hypothesis import given
from hypothesis import strategies as st

from media.wrap import MOD16, MOD32, unwrap


def test_without_a_reference_the_value_is_taken_as_it_is() -> None:
    assert unwrap(65535, None, MOD16) == 65535


def test_a_counter_that_wraps_keeps_counting_up() -> None:
    assert unwrap(2, 65534, MOD16) == 65538
    assert unwrap(5, MOD32 - 1, MOD32) == MOD32 + 5


def test_a_late_value_from_before_the_wrap_stays_behind() -> None:
    assert unwrap(65533, 65538, MOD16) == 65533


@given(st.integers(0, 10**12), st.integers(-(MOD16 // 2) + 1, MOD16 // 2 - 1))
def test_the_nearest_congruent_value_is_found(reference: int, step: int) -> None:
    assert unwrap((reference + step) % MOD16, reference, MOD16) == reference + step
