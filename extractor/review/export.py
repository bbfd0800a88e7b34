"""Corrected reviews -> gold records in the ``annotated_notes/`` format (see annotated_notes/GUIDELINE.md),
ready for the corpus tools (``extractor.corpus.load_corpus`` / ``gold_view``) and retraining.

Only the latest review of each note counts. Reviews stored without note text are SKIPPED and counted, not
written with a flag: a gold record is only usable with its text (evaluation re-codes the text, training
reads its sentences), and a text-less record would break every consumer of ``batches/*.jsonl``. The
reviewer chooses "store note text" in the app for notes meant to become gold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_file
from .store import Review, ReviewStore


@dataclass
class ExportSummary:
    written: int = 0
    skipped_without_text: int = 0
    skipped_accepted: int = 0
    note_ids: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{self.written} reviewed note(s) written"]
        if self.skipped_without_text:
            parts.append(f"{self.skipped_without_text} skipped because their text was not stored "
                         "(choose 'store note text' when reviewing notes meant for the corpus)")
        if self.skipped_accepted:
            parts.append(f"{self.skipped_accepted} accepted without correction not written "
                         "(--include-accepted writes them too)")
        return "; ".join(parts)


def gold_labels(result: dict) -> dict:
    """A result in the gold corpus's label keys (the same keys ``corpus.gold_view`` reads)."""
    ex = result["extraction"]
    return {
        "procedure": ex["procedure"],
        "levels": [{"joint": lv["joint"], "side": lv["side"]} for lv in ex.get("levels", [])],
        "guidance": list(ex.get("guidance", [])),
        "agents": sorted({a["name"] for a in ex.get("agents", [])}),
        "intent": ex["intent"],
        "diagnoses": sorted({d["icd10"] for d in ex.get("diagnoses", [])}),
        "claim_lines": [{"cpt": ln["cpt"], "modifiers": list(ln["modifiers"]), "units": int(ln["units"]),
                         "icd10": list(ln["icd10"])} for ln in result.get("claim_lines", [])],
        "edits": [{"rule": e["rule"], "severity": e["severity"]} for e in result.get("edits", [])],
    }


def gold_record(review: Review, split: str) -> dict:
    result = review.result
    changed = sorted({ev.field for ev in review.audit_events if ev.field != "status"})
    covers = sorted({r for ln in result.get("claim_lines", []) for r in ln.get("rules", [])}
                    | {e["rule"] for e in result.get("edits", [])})
    return {
        "note_id": review.note_id,
        "split": split,
        "style": "review",
        "covers": covers,
        "text": review.note_text,
        "context": {"setting": result["setting"], "claim": result["claim"], "payer": result["payer"],
                    "abn_on_file": result.get("abn_on_file"), "date_of_service": result["date_of_service"]},
        "gold": gold_labels(result),
        "gaps": sorted(g["element"] for g in result.get("gaps", [])),
        "notes": f"{review.status} by {review.reviewer} on {review.created_at:%Y-%m-%d}"
                 + (f"; changed: {', '.join(changed)}" if changed else ""),
        "review": {"review_id": review.id, "reviewer": review.reviewer, "status": review.status,
                   "reviewed_at": review.created_at.isoformat(), "locator": review.locator,
                   "versions": {"facetcoder": review.facetcoder_version, "ruleset": review.ruleset_version,
                                "gap_model": review.gap_model_version}},
    }


def export_reviews(store: ReviewStore, out: str | Path, *, split: str = "review",
                   include_accepted: bool = False) -> ExportSummary:
    """Write the latest review of each corrected note (and accepted ones if asked) as JSONL to ``out``."""
    summary = ExportSummary()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # atomic: an interrupted export never leaves a half-written gold file behind
    with atomic_file(out, "w", encoding="utf-8") as fh:
        for review in store.latest_reviews():
            if review.status != "corrected" and not include_accepted:
                summary.skipped_accepted += 1
                continue
            if not review.note_text:
                summary.skipped_without_text += 1
                continue
            fh.write(json.dumps(gold_record(review, split), ensure_ascii=False) + "\n")
            summary.written += 1
            summary.note_ids.append(review.note_id)
    return summary


def read_records(path: str | Path) -> list[dict]:
    """Gold records from a JSONL file; a line that is not a record is an error naming the line."""
    records = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{line_no} is not JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or not rec.get("text") or not isinstance(rec.get("gold"), dict):
            raise ValueError(f"{path}:{line_no} is not a gold record with text and gold labels")
        records.append(rec)
    return records


def evaluate_records(records: list[dict]):
    """facetcoder against gold records (the corpus evaluation, on records from a file instead of the corpus)."""
    from ..corpus import context_of, gold_view, predicted_view
    from ..evaluation import CorpusEvaluation
    from ..pipeline import process_note

    ev = CorpusEvaluation()
    for rec in records:
        result = process_note(rec["text"], note_id=rec["note_id"], **context_of(rec))
        ev.add(rec["note_id"], predicted_view(result), gold_view(rec["gold"]))
    return ev
