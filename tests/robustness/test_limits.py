"""Every documented limit gives a clear error; pathological notes finish in bounded time."""

import subprocess
import sys

import pytest

from robustness_support import REPO, watchdog
from extractor import InputError, process_note, spine
from extractor.schema import MAX_FACTS, MAX_NOTE_CHARS

DOS = "2026-06-15"
VALID_JOINTS = {j.name for j in spine.all_joints()}

# Each input sits just under MAX_NOTE_CHARS and stresses one part of the pipeline.
PATHOLOGICAL = {
    "a wall of digits": "7" * (MAX_NOTE_CHARS - 10),
    "spaced numbers": " ".join(["20260615"] * 22_000),
    "one endless sentence of negations": "no " * 66_000 + "bilateral L4-5 facet injection",
    "header after header": "HISTORY:\n" * 22_000,
    "one endless line": "pain " * 39_000,
    "control and bidi characters": "\u202e\u2066\u0000\u0007\u200b\ufeff\x1b[31m" * 18_000,
    "unbalanced brackets and quotes": "(((\"[[{{" * 24_000,
    "unicode soup": "\u0301\u0336ñ𝕃④⁻⁵ 🦴" * 18_000,
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_note_finishes_with_a_result(name):
    text = PATHOLOGICAL[name]
    assert len(text) <= MAX_NOTE_CHARS
    with watchdog(60):
        result = process_note(text, date_of_service=DOS)
    assert {lv.joint for lv in result.extraction.levels} <= VALID_JOINTS
    for m in result.extraction.mentions:
        assert 0 <= m.start <= m.end <= len(text)


def test_negations_before_a_real_procedure_are_scoped_not_global():
    """The long negation run must not reach a procedure in a later sentence."""
    text = "no " * 5_000 + ".\nBilateral L4-5 facet joint injection under fluoroscopy with bupivacaine."
    with watchdog(60):
        result = process_note(text, date_of_service=DOS)
    assert [(lv.joint, lv.side) for lv in result.extraction.levels] == [("L4-L5", "bilateral")]


@pytest.mark.parametrize("unit", ["L4-5 ", "Bilateral L4-5 and L5-S1 facet joint injections under fluoroscopy. ",
                                  "PROCEDURE: right C5-6 medial branch block.\n"])
def test_too_many_facts_is_a_clear_input_error(unit):
    text = unit * (MAX_FACTS + 10)
    text = text[:MAX_NOTE_CHARS]
    with watchdog(60), pytest.raises(InputError, match=r"matched facts .* the limit is 2,000"):
        process_note(text, date_of_service=DOS)


def test_a_note_just_under_the_fact_limit_is_coded():
    unit = "Right L4-5 facet. "
    text = "Fluoroscopically guided diagnostic lumbar facet joint injection.\n" + unit * (MAX_FACTS // 4)
    with watchdog(60):
        result = process_note(text, date_of_service=DOS)
    assert result.extraction.procedure == "facet_joint_injection"


def test_oversize_note_is_refused_before_any_work():
    with watchdog(5), pytest.raises(InputError, match=r"1,000,000 characters; the limit is 200,000"):
        process_note("1" * 1_000_000)


def test_a_megabyte_file_and_a_non_utf8_file_on_the_cli(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("8" * 1_000_000)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Bilateral L4-5 facet injection, Mr. Muñoz".encode("latin-1"))
    ok = tmp_path / "ok.txt"
    ok.write_text("Bilateral L4-5 facet joint injection under fluoroscopy.")
    run = subprocess.run([sys.executable, "-m", "extractor.cli", "code", str(big), str(ok), "--format", "json",
                          "--date", DOS], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 2
    assert "big.txt: note text has 1,000,000 characters; the limit is 200,000" in run.stderr
    assert '"64493"' in run.stdout  # the good note after the bad one is still coded
    run = subprocess.run([sys.executable, "-m", "extractor.cli", "code", str(latin), str(tmp_path / "gone.txt"),
                          str(ok)], capture_output=True,
                         text=True, timeout=120, cwd=REPO)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [f"{latin}: not UTF-8 text (invalid byte at offset 38)",
                                       f"{tmp_path / 'gone.txt'}: no such file"]
    assert "64493" in run.stdout
