"""Confidence and straight-through status on every result, and re-coding a finished result with a patient
history (the batch's R-FREQ pass) giving exactly what the one-note call gives."""

from __future__ import annotations

import pytest

from batch_support import MBB
from conftest import code
from extractor.coding import load_payer_profile
from extractor.confidence import PENALTIES, confidence_signs, status
from extractor.corpus import context_of, load_corpus
from extractor.evaluation import CorpusEvaluation
from extractor.pipeline import process_note, recode_with_history
from extractor.schema import Edit, NoteResult


@pytest.fixture(scope="module")
def corpus_results():
    recs = load_corpus("train")[::4]
    return [process_note(r["text"], note_id=r["note_id"], **context_of(r)) for r in recs]


def test_every_result_has_a_confidence_and_a_status_and_error_edits_are_never_auto(corpus_results):
    statuses = {r.status for r in corpus_results}
    assert statuses == {"auto", "review"}
    for r in corpus_results:
        assert 0.0 <= r.confidence <= 1.0
        if any(e.severity == "error" for e in r.edits):
            assert r.status == "review" and r.confidence <= 0.5
        threshold = load_payer_profile(r.payer).auto_threshold
        assert (r.status == "auto") == (r.confidence >= threshold and not any(e.severity == "error" for e in r.edits))


def test_a_clear_note_is_auto_and_doubts_lower_the_confidence():
    clear = code(MBB)
    assert clear.status == "auto" and clear.confidence >= 0.9
    no_side = code("Diagnosis: lumbar spondylosis M47.816. PROCEDURE: Diagnostic L4-5 medial branch block under "
                   "fluoroscopy, bupivacaine 0.5 mL.")
    assert "levels_without_side" in confidence_signs(no_side.extraction)
    assert no_side.confidence < clear.confidence and no_side.status == "review"


def test_status_follows_the_payer_threshold():
    profile = load_payer_profile("medicare")
    strict = profile.model_copy(update={"auto_threshold": 1.0})
    assert status(0.95, [], profile) == "auto" and status(0.95, [], strict) == "review"
    error = Edit(rule="R-NO-IMAGING", severity="error", message="x")
    assert status(1.0, [error], profile.model_copy(update={"auto_threshold": 0.0})) == "review"
    assert all(v > 0 for v in PENALTIES.values())


def test_recoding_without_history_reproduces_the_result(corpus_results):
    """What the batch's R-FREQ pass relies on: coding a finished result again changes nothing by itself."""
    for r in corpus_results:
        again = recode_with_history(NoteResult.model_validate(r.model_dump(mode="json")), [])
        assert again.model_dump() == r.model_dump(), r.note_id


def test_straight_through_figures():
    ev = CorpusEvaluation()
    ev.decisions = [(1.0, False, "auto", True), (0.95, False, "auto", False), (0.5, False, "review", True),
                    (1.0, True, "review", True)]
    assert ev.straight_through() == {"threshold": None, "notes": 4, "auto": 2, "auto_rate": 0.5, "auto_correct": 1,
                                     "accuracy_of_auto": 0.5}
    assert ev.straight_through(0.0)["auto"] == 3  # the error-edit result never counts as auto
    assert ev.straight_through(0.99)["accuracy_of_auto"] == 1.0
