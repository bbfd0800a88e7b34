"""coding-rules.md §6: every worked scenario, through the real pipeline on a short note.

Medicare, fluoroscopy, professional claim unless the scenario says otherwise."""

import pytest

from conftest import code, edit_rules, lines

DX = "Diagnosis: cervical spondylosis (M47.812)."
LDX = "Diagnosis: lumbar spondylosis (M47.816)."


def test_right_c5_c6_facet_injection():
    r = code(f"Procedure: right C5-C6 facet joint injection under fluoroscopy with 0.5 mL bupivacaine and "
             f"10 mg triamcinolone. {DX} RFA is contraindicated (pacemaker).")
    assert lines(r) == ["64490-RT"]


def test_left_c4_c5_and_c5_c6():
    r = code(f"Left C4-5 and C5-6 facet injections, fluoroscopic guidance, 1 mL 0.5% bupivacaine with 10 mg "
             f"Kenalog at each level. {DX}")
    assert lines(r) == ["64490-LT", "64491-LT"]


def test_bilateral_c4_c5_and_c5_c6():
    r = code(f"Bilateral C4-C5 and C5-C6 intra-articular facet injections under fluoroscopy; Depo-Medrol 20 mg "
             f"and bupivacaine at each joint. {DX}")
    assert lines(r) == ["64490-50", "64491-50"]


@pytest.mark.parametrize("abn, third", [(None, "64492-50"), (True, "64492-50-GA"), (False, "64492-50-GZ")])
def test_bilateral_three_cervical_levels(abn, third):
    r = code(f"Bilateral C3-4, C4-5 and C5-6 facet joint injections under fluoroscopy, 0.5 mL bupivacaine and "
             f"Kenalog 10 mg each. {DX}", abn_on_file=abn)
    assert lines(r) == ["64490-50", "64491-50", third]
    assert "R-LEVEL-LIMIT" in edit_rules(r, "error")
    liability = [e for e in r.edits if e.rule == "R-LIABILITY-MOD"]
    assert liability and liability[0].severity == ("warning" if abn is None else "info")


def test_bilateral_t12_l1_and_l1_l2_junction():
    r = code("Bilateral T12-L1 and L1-L2 facet injections under fluoroscopy with bupivacaine and "
             "triamcinolone. Diagnosis: thoracolumbar spondylosis.")
    assert lines(r) == ["64490-50", "64494-50"]
    assert "R-JUNCTION" in r.claim_lines[1].rules


def test_cervical_and_lumbar_in_one_session():
    r = code("Bilateral C5-6 and bilateral L4-5 facet joint injections under fluoroscopy, bupivacaine and "
             "Depo-Medrol at each joint. Dx: cervical and lumbar spondylosis (M47.812, M47.816).")
    assert lines(r) == ["64490-50", "64493-50"]
    assert all("R-TWO-FAMILIES" in ln.rules for ln in r.claim_lines)


def test_bilateral_l4_mb_and_l5_dorsal_ramus_diagnostic():
    r = code(f"Diagnostic medial branch blocks: bilateral L4 medial branch and L5 dorsal ramus, fluoroscopy, "
             f"0.5 mL 0.5% bupivacaine per nerve. {LDX}")
    assert [lv.joint for lv in r.extraction.levels] == ["L5-S1"]
    assert lines(r) == ["64493-50-KX"]


def test_right_l2_l3_l4_mbs_diagnostic():
    r = code(f"Right L2, L3 and L4 medial branch blocks, diagnostic, under fluoroscopy with 0.5 mL 0.75% "
             f"ropivacaine at each nerve. {LDX}")
    assert [lv.joint for lv in r.extraction.levels] == ["L3-L4", "L4-L5"]
    assert lines(r) == ["64493-RT-KX", "64494-RT-KX"]


def test_bilateral_l4_l5_asc_facility():
    note = f"Bilateral L4-5 facet joint injections under fluoroscopy, bupivacaine and Kenalog 20 mg. {LDX}"
    assert lines(code(note, setting="asc", claim="facility")) == ["64493-RT", "64493-LT"]
    assert lines(code(note, setting="asc", claim="professional")) == ["64493-50"]


def test_diagnostic_bilateral_three_lumbar_levels_mbb():
    r = code(f"Diagnostic bilateral L3-L4, L4-L5 and L5-S1 medial branch blocks (L2, L3, L4 medial branches and "
             f"L5 dorsal rami) under fluoroscopy, bupivacaine 0.5 mL per nerve. {LDX}")
    assert lines(r) == ["64493-50-KX", "64494-50-KX", "64495-50"]
    assert "R-LEVEL-LIMIT" in edit_rules(r, "error")


def test_right_c5_c6_under_ultrasound():
    r = code(f"Right C5-6 facet joint injection under ultrasound guidance, 0.5 mL bupivacaine with 4 mg "
             f"dexamethasone. {DX}")
    assert lines(r) == ["0213T-RT"]
    assert "R-US-CATIII" in edit_rules(r, "error")
    assert "R-LIABILITY-MOD" in edit_rules(r)


def test_l5_dorsal_ramus_with_sacral_lateral_branches_is_si():
    r = code("Bilateral L5 dorsal ramus and S1-S3 lateral branch blocks under fluoroscopy for sacroiliac joint "
             "pain, 0.5 mL bupivacaine per target.")
    assert lines(r) == []
    assert r.extraction.levels == []
    assert edit_rules(r) == {"R-SI-NOT-FACET"}


def test_c5_c6_without_imaging():
    r = code(f"Right C5-6 facet joint injection with 0.5 mL bupivacaine and 10 mg Kenalog. {DX}")
    assert lines(r) == []
    assert "R-NO-IMAGING" in edit_rules(r, "error")
    assert "D-GUIDANCE" in {g.element for g in r.gaps}


def test_bilateral_c5_c6_hopd_prior_authorization():
    r = code(f"Bilateral C5-C6 facet joint injections under fluoroscopy, bupivacaine and Kenalog. {DX}",
             setting="hopd", date_of_service="2025-03-01")
    assert lines(r) == ["64490-50"]
    assert "R-PA-HOPD" in edit_rules(r, "warning")
