"""Property tests of process_note on generated text: any str gives a result, never an impossible joint."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import code
from extractor import spine

VALID = {j.name for j in spine.all_joints()}
WORDS = ["bilateral", "left", "right", "L4-5", "L5-S1", "C5/6", "T12-L1", "C2-3", "L3", "L4", "L5", "C8", "TON",
         "medial branch", "MBB", "facet", "joint", "injection", "fluoroscopy", "ultrasound", "CT-guided", "no",
         "prior", "will", "RFA", "epidural", "bupivacaine", "Kenalog", "diagnostic", "therapeutic", "dorsal ramus",
         "through", "to", ",", ".", ";", "PROCEDURE:", "HISTORY:", "PLAN:", "ADDENDUM:", "\n", "S1-S3 lateral",
         "C9-10", "L6", "T13", "-", "/", "spondylosis", "low back pain", "M47.816", "sacroiliac", "repeated on the "
         "other side", "not performed", "B/L", "R", "L", "77003", "IV sedation"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), max_size=40))
def test_property_note_like_text(words):
    r = code(" ".join(words))
    assert {lv.joint for lv in r.extraction.levels} <= VALID
    for ln in r.claim_lines:
        assert ln.units == 1 and ln.cpt[:4] in ("6449", "0213", "0214", "0215", "0216", "0217", "0218")
    cpts = [ln.cpt for ln in r.claim_lines]
    if r.extraction.procedure not in ("facet_joint_injection", "medial_branch_block"):
        assert cpts == [] and r.extraction.levels == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400))
def test_property_any_text(text):
    r = code(text)
    assert {lv.joint for lv in r.extraction.levels} <= VALID
    for m in r.extraction.mentions:
        assert 0 <= m.start <= m.end <= len(text)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.printable, max_size=200))
def test_property_evidence_spans_point_into_the_note(text):
    r = code("Bilateral L4-5 facet injection under fluoroscopy. " + text)
    note = "Bilateral L4-5 facet injection under fluoroscopy. " + text
    for lv in r.extraction.levels:
        for s, e in lv.evidence:
            assert 0 <= s < e <= len(note)
