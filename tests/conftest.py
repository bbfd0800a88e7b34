import datetime as dt
from pathlib import Path

import pytest

from extractor import process_note

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DOS = dt.date(2026, 6, 15)


def code(text: str, **kwargs):
    """process_note with a fixed date of service, so results do not depend on today's date."""
    kwargs.setdefault("date_of_service", DOS)
    return process_note(text, **kwargs)


def lines(result) -> list[str]:
    """Claim lines as a coder writes them: CPT-MOD-MOD."""
    return ["-".join([ln.cpt, *ln.modifiers]) for ln in result.claim_lines]


def edit_rules(result, severity: str | None = None) -> set[str]:
    return {e.rule for e in result.edits if severity is None or e.severity == severity}


def gap_elements(result) -> set[str]:
    return {g.element for g in result.gaps}


@pytest.fixture(scope="session")
def real_notes_dir() -> Path:
    path = SHARED / "real-notes" / "mtsamples"
    if not path.is_dir():
        pytest.skip("../shared/real-notes is not beside this checkout")
    return path
