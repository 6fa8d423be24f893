"""Wrapping counters (RTP sequence numbers and timestamps, listen-protocol seqs), in one place.

Every counter on the wire wraps: RTP sequence numbers at 2**16, RTP
timestamps and the listen protocol's ``seq`` at 2**32. Code that orders them
unwraps against the newest value seen; written twice, that arithmetic drifts.
"""

from typing import Final

MOD16: Final = 1 << 16
MOD32: Final = 1 << 32


def unwrap(value: int, reference: int | None, modulus: int) -> int:
    """The unwrapped number congruent to ``value`` (mod ``modulus``) closest to ``reference``.

    With no reference yet, the value itself.
    """
    value %= modulus
    if reference is None:
        return value
    delta = (value - reference) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return reference + delta
