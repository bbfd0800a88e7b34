"""Fuzzing every batch reader: arbitrary bytes and arbitrary records never crash a reader, every record
comes out exactly once (as a NoteInput or an error record), and every NoteInput the readers let through
gets exactly one outcome from the worker function. Failing examples found so far are kept as @example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from extractor.batch import process_chunk
from extractor.io.readers import (InputFormatError, ReaderOptions, RecordError, read_csv, read_fhir, read_jsonl,
                                  read_text)
from extractor.schema import MAX_NOTE_CHARS, NoteInput

SMALL_LINE = 2_000  # a small line limit so that fuzzed inputs also exercise line_too_long
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KINDS = {"bad_json", "bad_csv", "missing_text", "empty_text", "not_string", "invalid_utf8", "too_large",
         "line_too_long", "invalid_field", "internal"}


def _check(items) -> list:
    for loc, item in items:
        assert isinstance(loc, str) and loc
        assert isinstance(item, (NoteInput, RecordError))
        if isinstance(item, NoteInput):
            assert item.text.strip() and len(item.text) <= MAX_NOTE_CHARS
            json.dumps(item.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")  # writable as UTF-8
        else:
            assert item.kind in KINDS and item.locator == loc
    return items


def _expected_line_records(data: bytes) -> int:
    """Records in a JSON-lines file as the readers define them: non-blank lines (a line that is not UTF-8
    or is too long is a record: it becomes an error)."""
    n = 0
    pieces = data.split(b"\n")
    complete = data.count(b"\n")  # pieces[:complete] had a newline; a last piece without one is a line too
    for i, raw in enumerate(pieces[: complete + (0 if data.endswith(b"\n") else 1)], start=1):
        if len(raw) + (1 if i <= complete else 0) > SMALL_LINE:
            n += 1
            continue
        if i == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            n += bool(raw.decode("utf-8").strip())
        except UnicodeDecodeError:
            n += 1
    return n


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12)
fields = st.sampled_from(["note_id", "text", "patient_id", "date_of_service", "setting", "claim", "payer",
                          "abn_on_file", "other"])
records = st.dictionaries(fields, json_values | st.sampled_from(["office", "asc", "hopd", "medicare", "commercial",
                                                                   "2026-02-30", "2026-02-03", "", " "]), max_size=8)


@FUZZ
@given(data=st.binary(max_size=3000))
@example(data=b'{"text": "\\ud800"}\n')  # lone surrogate escape: must not reach the UTF-8 writer
@example(data=b"\xef\xbb\xbf{\"text\": \"a\"}\n\n   \n")  # BOM, blank lines
@example(data=b'{"text": "a"}\r\n{"text": 1}\x00\n')
@example(data=b"[" * 1500 + b"\n")  # deep nesting
@example(data=b'{"text": "' + b"x" * 2500 + b'"}\n{"text": "ok"}')  # a too-long line, then a last line without \n
@example(data=b'{"text": "a", "note_id": ' + b"9" * 1000 + b"}\n")  # an integer beyond Python's digit limit
@example(data=b"\x1c\n")  # a line of Unicode-only whitespace
def test_jsonl_reader_on_arbitrary_bytes(tmp_path, data):
    path = _write(tmp_path, "x.jsonl", data)
    items = _check(list(read_jsonl(path, ReaderOptions(max_line_bytes=SMALL_LINE))))
    assert len(items) == _expected_line_records(data)
    assert len({loc for loc, _ in items}) == len(items)


@FUZZ
@given(recs=st.lists(records, max_size=6))
@example(recs=[{"text": "a", "note_id": True}, {"text": "a", "abn_on_file": "maybe"}, {"text": ["a"]}])
@example(recs=[{"text": "a", "date_of_service": "2026-02-30"}, {"text": "a", "setting": 3}])
def test_jsonl_reader_on_arbitrary_records(tmp_path, recs):
    path = _write(tmp_path, "r.jsonl", "".join(json.dumps(r) + "\n" for r in recs).encode())
    items = _check(list(read_jsonl(path, ReaderOptions(max_line_bytes=SMALL_LINE))))
    assert len(items) == len(recs)


HEADER = b"note_id,text,patient_id,date_of_service,setting,payer\n"


@FUZZ
@given(body=st.binary(max_size=3000))
@example(body=b'1,"unterminated\n2,b\n')
@example(body=b"1,a\x00b,,,,\n")
@example(body=b'1,"a""b",p,2026-01-01,asc,medicare,extra\n')
@example(body=b"1,caf\xe9\n")
@example(body=b"1,a\rb\n")
@example(body=b"1," + b"y" * 2500 + b"\n2,ok\n")
def test_csv_reader_on_arbitrary_bytes(tmp_path, body):
    path = _write(tmp_path, "x.csv", HEADER + body)
    items = _check(list(read_csv(path, ReaderOptions(max_line_bytes=SMALL_LINE))))
    lines = [int(loc.rsplit(":", 1)[1]) for loc, _ in items]
    assert lines == sorted(set(lines))  # one item per record, in file order, each at its first line
    assert all(2 <= n <= body.count(b"\n") + 2 for n in lines)


@FUZZ
@given(data=st.binary(max_size=400))
@example(data=b"\xff\xfe,text\n1,a\n")
@example(data=b'"text\n')
@example(data=b"")
def test_csv_reader_on_an_arbitrary_header_reads_or_refuses_the_file(tmp_path, data):
    path = _write(tmp_path, "h.csv", data)
    try:
        _check(list(read_csv(path, ReaderOptions(max_line_bytes=SMALL_LINE))))
    except InputFormatError as exc:
        assert str(path) in str(exc)


def _doc_reference(extra: dict) -> dict:
    return {"resourceType": "DocumentReference", **extra}


fhir_docs = st.builds(_doc_reference, st.dictionaries(
    st.sampled_from(["id", "subject", "context", "date", "content"]),
    json_values | st.just([{"attachment": {"contentType": "text/plain", "data": "SGVsbG8gTDQtNQ=="}}])
    | st.just([{"attachment": {"contentType": "text/plain; charset=latin-1", "data": "SGk="}}])
    | st.just({"period": {"start": 5}}) | st.just({"reference": ["Patient/1"]}), max_size=5))


@FUZZ
@given(docs=st.lists(fhir_docs | records, max_size=5))
@example(docs=[_doc_reference({"content": [{"attachment": {"contentType": "text/plain", "data": "//79"}}]})])
@example(docs=[_doc_reference({"content": [{"attachment": {"contentType": "text/plain", "url": "http://x"}}]})])
@example(docs=[_doc_reference({"content": "x", "context": [], "subject": "Patient/1"})])
def test_fhir_reader_on_arbitrary_resources(tmp_path, docs):
    path = _write(tmp_path, "d.ndjson", "".join(json.dumps(d) + "\n" for d in docs).encode())
    items = _check(list(read_fhir(path, ReaderOptions(max_line_bytes=SMALL_LINE))))
    assert len(items) == len(docs)


@FUZZ
@given(files=st.dictionaries(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), st.binary(max_size=300), max_size=5))
@example(files={"bom": b"\xef\xbb\xbfL4-5", "nul": b"\x00", "blank": b" \n"})
def test_text_folder_reader_on_arbitrary_files(tmp_path, files):
    folder = tmp_path / "notes"
    folder.mkdir(exist_ok=True)
    for p in folder.iterdir():
        p.unlink()
    for name, data in files.items():
        (folder / f"{name}.txt").write_bytes(data)
    items = _check(list(read_text(folder, ReaderOptions())))
    assert sorted(Path(loc).stem for loc, _ in items) == sorted(files)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=st.lists(records | st.fixed_dictionaries({"text": st.text(min_size=1, max_size=300)}), min_size=1,
                     max_size=5))
@example(recs=[{"text": "\x00\ufeff L4-5 \u202e bilateral"}, {"text": "C5-6 " * 50}])
def test_every_note_the_readers_let_through_gets_exactly_one_outcome(tmp_path, recs):
    """Readers + the worker function end to end (in this process): one result or error per record."""
    path = _write(tmp_path, "e.jsonl", "".join(json.dumps(r) + "\n" for r in recs).encode())
    items = list(read_jsonl(path, ReaderOptions()))
    notes = [(i, loc, item.model_dump(mode="json")) for i, (loc, item) in enumerate(items)
             if isinstance(item, NoteInput)]
    outcomes = process_chunk(notes) if notes else []
    assert [o[0] for o in outcomes] == [n[0] for n in notes]
    for o in outcomes:
        if o[1] == "ok":
            assert json.loads(o[2])["seq"] == o[0]
        else:
            assert o[2] in KINDS
    assert len(items) == len(recs)


def test_reader_counts_bytes_for_progress(tmp_path):
    path = _write(tmp_path, "c.jsonl", b'{"text": "a"}\n{"text": "b"}\n')
    opts = ReaderOptions()
    list(read_jsonl(path, opts))
    assert opts.counter.bytes == path.stat().st_size


@pytest.mark.parametrize("limit", [16, 64])
def test_a_line_over_the_limit_is_skipped_in_pieces_and_reading_goes_on(tmp_path, limit):
    path = _write(tmp_path, "l.jsonl", b'{"text": "' + b"z" * 10 * limit + b'"}\n{"text": "ok"}\n')
    items = list(read_jsonl(path, ReaderOptions(max_line_bytes=limit)))
    assert [i.kind if isinstance(i, RecordError) else i.text for _, i in items] == ["line_too_long", "ok"]
