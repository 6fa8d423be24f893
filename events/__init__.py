"""The log: topics, producing, consuming, dead letters, and its archive.

The embedded broker differs from Kafka in a few ways (no idempotent producers,
under-reported end offsets); each difference is handled once, in here, so the
rest of Stoa reads and writes the same way on either.
"""
