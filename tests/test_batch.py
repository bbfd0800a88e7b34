"""``facetcoder batch`` / ``process_batch``: every input format, every bad-record kind, the output files,
R-FREQ across a patient's visits, and the Dask engine giving the same files as the local one.

One mixed run (module fixture) feeds all four readers at once, good and bad records interleaved; the tests
read its output folder. Engines are real: spawned worker processes, a Dask LocalCluster."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from batch_support import (CERVICAL, MBB, SECRET, cli, cli_env, document_reference, example_texts, read_claims,
                           read_lines, write_jsonl)
from extractor import process_batch
from extractor.schema import MAX_NOTE_CHARS

LINE_LIMIT = 300_000  # small enough to make a too-long line cheaply, large enough for a too-large note


def _mixed_inputs(root: Path, csv_names: str = "note_id,text") -> tuple[list[Path], dict[str, str], dict[str, str]]:
    """Inputs of every format; returns (paths, locator -> expected error kind, locator -> expected note id)."""
    ex = example_texts()
    names = list(ex)
    bad: dict[str, str] = {}
    good: dict[str, str] = {}

    folder = root / "notes"
    folder.mkdir()
    for name in names[:2]:
        (folder / f"{name}.txt").write_text(ex[name], encoding="utf-8")
        good[str(folder / f"{name}.txt")] = name
    (folder / "latin1.txt").write_bytes(f"{SECRET} caf\xe9 L4-5".encode("latin-1"))
    bad[str(folder / "latin1.txt")] = "invalid_utf8"
    (folder / "blank.txt").write_text("  \n\n", encoding="utf-8")
    bad[str(folder / "blank.txt")] = "empty_text"
    (folder / "huge.txt").write_bytes(b"x" * (4 * MAX_NOTE_CHARS + 1))
    bad[str(folder / "huge.txt")] = "too_large"
    (folder / "readme.md").write_text("not a note", encoding="utf-8")  # not .txt: not an input

    csv_path = root / "export.csv"
    multi_line = ex[names[2]].replace('"', '""')
    rows = [
        f"{csv_names},patient_id,date_of_service,setting,payer",
        f'c1,"{multi_line}",p9,2026-02-03,asc,commercial',
        f'c2,"{SECRET} L4-5 under fluoroscopy",p9,2026-02-03,clinic,medicare',
        "c3,,p9,2026-02-03,office,medicare",
        f'c4,"{SECRET} L4-5",p9,2026-02-03,office,medicare,surplus',
        "",
        f'"=HYPERLINK(""http://x"")","{MBB}",+p1,2026-02-03,office,medicare',
    ]
    data = "\n".join(rows).encode() + b"\n" + b'c7,"' + SECRET.encode() + b' caf\xe9",p9,,,\n'
    data += b'c8,"' + SECRET.encode() + b" " + b"y" * (LINE_LIMIT + 10) + b'",p9,,,\n'
    data += f'c9,"{CERVICAL}",p10,2026-13-01,office,medicare\n'.encode()
    csv_path.write_bytes(data)
    # the multi-line note starts on line 2 and spans several lines: later locators count every line
    line = 2
    good[f"{csv_path}:{line}"] = "c1"
    line += multi_line.count("\n") + 1
    bad[f"{csv_path}:{line}"] = "invalid_field"  # unknown setting
    bad[f"{csv_path}:{line + 1}"] = "empty_text"
    bad[f"{csv_path}:{line + 2}"] = "bad_csv"  # surplus field
    good[f"{csv_path}:{line + 4}"] = '=HYPERLINK("http://x")'  # after a blank line
    bad[f"{csv_path}:{line + 5}"] = "invalid_utf8"
    bad[f"{csv_path}:{line + 6}"] = "line_too_long"
    bad[f"{csv_path}:{line + 7}"] = "invalid_field"  # month 13

    jl = root / "notes.jsonl"
    lines = [
        json.dumps({"note_id": "j1", "text": ex[names[3]], "patient_id": 17, "date_of_service": "2026-01-05"}),
        '{"note_id": "j2", "text": "' + SECRET + ' L4-5',  # bad JSON (unterminated)
        json.dumps([SECRET]),  # not an object
        json.dumps({"note_id": "j4", "body": SECRET}),  # no text key
        json.dumps({"note_id": "j5", "text": None}),
        json.dumps({"note_id": "j6", "text": 42}),
        json.dumps({"note_id": "j7", "text": " \t "}),
        json.dumps({"note_id": "j8", "text": SECRET + "a" * MAX_NOTE_CHARS}),
        json.dumps({"note_id": "j9", "text": SECRET + "b" * (LINE_LIMIT + 1)}),
        json.dumps({"note_id": "j10", "text": SECRET, "payer": "acme"}),
        '{"note_id": "j11", "text": "' + SECRET + ' \\ud800"}',  # a lone surrogate escape
        "   ",  # blank: not a record
        json.dumps({"note_id": "j13", "text": ex[names[4]], "abn_on_file": "yes"}),
        json.dumps({"note_id": "j14", "text": SECRET, "date_of_service": "yesterday"}),
    ]
    raw = "\n".join(lines).encode() + b"\n" + b'{"note_id": "j15", "text": "' + SECRET.encode() + b' \xff"}\n'
    jl.write_bytes(raw)
    for i, kind in {2: "bad_json", 3: "bad_json", 4: "missing_text", 5: "missing_text", 6: "not_string",
                    7: "empty_text", 8: "too_large", 9: "line_too_long", 10: "invalid_field", 11: "invalid_utf8",
                    14: "invalid_field", 15: "invalid_utf8"}.items():
        bad[f"{jl}:{i}"] = kind
    good[f"{jl}:1"] = "j1"
    good[f"{jl}:13"] = "j13"

    fhir = root / "docs.ndjson"
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"text": SECRET}]}
    no_plain = document_reference("f4", SECRET)
    no_plain["content"][0]["attachment"]["contentType"] = "application/pdf"
    bad_b64 = document_reference("f3", SECRET)
    bad_b64["content"][0]["attachment"]["data"] = "%%%not base64%%%"
    write_jsonl(fhir, [document_reference("f1", ex[names[5]], patient="pat-1", start="2026-04-02T09:30:00Z"),
                       patient, bad_b64, no_plain, document_reference("f5", MBB, patient="pat-1")])
    good[f"{fhir}:1"] = "f1"
    bad[f"{fhir}:2"] = "invalid_field"
    bad[f"{fhir}:3"] = "invalid_field"
    bad[f"{fhir}:4"] = "missing_text"
    good[f"{fhir}:5"] = "f5"
    return [folder, csv_path, jl, fhir], bad, good


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    inputs, bad, good = _mixed_inputs(root)
    out = root / "out"
    summary = process_batch(inputs, out, workers=2, formats=["jsonl", "csv", "parquet"], max_line_bytes=LINE_LIMIT,
                            chunk_size=4)
    return {"root": root, "inputs": inputs, "bad": bad, "good": good, "out": out, "summary": summary}


def test_every_record_is_one_result_or_one_error(mixed):
    results = read_lines(mixed["out"] / "results.jsonl")
    errors = read_lines(mixed["out"] / "errors.jsonl")
    seen = [r["locator"] for r in results] + [e["locator"] for e in errors]
    assert len(seen) == len(set(seen))
    assert set(seen) == set(mixed["bad"]) | set(mixed["good"])
    assert sorted(r["seq"] for r in results + errors) == list(range(len(seen)))


def test_bad_records_become_error_records_with_their_kind_and_line(mixed):
    errors = {e["locator"]: e for e in read_lines(mixed["out"] / "errors.jsonl")}
    for loc, kind in mixed["bad"].items():
        assert loc in errors, f"no error record for {loc}"
        assert errors[loc]["kind"] == kind, (loc, errors[loc])


def test_error_records_never_hold_note_text(mixed):
    raw = (mixed["out"] / "errors.jsonl").read_text(encoding="utf-8")
    assert raw and SECRET not in raw and "caf" not in raw


def test_good_records_become_results_with_locator_and_context(mixed):
    results = {r["locator"]: r for r in read_lines(mixed["out"] / "results.jsonl")}
    for loc, note_id in mixed["good"].items():
        assert results[loc]["note_id"] == note_id
    jl = str(mixed["root"] / "notes.jsonl")
    assert results[f"{jl}:1"]["patient_id"] == "17" and results[f"{jl}:1"]["date_of_service"] == "2026-01-05"
    assert results[f"{jl}:13"]["abn_on_file"] is True
    fhir = str(mixed["root"] / "docs.ndjson")
    assert results[f"{fhir}:1"]["patient_id"] == "pat-1" and results[f"{fhir}:1"]["date_of_service"] == "2026-04-02"
    assert [ln["cpt"] for ln in results[f"{fhir}:5"]["claim_lines"]] == ["64493"]


def test_summary_counts_match_the_files(mixed):
    s = mixed["summary"]
    results = read_lines(mixed["out"] / "results.jsonl")
    errors = read_lines(mixed["out"] / "errors.jsonl")
    assert s["results"] == len(results) and s["errors"] == len(errors) and s["records"] == len(results) + len(errors)
    assert sum(s["by_cpt"].values()) == s["claim_lines"] == sum(len(r["claim_lines"]) for r in results)
    assert sum(s["errors_by_kind"].values()) == len(errors)
    assert json.loads((mixed["out"] / "summary.json").read_text())["results"] == s["results"]
    table = pq.read_table(mixed["out"] / "results.parquet")
    assert table.num_rows == len(results)
    assert table.column("note_id").to_pylist() == [r["note_id"] for r in results]


# ------------------------------------------------------------------------------------------------
# CSV: column mapping, multi-line records, formula injection


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv")
    inputs, bad, good = _mixed_inputs(root, csv_names="id,body")
    csv_path = inputs[1]
    out = root / "out"
    process_batch([csv_path], out, workers=1, max_line_bytes=LINE_LIMIT, columns={"note_id": "id", "text": "body"})
    return {"out": out, "bad": {k: v for k, v in bad.items() if "export.csv" in k},
            "good": {k: v for k, v in good.items() if "export.csv" in k}}


def test_csv_records_with_mapped_columns_and_their_line_numbers(csv_run):
    results = {r["locator"]: r for r in read_lines(csv_run["out"] / "results.jsonl")}
    errors = {e["locator"]: e for e in read_lines(csv_run["out"] / "errors.jsonl")}
    assert {loc: r["note_id"] for loc, r in results.items()} == csv_run["good"]
    assert {loc: e["kind"] for loc, e in errors.items()} == csv_run["bad"]
    c1 = next(r for r in results.values() if r["note_id"] == "c1")
    assert (c1["setting"], c1["payer"], c1["patient_id"]) == ("asc", "commercial", "p9")


def test_claims_csv_is_safe_against_formula_injection(csv_run):
    rows = read_claims(csv_run["out"] / "claims.csv")
    injected = [r for r in rows if "HYPERLINK" in r["note_id"]]
    assert injected and all(r["note_id"] == "'=HYPERLINK(\"http://x\")" for r in injected)
    assert all(r["patient_id"] == "'+p1" for r in injected)
    for r in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values())
    assert injected[0]["cpt"] == "64493" and injected[0]["modifiers"] == "50-KX"


def test_csv_without_text_column_is_a_clear_exit_2(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,body\n1,hello\n", encoding="utf-8")
    run = subprocess.run(cli("batch", str(path), "--out", str(tmp_path / "o")), env=cli_env(), capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "no column 'text'" in run.stderr and "--column text=NAME" in run.stderr


@pytest.mark.parametrize("args, message", [
    (["missing.csv"], "no such file"),
    (["notes.xlsx"], "unknown input format"),
    (["notes.jsonl", "--engine", "spark"], "unknown engine"),
    (["notes.jsonl", "--format", "jsonl,xml"], "unknown output format"),
    (["notes.jsonl", "--setting", "clinic"], "invalid --setting"),
    (["notes.jsonl", "--payer", "acme"], "unknown payer profile"),
])
def test_bad_invocations_exit_2_with_a_message(tmp_path, args, message):
    (tmp_path / "notes.xlsx").write_bytes(b"PK\x03\x04")
    write_jsonl(tmp_path / "notes.jsonl", [{"text": MBB}])
    run = subprocess.run(cli("batch", *args, "--out", str(tmp_path / "o")), cwd=tmp_path, env=cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_cli_on_the_bundled_examples_prints_progress_lines_and_the_summary(tmp_path):
    from batch_support import EXAMPLES

    out = tmp_path / "out"
    run = subprocess.run(cli("batch", str(EXAMPLES), "--out", str(out), "--workers", "2", "--progress-every", "0"),
                         env=cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "done: 6 records (6 results, 0 errors)" in run.stderr  # plain lines: stderr is not a terminal
    assert "6 records: 6 results, 0 errors" in run.stdout and "by CPT: 64494" in run.stdout
    assert len(read_lines(out / "results.jsonl")) == 6 and (out / "claims.csv").exists()
    again = subprocess.run(cli("batch", str(EXAMPLES), "--out", str(out)), env=cli_env(), capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 2 and "--resume" in again.stderr  # never mixes two runs in one folder


# ------------------------------------------------------------------------------------------------
# R-FREQ across a patient's visits


def _visits(path: Path) -> Path:
    """Patient A: five diagnostic lumbar MBBs in 8 months (out of date order in the file), one cervical
    therapeutic; patient B: one MBB; patient C: two MBBs 400 days apart."""
    recs = [
        {"note_id": "a3", "patient_id": "A", "date_of_service": "2025-05-01", "text": MBB},
        {"note_id": "a1", "patient_id": "A", "date_of_service": "2025-01-10", "text": MBB},
        {"note_id": "a5", "patient_id": "A", "date_of_service": "2025-09-01", "text": MBB},
        {"note_id": "b1", "patient_id": "B", "date_of_service": "2025-05-01", "text": MBB},
        {"note_id": "a2", "patient_id": "A", "date_of_service": "2025-03-01", "text": MBB},
        {"note_id": "a4", "patient_id": "A", "date_of_service": "2025-07-01", "text": MBB},
        {"note_id": "ac", "patient_id": "A", "date_of_service": "2025-08-01", "text": CERVICAL},
        {"note_id": "c1", "patient_id": "C", "date_of_service": "2024-01-01", "text": MBB},
        {"note_id": "c2", "patient_id": "C", "date_of_service": "2025-02-04", "text": MBB},
        {"note_id": "n1", "date_of_service": "2025-09-01", "text": MBB},  # no patient id: no history
    ]
    return write_jsonl(path, recs)


@pytest.fixture(scope="module")
def visits_local(tmp_path_factory):
    root = tmp_path_factory.mktemp("visits")
    src = _visits(root / "visits.jsonl")
    out = root / "local"
    summary = process_batch([src], out, workers=2, chunk_size=2, formats=["jsonl", "csv", "parquet"])
    return {"src": src, "out": out, "summary": summary}


def test_rfreq_later_sessions_get_the_edit_naming_the_earlier_ones(visits_local):
    results = {r["note_id"]: r for r in read_lines(visits_local["out"] / "results.jsonl")}

    def freq(nid):
        return [e for e in results[nid]["edits"] if e["rule"] == "R-FREQ"]

    for nid in ("a1", "a2", "b1", "c1", "c2", "ac", "n1"):
        assert freq(nid) == [], nid
    for nid, earlier in (("a3", ["a1", "a2"]), ("a4", ["a1", "a2", "a3"])):
        (edit,) = freq(nid)
        assert edit["severity"] == "warning" and all(f"({e})" in edit["message"] for e in earlier)
    (edit,) = freq("a5")
    assert edit["severity"] == "error" and "Session 5" in edit["message"]
    assert all(f"({e})" in edit["message"] for e in ("a1", "a2", "a3", "a4")) and "(ac)" not in edit["message"]
    assert "R-FREQ" in results["a5"]["claim_lines"][0]["rules"]
    assert visits_local["summary"]["r_freq_recoded"] == 4  # a2..a5 have earlier sessions
    claims = [r for r in read_claims(visits_local["out"] / "claims.csv") if r["note_id"] == "a5"]
    assert "R-FREQ" in claims[0]["rules"].split(";")
    assert visits_local["summary"]["by_edit"]["R-FREQ (error)"] == 1


def test_rfreq_in_batch_matches_process_note_with_the_history(visits_local):
    """The batch's second pass gives what one call with patient_history gives."""
    from extractor import process_note
    from extractor.schema import PriorSession

    results = {r["note_id"]: r for r in read_lines(visits_local["out"] / "results.jsonl")}
    history = [PriorSession(date_of_service=d, family="lumbosacral", intent="diagnostic",
                            procedure="medial_branch_block", note_id=n)
               for n, d in (("a1", "2025-01-10"), ("a2", "2025-03-01"), ("a3", "2025-05-01"), ("a4", "2025-07-01"))]
    one = process_note(MBB, date_of_service="2025-09-01", patient_id="A", note_id="a5", patient_history=history)
    got = results["a5"]
    assert [(ln.cpt, ln.modifiers, ln.rules) for ln in one.claim_lines] == [
        (ln["cpt"], ln["modifiers"], ln["rules"]) for ln in got["claim_lines"]]
    assert [(e.rule, e.severity) for e in one.edits] == [(e["rule"], e["severity"]) for e in got["edits"]]


# ------------------------------------------------------------------------------------------------
# The Dask engine gives the same files


@pytest.fixture(scope="module")
def dask_client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_engine_writes_the_same_files_as_the_local_engine(visits_local, dask_client, tmp_path):
    out = tmp_path / "dask"
    summary = process_batch([visits_local["src"]], out, engine="dask", dask_client=dask_client, chunk_size=3,
                            formats=["jsonl", "csv", "parquet"])
    for name in ("results.jsonl", "errors.jsonl", "claims.csv"):
        assert (out / name).read_bytes() == (visits_local["out"] / name).read_bytes(), name
    assert pq.read_table(out / "results.parquet").equals(pq.read_table(visits_local["out"] / "results.parquet"))
    assert summary["by_edit"] == visits_local["summary"]["by_edit"] and summary["run"]["engine"] == "dask"


def test_dask_engine_on_its_own_local_cluster_matches_local_on_the_mixed_inputs(mixed, tmp_path):
    """No client and no --scheduler: the engine starts (and stops) a LocalCluster of its own."""
    out = tmp_path / "dask"
    summary = process_batch(mixed["inputs"], out, engine="dask", workers=2, max_line_bytes=LINE_LIMIT, chunk_size=5)
    assert summary["run"]["engine"] == "dask"
    for name in ("results.jsonl", "errors.jsonl", "claims.csv"):
        assert (out / name).read_bytes() == (mixed["out"] / name).read_bytes(), name


# ------------------------------------------------------------------------------------------------
# Readers on their own (no pipeline)


def test_single_txt_file_and_fhir_date_fallback_and_defaults(tmp_path):
    from extractor.io.readers import Defaults, ReaderOptions, iter_records, plan_inputs

    note = tmp_path / "visit-7.txt"
    note.write_bytes(b"\xef\xbb\xbf" + MBB.encode())
    doc = document_reference("d1", MBB, patient="x9")
    doc["date"] = "2026-05-06T10:00:00+02:00"
    fhir = write_jsonl(tmp_path / "d.ndjson", [doc])
    opts = ReaderOptions(defaults=Defaults(setting="hopd", payer="commercial", abn_on_file=False))
    items = list(iter_records(plan_inputs([note, fhir]), opts))
    (loc1, n1), (loc2, n2) = items
    assert loc1 == str(note) and n1.note_id == "visit-7" and n1.text == MBB  # BOM dropped
    assert (n1.setting, n1.payer, n1.abn_on_file) == ("hopd", "commercial", False)
    assert loc2 == f"{fhir}:1" and n2.patient_id == "x9" and n2.date_of_service.isoformat() == "2026-05-06"
    assert plan_inputs([tmp_path / "d.ndjson"], "jsonl") == [(tmp_path / "d.ndjson", "jsonl")]


def test_on_a_terminal_the_cli_shows_a_progress_bar_with_rate_and_eta(tmp_path):
    import os
    import pty

    from batch_support import EXAMPLES

    leader, follower = pty.openpty()
    proc = subprocess.Popen(cli("batch", str(EXAMPLES), "--out", str(tmp_path / "out"), "--workers", "1"),
                            env={**cli_env(), "COLUMNS": "160", "TERM": "xterm"}, stdout=subprocess.DEVNULL,
                            stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert "notes/s" in shown and "ETA" in shown and "6 records" in shown and "━" in shown
    assert "done: " not in shown  # the plain lines are for pipes and logs
