"""Fuzzing the library's entry points with hypothesis: ``process_note`` and ``spine``.

Runs are derandomised (the same examples on every CI run, so a red run can be replayed); inputs that once
broke something stay as ``@example`` regression cases. The batch readers are fuzzed in
``test_readers_fuzz.py``."""

import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from extractor import InputError, process_note, spine
from extractor.schema import FACET_PROCEDURES, MAX_NOTE_CHARS
from robustness_support import watchdog

VALID_JOINTS = {j.name for j in spine.all_joints()}
FUZZ = settings(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of real notes, layouts and hostile characters, glued in random order and numbers.
PIECES = [
    "PROCEDURE:", "PROCEDURE PERFORMED:,", "HISTORY:", "PLAN:", "ADDENDUM (same day):", "IMPRESSION:", "\n", "\n\n",
    "•", "-", "1.", "bilateral", "B/L", "left", "rt", "L4-5", "L5-S1", "L5S1", "C2-3", "C7-T1", "T12-L1", "L3, L4 and L5",
    "medial branches", "dorsal ramus", "third occipital nerve", "facet joint injection", "MBB", "RFA", "epidural",
    "under fluoroscopy", "CT guidance", "ultrasound-guided", "no fluoroscopy", "prior", "will consider", "denies",
    "0.5% bupivacaine 1 mL", "Kenalog 40 mg", "Omnipaque", "M47.816", "spondylosis", "diagnostic", "therapeutic",
    "repeated on the other side", "not performed on the left", "pain 7/10", "for 2 years", "failed PT",
    "\u202e", "\u2066", "\u200b", "\x00", "\x1b[0m", "\ufeff", "\r\n", "\t", "((((", "''''", "…", "½", "Ⅳ", "🦴",
]


@st.composite
def note_like(draw):
    words = draw(st.lists(st.sampled_from(PIECES), max_size=80))
    repeat = draw(st.integers(min_value=1, max_value=30))
    return " ".join(words) * repeat


def _check(text, result):
    assert {lv.joint for lv in result.extraction.levels} <= VALID_JOINTS
    for m in result.extraction.mentions:
        assert 0 <= m.start <= m.end <= len(text) and text[m.start:m.end] == m.text
    for lv in result.extraction.levels:
        assert all(0 <= s < e <= len(text) for s, e in lv.evidence)
    if result.extraction.procedure not in FACET_PROCEDURES:
        assert result.claim_lines == [] and result.extraction.levels == []
    for ln in result.claim_lines:
        assert ln.units == 1 and ln.rules and ln.rationale


@settings(FUZZ, max_examples=400)
@given(note_like())
@example("(((\"[[{{" * 3000)  # once quadratic in spaCy's affix loop (tokenizer guard)
@example("no " * 20000 + "facet injection L4-5")  # once quadratic in the context scopes
@example("PROCEDURE: bilateral L4-5 facet injection.\n" * 500)  # many facts: coded or refused, never slow
def test_fuzz_process_note_gives_a_result_or_a_clear_refusal(text):
    with watchdog(60):
        try:
            result = process_note(text[:MAX_NOTE_CHARS], date_of_service="2026-06-15")
        except InputError as exc:
            assert "limit" in str(exc)
            return
    _check(text[:MAX_NOTE_CHARS], result)


@settings(FUZZ, max_examples=400)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=2000))
def test_fuzz_process_note_on_any_unicode(text):
    with watchdog(30):
        _check(text, process_note(text, date_of_service="2026-06-15"))


@settings(FUZZ, max_examples=300)
@given(st.text(alphabet=string.printable + "–—½⁴⁵ΙΙ", max_size=40))
@example("C9-10")
@example("L5-S1 through L2-3")
@example("T13")
@example("C1-C2")
@example("S1-S2")
def test_fuzz_spine_parsers_never_raise_or_invent_joints(text):
    joints = spine.parse_joint_text(text)
    assert {j.name for j in joints} <= VALID_JOINTS
    for a, b in zip(joints, joints[1:]):
        assert b.index == a.index + 1  # a contiguous chain, head to tail
    v = spine.vertebra(text)
    assert v is None or spine.vertebra(v.name) == v
    name = spine.nerve(text)
    assert name is None or name in spine.NERVES


@settings(FUZZ, max_examples=200)
@given(st.sampled_from(spine.NERVES + ["", "C0", "L6", "S5", "TON", "zz"]),
       st.sampled_from(spine.NERVES + ["", "C0", "L6", "S5", "TON", "zz"]))
def test_fuzz_nerve_ranges(a, b):
    chain = spine.nerve_range(a, b)
    assert set(chain) <= set(spine.NERVES)
    for j in spine.joints_from_nerves(chain):
        assert j.name in VALID_JOINTS and spine.JOINT_SUPPLY[j.name] <= set(chain)
