"""``facetcoder evaluate``: facetcoder against the gold corpus, per field, with every error listed."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .corpus import FIELDS, Evaluation, context_of, gold_view, load_corpus, predicted_view
from .pipeline import process_note


class CorpusEvaluation(Evaluation):
    def __init__(self):
        super().__init__()
        # per note: (confidence, has an error edit, status, claim lines exactly right) for straight-through
        self.decisions: list[tuple[float, bool, str, bool]] = []

    def summary(self) -> dict:
        return {"notes": self.n, "accuracy": {f: round(self.accuracy(f), 4) for f in FIELDS},
                "errors": len(self.errors), "straight_through": self.straight_through()}

    def straight_through(self, threshold: float | None = None) -> dict:
        """Auto rate and accuracy of ``auto`` results (exact claim-line match with the gold), at the payer
        profiles' threshold (the results' own status) or at ``threshold``."""
        if threshold is None:
            auto = [ok for _, _, st, ok in self.decisions if st == "auto"]
        else:
            auto = [ok for conf, err, _, ok in self.decisions if not err and conf >= threshold]
        n = len(self.decisions)
        return {"threshold": threshold, "notes": n, "auto": len(auto),
                "auto_rate": round(len(auto) / n, 4) if n else 0.0,
                "auto_correct": sum(auto), "accuracy_of_auto": round(sum(auto) / len(auto), 4) if auto else None}


def _in_batch(rec: dict, batch: str | None) -> bool:
    return batch is None or rec["_locator"].startswith(f"{batch}.jsonl:")


def evaluate_split(split: str, batch: str | None = None) -> CorpusEvaluation:
    """Every note of ``split`` (optionally of one batch file only) against its gold."""
    ev = CorpusEvaluation()
    for rec in (r for r in load_corpus(split) if _in_batch(r, batch)):
        result = process_note(rec["text"], note_id=rec["note_id"], **context_of(rec))
        pred, gold = predicted_view(result), gold_view(rec["gold"])
        ev.add(rec["note_id"], pred, gold)
        ev.decisions.append((result.confidence, any(e.severity == "error" for e in result.edits), result.status,
                             pred["claim_lines"] == gold["claim_lines"]))
    return ev


def print_evaluation(ev: CorpusEvaluation, split: str, show_errors: bool = True) -> None:
    console = Console()
    table = Table(title=f"facetcoder on annotated_notes, split {split} ({ev.n} notes)")
    table.add_column("field")
    table.add_column("accuracy", justify="right")
    table.add_column("correct", justify="right")
    labels = {"claim_lines": "exact claim-line match (cpt, modifiers, units)",
              "icd10_links": "claim lines incl. linked ICD-10", "levels+sides": "levels + sides"}
    for f in FIELDS:
        table.add_row(labels.get(f, f), f"{ev.accuracy(f):.1%}", f"{ev.correct[f]}/{ev.n}")
    console.print(table)
    st = ev.straight_through()
    acc = f"{st['accuracy_of_auto']:.1%}" if st["accuracy_of_auto"] is not None else "n/a"
    console.print(f"straight-through: {st['auto']}/{st['notes']} results auto ({st['auto_rate']:.1%}) at the payer "
                  f"profiles' thresholds; claim lines exactly right in {st['auto_correct']}/{st['auto']} of them "
                  f"({acc})")
    if show_errors and ev.errors:
        console.print(f"\n[bold]{len(ev.errors)} errors[/]")
        for err in ev.errors:
            console.print(f"  {err['note_id']} {err['field']}: predicted {err['predicted']} gold {err['gold']}",
                          markup=False)


def print_threshold_sweep(ev: CorpusEvaluation, split: str,
                          thresholds=(0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)) -> None:
    table = Table(title=f"straight-through by confidence threshold, split {split} ({ev.n} notes)")
    for col in ("threshold", "auto", "auto rate", "accuracy of auto"):
        table.add_column(col, justify="right")
    for t in thresholds:
        st = ev.straight_through(t)
        acc = f"{st['accuracy_of_auto']:.1%}" if st["accuracy_of_auto"] is not None else "n/a"
        table.add_row(f"{t:.2f}", str(st["auto"]), f"{st['auto_rate']:.1%}", acc)
    Console().print(table)


def evaluate_gaps(split: str, batch: str | None = None) -> dict | None:
    """Per-element precision, recall and F1 of the bundled gap model on the labelled sentences' notes."""
    from .gaps.model import load
    from .gaps.paths import skops_path
    from .gaps.train import evaluate, load_dataset

    if not skops_path().is_file():
        return None
    model = load()
    data = load_dataset()
    notes = data.notes if split == "all" else data.split(split)
    if batch is not None:
        ids = {r["note_id"] for r in load_corpus(split) if _in_batch(r, batch)}
        notes = [n for n in notes if n.note_id in ids]
    if not notes:  # a batch without sentence labels yet
        return {}
    return evaluate(model, notes)


def print_gap_evaluation(figures: dict | None, split: str) -> None:
    console = Console()
    if figures is None:
        console.print("No gap model in models/: run `facetcoder train gaps`.")
        return
    if not figures:
        console.print("No sentence-labelled notes here (annotated_notes/sentences/): no gap figures.")
        return
    table = Table(title=f"documentation elements, split {split} (note level: documented vs missing)")
    for col in ("element", "precision", "recall", "F1", "notes with element"):
        table.add_column(col, justify="right" if col != "element" else "left")
    for element, f in figures.items():
        if element == "macro":
            continue
        table.add_row(element, f"{f['precision']:.3f}", f"{f['recall']:.3f}", f"{f['f1']:.3f}",
                      f"{f['support']}/{f['notes']}")
    table.add_row("macro F1", "", "", f"{figures['macro']['f1']:.3f}", "")
    console.print(table)
