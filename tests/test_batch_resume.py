"""kill -9 at any moment, then ``--resume``: every note exactly once, no torn line, same files as a run that
was never interrupted. The real CLI in a subprocess, killed with SIGKILL with its worker processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from batch_support import cli, cli_env, read_lines, write_jsonl
from extractor.corpus import load_corpus

N_NOTES = 200


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    corpus = load_corpus("train")
    recs = []
    for i in range(N_NOTES):
        rec = corpus[i % len(corpus)]
        recs.append({"note_id": f"n{i:04d}", "text": rec["text"], "patient_id": f"p{i % 40}",
                     "date_of_service": f"2025-{1 + i % 12:02d}-{1 + i % 27:02d}"})
    recs.insert(100, "{broken json")  # an error record among them, also exactly once
    return write_jsonl(tmp_path_factory.mktemp("resume") / "notes.jsonl", recs)


def _start(src: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(cli("batch", str(src), "--out", str(out), "--workers", "2", "--chunk-size", "8",
                                "--format", "jsonl,csv", *extra),
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # own process group: SIGKILL takes the workers too


def _kill_when(proc: subprocess.Popen, results: Path, lines: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= lines:
            break
        if proc.poll() is not None:
            pytest.fail(f"batch ended before the kill: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _resume(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cli("batch", str(src), "--out", str(out), "--workers", "2", "--chunk-size", "8",
                              "--format", "jsonl,csv", "--resume"),
                          env=cli_env(), capture_output=True, text=True, timeout=180)


def _assert_exactly_once(out: Path) -> None:
    results = read_lines(out / "results.jsonl")
    errors = read_lines(out / "errors.jsonl")
    ids = [r["note_id"] for r in results]
    assert len(ids) == len(set(ids)) == N_NOTES
    assert set(ids) == {f"n{i:04d}" for i in range(N_NOTES)}
    assert [e["kind"] for e in errors] == ["bad_json"] and errors[0]["locator"].endswith(":101")
    assert sorted(r["seq"] for r in results + errors) == list(range(N_NOTES + 1))


@pytest.fixture(scope="module")
def clean_run(big_input, tmp_path_factory) -> Path:
    """The same job, never interrupted."""
    out = tmp_path_factory.mktemp("clean") / "out"
    run = _resume(big_input, out)  # --resume on a folder without a run simply starts one
    assert run.returncode == 0, run.stderr
    return out


def test_kill_9_twice_then_resume_finishes_every_note_exactly_once(big_input, clean_run, tmp_path):
    out = tmp_path / "out"
    proc = _start(big_input, out)
    _kill_when(proc, out / "results.jsonl", 20)
    # as if the machine died inside a write: half a line at the end of both logs
    with open(out / "results.jsonl", "ab") as f:
        f.write(b'{"seq": 99999, "note_id": "torn')
    with open(out / "errors.jsonl", "ab") as f:
        f.write(b'{"seq": 99998')
    proc = _start(big_input, out, "--resume")
    _kill_when(proc, out / "results.jsonl", 90)
    done = _resume(big_input, out)
    assert done.returncode == 0, done.stderr
    _assert_exactly_once(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["results"] == N_NOTES and summary["errors"] == 1 and summary["run"]["resumed_after"] > 0

    # the same files as a run that was never interrupted (R-FREQ included: it runs on the whole results)
    for name in ("results.jsonl", "errors.jsonl", "claims.csv"):
        assert (out / name).read_bytes() == (clean_run / name).read_bytes(), name


def test_resume_after_the_input_is_done_only_finalises_again(big_input, clean_run, tmp_path):
    """A crash during finalisation (after the last record): --resume rebuilds the end files, codes nothing."""
    out = tmp_path / "out"
    shutil.copytree(clean_run, out)
    before = {n: (out / n).read_bytes() for n in ("results.jsonl", "errors.jsonl", "claims.csv")}
    (out / "claims.csv").unlink()
    (out / "summary.json").unlink()
    (out / "claims.csv.tmp").write_text("half a file")
    again = _resume(big_input, out)
    assert again.returncode == 0, again.stderr
    assert {n: (out / n).read_bytes() for n in before} == before
    assert not (out / "claims.csv.tmp").exists()
    assert json.loads((out / "summary.json").read_text())["run"]["records_this_run"] == 0


def test_resume_refuses_other_inputs(clean_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(clean_run, out)
    other = write_jsonl(tmp_path / "other.jsonl", [{"text": "x"}])
    run = _resume(other, out)
    assert run.returncode == 2 and "same ones" in run.stderr
