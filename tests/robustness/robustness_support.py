"""Shared helpers of the robustness suite (tests/robustness/): limits, fuzzing, privacy, artifacts.

Not named conftest.py: the main suite imports helpers with ``from conftest import ...``, and a second
module of that name would shadow it."""

import signal
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def watchdog(seconds: int):
    """Fail (instead of hanging the suite) when a call does not finish within ``seconds``.

    Not a speed target: the bound is 10-50x the measured time, so it trips only on a hang or on
    super-linear blow-up (a quadratic scope search once took 97 s on a 180 kB note)."""

    def expired(signum, frame):
        raise TimeoutError(f"did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

#: A made-up patient name that must never leave the note it was written in.
MARKER = "Zebulon Quillfeather"
