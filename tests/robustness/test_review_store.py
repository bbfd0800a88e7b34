"""The review store survives an app killed mid-write: SQLite in WAL mode, each review and its audit rows in
one transaction. A writer process is SIGKILLed (1) at a random moment of a write loop and (2) exactly
between sending a review's rows and committing them; the database must open, pass integrity_check, and hold
only whole reviews (each with all its audit rows)."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import REPO
from review_support import LUMBAR_4, coded

from extractor.review.store import ReviewStore

CHANGES_PER_REVIEW = 12  # audit rows per review: one status row + 11 changed fields

WRITER = textwrap.dedent("""
    import json, pathlib, sys, time
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    from extractor.review.corrections import apply_corrections
    from extractor.review.store import ReviewStore

    db, result_file, stop_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    result = json.loads(pathlib.Path(result_file).read_text())
    if stop_at:
        # Park the writer after its rows are flushed and before COMMIT of review number stop_at, and tell
        # the test, which kills it there.
        flushes = []
        @event.listens_for(Session, "after_flush")
        def park(session, ctx):
            flushes.append(1)
            if len(flushes) == stop_at:
                pathlib.Path(db + ".parked").write_text("parked")
                time.sleep(600)
    store = ReviewStore(db)
    rows = [{k: ln[k] for k in ("cpt", "modifiers", "units", "icd10")} for ln in result["claim_lines"]]
    i = 0
    while True:
        i += 1
        fixed = [dict(r, modifiers="50, GZ", icd10=f"M47.81{i % 6}") for r in rows]
        # 3 lines x 2 fields + intent + 4 levels' sides = 11 changes
        corrected = apply_corrections(result, claim_lines=fixed, intent="therapeutic",
                                      levels=[dict(joint=lv["joint"], side="left")
                                              for lv in result["extraction"]["levels"]])
        store.save_review(result, corrected, reviewer=f"writer-{i}", note_id=f"note-{i}")
""")


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    result = coded(LUMBAR_4)
    assert len(result["claim_lines"]) == 3 and len(result["extraction"]["levels"]) == 4
    path = tmp_path_factory.mktemp("writer") / "result.json"
    import json

    path.write_text(json.dumps(result))
    return path


def start_writer(tmp_path, db, result_file, stop_at=0):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen([sys.executable, str(script), str(db), str(result_file), str(stop_at)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def count_reviews(db) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT count(*) FROM reviews").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def assert_whole(db) -> list[tuple]:
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    per_review = con.execute("SELECT r.id, r.reviewer, count(a.id) FROM reviews r LEFT JOIN audit_events a "
                             "ON a.review_id = r.id GROUP BY r.id ORDER BY r.id").fetchall()
    # an acceptance written after an earlier round's crash has its one status row
    expected = {"after-crash": 1}
    assert per_review and all(n == expected.get(who, CHANGES_PER_REVIEW) for _, who, n in per_review), per_review
    orphans = con.execute("SELECT count(*) FROM audit_events WHERE review_id NOT IN (SELECT id FROM reviews)")
    assert orphans.fetchone() == (0,)
    con.close()
    with ReviewStore(db) as store:  # the app can open it and go on writing
        store.save_review(coded(LUMBAR_4), reviewer="after-crash", note_id="after")
        assert store.reviews(note_id="after")[0].audit_events[0].field == "status"
    return per_review


def test_kill_at_random_moments_of_a_write_loop_leaves_whole_reviews(tmp_path, result_file):
    rng = random.Random(20261123)
    db = tmp_path / "reviews.sqlite"
    for round_no in range(3):
        before = count_reviews(db)
        writer = start_writer(tmp_path, db, result_file)
        try:
            deadline = time.monotonic() + 30
            while count_reviews(db) < before + 5:
                assert writer.poll() is None, writer.stderr.read().decode()
                assert time.monotonic() < deadline, "the writer wrote too slowly"
                time.sleep(0.05)
            time.sleep(rng.uniform(0, 0.2))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
        assert writer.returncode == -signal.SIGKILL
        per_review = assert_whole(db)
        assert len(per_review) >= before + 5


def test_kill_between_flush_and_commit_loses_only_that_review(tmp_path, result_file):
    db = tmp_path / "reviews.sqlite"
    writer = start_writer(tmp_path, db, result_file, stop_at=4)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "reviews.sqlite.parked").exists():
            assert writer.poll() is None, writer.stderr.read().decode()
            assert time.monotonic() < deadline, "the writer never reached review 4"
            time.sleep(0.02)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    assert (tmp_path / "reviews.sqlite-wal").exists()  # the killed writer left its write-ahead log behind
    per_review = assert_whole(db)
    # reviews 1-3 committed; review 4 was flushed (its rows sent to SQLite) but not committed: gone
    assert [reviewer for _, reviewer, _ in per_review] == ["writer-1", "writer-2", "writer-3"]
