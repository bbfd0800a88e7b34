"""Layouts and phrasings first met in the unseen batches fy and jy (EHR check boxes, key: value side fields,
attending addenda, CT survey images, dictated run-ons). Each test writes its own short note and runs the
real pipeline through process_note; each would fail if its rule were removed."""

from __future__ import annotations

import pytest

from conftest import code, edit_rules, lines


def joints(result) -> list[tuple[str, str]]:
    return [(lv.joint, lv.side) for lv in result.extraction.levels]


def agents(result) -> set[str]:
    return {a.name for a in result.extraction.agents}


CHECKBOX_NOTE = """FACET INJECTION - procedure template
Procedure: lumbar facet joint injection, right L4-5
Imaging: [x] fluoroscopy  [ ] ultrasound  [ ] CT
Steroid: [x] triamcinolone 40 mg   [ ] Depo-Medrol  [ ] dexamethasone
Local: [ ] lidocaine  [x] bupivacaine 0.25% 1 mL
Dx: lumbar spondylosis M47.816"""


def test_unchecked_boxes_are_not_facts_of_today():
    r = code(CHECKBOX_NOTE)
    assert r.extraction.guidance == ["fluoroscopy"]
    assert agents(r) == {"triamcinolone", "bupivacaine"}
    assert lines(r) == ["64493-RT"]


def test_all_imaging_boxes_unchecked_means_no_imaging():
    r = code(CHECKBOX_NOTE.replace("[x] fluoroscopy", "[ ] fluoroscopy"))
    assert r.extraction.guidance == ["none_documented"]
    assert lines(r) == [] and "R-NO-IMAGING" in edit_rules(r, "error")


@pytest.mark.parametrize("field,expected", [("Laterality: B", ("50", "bilateral")), ("Laterality: R", ("RT", "right")),
                                            ("Side: L", ("LT", "left"))])
def test_single_letter_side_field(field, expected):
    note = (f"Procedure: MBB lumbar, diagnostic #1\n{field}\nLevel(s): L4-5, L5-S1\n"
            "Imaging: fluoroscopy\nMeds: bupivacaine 0.5% 0.5 mL per nerve\nDx: M47.816")
    r = code(note)
    modifier, side = expected
    assert joints(r) == [("L4-L5", side), ("L5-S1", side)]
    assert lines(r) == [f"64493-{modifier}-KX", f"64494-{modifier}-KX"]


def test_right_and_then_the_left_is_bilateral():
    r = code("CT-guided L4-5 facet joint injection. Needles were placed into the right and then the left L4-5 "
             "facet joints under CT. 40 mg Depo-Medrol with bupivacaine in each joint. Dx lumbar spondylosis.")
    assert joints(r) == [("L4-L5", "bilateral")]


def test_attending_addendum_heading_takes_off_the_side_not_done():
    r = code("PROCEDURE: bilateral C4, C5 and C6 medial branch blocks (C4-5, C5-6), diagnostic #1, fluoroscopy.\n"
             "DESCRIPTION: right C4, C5 and C6 nerves blocked with bupivacaine, then the same on the left.\n"
             "Dx: cervical spondylosis.\n\n"
             "ATTENDING ADDENDUM 06/15/2026 14:05:\n"
             "After the right C4, C5 and C6 branches were blocked she felt faint, so the left side was not done.")
    assert joints(r) == [("C4-C5", "right"), ("C5-C6", "right")]


def test_ct_survey_range_is_not_a_treated_level():
    r = code("CT-guided right T6-7 facet joint injection.\nTechnique: localizer and axial images T5 to T8. "
             "A 22 gauge needle entered the right T6-7 facet joint under CT. Triamcinolone 20 mg and bupivacaine. "
             "Dx thoracic spondylosis.")
    assert joints(r) == [("T6-T7", "right")]
    assert lines(r) == ["64490-RT"]


def test_axial_images_naming_a_facet_still_count():
    r = code("CT-guided thoracic facet injection. Axial images localized the R T7-8 facet. Needle advanced into "
             "the joint under CT; triamcinolone 20 mg injected. Dx thoracic spondylosis.")
    assert joints(r) == [("T7-T8", "right")]


def test_drug_after_an_earlier_full_date_is_history():
    r = code("b/l L4-5 MBB, dx #2 (confirmatory), fluoro.\nBlk #1 05/02/26 (bupi): 90% relief x 6 h.\n"
             "Today 2% lido 0.5 mL per nerve. Dx M47.816")
    assert agents(r) == {"lidocaine"}


def test_omni_contrast_and_contrast_that_gave_an_arthrogram():
    r = code("R L5-S1 FJI under fluoro after omni check; 0.3 mL Omnipaque 180 gave an arthrogram. "
             "Kenalog 40 mg. Dx lumbar facet arthropathy.")
    assert "iohexol" in agents(r)
    assert [m for m in r.extraction.mentions if m.kind == "agent" and m.label == "iohexol"
            and m.context.historical] == []


def test_prior_block_that_gave_relief_stays_history():
    r = code("Right L4-5 facet injection today with triamcinolone under fluoroscopy. A lidocaine block in 2025 "
             "gave 80% relief. Dx lumbar spondylosis.")
    mention = next(m for m in r.extraction.mentions if m.kind == "agent" and m.label == "lidocaine")
    assert mention.context.historical and "lidocaine" not in agents(r)


@pytest.mark.parametrize("written", ["L L3 + L4 MBr blocks", "L L3, L4 MBr blks", "L L3 + L4 mb blk"])
def test_abbreviated_medial_branch_block(written):
    r = code(f"Clinic proc. {written} (L L4-5), diagnostic #1, fluoro. 0.5% bupi 0.5 mL ea. Dx M47.816")
    assert r.extraction.procedure == "medial_branch_block"
    assert lines(r) == ["64493-LT-KX"]


def test_block_done_to_decide_on_rfa_is_not_an_rfa():
    r = code("Right L5 dorsal ramus block and right S1, S2 and S3 lateral branch blocks under fluoroscopy, "
             "done to decide on lateral branch radiofrequency ablation. Bupivacaine 0.5% at each site.")
    assert r.extraction.procedure != "radiofrequency_ablation"
    assert lines(r) == []


def test_facet_loading_is_an_exam_sign_not_a_diagnosis():
    r = code("Consult. Exam: + facet loading b/l, SLR neg. A/P: lumbar facet arthropathy (M47.816); plan MBB.")
    assert {d.icd10 for d in r.extraction.diagnoses} == {"M47.816"}


def test_side_shorthand_ending_a_sentence():
    r = code("PROC: dx MBNB #1, L3 + L4 MB, B/L. Fluoro AP/obl. 0.5% bupi 0.5 mL/nerve. Dx M47.816")
    assert joints(r) == [("L4-L5", "bilateral")]
    assert lines(r) == ["64493-50-KX"]


def test_unfilled_side_field_before_a_level():
    r = code("PROCEDURES PERFORMED: therapeutic intra-articular facet joint injections: left L4-5 and {SIDE} L5-S1, "
             "fluoroscopic guidance. Kenalog 40 mg in each joint. Lumbar spondylosis. She declines RFA.")
    assert joints(r) == [("L4-L5", "left"), ("L5-S1", "unknown")]
    assert lines(r) == ["64493-LT"] and "R-UNCODABLE" in edit_rules(r, "error")


def test_procedure_talked_about_for_later_is_planned():
    r = code("Right L4-5 intra-articular facet joint injection under fluoroscopy with triamcinolone 20 mg. "
             "We talked about doing radiofrequency for the back later. Dx lumbar spondylosis.")
    assert r.extraction.procedure == "facet_joint_injection"
    assert lines(r) == ["64493-RT"]


def test_a_field_answered_none_is_negated():
    r = code("Right L4-5 facet joint injection under fluoroscopy, triamcinolone 40 mg. Pacemaker/ICD/SCS: none. "
             "Sedation: none. Dx lumbar spondylosis.")
    reasons = [m for m in r.extraction.mentions if m.kind == "rfa_contraindication"]
    assert reasons and all(m.context.negated for m in reasons)
    assert "R-THERAPEUTIC-FACET" in edit_rules(r) and "R-SEDATION" not in edit_rules(r)


def test_facet_and_si_joint_injection_in_one_session():
    r = code("PROCEDURES PERFORMED: 1. bilateral L5-S1 intra-articular facet joint injections 2. right sacroiliac "
             "joint injection, fluoroscopy. Depo-Medrol 40 mg in each joint. Lumbosacral spondylosis. "
             "He declines RFA.", setting="asc", claim="facility")
    assert lines(r) == ["64493-RT", "64493-LT"]
    assert "R-SI-NOT-FACET" in edit_rules(r, "info")
    si_only = code("Right sacroiliac joint injection under fluoroscopy, Depo-Medrol 40 mg. SI joint pain.")
    assert lines(si_only) == [] and edit_rules(si_only) == {"R-SI-NOT-FACET"}


@pytest.mark.parametrize("reason", [
    "Radiofrequency ablation was offered again and she declines it.",
    "RF: discussed again, pt declines.",
    "RF neurotomy would mean stopping her anticoagulation and therefore is not an option for her.",
    "RFA at these levels done 2023 failed.",
    "She prefers not to have nerves burned.",
])
def test_reasons_against_rfa_written_in_other_words(reason):
    r = code(f"Right L4-5 intra-articular facet joint injection under fluoroscopy, triamcinolone 40 mg. {reason} "
             "Dx lumbar spondylosis.")
    assert "R-THERAPEUTIC-FACET" not in edit_rules(r)
    assert "D-RFA-CONTRAINDICATION" not in {g.element for g in r.gaps}


# (a conditional refusal, 'if she declines RFA ...', is not caught: the learned part of the gap model reads
# the words 'declines RFA' as a reason; see the session note)
@pytest.mark.parametrize("plan", ["Plan: RFA if two blocks give 80% relief.",
                                  "Prior to RFA in 2024, PT failed."])
def test_rfa_plans_are_not_reasons_against_it(plan):
    r = code(f"Right L4-5 intra-articular facet joint injection under fluoroscopy, triamcinolone 40 mg. {plan} "
             "Dx lumbar spondylosis.")
    assert "R-THERAPEUTIC-FACET" in edit_rules(r)


SOAP_NOTE = """SOAP PROCEDURE NOTE
S: right low back pain for 2 years; PT and naproxen failed. NRS 7/10.
A: Lumbar spondylosis (M47.816).
P: Diagnostic MBNB #1, right side, L4-5 and L5-S1.

PROCEDURE DETAILS
Imaging: fluoroscopy, AP and oblique
Level   | Side | Target            | Injectate
L4-5    | R    | L3 MB, L4 MB      | 0.5% bupivacaine 0.5 mL each
L5-S1   | R    | L4 MB, L5 DR      | same
Plan: RTC 2 weeks with the diary."""


def test_soap_p_followed_by_procedure_details_is_todays_procedure():
    r = code(SOAP_NOTE)
    assert r.extraction.procedure == "medial_branch_block"
    assert lines(r) == ["64493-RT-KX", "64494-RT-KX"]


def test_soap_p_without_procedure_details_stays_a_plan():
    r = code(SOAP_NOTE.split("\n\nPROCEDURE DETAILS")[0])
    assert lines(r) == []


def test_follow_up_with_no_procedure_today():
    r = code("FOLLOW-UP VISIT\nS: back for diary review after two diagnostic MBBs, B/L L4-5, L5-S1 under fluoro "
             "with bupivacaine.\nP: schedule RFA. No procedure today.")
    assert r.extraction.procedure == "unknown" and lines(r) == []


def test_zygapophyseal_joint_abbreviation():
    r = code("CSPC clinic. US-guided R C5-6 IA ZJ inj, therapeutic, no fluoro. Decadron 2 mg + ropivacaine "
             "per joint. Dx cervical spondylosis.")
    assert r.extraction.procedure == "facet_joint_injection"
    assert lines(r) == ["0213T-RT"]


def test_rf_said_not_to_help_is_a_reason_not_todays_rfa():
    r = code("P. Therapeutic right atlanto-axial joint injection. RF neurotomy cannot help here: the C1-2 joint "
             "has no medial branch supply. Fluoroscopy; triamcinolone 10 mg. Dx cervical spondylosis.")
    assert r.extraction.procedure == "facet_joint_injection"
    assert lines(r) == ["64490-RT"] and "R-THERAPEUTIC-FACET" not in edit_rules(r)


def test_rfa_talked_of_for_the_future_is_not_todays_procedure():
    r = code("right L4-5 and L5-S1 facet joint intraarticular injection under fluoro, depo-medrol 40 mg; "
             "about radiofrequency we will talk maybe in future, nothing decided. dx lumbar spondylosis")
    assert r.extraction.procedure == "facet_joint_injection"
    assert lines(r) == ["64493-RT", "64494-RT"]



def test_regex_rules_on_lower_cased_text_find_what_re_i_finds():
    from extractor.corpus import load_corpus
    from extractor.nlp import get_pipeline
    from extractor.nlp.regex_ruler import load_regex_rules

    rules = [r for f in ("facts", "spine") for r in load_regex_rules(f) if r["lower"] is not None]
    assert len(rules) >= 25
    texts = [rec["text"] for rec in load_corpus()[::7]]
    for text in texts:
        for rule in rules:
            assert [m.span() for m in rule["lower"].finditer(text.lower())] == \
                [m.span() for m in rule["regex"].finditer(text)]
    # lower-casing 'İ' adds a character: the ruler must fall back to re.I so offsets stay right
    note = "İstanbul clinic. Bilateral L4-5 MBB under fluoroscopy; the patient declines RFA."
    doc = get_pipeline()(note)
    assert any(s.text == "declines RFA" for s in doc.spans["facts"] if s.label_ == "RFA_REASON")
    assert any(s.text == "L4-5" for s in doc.spans["spine"])


def test_addendum_correcting_a_level_typo_replaces_the_levels():
    r = code("proc: dx mbb #1 lt c6-7 + c7-t1 (lt c6, c7, c8 mb); fluoro; 2% lido 0.3 cc per nerve; "
             "dx cervicothoracic spondylosis\n\n--- addendum 06/16/26 ---\nlevel typo in the note above: the nerves "
             "blocked were lt c7, c8 + t1 mb, i.e. lt c7-t1 and t1-2 jts.", payer="commercial")
    assert joints(r) == [("C7-T1", "left"), ("T1-T2", "left")]


def test_side_closing_a_list_item_after_a_comma():
    r = code("Procedure, one session:\n 1. C5 and C6 medial branches, right and left\n 2. L4 medial branch and L5 "
             "dorsal ramus, LEFT only\nFluoroscopy; bupivacaine 0.5%. Dx cervical and lumbosacral spondylosis.",
             payer="commercial")
    assert joints(r) == [("C5-C6", "bilateral"), ("L5-S1", "left")]
    assert lines(r) == ["64490-50", "64493-LT"]


def test_level_rows_with_their_own_side_field():
    r = code("proc: fji (ia), therapeutic\n  lvl 1: l4-5    side: rt\n  lvl 2: l5-s1   side: ____\nguid: fluoro obl\n"
             "meds: each jt depo-medrol 40 + bupi 0.25%\ndx: lumbar facet arthropathy")
    assert joints(r) == [("L4-L5", "right"), ("L5-S1", "unknown")]
    assert lines(r) == ["64493-RT"] and "R-UNCODABLE" in edit_rules(r, "error")


def test_an_inaudible_side_is_unknown():
    r = code("PROCEDURE PERFORMED, lumbar facet joint injections at L4-5 on the right and L5-S1 on the [inaudible], "
             "under fluoroscopy, Depo-Medrol 20 mg each. DIAGNOSIS, lumbar spondylosis.")
    assert joints(r) == [("L4-L5", "right"), ("L5-S1", "unknown")]


def test_imaging_that_was_booked_out_is_not_todays_guidance():
    r = code("Office proc note. R L5-S1 facet joint injection, therapeutic. The fluoroscopy suite is booked out for a "
             "month, so the injection was done today by palpation. Kenalog 40 mg + 1 mL 1% lidocaine. "
             "Dx lumbar facet arthropathy.")
    assert joints(r) == [("L5-S1", "right")]
    assert lines(r) == [] and "R-NO-IMAGING" in edit_rules(r, "error")


def test_addendum_level_correction_replaces_the_level_it_calls_wrong():
    r = code("PROCEDURE: Therapeutic right L2-3 facet joint injection under fluoroscopy, Kenalog 40 mg.\n"
             "Dx: lumbar spondylosis.\n\nADDENDUM 05/02/2026: Level correction. The saved images show the right L3-4 "
             "joint was injected; the 'L2-3' in the note above came from an old template and is wrong.")
    assert joints(r) == [("L3-L4", "right")]
    assert lines(r) == ["64493-RT"]


def test_soap_plan_that_reports_the_outcome_is_todays_procedure():
    note = ("S: back again for her injection. O: no distress. A: lumbar spondylosis. P: R L3-4 IA facet inj under "
            "fluoro, Kenalog 40 mg + 1 mL 1% lido. Pt declines RFA. NRS 6->2. No cx.")
    assert lines(code(note)) == ["64493-RT"]
    # the same plan without any outcome stays a plan
    plan_only = note.split(" Pt declines")[0] + " next visit."
    assert lines(code(plan_only)) == []


def test_a_block_history_table_is_past_history():
    r = code("RIVERBEND SPINE INSTITUTE - Division of Pain Medicine\n"
             "Pain Medicine, SOAP, attending: Dr. K. Lund\n\n"
             "S: Here to go over her diaries. Axial low back pain on both sides for 2 years; PT and NSAIDs failed.\n"
             "Block history:\n"
             "  #  Date         Procedure / agent                    Levels             Relief\n"
             "  1  01/12/2026   Dx MBB, 0.5% bupivacaine, fluoro     B/L L3-4, L4-5     85% x 5 h\n"
             "  2  02/02/2026   Dx MBB, 2% lidocaine, fluoro         B/L L3-4, L4-5     80% x 2 h\n"
             "A: Lumbar spondylosis (M47.816), two concordant blocks.\n"
             "P: Schedule bilateral L3-4 and L4-5 radiofrequency ablation. Continue home exercises.",
             payer="commercial")
    assert joints(r) == [] and lines(r) == []


def test_problem_list_comorbidity_codes_are_not_diagnoses():
    note = ("PROCEDURE: right L4-5 facet joint injection under fluoroscopy, Kenalog 40 mg.\n"
            "DIAGNOSES (from the problem list):\n  1. M47.816 lumbar spondylosis\n  2. E11.9 type 2 diabetes\n"
            "  3. M17.11 primary osteoarthritis, right knee\n  4. Z95.0 pacemaker in place")
    r = code(note)
    assert [d.icd10 for d in r.extraction.diagnoses] == ["M47.816"]
    assert [line.icd10 for line in r.claim_lines] == [["M47.816"]]
    # the knee's code is the problem a knee injection treats
    knee = code("Right knee intra-articular injection under ultrasound, Kenalog 40 mg. Dx: M17.11 knee OA; "
                "E11.9 diabetes.")
    assert [d.icd10 for d in knee.extraction.diagnoses] == ["M17.11"]


def test_a_header_with_a_parenthesis_before_its_colon():
    r = code("CONSULT AND SAME-DAY PROCEDURE\nASSESSMENT: cervical facet arthropathy.\nPLAN: steroid into the "
             "painful joints today.\nPROCEDURE (today, fluoroscopy, AP + lateral):\n 1. left C3-4 IA\n "
             "2. bilateral C4-5 IA\nEach joint: Omnipaque 0.2 mL, then Kenalog-40 0.3 mL.", payer="commercial")
    assert joints(r) == [("C3-C4", "left"), ("C4-C5", "bilateral")]
    assert lines(r) == ["64490-50", "64491-LT"]


def test_medial_branches_written_mb_make_a_medial_branch_block():
    r = code("Dx block #1 left C7-T1 + T1-T2: L C7, C8, T1 MB. CT-guided, 2% lido 0.4 cc each. "
             "Dx cervicothoracic spondylosis.", payer="commercial")
    assert r.extraction.procedure == "medial_branch_block"
    assert lines(r) == ["64490-LT", "64491-LT"]
    prf = code("PRF bilat C5-6 + C6-7 facet nerves (C5, C6, C7 MB bilat) under fluoro, 42 C x 120 s per nerve.")
    assert prf.extraction.procedure == "radiofrequency_ablation" and lines(prf) == []


def test_a_side_closing_a_coordinated_list_covers_every_level_in_it():
    r = code("Lumbar MBB #1 under fluoro, 0.5% bupivacaine 0.5 mL per nerve:\n- L2 MB, L3 MB and L4 MB, R and L\n"
             "- L5 dorsal ramus, left only\nDx lumbar spondylosis", payer="commercial")
    assert joints(r) == [("L3-L4", "bilateral"), ("L4-L5", "bilateral"), ("L5-S1", "left")]


def test_nerves_for_the_blocked_joint_beside_injected_joints_are_no_mismatch():
    r = code("PROCEDURES PERFORMED (therapeutic, both parts):\n  > B/L L4-5 intra-articular facet joint injections\n"
             "  > R L5-S1 medial branch block = R L4 medial branch + R L5 dorsal ramus\nDESCRIPTION: oblique fluoro; "
             "Depo-Medrol 40 mg per joint; 0.25% bupivacaine 0.5 mL at each nerve.\nDx lumbar facet arthropathy.")
    assert joints(r) == [("L4-L5", "bilateral"), ("L5-S1", "right")]
    assert "R-NERVE-MAP" not in edit_rules(r, "warning")


def test_checklist_answers_in_y_n_columns():
    note = ("HOPD PROCEDURE RECORD\n[PRE-PROCEDURE CHECKLIST]            Y  |  N\n  Consent                            Y  |\n"
            "  Sedation                              |  N\n  Driver                             Y  |\n\n"
            "[PROCEDURE] Right L4-5 facet joint injection under fluoroscopy, Kenalog 40 mg.\n"
            "[DIAGNOSES - from the problem list]\n  M47.816 lumbar spondylosis\n  I10 hypertension")
    r = code(note, setting="hopd", claim="facility")
    assert lines(r) == ["64493-RT"]
    assert "R-SEDATION" not in edit_rules(r, "warning")
    # an X under the N column, a dot leader and an inline answer say the same
    for row in ("  IV sedation                              X", "  IV sedation ........... N"):
        marked = note.replace("  Sedation                              |  N", row)
        assert "R-SEDATION" not in edit_rules(code(marked, setting="hopd", claim="facility"), "warning")
    inline = code("Checklist: consent Y / anticoag N / sedation N. Procedure: right L4-5 facet joint injection under "
                  "fluoroscopy, Kenalog 40 mg. Dx lumbar spondylosis.")
    assert "R-SEDATION" not in edit_rules(inline, "warning")
    # and an X under Y is sedation given
    given = note.replace("  Sedation                              |  N", "  IV sedation                        X")
    assert "R-SEDATION" in edit_rules(code(given, setting="hopd", claim="facility"), "warning")


def test_a_procedure_line_naming_some_nerves_leaves_the_others_to_the_level_table():
    r = code("[PROCEDURE] Diagnostic third occipital nerve and cervical MBr blocks, right.\n\n[LEVEL TABLE]\n"
             "  Level | Side | Target                  | Agent\n  C2-3  | (R)  | third occipital n.      | Marcaine 0.5%\n"
             "  C3-4  | (R)  | C3 MBr + C4 MBr         | Marcaine 0.5%\n\n[GUIDANCE] fluoroscopy, lateral view\n"
             "[DIAGNOSES]\n  M47.812 cervical spondylosis", payer="commercial")
    assert joints(r) == [("C2-C3", "right"), ("C3-C4", "right")]
    # a procedure line that lists its nerves still wins over a landmark vertebra in the narrative
    listed = code("PROCEDURE: Bilateral C7, C8 and T1 medial branch blocks.\nDESCRIPTION: AP and lateral fluoroscopy; "
                  "one needle on the C7 pillar, one on the T1 transverse process for the C8 medial branch, one on the "
                  "same spot of T2 for the T1 medial branch. Bupivacaine 0.5% 0.4 mL per nerve.\n"
                  "Dx cervicothoracic spondylosis.", payer="commercial")
    assert joints(listed) == [("C7-T1", "bilateral"), ("T1-T2", "bilateral")]


def test_level_table_sides_in_parentheses_and_an_unrecorded_side():
    note = ("=== TIME-OUT === levels L4-5 and L5-S1 confirmed (side field left blank in template)\n"
            "PROCEDURE: DX BLK #1, lumbar medial branch blocks, lidocaine only.\n=== LEVEL TABLE ===\n"
            "  Level  | Side | Target            | Agent\n  L4-5   | (R)  | L3 MBr + L4 MBr   | lidocaine 2%\n"
            "  L5-S1  | ( )  | L4 MBr + L5 DR    | lidocaine 2%\nNERVE TARGETS:\n  R L3 MBr\n  R L4 MBr\n"
            "  L5 DR  (side not recorded)\nGUIDANCE: fluoroscopy, AP and oblique\nTECHNIQUE: needles to the L3 and L4 "
            "medial branch targets, then to the sacral ala for the L5 dorsal ramus.\nDx: M47.816 lumbar spondylosis")
    r = code(note, payer="commercial")
    assert joints(r) == [("L4-L5", "right"), ("L5-S1", "unknown")]
    assert lines(r) == ["64493-RT"] and "R-UNCODABLE" in edit_rules(r, "error")
    both = code(note.replace("( )", "(B)").replace("  L5 DR  (side not recorded)\n", "  L4 MBr + L5 DR, each side\n"),
                payer="commercial")
    assert joints(both) == [("L4-L5", "right"), ("L5-S1", "bilateral")]


def test_comma_joined_headings_and_a_differential():
    r = code("INDICATION, HISTORY: low back pain on both sides for 2 years; PT and meloxicam failed.\n"
             "DIFFERENTIAL, AS DISCUSSED WITH THE FELLOW: facet pain favoured; discogenic pain from the L3-4 bulge less "
             "likely.\nDIAGNOSIS: lumbar spondylosis.\nPROCEDURE, AS PERFORMED: diagnostic lumbar medial branch "
             "blocks.\nNERVES: L3 medial branch, L4 medial branch, L5 dorsal ramus; right and left.\n"
             "GUIDANCE, CONTRAST: C-arm fluoroscopy, AP and oblique.\nAGENTS, DOSES: Marcaine 0.5%, 0.4 mL per nerve.",
             payer="commercial")
    assert joints(r) == [("L4-L5", "bilateral"), ("L5-S1", "bilateral")]


def test_an_attending_addendum_that_amends_the_levels():
    r = code("Procedure: Right cervical medial branch blocks, diagnostic, C4-5 and C5-6 facet joints (right C4, C5 and "
             "C6 medial branches), lateral fluoroscopy, 0.5% ropivacaine 0.3 mL per nerve. Dx cervical spondylosis.\n\n"
             "ATTENDING ADDENDUM, 02/04/2026: the saved images show the needles one segment lower than dictated above. "
             "The joints covered were right C5-6 and C6-7. Levels in the fellow's note are amended to right C5-6 and C6-7.",
             payer="commercial")
    assert joints(r) == [("C5-C6", "right"), ("C6-C7", "right")]
    assert "R-NERVE-MAP" not in edit_rules(r, "warning")


def test_levels_of_an_imaging_report_sentence_are_not_treated():
    r = code("Diagnostic medial branch blocks today. MRI in June showed facet hypertrophy on both sides, plus an L3-4 "
             "disc bulge that does not touch a nerve. Under fluoroscopy we placed needles on the right at the L3 and L4 "
             "medial branches; 0.5% bupivacaine 0.5 mL each. Dx lumbar spondylosis.", payer="commercial")
    assert joints(r) == [("L4-L5", "right")]


def test_an_identical_procedure_on_the_right_side_repeats_the_left():
    r = code("Diagnostic block. Under fluoroscopy, on the left, a needle was placed at three points over the C2-3 joint "
             "for the third occipital nerve. Separate needles were placed on the C3 and C4 pillars for the C3 and C4 "
             "medial branches. 2% lidocaine 0.3 mL at each. The identical procedure was then carried out on the right "
             "side: third occipital nerve, C3 and C4 medial branches. Dx cervical spondylosis.", payer="commercial")
    assert joints(r) == [("C2-C3", "bilateral"), ("C3-C4", "bilateral")]


def test_common_misspellings_of_medial_branch():
    r = code("Left-sided lumbar MBB. With fluoroscopy we walked needles to the L3 and L4 medail branch targets and to the "
             "L5 dorsal ramus at the sacral ala; ropivacaine 0.5 mL each. Dx lumbar spondylosis.", payer="commercial")
    assert joints(r) == [("L4-L5", "left"), ("L5-S1", "left")]


def test_a_planned_block_called_off_on_the_day():
    r = code("PLANNED TODAY: right C4-5 and C5-6 diagnostic medial branch blocks.\n1. Re-examined: the pain is "
             "myofascial. MBB NOT performed; no fluoroscopy used.\n2. Trigger point injections x 3, right upper "
             "trapezius, 1 mL 1% lidocaine each.\nASSESSMENT: myofascial pain; neck pain.")
    assert r.extraction.procedure == "other" and lines(r) == []
    # one nerve not blocked does not call the procedure off
    kept = code("Procedure: right C5-6 and C6-7 medial branch blocks under fluoroscopy, bupivacaine. The left C6 MB was "
                "not blocked. Dx cervical spondylosis.", payer="commercial")
    assert lines(kept) == ["64490-RT", "64491-RT"]


def test_slash_headings_and_an_addendum_that_makes_it_bilateral():
    r = code("S/ 24 M lacrosse goalie, low back pain 9 mo.\nO/ painful extension-rotation.\nA/ lumbar facet-mediated "
             "pain.\nP/ Dx blocks toward RF.\nPROC/ right L4-5 and L5-S1 medial branch blocks, ultrasound-guided, "
             "in-plane\n > Targets: R L3 MB, R L4 MB, R L5 dorsal ramus\n > 0.5% bupivacaine 0.5 mL per target\n\n"
             "--- ADDENDUM 06/11/25 ---\nLaterality correction: this was a bilateral procedure. Fluoroscopy was not "
             "used on either side.", payer="commercial")
    assert r.extraction.procedure == "medial_branch_block"
    assert lines(r) == ["0216T-50", "0217T-50"]


def test_same_levels_as_last_time_is_not_history_and_on_hold_is_not_today():
    r = code("Back for his second diagnostic block. Today we did the medial branch blocks bilaterally at the same "
             "levels as last time, under fluoroscopy, 0.5% bupivacaine per nerve.")
    assert r.extraction.procedure == "medial_branch_block" and r.extraction.guidance == ["fluoroscopy"]
    held = code("De Quervain tendon sheath injection under ultrasound, Kenalog 20 mg. Her lumbar MBBs (separate problem, "
                "Dr. Lund) stay on hold until after the regatta.")
    assert held.extraction.procedure == "other"


def test_a_written_level_counts_as_one_word_in_a_trigger_scope():
    r = code("Lumbar facet joint injections on the right at L4-5 and on both sides at L5-S1 under fluoroscopy, "
             "Depo-Medrol 40 mg per joint. Dx lumbar facet arthropathy. The left L4-5 joint looked fine on CT and was "
             "not injected.")
    assert joints(r) == [("L4-L5", "right"), ("L5-S1", "bilateral")]


def test_a_side_letter_in_parentheses_and_a_c_arm_in_use_elsewhere():
    r = code("US-guided (R) C5-6 + C6-7 MBr blk, dx #1. Linear probe, out-of-plane; (R) C5, C6, C7 MBr 0.3 mL "
             "Marcaine 0.5% each. No flouro today. Dx M47.812. NRS 6 -> 1 at 30 min.\nNext: conf blk #2 under flouro "
             "if >= 80%.",
             payer="commercial")
    assert r.extraction.guidance == ["ultrasound"]
    assert lines(r) == ["0213T-RT", "0214T-RT"]
    landmark = code("Bil L4-5 IA facet inj, therapeutic. Needles placed by palpation - no flouro, no US (C-arm in use in "
                    "OR 2). Depo-Medrol 40 mg each jt. Dx lumbar facet arthropathy.", payer="commercial")
    assert lines(landmark) == [] and "R-NO-IMAGING" in edit_rules(landmark, "error")


def test_joints_written_between_vertebrae_in_words():
    r = code("Today I blocked the nerves to the facet joints between the fourth and fifth lumbar vertebrae and between "
             "the fifth lumbar vertebra and the sacrum, on the left side only: the left L3 and L4 medial branches and "
             "the left L5 dorsal ramus, under fluoroscopic control, 2 percent lidocaine. Impression: lumbar facet "
             "syndrome.", payer="commercial")
    assert joints(r) == [("L4-L5", "left"), ("L5-S1", "left")]
    assert "R-NERVE-MAP" not in edit_rules(r, "warning")


def test_levels_as_speech_recognition_writes_them():
    r = code("PROCEDURE PERFORMED, bilateral L 4 5 and L5 S1 facet joint medial branch blocks under fluoroscopic "
             "guidance, bupivacaine 0.5%. DIAGNOSIS, lumbar spondylosis.", payer="commercial")
    assert joints(r) == [("L4-L5", "bilateral"), ("L5-S1", "bilateral")]
    # numbers that are not an adjacent pair are no joint ('L 4 7'), and doses stay doses
    assert joints(code("Right L 4 7 facet joint injection under fluoroscopy, lidocaine 1 2 mL.")) == []


def test_an_inaudible_side_is_not_filled_in_from_a_side_further_on():
    r = code("PROCEDURE PERFORMED, lumbar facet joint injections at L4-5 on the right and L5 S1 on the [inaudible].\n"
             "DESCRIPTION, under fluoroscopy two needles were placed, one into the right L4-5 joint and one into the "
             "L5-S1 joint; Depo-Medrol 20 mg into each joint.")
    assert joints(r) == [("L4-L5", "right"), ("L5-S1", "unknown")]


def test_an_addendum_saying_the_procedure_line_was_transcribed_incorrectly():
    r = code("PROCEDURE, right L 3 4 and L 4 5 medial branch blocks, diagnostic.\nDESCRIPTION, fluoroscopy; needles to "
             "the right L3 medial branch, the right L4 medial branch and the right L5 dorsal ramus; bupivacaine.\n"
             "ADDENDUM, 11/20/2024: the procedure line was transcribed incorrectly. The joints blocked were the right "
             "L4-5 and L5-S1.", payer="commercial")
    assert joints(r) == [("L4-L5", "right"), ("L5-S1", "right")]
    assert "R-NERVE-MAP" not in edit_rules(r, "warning")


def test_levels_in_a_parenthesis_opened_by_an_earlier_date_are_history():
    note = ("pain clinic 01/28/25; two areas on separate days: neck was done here 01/14/25 (rt c5-6 + c6-7 mbb, lido, "
            "~80% x 3 h); today = low back only; therapeutic b/l l4-5 ia facet inj under fluoro; kenalog 40 + bupi "
            "each jt; dx lumbar facet arthropathy")
    r = code(note, date_of_service="2025-01-28")
    assert joints(r) == [("L4-L5", "bilateral")]
    # the note's own date opening its procedure line is the visit, whatever the date of service says
    own = code("DOS 01/14/25 (rt L4-5 medial branch block under fluoroscopy, bupivacaine). Dx lumbar spondylosis.",
               date_of_service="2025-03-01")
    assert joints(own) == [("L4-L5", "right")]


def test_speech_recognition_punctuation_words_and_spelled_levels():
    note = ("Mr. H is a 74 year old with low back pain for four years comma worse standing period he did two rounds of "
            "physical therapy and takes meloxicam period new paragraph\nProcedure colon diagnostic lumbar medial branch "
            "blocks number one comma bilateral L four five and L5 S1 period under flora scopy with AP and oblique views "
            "needles at L4 and L5 on each side for the L3 and L4 medial branches and at the sacral ala for the L5 "
            "dorsal ramus on each side period bupivacaine 0.5% at each nerve period")
    r = code(note, payer="commercial")
    assert joints(r) == [("L4-L5", "bilateral"), ("L5-S1", "bilateral")]
    # offsets still point into the note as written
    level = next(m for m in r.extraction.mentions if m.kind == "level" and m.counted)
    assert note[level.start:level.end] in ("L four five", "L5 S1", "L4", "L5", "L3")
    # 'a period of' in an ordinary note is a word
    from extractor.nlp.dictation import spoken_punctuation
    assert spoken_punctuation("PT for a period of six weeks, then a home program.") == \
        "PT for a period of six weeks, then a home program."


def test_a_dictated_correction_takes_back_the_level_before_it():
    r = code("Procedure colon intra-articular cervical facet joint injections colon left C three-four and C four-five "
             "and right C three-four comma correction comma right C four-five only period Technique colon lateral "
             "fluoro comma Kenalog 40 mg into each joint period", payer="commercial")
    assert joints(r) == [("C3-C4", "left"), ("C4-C5", "bilateral")]


def test_an_mbb_over_a_range_ending_at_s1_names_joints():
    r = code("Procedure: diagnostic bilateral lumbar MBB L3 through S1, fluoro AP and oblique, bupivacaine 0.5% 0.5 cc "
             "each nerve. Dx lumbar spondylosis.", payer="commercial")
    assert joints(r) == [("L3-L4", "bilateral"), ("L4-L5", "bilateral"), ("L5-S1", "bilateral")]


def test_a_trigger_scope_counts_a_written_target_as_one_word():
    r = code("Today right L4-5 intra-articular facet injection. Without the C-arm I used palpation and landmarks; "
             "Kenalog 40 mg with 1 mL 1% lidocaine. Dx lumbar facet arthropathy.")
    assert r.extraction.guidance == ["none_documented"] and lines(r) == []
    spread = code("Right L4-5 facet joint injection under fluoroscopy: 1% lidocaine skin, isovue 200 a few tenths of a cc "
                  "gave a nice arthrogram, then Depo-Medrol 40 mg. Dx lumbar facet arthropathy.")
    assert {a.name for a in spread.extraction.agents} == {"lidocaine", "iopamidol", "methylprednisolone"}


def test_an_addendum_cancelling_a_prefilled_template():
    r = code("PROCEDURE: [CERVICAL] MEDIAL BRANCH NERVE BLOCK - {DIAGNOSTIC}\nLEVELS / SIDE: BILATERAL C4-C5 AND C5-C6\n"
             "GRID (pre-populated from order)\nC4 MB | R / L | bupivacaine 0.5% | 0.3 mL each\nGUIDANCE: [FLUOROSCOPY]\n\n"
             "ADDENDUM 09/09/2025 10:12: PROCEDURE CANCELLED before positioning; she took her apixaban this morning. "
             "No needle, no medication given.")
    assert r.extraction.procedure == "unknown" and lines(r) == []


def test_as_discussed_in_clinic_is_not_a_plan_and_a_c_arm_down_for_repair():
    r = code("Procedure today, as discussed in clinic, is diagnostic medial branch blocks on the right at C4-5 and C5-6, "
             "the right C4, C5 and C6 medial branches, under fluoroscopy, ropivacaine 0.5% 0.3 mL each. "
             "Dx cervical spondylosis.", payer="commercial")
    assert lines(r) == ["64490-RT", "64491-RT"]
    landmark = code("Proc: L L5-S1 intra-articular FJI. GUIDANCE: [***] -- C-arm down for repair today; landmark "
                    "technique. Depo-Medrol 40 mg. Dx lumbar facet arthropathy.", payer="commercial")
    assert lines(landmark) == [] and "R-NO-IMAGING" in edit_rules(landmark, "error")


def test_a_side_label_with_a_colon_opens_the_nerves_after_it():
    r = code("PROCEDURE: Bilateral lumbar medial branch blocks, diagnostic #1\n"
             "NERVES:      RIGHT: L2 MB, L3 MB, L4 MB, L5 DR      LEFT: L2 MB, L3 MB, L4 MB, L5 DR\n"
             "IMAGING: fluoroscopy, AP + oblique; bupivacaine 0.5% 0.5 mL per nerve. Dx lumbar spondylosis.",
             payer="commercial")
    assert joints(r) == [("L3-L4", "bilateral"), ("L4-L5", "bilateral"), ("L5-S1", "bilateral")]


def test_a_charge_line_naming_the_nerves_is_not_a_stated_joint():
    r = code("PROCEDURES\nA. Right L4-5 facet joint injection, intra-articular, with steroid.\nB. Right L3 and L4 medial "
             "branch blocks (nerves to the same right L4-5 joint), local anesthetic.\nTECHNIQUE: fluoroscopy; "
             "Depo-Medrol 40 mg into the joint; bupivacaine 0.5 mL at each nerve.\nDx lumbar facet arthropathy.\n\n"
             "CHARGES (physician worksheet): 64493-RT (IA R L4-5); 64494-RT (MBB R L3/L4); 77003",
             payer="commercial")
    assert joints(r) == [("L4-L5", "right")]
