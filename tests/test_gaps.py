"""The documentation-gap classifier (issue: elements with positive, negative and hard-negative sentences
through process_note; reproducible retraining; skops loading with trusted types; compiled = skops)."""

import datetime as dt

import numpy as np
import pytest

from conftest import code
from extractor.gaps import compiled, model, train
from extractor.gaps.detect import get_gap_model
from extractor.gaps.features import duration_months, sentence_rows
from extractor.gaps.paths import MODEL_DIR, MODEL_NAME, compiled_paths, skops_path
from extractor.nlp import get_pipeline

pytestmark = pytest.mark.skipif(not skops_path().is_file(), reason="no bundled gap model")

BASE = ("PROCEDURE: Diagnostic right L4-5 medial branch block (L3 and L4 medial branches) under fluoroscopy "
        "with 0.5 mL 0.5% bupivacaine per nerve.\nDIAGNOSIS: lumbar spondylosis (M47.816).\n")
FULL = {
    "D-CHRONICITY": "Axial pain across the belt line for 8 months.",
    "D-CONSERVATIVE": "She failed 8 weeks of physical therapy and naproxen.",
    "D-PAIN-SCORE": "Pain 7/10 before the block.",
    "D-FUNCTION": "ODI 38%; she can no longer drive to work.",
    "D-RESPONSE": "Post-procedure pain 1/10 at 30 minutes (85% relief).",
}


def gaps_of(text, **kw):
    return {g.element: g for g in code(text, **kw).gaps}


def note(**replace):
    parts = dict(FULL)
    parts.update(replace)
    return BASE + " ".join(v for v in parts.values() if v)


def test_complete_note_has_no_learned_gap():
    assert not set(gaps_of(note())) & set(FULL)


@pytest.mark.parametrize("element, hard_negative", [
    ("D-CHRONICITY", "Axial pain for 6 weeks."),
    ("D-CHRONICITY", "Chronic axial pain."),
    ("D-CONSERVATIVE", "She has not tried physical therapy."),
    ("D-PAIN-SCORE", "Her pain is severe."),
    ("D-FUNCTION", "Lumbar range of motion is limited on exam."),
    ("D-RESPONSE", "Pain diary given."),
])
def test_hard_negative_leaves_the_gap_open(element, hard_negative):
    gaps = gaps_of(note(**{element: hard_negative}))
    assert element in gaps
    gap = gaps[element]
    assert 0.0 <= gap.probability <= 1.0 and gap.query.startswith("Please document")
    assert gap.message and gap.source == "model"


@pytest.mark.parametrize("element", list(FULL))
def test_missing_element_is_a_gap_with_evidence(element):
    text = note(**{element: ""})
    gaps = gaps_of(text)
    assert element in gaps
    for s, e in gaps[element].evidence:
        assert 0 <= s < e <= len(text)


def test_chronicity_is_relative_to_the_date_of_service():
    text = note(**{"D-CHRONICITY": "Axial pain since 2025."})
    assert "D-CHRONICITY" not in gaps_of(text, date_of_service="2026-06-15")
    assert "D-CHRONICITY" in gaps_of(text, date_of_service="2025-02-01")
    assert duration_months("pain since 2019", dt.date(2026, 1, 1)) and duration_months("x 2 yrs", dt.date.today())


def test_rfa_contraindication_for_therapeutic_medicare_only():
    ther = ("PROCEDURE: Right L4-5 facet joint injection under fluoroscopy with 1 mL bupivacaine and 20 mg "
            "Kenalog.\nDIAGNOSIS: lumbar spondylosis.\n" + " ".join(FULL[e] for e in list(FULL)[:4]))
    assert "D-RFA-CONTRAINDICATION" in gaps_of(ther + " We will consider RFA if she improves.")
    assert "D-RFA-CONTRAINDICATION" not in gaps_of(ther + " She has a pacemaker, so she is not a candidate "
                                                          "for radiofrequency ablation.")
    assert "D-RFA-CONTRAINDICATION" not in gaps_of(ther, payer="commercial")
    assert "D-RESPONSE" not in gaps_of(ther)  # therapeutic: no response element


def test_diagnosis_gap_only_without_any_indication():
    no_dx = BASE.replace("DIAGNOSIS: lumbar spondylosis (M47.816).\n", "") + " ".join(FULL.values())
    assert "D-DIAGNOSIS" in gaps_of(no_dx)
    symptom = no_dx + " Indication: low back pain."
    r = code(symptom)
    assert "D-DIAGNOSIS" not in {g.element for g in r.gaps}  # a symptom is an R-DX-SUPPORT edit instead
    assert "R-DX-SUPPORT" in {e.rule for e in r.edits}


def test_no_learned_gaps_outside_facet_procedures():
    r = code("Lumbar interlaminar epidural steroid injection at L4-5 under fluoroscopy. Pain for 2 weeks.")
    assert r.gaps == []


def test_compiled_model_equals_the_skops_model():
    canonical = model.load()
    fast = get_gap_model()
    assert fast.thresholds == canonical.thresholds
    nlp = get_pipeline()
    for text in [note(), note(**{"D-FUNCTION": ""}), BASE]:
        rows = sentence_rows(nlp(text), dt.date(2026, 6, 15))
        a, b = canonical.sentence_probabilities(rows), fast.sentence_probabilities(rows)
        for element in a:
            np.testing.assert_allclose(a[element], b[element], atol=1e-9)


def test_skops_loading_refuses_untrusted_types(tmp_path):
    import skops.io as sio

    class Sneaky:
        def __init__(self):
            self.x = 1

    path = tmp_path / "bad.skops"
    sio.dump({"features": None, "classifiers": {}, "thresholds": {}, "meta": {}, "extra": Sneaky()}, path)
    with pytest.raises(ValueError, match="refusing to load untrusted types"):
        model.load(path)


def test_retraining_reproduces_the_bundled_model(tmp_path):
    retrained, _test = train.train_and_save(tmp_path)
    bundled = model.load()
    assert retrained.thresholds == bundled.thresholds
    assert (tmp_path / f"{MODEL_NAME}.md").read_text().split("## Note-level figures")[1] == \
        (MODEL_DIR / f"{MODEL_NAME}.md").read_text().split("## Note-level figures")[1]
    fresh = compiled.load_compiled(*compiled_paths(tmp_path))
    nlp = get_pipeline()
    rows = sentence_rows(nlp(note(**{"D-CONSERVATIVE": ""})), dt.date(2026, 6, 15))
    a, b = fresh.sentence_probabilities(rows), get_gap_model().sentence_probabilities(rows)
    for element in a:
        np.testing.assert_allclose(a[element], b[element], atol=1e-9)
