"""Benchmarks: they print figures and write bench/results/NAME.json; they assert nothing."""
