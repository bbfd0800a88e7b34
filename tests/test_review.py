"""The review library behind the app: corrections, the store and its audit trail, the queue reader,
highlighting, export to gold records, agreement figures, the code lookup and the `review` CLI."""

import json
import os
import re
import sqlite3
import subprocess
import sys

import pytest
from conftest import REPO
from review_support import (
    ADDENDUM,
    CERVICAL,
    JUNCTION,
    LUMBAR_4,
    batch_line,
    coded,
    example_text,
    without_queue_keys,
    write_results,
)

from extractor.corpus import gold_view, load_corpus, predicted_view
from extractor.review.agreement import agreement
from extractor.review.corrections import apply_corrections, field_changes, split_codes
from extractor.review.export import export_reviews
from extractor.review.highlight import highlight_html
from extractor.review.lookup import lookup_entries, parse_rules_md, search
from extractor.review.queue import filter_items, load_results, note_text_for
from extractor.review.store import ReviewStore, resolve_url
from extractor.schema import NoteResult


@pytest.fixture(scope="module")
def lumbar():
    return coded(LUMBAR_4)


@pytest.fixture(scope="module")
def junction():
    return coded(JUNCTION)


def rows_of(result):
    return [{k: ln[k] for k in ("cpt", "modifiers", "units", "icd10")} for ln in result["claim_lines"]]


# ------------------------------------------------------------------------------------------------ corrections

def test_modifier_cells_are_parsed_the_way_coders_write_them():
    assert split_codes("50, kx") == split_codes("50-KX") == split_codes(["50", "KX"]) == ["50", "KX"]
    assert split_codes("") == split_codes(None) == split_codes(float("nan")) == []


def test_field_changes_name_each_corrected_field_with_before_and_after(lumbar):
    rows = rows_of(lumbar)
    rows[2]["modifiers"] = "50, GZ"
    rows.append({"cpt": "64494", "modifiers": "", "units": None, "icd10": "M47.816"})
    fixed = apply_corrections(lumbar, claim_lines=rows, intent="therapeutic",
                              levels=[{"joint": "L4-L5", "side": "left"}], keep_edits=["R-LEVEL-LIMIT"])
    NoteResult.model_validate(fixed)
    changes = {ch.field: (ch.before, ch.after) for ch in field_changes(lumbar, fixed)}
    assert changes["claim_lines[2].modifiers"] == (["50"], ["50", "GZ"])
    assert changes["claim_lines[3]"] == (None, {"cpt": "64494", "modifiers": [], "units": 1, "icd10": ["M47.816"]})
    assert changes["extraction.intent"] == ("diagnostic", "therapeutic")
    assert changes["extraction.levels[0].joint"] == ("L2-L3", "L4-L5")
    assert changes["extraction.levels[1]"] == ({"joint": "L3-L4", "side": "bilateral"}, None)
    assert changes["edits[R-LIABILITY-MOD]"] == ("warning", None)
    assert "edits[R-LEVEL-LIMIT]" not in changes
    # the unchanged lines keep the coding core's rules; the new line cites none
    assert fixed["claim_lines"][0]["rules"] == lumbar["claim_lines"][0]["rules"] and not fixed["claim_lines"][3]["rules"]


def test_corrections_refuse_what_is_not_a_result(lumbar):
    with pytest.raises(ValueError, match="units must be at least 1"):
        apply_corrections(lumbar, claim_lines=[{"cpt": "64493", "modifiers": "", "units": 0, "icd10": ""}])
    with pytest.raises(ValueError, match="L9-L10 is not a facet joint"):
        apply_corrections(lumbar, levels=[{"joint": "L9-L10", "side": "left"}])


# ------------------------------------------------------------------------------------------------ store

def test_store_writes_a_review_and_its_audit_rows(tmp_path, lumbar):
    db = tmp_path / "sub" / "reviews.sqlite"
    rows = rows_of(lumbar)
    rows[0]["icd10"] = "M47.816, M54.50"
    with ReviewStore(db) as store:
        saved = store.save_review(lumbar, apply_corrections(lumbar, claim_lines=rows), reviewer="ana",
                                  previous_status="review")
        accepted = store.save_review(coded(CERVICAL), reviewer="ben")
    assert (saved.status, accepted.status) == ("corrected", "accepted")
    con = sqlite3.connect(db)  # the file itself, as another tool would read it
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reviews = con.execute("SELECT note_id, reviewer, status, ruleset_version, gap_model_version, note_text "
                          "FROM reviews ORDER BY id").fetchall()
    assert [r[:3] for r in reviews] == [("lx-039-bilateral-lumbar-mbb-four-levels", "ana", "corrected"),
                                        ("cx-032-cervical-mixed-sides-facet-injection", "ben", "accepted")]
    assert reviews[0][3] == lumbar["versions"]["ruleset"] and reviews[0][4] == lumbar["versions"]["gap_model"]
    assert reviews[0][5] is None
    audit = con.execute("SELECT review_id, reviewer, field, before_json, after_json, ruleset_version "
                        "FROM audit_events ORDER BY id").fetchall()
    assert [(a[0], a[2]) for a in audit] == [(1, "status"), (1, "claim_lines[0].icd10"), (2, "status")]
    assert json.loads(audit[1][3]) == ["M47.816"] and json.loads(audit[1][4]) == ["M47.816", "M54.50"]
    assert json.loads(audit[0][3]) == "review" and json.loads(audit[0][4]) == "corrected"
    assert audit[1][1] == "ana" and audit[1][5] == lumbar["versions"]["ruleset"]


def test_store_needs_a_reviewer(tmp_path, lumbar):
    with ReviewStore(tmp_path / "r.sqlite") as store, pytest.raises(ValueError, match="reviewer"):
        store.save_review(lumbar, reviewer="  ")


def test_store_location_from_url_path_or_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FACETCODER_REVIEW_DB", str(tmp_path / "env" / "r.sqlite"))
    assert resolve_url() == f"sqlite:///{tmp_path / 'env' / 'r.sqlite'}"
    assert (tmp_path / "env").is_dir()
    assert resolve_url("postgresql+psycopg://u:p@db/reviews") == "postgresql+psycopg://u:p@db/reviews"
    monkeypatch.delenv("FACETCODER_REVIEW_DB")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_url() == f"sqlite:///{tmp_path / 'home' / '.facetcoder' / 'reviews.sqlite'}"


# ------------------------------------------------------------------------------------------------ queue

def test_queue_reads_batch_results_and_names_bad_lines(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text(example_text(JUNCTION), encoding="utf-8")
    folder = tmp_path / "out"
    write_results(folder, [
        batch_line(JUNCTION, locator="notes/a.txt", confidence=0.41, status="review"),
        '{"note_id": "broken", ',
        batch_line(LUMBAR_4, locator="notes.csv:17", confidence=0.97, status="auto"),
        {"locator": "notes.csv:18", "note_id": "x"},
        batch_line(CERVICAL, locator="notes.csv:19"),  # no confidence, no status: to be reviewed
    ])
    queue = load_results(folder)
    assert [it.line_no for it in queue.items] == [1, 3, 5]
    assert queue.warnings == ["line 2 is not JSON (Expecting property name enclosed in double quotes at "
                              "character 23); skipped", "line 4 is not a facetcoder result (no extraction, claim_lines, "
                              "versions); skipped"]
    assert queue.items[1].lines == ["64493-50-KX", "64494-50-KX", "64495-50"]
    # read back from its byte offset (batch status and confidence aside: they are the queue's here)
    assert without_queue_keys(queue.result(queue.items[1])) == without_queue_keys(coded(LUMBAR_4))
    assert [it.status for it in queue.items] == ["review", "auto", "review"]
    assert queue.items[2].confidence is None
    assert [it.line_no for it in filter_items(queue.items, statuses=["review"])] == [1, 5]
    assert [it.line_no for it in filter_items(queue.items, edit_rule="R-LEVEL-LIMIT")] == [3]
    assert [it.line_no for it in filter_items(queue.items, statuses=["review"], gap_element="D-FUNCTION")] == [1, 5]
    assert note_text_for(queue.items[0], queue.folder) == example_text(JUNCTION)  # beside the results folder
    assert note_text_for(queue.items[1], queue.folder) is None
    with pytest.raises(FileNotFoundError, match="no results.jsonl"):
        load_results(tmp_path / "notes")


def test_queue_indexes_a_large_batch_and_reads_results_when_shown(tmp_path):
    """21,000 results: indexed in seconds, each read back from its byte offset; a line valid as JSON but not
    as a result is reported when it is opened."""
    lines = [json.dumps(batch_line(name, status=status, locator=f"n.csv:{i}"))
             for i, (name, status) in enumerate([(LUMBAR_4, "auto"), (JUNCTION, "review"), (CERVICAL, "review")])]
    broken = json.loads(lines[2])
    broken["extraction"]["procedure"] = "acupuncture"
    path = tmp_path / "results.jsonl"
    n = 21_000
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write((lines[i % 3] if i != n - 1 else json.dumps(broken)) + "\n")
    import time

    t0 = time.perf_counter()
    queue = load_results(path)
    assert time.perf_counter() - t0 < 15
    assert len(queue.items) == n and not queue.warnings
    review = filter_items(queue.items, statuses=["review"])
    assert len(review) == n * 2 // 3
    block = sum(len(x.encode()) + 1 for x in lines)
    assert review[-2].line_no == n - 1 and review[-2].offset == (n // 3 - 1) * block + len(lines[0].encode()) + 1
    assert queue.result(review[-2])["note_id"] == "lx-044-terse-thoracolumbar-junction"
    with pytest.raises(ValueError, match=rf"line {n} is not a facetcoder result \(extraction.procedure"):
        queue.result(review[-1])


# ------------------------------------------------------------------------------------------------ highlighting

def test_highlight_marks_facts_by_kind_and_strikes_facts_not_counted():
    result = coded(ADDENDUM)
    text = example_text(ADDENDUM)
    out = highlight_html(text, result["extraction"]["mentions"])
    assert "\n" not in out  # one HTML block: Markdown must not re-read the note
    struck = re.findall(r'<mark class="fc-(\w+) fc-not-counted"[^>]*>(.*?)</mark>', out)
    skipped = [m for m in result["extraction"]["mentions"] if not m["counted"]]
    assert skipped and len(struck) == len(skipped)
    assert {kind for kind, _ in struck} == {m["kind"] for m in skipped}
    counted_levels = [m["text"] for m in result["extraction"]["mentions"] if m["kind"] == "level" and m["counted"]]
    marked_levels = re.findall(r'<mark class="fc-level" [^>]*>(.*?)</mark>', out)
    assert counted_levels and set(counted_levels) <= set(marked_levels)


def test_highlight_escapes_html_in_the_note():
    from extractor import process_note

    hostile = "<script>alert(1)</script> right L4-5 facet injection under fluoroscopy <img src=x>"
    res = process_note(hostile).model_dump(mode="json")
    out = highlight_html(hostile, res["extraction"]["mentions"])
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out
    assert re.search(r'<mark class="fc-level" [^>]*>L4-5</mark>', out)


# ------------------------------------------------------------------------------------------------ export, agreement

def _reviews(store, lumbar, junction):
    rows = rows_of(lumbar)
    rows[2]["modifiers"] = "50, GZ"
    store.save_review(lumbar, apply_corrections(lumbar, claim_lines=rows), reviewer="ana",
                      note_text=example_text(LUMBAR_4), store_text=True)
    store.save_review(junction, apply_corrections(junction, keep_gaps=["D-PAIN-SCORE"]), reviewer="ana")
    store.save_review(coded(CERVICAL), reviewer="ben", note_text=example_text(CERVICAL), store_text=True)


def test_export_writes_gold_records_the_corpus_tools_read(tmp_path, lumbar, junction):
    with ReviewStore(tmp_path / "r.sqlite") as store:
        _reviews(store, lumbar, junction)
        out = tmp_path / "corpus" / "batches" / "reviewed.jsonl"
        summary = export_reviews(store, out)
    assert (summary.written, summary.skipped_without_text, summary.skipped_accepted) == (1, 1, 1)
    assert "1 skipped because their text was not stored" in summary.describe()
    [rec] = load_corpus(root=tmp_path / "corpus")
    assert rec["note_id"] == "lx-039-bilateral-lumbar-mbb-four-levels" and rec["split"] == "review"
    assert rec["text"] == example_text(LUMBAR_4) and rec["review"]["reviewer"] == "ana"
    gold, predicted = gold_view(rec["gold"]), predicted_view(NoteResult.model_validate(lumbar))
    # the correction is the only disagreement between facetcoder and the new gold record
    assert [f for f in gold if gold[f] != predicted[f]] == ["claim_lines", "icd10_links"]
    assert ("64495", ("50", "GZ"), 1) in gold["claim_lines"]


def test_agreement_counts_corrections_per_field_rule_and_gap_element(tmp_path, lumbar, junction):
    with ReviewStore(tmp_path / "r.sqlite") as store:
        _reviews(store, lumbar, junction)
        ag = agreement(store)
    assert (ag.reviews, ag.accepted) == (3, 1)
    assert ag.acceptance_rate("claim_lines") == pytest.approx(2 / 3)
    assert ag.acceptance_rate("gaps") == pytest.approx(2 / 3) and ag.acceptance_rate("procedure") == 1
    assert set(lumbar["claim_lines"][2]["rules"]) <= set(ag.corrections_by_rule)
    assert dict(ag.corrections_by_gap_element) == {"D-FUNCTION": 1, "D-RFA-CONTRAINDICATION": 1}


def test_review_cli_exports_and_reports_stats(tmp_path, lumbar, junction):
    db = tmp_path / "r.sqlite"
    with ReviewStore(db) as store:
        _reviews(store, lumbar, junction)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "reviewed.jsonl"
    run = subprocess.run([sys.executable, "-m", "extractor.cli", "review", "export", "--db", str(db), "--out",
                          str(out), "--split", "train", "--include-accepted"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "2 reviewed note(s) written; 1 skipped because their text was not stored" in run.stdout
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["split"] for r in records} == {"train"} and len(records) == 2
    stats = subprocess.run([sys.executable, "-m", "extractor.cli", "review", "stats", "--db", f"sqlite:///{db}",
                            "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert figures["reviews"] == 3 and figures["corrections_by_gap_element"]["D-FUNCTION"] == 1
    # the exported records are gold the evaluation reads: facetcoder disagrees exactly where corrected
    ev = subprocess.run([sys.executable, "-m", "extractor.cli", "review", "evaluate", str(out), "--json"],
                        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert ev.returncode == 0, ev.stderr
    summary = json.loads(ev.stdout)
    assert summary["notes"] == 2 and summary["errors"] == 2  # claim lines and their ICD-10 links of one note
    assert summary["accuracy"]["claim_lines"] == 0.5 and summary["accuracy"]["levels+sides"] == 1.0


# ------------------------------------------------------------------------------------------------ lookup

def _emitted_rule_ids() -> set[str]:
    """Every rule id the coding core can cite (its source) and that the example notes do cite."""
    source = (REPO / "extractor" / "coding" / "__init__.py").read_text(encoding="utf-8")
    ids = set(re.findall(r"R-[A-Z0-9]+(?:-[A-Z0-9]+)*", source))
    for name in (LUMBAR_4, JUNCTION, CERVICAL, ADDENDUM):
        res = coded(name)
        ids |= {r for ln in res["claim_lines"] for r in ln["rules"]} | {e["rule"] for e in res["edits"]}
    return ids


def test_lookup_explains_every_rule_id_gap_element_code_and_modifier():
    entries = {e["id"]: e for e in lookup_entries()}
    emitted = _emitted_rule_ids()
    assert len(emitted) >= 25
    assert emitted - set(entries) == set()
    elements = set(re.findall(r'"(D-[A-Z-]+)"', "".join(
        p.read_text(encoding="utf-8") for p in (REPO / "extractor" / "gaps").glob("*.py"))))
    assert elements and elements - set(entries) == set()
    for code in ("64490", "64491", "64492", "64493", "64494", "64495", "0213T", "0218T", "50", "RT", "LT", "KX",
                 "GA", "GZ"):
        assert code in entries
    assert all(len(e["summary"]) > 20 for e in entries.values())
    assert [e["id"] for e in search("junction", ["rule"])] == ["R-JUNCTION"]
    assert search("zzzz") == []


def test_lookup_adds_coding_rules_md_text_when_present(tmp_path):
    md = tmp_path / "coding-rules.md"
    md.write_text("## 3\n- **R-ADDON-ONCE** — third levels\n  take one unit.\nplain text\n", encoding="utf-8")
    assert parse_rules_md(md) == {"R-ADDON-ONCE": "third levels take one unit."}
    [hit] = search("R-ADDON-ONCE", rules_md=md)
    assert hit["rules_md"] == "third levels take one unit."
    assert "rules_md" not in search("R-ADDON-ONCE", rules_md=None)[0]


def test_recode_follows_the_coding_core_from_corrected_facts():
    from extractor.review.corrections import recode

    for name in (LUMBAR_4, JUNCTION, CERVICAL, ADDENDUM):  # unchanged facts: the same lines and edits
        res = coded(name)
        again = recode(res, res)
        assert (again["claim_lines"], again["edits"], again["fee_total"]) == \
            (res["claim_lines"], res["edits"], res["fee_total"])
    lumbar = coded(LUMBAR_4)
    fixed = recode(apply_corrections(lumbar, intent="therapeutic", levels=[
        {"joint": "L4-L5", "side": "bilateral"}, {"joint": "L5-S1", "side": "left"}]), lumbar)
    assert [(ln["cpt"], ln["modifiers"]) for ln in fixed["claim_lines"]] == [("64493", ["50"]), ("64494", ["LT"])]
    # therapeutic under Medicare: the note gives no reason RFA is not an option
    assert [e["rule"] for e in fixed["edits"]] == ["R-THERAPEUTIC-FACET"]
    junction = coded(JUNCTION)
    assert [e["rule"] for e in recode(junction, junction)["edits"]] == ["R-THERAPEUTIC-FACET"]
    # the reviewer says the RFA reason is documented after all: the edit goes
    assert recode(apply_corrections(junction, keep_gaps=["D-PAIN-SCORE"]), junction)["edits"] == []


def test_store_schema_is_valid_postgresql():
    """The models compile to PostgreSQL DDL (the server itself is not part of the test suite)."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from extractor.review.store import AuditEvent, Review

    reviews = str(CreateTable(Review.__table__).compile(dialect=postgresql.dialect()))
    audit = str(CreateTable(AuditEvent.__table__).compile(dialect=postgresql.dialect()))
    assert "created_at TIMESTAMP WITH TIME ZONE" in reviews and "note_text TEXT" in reviews
    assert "FOREIGN KEY(review_id) REFERENCES reviews (id)" in audit
