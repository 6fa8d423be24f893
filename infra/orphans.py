"""Children of a supervisor stop when it is gone, even if it was SIGKILLed.

``stoa up`` runs its children in their own sessions (so a terminal's Ctrl-C
reaches only the supervisor, which stops them in order). The price is that a
supervisor killed outright would leave them running, holding the chDB
directory and ports; so a supervised child watches its parent and stops
itself, through its own SIGTERM path, when the parent changes. A shutdown
that hangs (a library waiting on something that will never come) must not
leave an orphan either, so after ``GRACE`` seconds the process exits outright.
A process started by hand (``stoa worker``) has no supervisor and never does this.
"""

import os
import signal
import sys
import threading
import time

ENV = "STOA_SUPERVISOR_PID"
GRACE = 20.0
"""Seconds an orphan's own SIGTERM path may take before it exits without cleaning up."""


def supervised_env() -> dict[str, str]:
    """What a supervisor adds to a child's environment."""
    return {ENV: str(os.getpid())}


def watch_supervisor(interval: float = 1.0, grace: float = GRACE) -> None:
    """If started by a supervisor, SIGTERM ourselves once it is no longer our parent.

    A supervisor that died while we were still importing is gone already: the
    first check then fires at once.
    """
    supervisor = os.environ.pop(ENV, None)  # not inherited by anything we start
    if not supervisor:
        return

    def watch() -> None:
        while os.getppid() == int(supervisor):
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        sys.stderr.write(f"stoa: supervisor gone and no clean stop after {grace:g} s; exiting\n")
        sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="supervisor-watch").start()
