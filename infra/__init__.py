"""Launchers, settings and the ``stoa`` command: how the pieces are started."""
