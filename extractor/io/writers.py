"""Writers of a batch's output folder, all streaming.

- ``results.jsonl`` and ``errors.jsonl`` are append-only logs of whole lines (``AppendLog``): a line is
  written in one call and the files are fsync'd before the run's journal records them as done, so a crash
  leaves at most a torn tail that ``--resume`` cuts off.
- Every file made at the end (``claims.csv``, ``results.parquet``, ``summary.json``, the rewritten
  ``results.jsonl``) is written to a temporary file beside it, fsync'd, then moved into place with
  ``os.replace``: a reader sees the old file or the new one, never half of one.
- ``claims.csv`` cells that a spreadsheet would run as a formula are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ..atomic import atomic_file  # noqa: F401  (part of this module's API: the batch and its tests use it)

#: First characters that make Excel, LibreOffice or Google Sheets read a cell as a formula (or, for tab and
#: carriage return, let a formula hide behind whitespace). OWASP's CSV-injection advice: prefix with '.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

CLAIM_COLUMNS = ["note_id", "locator", "patient_id", "date_of_service", "payer", "setting", "claim", "status",
                 "confidence", "line", "cpt", "modifiers", "units", "icd10", "joints", "fee_estimate", "rules"]


def csv_safe(value) -> str:
    """A cell value as text that no spreadsheet will evaluate."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class AppendLog:
    """An append-only JSON-lines file; ``sync()`` makes what was written durable and returns the size."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._f = open(self.path, "ab")

    def write(self, line: str) -> None:
        # one write per whole line: the file never holds half a line unless the process dies inside write()
        self._f.write((line + "\n").encode("utf-8"))

    def sync(self) -> int:
        self._f.flush()
        os.fsync(self._f.fileno())
        return self._f.tell()

    def close(self) -> None:
        self._f.close()


def truncate_to(path: Path, size: int) -> None:
    """Cut ``path`` back to ``size`` bytes (what the journal last recorded as done)."""
    path = Path(path)
    if not path.exists():
        path.touch()
        return
    if path.stat().st_size > size:
        with open(path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())


def iter_jsonl(path: Path) -> Iterator[dict]:
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# ------------------------------------------------------------------------------------------------
# Files made at the end, from results.jsonl


def claim_rows(result: dict) -> Iterator[list]:
    for i, ln in enumerate(result.get("claim_lines") or [], start=1):
        yield [result.get("note_id"), result.get("locator"), result.get("patient_id"), result.get("date_of_service"),
               result.get("payer"), result.get("setting"), result.get("claim"), result.get("status"),
               result.get("confidence"), i, ln["cpt"], "-".join(ln.get("modifiers") or []), ln.get("units", 1),
               ";".join(ln.get("icd10") or []), ";".join(ln.get("joints") or []), ln.get("fee_estimate"),
               ";".join(ln.get("rules") or [])]


class ClaimsCsv:
    """claims.csv: one row per claim line, every cell formula-safe; written atomically."""

    def __init__(self, path: Path):
        self._cm = atomic_file(path, "w", encoding="utf-8", newline="")
        self._f = self._cm.__enter__()
        self._w = csv.writer(self._f)
        self._w.writerow(CLAIM_COLUMNS)

    def add(self, result: dict) -> None:
        for row in claim_rows(result):
            self._w.writerow([csv_safe(v) for v in row])

    def close(self, ok: bool = True) -> None:
        if ok:
            self._cm.__exit__(None, None, None)
        else:
            self._cm.__exit__(RuntimeError, RuntimeError("aborted"), None)


class ResultsParquet:
    """results.parquet: one row per note (key fields as columns, the whole result as JSON), written in
    row groups of ``group_size`` rows so memory stays flat; atomic like the other end files."""

    def __init__(self, path: Path, group_size: int = 5000):
        import pyarrow as pa

        self._pa = pa
        self.path = Path(path)
        self.schema = pa.schema([
            ("seq", pa.int64()), ("note_id", pa.string()), ("locator", pa.string()), ("patient_id", pa.string()),
            ("date_of_service", pa.string()), ("setting", pa.string()), ("claim", pa.string()),
            ("payer", pa.string()), ("procedure", pa.string()), ("intent", pa.string()), ("status", pa.string()),
            ("confidence", pa.float64()), ("claim_lines", pa.list_(pa.string())), ("edits", pa.list_(pa.string())),
            ("gaps", pa.list_(pa.string())), ("fee_total", pa.float64()), ("result_json", pa.string())])
        self.group_size = group_size
        self._rows: list[dict] = []
        import pyarrow.parquet as pq

        self._cm = atomic_file(self.path, "wb")
        self._writer = pq.ParquetWriter(self._cm.__enter__(), self.schema, compression="zstd")

    def add(self, result: dict, line: str | None = None) -> None:
        ex = result.get("extraction") or {}
        self._rows.append({
            "seq": result.get("seq"), "note_id": result.get("note_id"), "locator": result.get("locator"),
            "patient_id": result.get("patient_id"), "date_of_service": result.get("date_of_service"),
            "setting": result.get("setting"), "claim": result.get("claim"), "payer": result.get("payer"),
            "procedure": ex.get("procedure"), "intent": ex.get("intent"), "status": result.get("status"),
            "confidence": result.get("confidence"),
            "claim_lines": ["-".join([ln["cpt"], *ln.get("modifiers", [])]) for ln in result.get("claim_lines", [])],
            "edits": [f"{e['rule']}:{e['severity']}" for e in result.get("edits", [])],
            "gaps": [g["element"] for g in result.get("gaps", [])], "fee_total": result.get("fee_total"),
            "result_json": line if line is not None else json.dumps(result, ensure_ascii=False)})
        if len(self._rows) >= self.group_size:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(self._pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def close(self, ok: bool = True) -> None:
        if ok:
            self._flush()
        self._writer.close()  # writes the footer; the file object stays open for atomic_file to finish
        if ok:
            self._cm.__exit__(None, None, None)
        else:
            self._cm.__exit__(RuntimeError, RuntimeError("aborted"), None)


class SummaryCounter:
    """Counts for summary.json, fed one result or error at a time."""

    def __init__(self):
        self.results = 0
        self.claim_lines = 0
        self.by_cpt: Counter = Counter()
        self.by_edit: Counter = Counter()
        self.by_gap: Counter = Counter()
        self.by_status: Counter = Counter()
        self.by_procedure: Counter = Counter()
        self.errors: Counter = Counter()

    def add_result(self, r: dict) -> None:
        self.results += 1
        for ln in r.get("claim_lines") or []:
            self.claim_lines += 1
            self.by_cpt[ln["cpt"]] += 1
        for e in r.get("edits") or []:
            self.by_edit[f"{e['rule']} ({e['severity']})"] += 1
        for g in r.get("gaps") or []:
            self.by_gap[g["element"]] += 1
        if r.get("status"):
            self.by_status[r["status"]] += 1
        self.by_procedure[(r.get("extraction") or {}).get("procedure", "unknown")] += 1

    def add_error(self, e: dict) -> None:
        self.errors[e.get("kind", "internal")] += 1

    def as_dict(self) -> dict:
        def top(c: Counter) -> dict:
            return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
        return {"records": self.results + sum(self.errors.values()), "results": self.results,
                "errors": sum(self.errors.values()), "claim_lines": self.claim_lines, "by_cpt": top(self.by_cpt),
                "by_edit": top(self.by_edit), "by_gap": top(self.by_gap), "by_status": top(self.by_status),
                "by_procedure": top(self.by_procedure), "errors_by_kind": top(self.errors)}


def write_json(path: Path, data: dict) -> None:
    with atomic_file(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
