"""Privacy of the app and the review store: with every logger at DEBUG, coding and saving a note that holds
a marker name leaves the marker in no log record and no console output; the store holds no note text (nor
quotes of it) unless "store note text" was chosen."""

import logging
import sqlite3

import pytest
from conftest import DOS, REPO
from review_support import LUMBAR_4, example_text
from streamlit.testing.v1 import AppTest

MARKER = "Quillon Vandermeerssche"


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def all_logs():
    """A handler on the root logger and on every logger that does not propagate, all at DEBUG."""
    handler = Collect()
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    yield handler
    for lg, level in saved:
        lg.setLevel(level)
        lg.removeHandler(handler)


def code_and_save(db, monkeypatch, store_text: bool) -> AppTest:
    monkeypatch.setenv("FACETCODER_REVIEW_DB", str(db))
    monkeypatch.setenv("FACETCODER_REVIEWER", "privacy-test")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.date_input(key="date_of_service").set_value(DOS)
    at.checkbox(key="store_text").set_value(store_text)
    note = f"Patient: {MARKER}, seen with her son.\n" + example_text(LUMBAR_4).replace("The patient", MARKER)
    at.text_area(key="note_text").set_value(note).run()
    at.button(key="code_note").click().run()
    at.session_state["claim_lines_editor"] = {"edited_rows": {2: {"modifiers": "50, GZ"}}, "added_rows": [],
                                              "deleted_rows": []}
    at.button(key="save_review").click().run()
    assert not at.exception and any("saved: corrected" in s.value for s in at.success)
    # reading the store back (agreement figures, export) must not log what it reads either
    at.sidebar.radio(key="page").set_value("Agreement & export").run()
    at.text_input(key="export_path").set_value(str(db.parent / "export.jsonl")).run()
    at.button(key="export_reviews").click().run()
    assert not at.exception and any("reviewed note(s) written" in s.value for s in at.success)
    return at


def store_bytes(db) -> bytes:
    """The database as it lies on disk: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_no_note_text_in_logs_or_store_by_default(tmp_path, monkeypatch, all_logs, capfd):
    db = tmp_path / "reviews.sqlite"
    code_and_save(db, monkeypatch, store_text=False)
    assert all_logs.records, "the DEBUG capture saw nothing: the test would prove nothing"
    for record in all_logs.records:
        assert MARKER not in record.getMessage() and MARKER not in repr(record.args)
    out, err = capfd.readouterr()
    assert MARKER not in out and MARKER not in err
    assert MARKER.encode() not in store_bytes(db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT note_text FROM reviews").fetchall() == [(None,)]
    # nor quotes of the note: mentions keep their labels and spans only
    assert "spondylosis" in example_text(LUMBAR_4) and b"spondylosis" not in store_bytes(db)  # a diagnosis quote


def test_note_text_is_stored_when_chosen(tmp_path, monkeypatch, all_logs):
    db = tmp_path / "reviews.sqlite"
    code_and_save(db, monkeypatch, store_text=True)
    assert any(r.name.startswith("sqlalchemy.engine") for r in all_logs.records)  # SQL was logged, at DEBUG
    for record in all_logs.records:
        assert MARKER not in record.getMessage() and MARKER not in repr(record.args)
    [(text,)] = sqlite3.connect(db).execute("SELECT note_text FROM reviews").fetchall()
    assert text.startswith(f"Patient: {MARKER},") and MARKER.encode() in store_bytes(db)
