"""One test (at least) per rule id of coding-rules.md that a single note exercises; each fails if its rule breaks."""

import datetime as dt

import pytest

from conftest import code, edit_rules, gap_elements, lines
from extractor.schema import PriorSession

DX = "Diagnosis: lumbar spondylosis (M47.816)."
CDX = "Diagnosis: cervical spondylosis (M47.812)."
RFA_NO = "RFA is not an option because of her pacemaker."


def joints(r):
    return [(lv.joint, lv.side) for lv in r.extraction.levels]


# --- reading the note into levels -------------------------------------------------------------

@pytest.mark.parametrize("written", ["L4-5", "L4/5", "L4-L5", "L45", "L4–L5", "L4 to L5"])
def test_r_level_joint_notations(written):
    r = code(f"Right {written} facet joint injection under fluoroscopy, bupivacaine 1 mL. {DX} {RFA_NO}")
    assert joints(r) == [("L4-L5", "right")]


def test_r_level_joint_counts_joints_not_needles():
    r = code(f"Left L4-5 facet injection under fluoroscopy; two needle passes were needed at L4-5 and 1 mL "
             f"bupivacaine was injected. {DX}")
    assert lines(r) == ["64493-LT-KX"]


def test_r_level_joint_range_and_words():
    r = code(f"Bilateral C3 through C5 facet joint injections under fluoroscopy with bupivacaine. {CDX}")
    assert [j for j, _ in joints(r)] == ["C3-C4", "C4-C5"]
    r = code(f"Injection of the right facet joint between the fifth and sixth cervical vertebrae under "
             f"fluoroscopy with 0.5 mL bupivacaine, diagnostic. {CDX}")
    assert joints(r) == [("C5-C6", "right")]


def test_r_nerve_map_chains_and_special_nerves():
    r = code(f"Right third occipital nerve and C3 medial branch blocks under fluoroscopy, bupivacaine, "
             f"diagnostic. {CDX}")
    assert joints(r) == [("C2-C3", "right")]
    r = code(f"Left C7 and C8 medial branch blocks under fluoroscopy, bupivacaine, diagnostic. {CDX}")
    assert joints(r) == [("C7-T1", "left")]
    r = code("Bilateral T4, T5 and T6 medial branch blocks under fluoroscopy, bupivacaine 0.5 mL each, "
             "diagnostic. Dx thoracic spondylosis.")
    assert [j for j, _ in joints(r)] == ["T5-T6", "T6-T7"]


def test_r_nerve_map_single_nerve_is_no_joint():
    r = code(f"Right L4 medial branch block under fluoroscopy with bupivacaine, diagnostic. {DX}")
    assert lines(r) == []
    assert "R-UNCODABLE" in edit_rules(r, "error")


def test_r_nerve_map_mismatch_warns_and_procedure_line_wins():
    r = code(f"PROCEDURE: Bilateral L4-5 and L5-S1 medial branch blocks, diagnostic.\nTECHNIQUE: Under "
             f"fluoroscopy the L2 and L3 medial branches were blocked on each side with bupivacaine.\n{DX}")
    assert [j for j, _ in joints(r)] == ["L4-L5", "L5-S1"]
    assert "R-NERVE-MAP" in edit_rules(r, "warning")


def test_r_region_t12_l1_is_thoracic_family():
    r = code("Left T12-L1 facet joint injection under fluoroscopy, bupivacaine and Kenalog. Dx thoracolumbar "
             "spondylosis. RFA is contraindicated.")
    assert lines(r) == ["64490-LT"]


def test_r_ao_aa_joints_code_64490():
    r = code(f"Right atlanto-axial (C1-C2) joint injection under fluoroscopy, bupivacaine and 10 mg Kenalog. "
             f"{CDX} {RFA_NO}")
    assert joints(r) == [("C1-C2", "right")]
    assert lines(r) == ["64490-RT"]
    assert "R-AO-AA" in r.claim_lines[0].rules


def test_r_junction_commercial_keeps_two_families():
    note = "Bilateral T12-L1 and L1-L2 facet injections under fluoroscopy with bupivacaine and Kenalog."
    assert lines(code(note, payer="commercial")) == ["64490-50", "64493-50"]
    assert lines(code(note)) == ["64490-50", "64494-50"]


def test_r_same_joint_ia_and_mbb_are_one_level():
    r = code(f"Right L4-5 intra-articular facet injection and, in the same session, right L3 and L4 medial "
             f"branch blocks for the same L4-5 joint, under fluoroscopy, bupivacaine and Kenalog. {DX} {RFA_NO}")
    assert joints(r) == [("L4-L5", "right")]
    assert lines(r) == ["64493-RT"]


def test_r_si_not_facet_sacroiliac_injection():
    r = code("PROCEDURE: Right sacroiliac joint injection under fluoroscopy with Kenalog 40 mg.")
    assert r.extraction.procedure == "other"
    assert edit_rules(r) == {"R-SI-NOT-FACET"}


@pytest.mark.parametrize("trap", [
    "No ultrasound was used.",
    "A prior right L3-4 MBB on 2/3 gave 80% relief.",
    "Will consider RFA at L2-3 if relief is good.",
    "Her mother had facet injections at C5-6.",
])
def test_r_context_only_todays_facts_count(trap):
    r = code(f"PROCEDURE: Right L4-5 facet joint injection under fluoroscopy, 1 mL bupivacaine and 20 mg "
             f"Kenalog. {trap} {DX} {RFA_NO}")
    assert joints(r) == [("L4-L5", "right")]
    assert r.extraction.guidance == ["fluoroscopy"]
    assert lines(r) == ["64493-RT"]
    not_counted = [m for m in r.extraction.mentions if not m.counted and not m.context.current]
    assert not_counted, "the trap mention stays visible with its context"


# --- building claim lines -----------------------------------------------------------------------

def test_r_primary_addon_and_addon_once_four_levels():
    r = code(f"Right L2-3, L3-4, L4-5 and L5-S1 facet joint injections under fluoroscopy with bupivacaine and "
             f"Kenalog. {DX}", payer="commercial")
    assert lines(r) == ["64493-RT", "64494-RT", "64495-RT"]
    assert r.claim_lines[2].units == 1 and r.claim_lines[2].joints == ["L4-L5", "L5-S1"]
    assert "R-LEVEL-LIMIT" in edit_rules(r)  # commercial limit 3


def test_r_unilat_rtlt_and_bilat_50():
    assert lines(code(f"Left L4-5 facet injection, fluoroscopy, bupivacaine, Kenalog. {DX}")) == ["64493-LT"]
    assert lines(code(f"Right L4-5 facet injection, fluoroscopy, bupivacaine, Kenalog. {DX}")) == ["64493-RT"]
    r = code(f"Bilateral L4-5 facet injections, fluoroscopy, bupivacaine, Kenalog. {DX}", setting="hopd",
             claim="facility")
    assert lines(r) == ["64493-50"]  # HOPD facility keeps 50 (R-BILAT-50)


def test_r_asc_rtlt_for_addons_too():
    r = code(f"Bilateral L4-5 and L5-S1 facet injections, fluoroscopy, bupivacaine and Kenalog. {DX}",
             setting="asc", claim="facility")
    assert lines(r) == ["64493-RT", "64493-LT", "64494-RT", "64494-LT"]


@pytest.mark.parametrize("note, expected, kwargs", [
    ("Bilateral C5-C6 and left C6-C7 facet injections under fluoroscopy, diagnostic, lidocaine. " + CDX,
     ["64490-50-KX", "64491-LT-KX"], {}),
    ("Left C3-C4, bilateral C4-C5 and bilateral C6-C7 facet injections under fluoroscopy, diagnostic, "
     "lidocaine. " + CDX, ["64490-50-KX", "64491-50-KX", "64492-LT"], {}),
    ("Left L3-L4 and bilateral L4-L5 facet injections under fluoroscopy, diagnostic, lidocaine. " + DX,
     ["64493-RT-KX", "64493-LT-KX", "64494-LT-KX"], {"setting": "asc", "claim": "facility"}),
])
def test_r_mixed_sides(note, expected, kwargs):
    assert lines(code(note, **kwargs)) == expected


def test_r_order_primary_first():
    r = code(f"Right L5-S1 and right L4-5 facet injections under fluoroscopy, bupivacaine, Kenalog. {DX}")
    assert [ln.cpt for ln in r.claim_lines] == ["64493", "64494"]
    assert r.claim_lines[0].joints == ["L4-L5"]


def test_r_imaging_bundled():
    r = code(f"Right L4-5 facet injection under fluoroscopy (77003), bupivacaine, Kenalog. {DX}")
    assert lines(r) == ["64493-RT"]
    assert "R-IMAGING-BUNDLED" in edit_rules(r, "info")
    assert not any(ln.cpt.startswith("77") for ln in r.claim_lines)


def test_r_us_catiii_lumbar_and_commercial():
    r = code(f"Left L4-5 and L5-S1 facet injections under ultrasound guidance, bupivacaine. {DX}",
             payer="commercial")
    assert lines(r) == ["0216T-LT", "0217T-LT"]
    assert "R-US-CATIII" in edit_rules(r, "error")
    assert "R-LIABILITY-MOD" not in edit_rules(r)  # GA/GZ is Medicare only


def test_r_no_imaging_and_d_guidance():
    r = code(f"Bilateral L4-5 facet joint injections, bupivacaine and Kenalog. No fluoroscopy was used. {DX}")
    assert lines(r) == []
    assert "R-NO-IMAGING" in edit_rules(r, "error")
    assert "D-GUIDANCE" in gap_elements(r)


def test_r_uncodable_side_and_levels_and_gaps():
    r = code(f"L4-5 facet joint injection under fluoroscopy, bupivacaine and Kenalog. {DX}")
    assert lines(r) == [] and "R-UNCODABLE" in edit_rules(r, "error")
    assert "D-LATERALITY" in gap_elements(r)
    r = code(f"Lumbar facet joint injections under fluoroscopy with bupivacaine. {DX}")
    assert lines(r) == [] and "R-UNCODABLE" in edit_rules(r, "error")
    assert "D-LEVELS" in gap_elements(r)


def test_r_rfa_scope():
    r = code(f"Bilateral L3, L4 medial branch and L5 dorsal ramus radiofrequency ablation under fluoroscopy. {DX}")
    assert r.extraction.procedure == "radiofrequency_ablation"
    assert lines(r) == [] and edit_rules(r) == {"R-RFA-SCOPE"}


def test_r_mod_kx_and_r_intent():
    diag = code(f"Diagnostic right L4-5 facet injection under fluoroscopy with bupivacaine. {DX}")
    assert diag.extraction.intent == "diagnostic" and lines(diag) == ["64493-RT-KX"]
    implied = code(f"Right L4-5 facet injection under fluoroscopy with 0.5 mL 2% lidocaine only. {DX}")
    assert implied.extraction.intent == "diagnostic"
    ther = code(f"Right L4-5 facet injection under fluoroscopy with bupivacaine and Kenalog 20 mg. {DX} {RFA_NO}")
    assert ther.extraction.intent == "therapeutic" and lines(ther) == ["64493-RT"]
    commercial = code(f"Diagnostic right L4-5 facet injection under fluoroscopy with bupivacaine. {DX}",
                      payer="commercial")
    assert lines(commercial) == ["64493-RT"]
    unknown = code(f"Right L4-5 facet injection under fluoroscopy. {DX}")
    assert unknown.extraction.intent == "unknown" and "D-INTENT" in gap_elements(unknown)
    assert "D-AGENTS" in gap_elements(unknown)


def test_r_liability_mod_on_unsupported_diagnosis():
    note = "Diagnostic right L4-5 medial branch block (L3, L4 MB) under fluoroscopy, bupivacaine. Dx: low back pain."
    r = code(note, abn_on_file=False)
    assert lines(r) == ["64493-RT-KX-GZ"]
    assert "R-DX-SUPPORT" in edit_rules(r, "warning")
    assert lines(code(note, abn_on_file=True)) == ["64493-RT-KX-GA"]


# --- payer and setting edits -------------------------------------------------------------------

def test_r_level_limit_per_region():
    two_regions = code("Right C4-5, C5-6 and right L4-5, L5-S1 facet injections under fluoroscopy with "
                       "bupivacaine and Kenalog. Dx cervical and lumbar spondylosis.")
    assert "R-LEVEL-LIMIT" not in edit_rules(two_regions)
    three = code(f"Right L3-4, L4-5, L5-S1 facet injections under fluoroscopy, bupivacaine and Kenalog. {DX}",
                 payer="commercial")
    assert "R-LEVEL-LIMIT" not in edit_rules(three)


@pytest.mark.parametrize("dos, setting, expected", [
    ("2023-06-30", "hopd", False), ("2023-07-01", "hopd", True), ("2025-01-10", "office", False),
    ("2025-01-10", "asc", False)])
def test_r_pa_hopd_dates_and_settings(dos, setting, expected):
    r = code(f"Right L4-5 facet injection under fluoroscopy, bupivacaine and Kenalog. {DX}",
             setting=setting, date_of_service=dos)
    assert ("R-PA-HOPD" in edit_rules(r)) is expected


def test_r_pa_hopd_third_level_until_august_2024():
    note = f"Right L3-4, L4-5 and L5-S1 facet injections, fluoroscopy, bupivacaine, Kenalog. {DX}"
    early = [e for e in code(note, setting="hopd", date_of_service="2024-05-01").edits if e.rule == "R-PA-HOPD"]
    late = [e for e in code(note, setting="hopd", date_of_service="2025-05-01").edits if e.rule == "R-PA-HOPD"]
    assert "64495" in early[0].cpt and "64495" not in late[0].cpt


def test_r_freq_against_patient_history():
    history = [PriorSession(date_of_service=dt.date(2026, m, 1), family="lumbosacral", intent="therapeutic",
                            procedure="facet_joint_injection", note_id=f"n{m}") for m in (1, 2, 3, 4)]
    r = code(f"Right L4-5 facet injection under fluoroscopy, bupivacaine and Kenalog. {DX} {RFA_NO}",
             patient_history=history, abn_on_file=False)
    freq = [e for e in r.edits if e.rule == "R-FREQ"]
    assert freq and freq[0].severity == "error" and "n1" in freq[0].message
    assert lines(r) == ["64493-RT-GZ"]
    ok = code(f"Right L4-5 facet injection under fluoroscopy, bupivacaine and Kenalog. {DX} {RFA_NO}",
              patient_history=history[:2])
    assert "R-FREQ" not in edit_rules(ok)


def test_r_therapeutic_facet_needs_rfa_reason():
    without = code(f"Right L4-5 facet injection under fluoroscopy with bupivacaine and Kenalog. {DX}")
    assert "R-THERAPEUTIC-FACET" in edit_rules(without, "warning")
    with_reason = code(f"Right L4-5 facet injection under fluoroscopy with bupivacaine and Kenalog. {DX} "
                       f"She has a pacemaker, which precludes RFA.")
    assert "R-THERAPEUTIC-FACET" not in edit_rules(with_reason)


def test_r_dx_support_covered_symptom_and_missing():
    covered = code(f"Diagnostic right L4-5 facet injection, fluoroscopy, lidocaine. {DX}")
    assert "R-DX-SUPPORT" not in edit_rules(covered)
    symptom = code("Diagnostic right L4-5 facet injection, fluoroscopy, lidocaine. Indication: low back pain.")
    assert symptom.extraction.diagnoses[0].icd10 == "M54.50"
    assert "R-DX-SUPPORT" in edit_rules(symptom, "warning")
    missing = code("Diagnostic right L4-5 facet injection, fluoroscopy, lidocaine.")
    assert "R-DX-SUPPORT" not in edit_rules(missing) and "D-DIAGNOSIS" in gap_elements(missing)


def test_r_dx_support_is_date_aware():
    old = code("Diagnostic right L4-5 facet injection, fluoroscopy, lidocaine. Indication: low back pain.",
               date_of_service="2021-03-01")
    assert [d.icd10 for d in old.extraction.diagnoses] == ["M54.5"]


def test_r_sedation():
    sedated = code(f"Right L4-5 facet injection under fluoroscopy with IV sedation (Versed 2 mg), bupivacaine, "
                   f"Kenalog. {DX} {RFA_NO}")
    assert "R-SEDATION" in edit_rules(sedated, "warning")
    local = code(f"Right L4-5 facet injection under fluoroscopy, local anesthesia only, no sedation, "
                 f"bupivacaine, Kenalog. {DX} {RFA_NO}")
    assert "R-SEDATION" not in edit_rules(local)


def test_r_fee_by_year_and_bilateral():
    r = code(f"Bilateral L4-5 facet injections, fluoroscopy, bupivacaine, Kenalog. {DX} {RFA_NO}",
             date_of_service="2025-05-01")
    ln = r.claim_lines[0]
    assert ln.fee_estimate == pytest.approx(160.80 * 1.5) and "2025" in ln.fee_basis
    assert "R-FEE" in ln.rules
    assert code(f"Bilateral L4-5 facet injections, fluoroscopy, bupivacaine. {DX}", setting="asc",
                claim="facility").claim_lines[0].fee_estimate is None


def test_every_line_cites_rules_and_a_rationale():
    r = code(f"Bilateral L3-4, L4-5 and L5-S1 facet injections under fluoroscopy, bupivacaine. {DX}")
    for ln in r.claim_lines:
        assert ln.rules and all(rule.startswith("R-") for rule in ln.rules)
        assert ln.rationale.endswith(".") and ln.cpt in ln.rationale
    for e in r.edits:
        assert e.rule.startswith("R-") and e.severity in ("error", "warning", "info") and e.message
