"""Peak memory (RSS of the whole process tree: the CLI and its worker processes) of ``facetcoder batch`` on
10,000 and 100,000 notes. Run: python benchmarks/bench_batch_memory.py [--sizes 10000 100000] [--workers 2]
(prints figures; no assertions). 100,000 notes take several minutes on 2 cores.

The input files repeat the annotated corpus notes with new ids (patients cycling over 5,000 ids so that the
R-FREQ pass has histories to check); they are written streaming, and the batch runs in a subprocess
sampled every 0.2 s."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from extractor.corpus import load_corpus

REPO = Path(__file__).resolve().parent.parent


def make_input(path: Path, n: int) -> None:
    corpus = load_corpus()
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            rec = corpus[i % len(corpus)]
            f.write(json.dumps({"note_id": f"m{i:07d}", "text": rec["text"], "patient_id": f"p{i % 5000}",
                                "date_of_service": rec["context"]["date_of_service"]}) + "\n")


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(n: int, workers: int, fmt: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench_mem_{n}_"))
    src = tmp / "notes.jsonl"
    make_input(src, n)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "extractor.cli", "batch", str(src), "--out", str(tmp / "out"),
                             "--workers", str(workers), "--format", fmt, "--progress-every", "60"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    samples = []  # (seconds, MB) every ~10 s, to show whether memory grows with the records done
    while proc.poll() is None:
        try:
            rss = tree_rss(ps)
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        now = time.perf_counter() - t0
        if not samples or now - samples[-1][0] >= 10:
            samples.append((now, rss / 2**20))
        time.sleep(0.2)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        print(err[-2000:])
        raise SystemExit(f"batch failed with exit code {proc.returncode}")
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    print(f"{n:>7,} notes, {workers} workers: peak RSS of the process tree {peak / 2**20:6.0f} MB; "
          f"{seconds:6.1f} s, {n / seconds:6.1f} notes/s end to end; results {summary['results']:,}, "
          f"errors {summary['errors']:,}, R-FREQ re-coded {summary['r_freq_recoded']:,}; "
          f"input {src.stat().st_size / 2**20:.0f} MB, results.jsonl "
          f"{(tmp / 'out' / 'results.jsonl').stat().st_size / 2**20:.0f} MB")
    print("    RSS over time (s: MB): " + ", ".join(f"{s:.0f}: {m:.0f}" for s, m in samples))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--format", default="jsonl,csv,parquet")
    args = ap.parse_args()
    for n in args.sizes:
        measure(n, args.workers, args.format)


if __name__ == "__main__":
    main()
