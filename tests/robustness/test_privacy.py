"""Note text is protected health information: with logging at DEBUG, a marker name written in the notes
appears in no log record, no warning, no error message and no exception — on success and on every refusal.
(The batch and app suites check their own error records and stores.)"""

import logging
import subprocess
import sys
import warnings

import pytest

from extractor import InputError, process_note
from extractor.pipeline import make_input, process_notes
from extractor.schema import MAX_FACTS, MAX_NOTE_CHARS
from robustness_support import MARKER, REPO

NOTE = (f"Patient: {MARKER}, DOB 01/02/1950.\nPROCEDURE: Bilateral L4-5 and L5-S1 facet joint injections under "
        f"fluoroscopy.\n{MARKER} tolerated 1 mL 0.5% bupivacaine with 10 mg triamcinolone per joint.\n"
        f"HISTORY: {MARKER} has had axial low back pain for 2 years despite physical therapy.")


class _Everything(logging.Handler):
    """Keeps every record, formatted with its arguments and any exception text."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.formatted: list[str] = []

    def emit(self, record):
        self.formatted.append(logging.Formatter("%(name)s %(message)s %(exc_text)s").format(record))


@pytest.fixture
def all_logs():
    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):  # libraries that set their own levels
        logging.getLogger(name).setLevel(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield handler.formatted, caught
    root.removeHandler(handler)
    root.setLevel(old_level)


def _assert_clean(texts):
    leaked = [t for t in texts if MARKER in t or MARKER.split()[1] in t]
    assert not leaked, f"{len(leaked)} message(s) contain the marker"


def test_coding_notes_logs_nothing_of_their_text(all_logs):
    records, caught = all_logs
    result = process_note(NOTE, date_of_service="2026-06-15", note_id="n1")
    assert [ln.cpt for ln in result.claim_lines] == ["64493", "64494"]  # the notes were really coded
    batch = list(process_notes([make_input(NOTE, note_id=f"n{i}") for i in range(5)]))
    assert len(batch) == 5
    logging.getLogger("facetcoder.test").debug("a record made during the test")  # the handler works
    assert records
    _assert_clean(records)
    _assert_clean(str(w.message) for w in caught)


@pytest.mark.parametrize("bad", [
    {"text": NOTE + "x" * MAX_NOTE_CHARS},
    {"text": NOTE + " L4-5" * (MAX_FACTS + 1)},
    {"text": NOTE, "date_of_service": f"{MARKER} 2026"},
    {"text": NOTE, "setting": f"{MARKER}'s garage"},
    {"text": NOTE, "claim": MARKER},
    {"text": NOTE, "abn_on_file": MARKER},
    {"text": NOTE, "note_id": 7},
])
def test_refusals_name_the_problem_not_the_note(all_logs, bad):
    records, caught = all_logs
    text = bad.pop("text")
    with pytest.raises(InputError) as info:
        process_note(text, **bad)
    message = str(info.value)
    assert message and len(message) < 300
    _assert_clean([message, repr(info.value), *records, *(str(w.message) for w in caught)])
    # the refusal does not chain the original pydantic error, whose text repeats the input
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_the_cli_prints_no_note_text_on_errors_or_in_its_summary(tmp_path):
    oversize = tmp_path / "oversize.txt"
    oversize.write_text(NOTE + "y" * MAX_NOTE_CHARS)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(NOTE.encode("utf-8") + b"\xff")
    run = subprocess.run([sys.executable, "-m", "extractor.cli", "code", str(oversize), str(latin),
                          "--date", "2026-06-15"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 2
    _assert_clean([run.stdout, run.stderr])


def test_the_text_view_shows_evidence_only_where_it_was_asked_for(tmp_path):
    """``facetcoder code`` is asked to show evidence: quotes appear, but only quotes of facts, never the
    patient line."""
    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    run = subprocess.run([sys.executable, "-m", "extractor.cli", "code", str(note), "--date", "2026-06-15"],
                         capture_output=True, text=True, timeout=120, cwd=REPO, env={"COLUMNS": "200",
                                                                                  "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-500:]
    assert "64493" in run.stdout
    assert "DOB" not in run.stdout
