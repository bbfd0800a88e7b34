"""Shared helpers of the batch tests: real notes to feed in, and readers of a run's output folder."""

from __future__ import annotations

import base64
import csv
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "annotated_notes" / "examples"

#: A phrase that appears in every bad record's text: it must never show up in errors.jsonl or on stderr.
SECRET = "ZEBRA-SECRET-PHI"

MBB = ("Diagnosis: lumbar spondylosis M47.816. PROCEDURE: Diagnostic bilateral L4-5 medial branch block #1 under "
       "fluoroscopy, bupivacaine 0.5 mL each level.")
CERVICAL = ("Diagnosis: cervical spondylosis M47.812. PROCEDURE: Therapeutic right C5-6 facet joint injection under "
            "fluoroscopy, bupivacaine and Kenalog 20 mg. RFA is not an option: pacemaker.")


def example_texts() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.txt"))}


def cli_env() -> dict:
    """Environment for a subprocess running this checkout's extractor (not the installed one)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "extractor.cli", *args]


def write_jsonl(path: Path, records: list) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def document_reference(rid: str, text: str, patient: str | None = None, start: str | None = None) -> dict:
    res = {"resourceType": "DocumentReference", "id": rid, "status": "current",
           "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                       "data": base64.b64encode(text.encode()).decode()}}]}
    if patient:
        res["subject"] = {"reference": f"Patient/{patient}"}
    if start:
        res["context"] = {"period": {"start": start}}
    return res


def read_lines(path: Path) -> list[dict]:
    """Every line of a JSONL output; fails on a torn or unparsable line."""
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), f"{path.name} ends in a torn line"
    return [json.loads(line) for line in raw.decode("utf-8").splitlines()]


def read_claims(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
