"""Shared by the review tests: example notes and batch-style results.jsonl files built from real results."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import DOS, REPO

from extractor import process_note

EXAMPLES = REPO / "annotated_notes" / "examples"
LUMBAR_4 = "lx-039-bilateral-lumbar-mbb-four-levels.txt"  # 64493-50-KX, 64494-50-KX, 64495-50; 2 edits
JUNCTION = "lx-044-terse-thoracolumbar-junction.txt"  # 64490-LT, 64494-LT; 3 gaps, R-THERAPEUTIC-FACET
CERVICAL = "cx-032-cervical-mixed-sides-facet-injection.txt"  # 64490-50-KX, 64491-LT-KX; D-FUNCTION gap
ADDENDUM = "nx-032-addendum-one-side-not-done.txt"  # 64493-RT-KX, 64494-RT-KX; not-counted facts


def example_text(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def coded(name: str, note_id: str | None = None) -> dict:
    """The real result of an example note as JSON (what the batch runner and the app hold)."""
    return process_note(example_text(name), date_of_service=DOS,
                        note_id=note_id or name.removesuffix(".txt")).model_dump(mode="json")


def batch_line(name: str, *, locator: str | None = None, confidence: float | None = None,
               status: str | None = None) -> dict:
    """One results.jsonl line as `facetcoder batch` writes it: NoteResult JSON + locator, confidence, status
    (a key left None is left out, as from an older runner)."""
    line = coded(name)
    for key, value in {"locator": locator, "confidence": confidence, "status": status}.items():
        if value is None:
            line.pop(key, None)
        else:
            line[key] = value
    return line


def without_queue_keys(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("locator", "confidence", "status")}


def write_results(folder: Path, lines: list[dict | str]) -> Path:
    """results.jsonl in ``folder``; a str is written as is (to make a broken line)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.jsonl"
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines),
                    encoding="utf-8")
    return path
