"""Faults in a batch run: a worker process dying mid-record, files finalised atomically, whole lines only.

The worker crash uses the documented test hook ``FACETCODER_CRASH_MARKER`` (extractor/batch.py): a worker
given a note containing the marker exits at once with ``os._exit``, as an OOM-killed or segfaulting
worker would."""

from __future__ import annotations

import json

import pytest

from batch_support import MBB, example_texts, read_lines, write_jsonl
from extractor import process_batch
from extractor.batch import CRASH_MARKER_ENV
from extractor.io.writers import AppendLog, atomic_file, csv_safe, truncate_to

MARKER = "POISON-7f3a9c"


def test_a_record_that_kills_its_worker_is_retried_once_then_reported(tmp_path, monkeypatch):
    monkeypatch.setenv(CRASH_MARKER_ENV, MARKER)  # inherited by the spawned workers
    texts = list(example_texts().values())
    recs = [{"note_id": f"n{i}", "text": texts[i % len(texts)]} for i in range(14)]
    recs[5] = {"note_id": "poison", "text": f"{MBB} {MARKER}"}
    src = write_jsonl(tmp_path / "in.jsonl", recs)
    out = tmp_path / "out"
    summary = process_batch([src], out, workers=2, chunk_size=4)
    results = read_lines(out / "results.jsonl")
    errors = read_lines(out / "errors.jsonl")
    # n4, n6, n7 shared the poisoned chunk: they were retried alone and came through
    assert [r["note_id"] for r in results] == [f"n{i}" for i in range(14) if i != 5]
    assert [(e["note_id"], e["kind"]) for e in errors] == [("poison", "worker_crash")]
    assert MARKER not in (out / "errors.jsonl").read_text() and "twice" in errors[0]["message"]
    assert summary["errors_by_kind"] == {"worker_crash": 1} and summary["results"] == 13


def test_atomic_file_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_file(path, "w") as f:
            f.write("new, half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old\n" and not (tmp_path / "claims.csv.tmp").exists()
    with atomic_file(path, "w") as f:
        f.write("new\n")
    assert path.read_text() == "new\n"


def test_append_log_writes_whole_lines_and_truncate_cuts_back_to_a_recorded_size(tmp_path):
    log = AppendLog(tmp_path / "results.jsonl")
    log.write(json.dumps({"a": 1}))
    size = log.sync()
    log.write(json.dumps({"a": 2}))
    log.sync()
    log.close()
    truncate_to(tmp_path / "results.jsonl", size)
    assert read_lines(tmp_path / "results.jsonl") == [{"a": 1}]


@pytest.mark.parametrize("value, safe", [("=1+1", "'=1+1"), ("+44 20", "'+44 20"), ("-2", "'-2"),
                                         ("@SUM(A1)", "'@SUM(A1)"),
                                         ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("64493", "64493"), ("a=b", "a=b"),
                                         (None, ""), (12.5, "12.5")])
def test_csv_safe_neutralises_formula_prefixes(value, safe):
    assert csv_safe(value) == safe


def test_dask_engine_reports_a_record_that_kills_its_worker(tmp_path, monkeypatch):
    """The same fault on a Dask LocalCluster: the scheduler gives up on the task (allowed-failures 0 here, to
    keep the test short), the chunk's records are retried one by one, the poisoned one is reported."""
    import dask
    from dask.distributed import Client, LocalCluster

    monkeypatch.setenv(CRASH_MARKER_ENV, MARKER)  # inherited by the worker processes the nannies start
    recs = [{"note_id": f"n{i}", "text": MBB} for i in range(6)]
    recs[2] = {"note_id": "poison", "text": f"{MBB} {MARKER}"}
    src = write_jsonl(tmp_path / "in.jsonl", recs)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            process_batch([src], tmp_path / "out", engine="dask", dask_client=client, chunk_size=3)
    results = read_lines(tmp_path / "out" / "results.jsonl")
    errors = read_lines(tmp_path / "out" / "errors.jsonl")
    assert [r["note_id"] for r in results] == ["n0", "n1", "n3", "n4", "n5"]
    assert [(e["note_id"], e["kind"]) for e in errors] == [("poison", "worker_crash")]
