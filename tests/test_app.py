"""The Streamlit app driven through AppTest: every page, with the real pipeline and a real SQLite store."""

import json
import sqlite3

import pytest
from conftest import DOS, REPO
from review_support import ADDENDUM, CERVICAL, JUNCTION, LUMBAR_4, batch_line, coded, example_text, write_results
from streamlit.testing.v1 import AppTest

from extractor.review.corrections import apply_corrections
from extractor.review.store import ReviewStore

APP = str(REPO / "app.py")


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "store" / "reviews.sqlite"
    monkeypatch.setenv("FACETCODER_REVIEW_DB", str(path))
    monkeypatch.setenv("FACETCODER_REVIEWER", "tester")
    return path


@pytest.fixture
def at(db):
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception
    app.date_input(key="date_of_service").set_value(DOS)
    return app.run()


def code_example(at, name):
    at.selectbox(key="example").set_value(name).run()
    assert at.text_area(key="note_text").value == example_text(name)
    at.button(key="code_note").click().run()
    assert not at.exception, at.exception
    return at


def texts(elements):
    return [e.value for e in elements]


def test_code_a_note_shows_lines_facts_edits_gaps_and_fee(at):
    code_example(at, LUMBAR_4)
    lines = at.data_editor(key="claim_lines_editor").value
    assert list(lines["cpt"]) == ["64493", "64494", "64495"]
    assert list(lines["modifiers"]) == ["50, KX", "50, KX", "50"]
    assert list(lines["units"]) == [1, 1, 1] and set(lines["icd10"]) == {"M47.816"}
    assert all("R-PRIMARY-ADDON" in r for r in lines["rules"]) and all(lines["rationale"])
    assert any("R-LEVEL-LIMIT" in e for e in texts(at.error))  # edits coloured by severity
    assert any("R-LIABILITY-MOD" in w for w in texts(at.warning))
    fee = [m for m in at.metric if m.label == "Fee estimate"][0]
    assert fee.value == f"${coded(LUMBAR_4)['fee_total']:,.2f}"
    note_html = [m for m in texts(at.markdown) if 'class="fc-note"' in m][0]
    assert '<mark class="fc-level"' in note_html and '<mark class="fc-guidance"' in note_html
    assert 'class="fc-side"' in note_html and 'class="fc-agent"' in note_html and 'fc-diagnosis' in note_html


def test_gaps_come_with_evidence_quote_and_a_copyable_query(at):
    code_example(at, JUNCTION)
    result = coded(JUNCTION)
    assert {g["element"] for g in result["gaps"]} == {"D-PAIN-SCORE", "D-FUNCTION", "D-RFA-CONTRAINDICATION"}
    queries = texts(at.code)
    for gap in result["gaps"]:
        assert gap["query"] in queries
    gap_md = [m for m in texts(at.markdown) if m.startswith("**D-")]
    assert len(gap_md) == 3 and any("near: “" in m for m in gap_md)


def test_facts_that_do_not_count_are_struck_through(at):
    code_example(at, ADDENDUM)
    note_html = [m for m in texts(at.markdown) if 'class="fc-note"' in m][0]
    assert "fc-not-counted" in note_html and "line-through" in note_html
    assert list(at.data_editor(key="claim_lines_editor").value["modifiers"]) == ["RT, KX", "RT, KX"]


def test_editing_a_claim_line_stores_a_review_and_its_audit_rows(at, db):
    code_example(at, CERVICAL)
    at.session_state["claim_lines_editor"] = {"edited_rows": {1: {"modifiers": "RT, KX"}}, "added_rows": [],
                                              "deleted_rows": []}
    at.button(key="save_review").click().run()
    assert not at.error and any("saved: corrected (claim_lines[1].modifiers)" in s for s in texts(at.success))
    con = sqlite3.connect(db)
    [(rid, note_id, reviewer, status, ruleset, text)] = con.execute(
        "SELECT id, note_id, reviewer, status, ruleset_version, note_text FROM reviews").fetchall()
    assert (reviewer, status, text) == ("tester", "corrected", None) and note_id.startswith("pasted-")
    assert ruleset == coded(CERVICAL)["versions"]["ruleset"]
    audit = con.execute("SELECT review_id, reviewer, field, before_json, after_json FROM audit_events "
                        "WHERE field != 'status'").fetchall()
    assert audit == [(rid, "tester", "claim_lines[1].modifiers", '["LT", "KX"]', '["RT", "KX"]')]


def test_saving_without_changes_is_an_acceptance_and_a_bad_cell_is_refused(at, db):
    code_example(at, CERVICAL)
    at.session_state["claim_lines_editor"] = {"edited_rows": {0: {"units": 0}}, "added_rows": [], "deleted_rows": []}
    at.button(key="save_review").click().run()
    assert any("Not saved: units must be at least 1" in e for e in texts(at.error))
    assert not db.exists() or sqlite3.connect(db).execute("SELECT count(*) FROM reviews").fetchone() == (0,)
    at.session_state["claim_lines_editor"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": []}
    at.button(key="accept_review").click().run()
    assert sqlite3.connect(db).execute("SELECT status FROM reviews").fetchall() == [("accepted",)]


def test_a_note_over_the_size_limit_gets_a_message_not_a_crash(at):
    at.text_area(key="note_text").set_value("L4-5 " * 50_000).run()
    at.button(key="code_note").click().run()
    assert not at.exception and any("limit is 200,000" in e for e in texts(at.error))


def test_review_queue_filters_navigates_and_accepts(at, db, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "junction.txt").write_text(example_text(JUNCTION), encoding="utf-8")
    folder = tmp_path / "batch-out"
    write_results(folder, [batch_line(JUNCTION, locator="notes/junction.txt", confidence=0.4, status="review"),
                           "not json at all",
                           batch_line(LUMBAR_4, locator="notes.csv:3", confidence=0.95, status="auto"),
                           batch_line(CERVICAL, locator="notes.csv:4")])
    at.sidebar.radio(key="page").set_value("Review queue").run()
    at.text_input(key="queue_folder").set_value(str(folder)).run()
    at.button(key="open_queue").click().run()
    assert not at.exception
    assert any(w.startswith("line 2 is not JSON") for w in texts(at.warning))

    def position():
        return [m for m in texts(at.markdown) if m.startswith("**Note ")][0]

    assert position().startswith("**Note 1 of 2**: `lx-044")  # status review only, by default
    assert any('class="fc-note"' in m for m in texts(at.markdown))  # its text file is beside the results
    assert at.button(key="queue_prev").disabled
    at.button(key="queue_next").click().run()
    assert position().startswith("**Note 2 of 2**: `cx-032")
    assert not any('class="fc-note"' in m for m in texts(at.markdown))  # a CSV row: facts and quotes only
    assert at.button(key="queue_next").disabled
    at.button(key="q4_accept_review").click().run()
    assert position().endswith("reviewed: **accepted**")
    assert any(s.startswith("Review #1 saved: accepted") for s in texts(at.success))
    at.button(key="queue_prev").click().run()
    assert position().startswith("**Note 1 of 2**")

    at.multiselect(key="queue_status").set_value(["review", "auto"]).run()
    at.selectbox(key="queue_edit_rule").set_value("R-LEVEL-LIMIT").run()
    assert position().startswith("**Note 1 of 1**: `lx-039")
    at.session_state["q3_claim_lines_editor"] = {"edited_rows": {2: {"modifiers": "50, GA"}}, "added_rows": [],
                                                 "deleted_rows": []}
    at.button(key="q3_save_review").click().run()
    con = sqlite3.connect(db)
    assert con.execute("SELECT note_id, locator, status FROM reviews ORDER BY id").fetchall() == [
        ("cx-032-cervical-mixed-sides-facet-injection", "notes.csv:4", "accepted"),
        ("lx-039-bilateral-lumbar-mbb-four-levels", "notes.csv:3", "corrected")]
    assert con.execute("SELECT field, before_json, after_json FROM audit_events WHERE review_id = 2").fetchall() == [
        ("status", '"auto"', '"corrected"'), ("claim_lines[2].modifiers", '["50"]', '["50", "GA"]')]
    at.selectbox(key="queue_edit_rule").set_value("(any)").run()
    at.selectbox(key="queue_gap_element").set_value("D-FUNCTION").run()
    assert position().startswith("**Note 1 of 2**: `lx-044")


def test_review_queue_from_an_uploaded_results_file(at):
    at.sidebar.radio(key="page").set_value("Review queue").run()
    content = json.dumps(batch_line(CERVICAL, locator="x.csv:1", status="review")) + "\n"
    at.file_uploader(key="queue_upload").upload("results.jsonl", content.encode(), "application/jsonl")
    at.run()
    assert not at.exception
    assert [m for m in texts(at.markdown) if m.startswith("**Note ")][0].startswith("**Note 1 of 1**: `cx-032")


def test_agreement_page_and_export(at, db, tmp_path):
    lumbar, junction = coded(LUMBAR_4), coded(JUNCTION)
    with ReviewStore(db) as store:
        rows = [{k: ln[k] for k in ("cpt", "modifiers", "units", "icd10")} for ln in lumbar["claim_lines"]]
        rows[2]["modifiers"] = "50, GZ"
        store.save_review(lumbar, apply_corrections(lumbar, claim_lines=rows), reviewer="ana",
                          note_text=example_text(LUMBAR_4), store_text=True)
        store.save_review(junction, apply_corrections(junction, keep_gaps=[]), reviewer="ana")
        store.save_review(coded(CERVICAL), reviewer="ben")
    at.sidebar.radio(key="page").set_value("Agreement & export").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Notes reviewed"] == "3" and metrics["Accepted as coded"] == "1"
    per_field = at.dataframe[0].value.set_index("field")
    assert per_field.loc["claim_lines", "corrected"] == 1 and per_field.loc["gaps", "corrected"] == 1
    assert per_field.loc["procedure", "acceptance rate"] == 1.0
    by_rule = dict(at.dataframe[1].value.values.tolist())
    assert by_rule["R-ADDON-ONCE"] == 1
    by_element = dict(at.dataframe[2].value.values.tolist())
    assert by_element == {"D-PAIN-SCORE": 1, "D-FUNCTION": 1, "D-RFA-CONTRAINDICATION": 1}

    out = tmp_path / "export" / "reviewed.jsonl"
    at.text_input(key="export_path").set_value(str(out)).run()
    at.button(key="export_reviews").click().run()
    assert any("1 reviewed note(s) written; 1 skipped because their text was not stored" in s
               for s in texts(at.success))
    [record] = [json.loads(x) for x in out.read_text().splitlines()]
    assert record["note_id"] == "lx-039-bilateral-lumbar-mbb-four-levels" and record["text"]
    assert record["gold"]["claim_lines"][2]["modifiers"] == ["50", "GZ"]


def test_code_lookup_searches_codes_modifiers_and_rules(at):
    at.sidebar.radio(key="page").set_value("Code lookup").run()
    at.text_input(key="lookup_query").set_value("KX").run()
    found = [m for m in texts(at.markdown) if m.startswith("**")]
    assert any(m.startswith("**KX** · modifier") for m in found)
    assert any(m.startswith("**R-MOD-KX** · rule") for m in found)
    at.text_input(key="lookup_query").set_value("64495").run()
    assert any(m.startswith("**64495** · CPT code · 1 unit only") for m in texts(at.markdown))
    at.text_input(key="lookup_query").set_value("").run()
    at.multiselect(key="lookup_kinds").set_value(["documentation element"]).run()
    assert len([m for m in texts(at.markdown) if m.startswith("**D-")]) == 12


def test_the_pasted_note_and_its_result_survive_a_visit_to_another_page(at):
    code_example(at, CERVICAL)
    at.sidebar.radio(key="page").set_value("Code lookup").run()
    at.sidebar.radio(key="page").set_value("Code a note").run()
    assert at.text_area(key="note_text").value == example_text(CERVICAL)
    assert list(at.data_editor(key="claim_lines_editor").value["cpt"]) == ["64490", "64491"]
    assert not at.info  # no "the note was changed after coding"


def test_corrected_facts_are_re_coded_by_the_coding_core_and_saved(at, db):
    code_example(at, LUMBAR_4)  # four bilateral levels: 64493, 64494, 64495 and R-LEVEL-LIMIT
    at.session_state["levels_editor"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [0, 1]}
    at.button(key="recode").click().run()
    assert not at.exception and not at.error
    assert any("re-coded from the corrected facts" in i for i in texts(at.info))
    lines = at.data_editor(key="claim_lines_editor_1").value
    assert list(lines["cpt"]) == ["64493", "64494"] and list(lines["modifiers"]) == ["50, KX", "50, KX"]
    assert not any("R-LEVEL-LIMIT" in e for e in texts(at.error))
    at.button(key="save_review").click().run()
    fields = [f for (f,) in sqlite3.connect(db).execute("SELECT field FROM audit_events ORDER BY id")]
    assert fields == ["status", "extraction.levels[0].joint", "extraction.levels[1].joint", "extraction.levels[2]",
                      "extraction.levels[3]", "claim_lines[2]", "edits[R-LEVEL-LIMIT]", "edits[R-LIABILITY-MOD]"]


def test_streamlit_config_keeps_the_server_private():
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "localhost" and config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False


def test_a_review_needs_a_reviewer_name(at, db):
    code_example(at, CERVICAL)
    at.sidebar.text_input(key="reviewer").set_value("").run()
    at.button(key="accept_review").click().run()
    assert any("Enter your name as reviewer" in e for e in texts(at.error))
    assert not db.exists() or sqlite3.connect(db).execute("SELECT count(*) FROM reviews").fetchone() == (0,)
