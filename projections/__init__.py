"""The functional core: pure, deterministic folds over events.

Nothing here performs I/O or imports ``streams``, ``api`` or ``media``; the
same functions run in the live agents, in ``stoa replay`` and in the tests.
"""
