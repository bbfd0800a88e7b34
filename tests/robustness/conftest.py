"""Shared helpers of the robustness suite (tests/robustness/): limits, fuzzing, privacy, artifacts."""

import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the main suite's conftest helpers

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


@pytest.fixture
def marker() -> str:
    """A made-up patient name that must never leave the note it was written in."""
    return "Zebulon Quillfeather"
