"""Throughput of ``facetcoder batch`` with 1 and 2 workers, and its ratio to spaCy's tokenizer alone on the
same notes. Run: python benchmarks/bench_batch.py [--notes 2000]  (prints figures; no assertions).

The input is a JSONL file of ``--notes`` notes made from the annotated corpus texts (new ids). Each batch
is measured end to end through ``process_batch`` (reading, worker start-up, coding, writing, R-FREQ pass,
claims.csv), and again without the worker start-up (the notes/s of the steady part, from the run's own
progress reports)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import spacy

from extractor.batch import process_batch
from extractor.corpus import load_corpus


def make_input(path: Path, n: int) -> list[str]:
    corpus = load_corpus()
    texts = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            rec = corpus[i % len(corpus)]
            texts.append(rec["text"])
            f.write(json.dumps({"note_id": f"b{i:07d}", "text": rec["text"], "patient_id": f"p{i % 997}",
                                "date_of_service": rec["context"]["date_of_service"]}) + "\n")
    return texts


def run(src: Path, out: Path, workers: int, engine: str = "local") -> tuple[float, float]:
    """(end-to-end notes/s, steady notes/s after the first progress report)."""
    marks: list[tuple[float, int]] = []

    def progress(p):
        marks.append((time.perf_counter(), p.done))

    t0 = time.perf_counter()
    summary = process_batch([src], out, workers=workers, engine=engine, progress=progress)
    total = time.perf_counter() - t0
    n = summary["records"]
    # steady rate: from the first report after a record came back to the last report before the end
    steady = [m for m in marks if m[1] > 0]
    rate = (steady[-2][1] - steady[0][1]) / (steady[-2][0] - steady[0][0]) if len(steady) > 2 else n / total
    return n / total, rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=2000)
    ap.add_argument("--engine", default="local", choices=["local", "dask"])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    src = tmp / "notes.jsonl"
    texts = make_input(src, args.notes)
    tokenizer = spacy.blank("en").tokenizer
    t0 = time.perf_counter()
    for _ in tokenizer.pipe(texts, batch_size=256):
        pass
    tok = len(texts) / (time.perf_counter() - t0)
    print(f"notes: {len(texts)} ({sum(map(len, texts)) / len(texts):.0f} characters on average); "
          f"cores: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"spaCy tokenizer alone (one process): {tok:8.1f} notes/s")
    figures = {}
    for workers in (1, 2):
        end_to_end, steady = run(src, tmp / f"out{workers}", workers, args.engine)
        figures[workers] = (end_to_end, steady)
        label = f"{workers} worker{'s' if workers > 1 else ' '}"
        print(f"batch, {label} ({args.engine}): {end_to_end:8.1f} notes/s end to end, "
              f"{steady:8.1f} notes/s steady; ratio to the tokenizer {end_to_end / tok:.3f} "
              f"(steady {steady / tok:.3f})")
    print(f"speed-up 2 workers / 1 worker: {figures[2][0] / figures[1][0]:.2f} end to end, "
          f"{figures[2][1] / figures[1][1]:.2f} steady; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
