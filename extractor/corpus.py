"""The gold corpus in ``annotated_notes/``: loading and the comparison of a result with its gold labels."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .schema import NoteResult

DEFAULT_CONTEXT = {"setting": "office", "claim": "professional", "payer": "medicare", "abn_on_file": None,
                   "date_of_service": "2026-06-15"}
FIELDS = ["procedure", "levels+sides", "guidance", "agents", "intent", "diagnoses", "claim_lines", "icd10_links",
          "edits"]


def corpus_dir() -> Path:
    """``annotated_notes/`` of the source checkout, else of the working directory."""
    here = Path(__file__).resolve().parent.parent / "annotated_notes"
    return here if here.is_dir() else Path.cwd() / "annotated_notes"


def load_corpus(split: str | None = None, root: Path | None = None) -> list[dict]:
    root = root or corpus_dir()
    records = []
    for path in sorted((root / "batches").glob("*.jsonl")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            rec = json.loads(line)
            rec["_locator"] = f"{path.name}:{i}"
            if split in (None, "all") or rec.get("split") == split:
                records.append(rec)
    return records


def context_of(rec: dict) -> dict:
    ctx = dict(DEFAULT_CONTEXT)
    ctx.update({k: v for k, v in (rec.get("context") or {}).items() if k in DEFAULT_CONTEXT})
    return ctx


def _lines(lines) -> Counter:
    return Counter((ln["cpt"], tuple(ln["modifiers"]), int(ln.get("units", 1))) for ln in lines)


def _links(lines) -> Counter:
    return Counter((ln["cpt"], tuple(ln["modifiers"]), frozenset(ln.get("icd10", []))) for ln in lines)


def predicted_view(result: NoteResult) -> dict:
    """The result in the gold's terms."""
    e = result.extraction
    return {
        "procedure": e.procedure,
        "levels+sides": sorted((lv.joint, lv.side) for lv in e.levels),
        "guidance": sorted(e.guidance),
        "agents": sorted({a.name for a in e.agents}),
        "intent": e.intent,
        "diagnoses": sorted({d.icd10 for d in e.diagnoses}),
        "claim_lines": _lines([ln.model_dump() for ln in result.claim_lines]),
        "icd10_links": _links([ln.model_dump() for ln in result.claim_lines]),
        "edits": sorted({(x.rule, x.severity) for x in result.edits}),
    }


def gold_view(gold: dict) -> dict:
    return {
        "procedure": gold["procedure"],
        "levels+sides": sorted((lv["joint"], lv["side"]) for lv in gold["levels"]),
        "guidance": sorted(gold["guidance"]),
        "agents": sorted(set(gold["agents"])),
        "intent": gold["intent"],
        "diagnoses": sorted(set(gold["diagnoses"])),
        "claim_lines": _lines(gold["claim_lines"]),
        "icd10_links": _links(gold["claim_lines"]),
        "edits": sorted({(x["rule"], x["severity"]) for x in gold["edits"]}),
    }


@dataclass
class Evaluation:
    n: int = 0
    correct: Counter = field(default_factory=Counter)
    errors: list[dict] = field(default_factory=list)

    def accuracy(self, name: str) -> float:
        return self.correct[name] / self.n if self.n else 0.0

    def add(self, note_id: str, pred: dict, gold: dict) -> None:
        self.n += 1
        for name in FIELDS:
            if pred[name] == gold[name]:
                self.correct[name] += 1
            else:
                p, g = pred[name], gold[name]
                if isinstance(p, Counter):
                    p, g = sorted(p.elements()), sorted(g.elements())
                self.errors.append({"note_id": note_id, "field": name, "predicted": p, "gold": g})
