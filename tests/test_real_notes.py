"""../shared/real-notes: 73 related-negative notes never get a facet line; the 4 facet notes get what a coder
would code (expected results written by us from the text, not from facetcoder's output)."""

import csv


from conftest import code, edit_rules, gap_elements, lines


def _manifest(real_notes_dir):
    with open(real_notes_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_manifest_has_73_negatives_and_4_facet_notes(real_notes_dir):
    kinds = [row["kind"] for row in _manifest(real_notes_dir)]
    assert kinds.count("related-negative") == 73 and kinds.count("facet-or-mbb") == 4


def test_no_facet_line_on_related_negatives(real_notes_dir):
    offenders = []
    for row in _manifest(real_notes_dir):
        if row["kind"] != "related-negative":
            continue
        r = code((real_notes_dir / row["file"]).read_text(encoding="utf-8"))
        if r.claim_lines or r.extraction.levels:
            offenders.append((row["file"], lines(r), r.extraction.procedure))
    assert offenders == []


def _facet(real_notes_dir, name):
    return code((real_notes_dir / name).read_text(encoding="utf-8"))


def test_001_lumbar_facet_injections_without_levels(real_notes_dir):
    # "Lumbar facet injections done under fluoroscopic control": no level, no side anywhere in the note.
    r = _facet(real_notes_dir, "001-lumbar-facet-injections.txt")
    assert r.extraction.procedure == "facet_joint_injection"
    assert r.extraction.guidance == ["fluoroscopy"]
    assert lines(r) == [] and "R-UNCODABLE" in edit_rules(r, "error")
    assert "D-LEVELS" in gap_elements(r)
    assert [d.icd10 for d in r.extraction.diagnoses] == ["M47.816"]


def test_002_bilateral_three_lumbar_levels(real_notes_dir):
    # L34, L45, L5S1 on the left, "the exact same procedure was then repeated on the right side".
    r = _facet(real_notes_dir, "002-facet-arthrogram-and-injection.txt")
    assert [(lv.joint, lv.side) for lv in r.extraction.levels] == [
        ("L3-L4", "bilateral"), ("L4-L5", "bilateral"), ("L5-S1", "bilateral")]
    assert lines(r) == ["64493-50", "64494-50", "64495-50"]
    assert r.extraction.intent == "therapeutic"  # triamcinolone
    assert {a.name for a in r.extraction.agents} >= {"bupivacaine", "triamcinolone", "iohexol", "lidocaine"}
    assert {("R-LEVEL-LIMIT", "error"), ("R-LIABILITY-MOD", "warning"), ("R-SEDATION", "warning"),
            ("R-THERAPEUTIC-FACET", "warning")} == {(e.rule, e.severity) for e in r.edits}
    assert [d.icd10 for d in r.extraction.diagnoses] == ["M47.816"]  # facet arthrosis; LBP is its symptom


def test_003_cervical_mbb_levels_not_stated(real_notes_dir):
    # "at the affected levels that were previously mentioned": the levels were never written down; the
    # C3-C6 / C7 / C8 sentences describe the technique in general.
    r = _facet(real_notes_dir, "003-cervical-medial-branch-blocks.txt")
    assert r.extraction.procedure == "medial_branch_block"
    assert r.extraction.levels == []
    assert lines(r) == [] and "R-UNCODABLE" in edit_rules(r, "error")


def test_004_cervical_facet_both_sides(real_notes_dir):
    # C4-5 facet joint, "same procedure carried out on the other side"; Celestone; IV sedation; no diagnosis.
    r = _facet(real_notes_dir, "004-cervical-facet-joint-injection.txt")
    assert [(lv.joint, lv.side) for lv in r.extraction.levels] == [("C4-C5", "bilateral")]
    assert lines(r) == ["64490-50"]
    assert edit_rules(r) == {"R-SEDATION", "R-THERAPEUTIC-FACET"}
    assert "D-DIAGNOSIS" in gap_elements(r)
