"""Training and evaluation of the gap classifier on ``annotated_notes/sentences/``.

``facetcoder train gaps`` calls :func:`train_and_save`: fixed seed, split by note (the split of each note in
``annotated_notes/batches``), thresholds chosen on dev, figures measured on test, a model card written beside
the artifact.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse
import sklearn
import spacy
from sklearn.metrics import precision_recall_fscore_support

from ..atomic import atomic_write_text
from ..corpus import context_of, corpus_dir, load_corpus
from ..nlp import get_pipeline
from .elements import ELEMENT_IDS
from ..nlp.extract import read_extraction
from .features import SentenceRow, span_row
from .features import _doc_facts as doc_facts
from .compiled import export
from .paths import compiled_paths
from .model_types import element_rules
from .model import MODEL_DIR, MODEL_NAME, MODEL_VERSION, GapModel, make_classifier, make_features, save

SEED = 20261123
MIN_PRECISION = 0.95  # of "documented": a missing element must not be hidden


@dataclass
class NoteSentences:
    note_id: str
    split: str
    rows: list[SentenceRow]
    labels: list[dict[str, int]]

    def note_label(self, element: str) -> int:
        return int(any(lab[element] for lab in self.labels))


@dataclass
class Dataset:
    notes: list[NoteSentences] = field(default_factory=list)
    skipped: int = 0

    def split(self, name: str) -> list[NoteSentences]:
        return [n for n in self.notes if n.split == name]


def load_dataset(root: Path | None = None) -> Dataset:
    """Labelled sentences joined with their notes; each labelled span gets the pipeline's features."""
    root = root or corpus_dir()
    records = {r["note_id"]: r for r in load_corpus(root=root)}
    by_note: dict[str, list[dict]] = {}
    for path in sorted((root / "sentences").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                by_note.setdefault(row["note_id"], []).append(row)
    data = Dataset()
    nlp = get_pipeline()
    ids = [nid for nid in by_note if nid in records]
    data.skipped += sum(len(v) for k, v in by_note.items() if k not in records)
    for note_id, doc in zip(ids, nlp.pipe(records[i]["text"] for i in ids)):
        rec = records[note_id]
        dos = dt.date.fromisoformat(context_of(rec)["date_of_service"])
        facts = doc_facts(doc, read_extraction(doc, dos).mentions)
        rows, labels = [], []
        for lab in sorted(by_note[note_id], key=lambda r: r["start"]):
            start, end = lab["start"], lab["end"]
            if rec["text"][start:end] != lab["text"]:  # the note was edited after labelling: re-anchor
                found = rec["text"].find(lab["text"])
                if found < 0:
                    data.skipped += 1
                    continue
                start, end = found, found + len(lab["text"])
            rows.append(span_row(doc, start, end, dos, facts, rec["text"]))
            labels.append({e: int(lab["labels"].get(e, 0)) for e in ELEMENT_IDS})
        data.notes.append(NoteSentences(note_id, rec["split"], rows, labels))
    return data


def _flatten(notes: list[NoteSentences], element: str) -> tuple[list[SentenceRow], np.ndarray]:
    rows = [r for n in notes for r in n.rows]
    y = np.array([lab[element] for n in notes for lab in n.labels])
    return rows, y


FOLDS = 3


def fit(data: Dataset, seed: int = SEED) -> GapModel:
    """Fit on train + dev; choose each element's threshold on out-of-fold note scores of train + dev.

    Why not thresholds on dev alone: dev has only a dozen notes with some elements (RFA contraindication),
    so a threshold picked there is noise. The TF-IDF vocabulary is fitted once on all train + dev sentences
    (it uses no labels); the classifiers are refitted per fold, notes assigned to folds in a fixed order."""
    pool = sorted(data.split("train") + data.split("dev"), key=lambda n: n.note_id)
    pool = [n for n in pool if n.rows]
    features = make_features().fit([r for n in pool for r in n.rows])
    X = [features.transform(n.rows) for n in pool]
    labels = {e: [np.array([lab[e] for lab in n.labels]) for n in pool] for e in ELEMENT_IDS}
    fold = [i % FOLDS for i in range(len(pool))]
    oof = {e: np.zeros(len(pool)) for e in ELEMENT_IDS}
    for k in range(FOLDS):
        train_idx = [i for i in range(len(pool)) if fold[i] != k]
        held = [i for i in range(len(pool)) if fold[i] == k]
        X_train = sparse.vstack([X[i] for i in train_idx])
        for element in ELEMENT_IDS:
            clf = make_classifier(seed).fit(X_train, np.concatenate([labels[element][i] for i in train_idx]))
            for i in held:
                p = element_rules(element, pool[i].rows, clf.predict_proba(X[i])[:, 1])
                oof[element][i] = float(p.max())
    X_all = sparse.vstack(X)
    classifiers = {e: make_classifier(seed).fit(X_all, np.concatenate(labels[e])) for e in ELEMENT_IDS}
    y_notes = {e: np.array([n.note_label(e) for n in pool]) for e in ELEMENT_IDS}
    thresholds = {e: _best_threshold(y_notes[e], oof[e]) for e in ELEMENT_IDS}
    meta = {"version": MODEL_VERSION, "seed": seed,
            "out_of_fold": {e: _figures(y_notes[e], oof[e], thresholds[e]) for e in ELEMENT_IDS}}
    return GapModel(features, classifiers, thresholds, meta)


F1_TOLERANCE = 0.005


def _best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Among thresholds whose precision of 'documented' is at least MIN_PRECISION, the strictest one whose F1
    is within F1_TOLERANCE of the best (or the strictest threshold when none reaches the precision).

    Why the strictest of the near-best: F1 is flat over a wide band for common elements (a pain score is in
    most notes), and the lowest threshold of that band (0.05) lets any sentence with a number count as
    documented; a missing element must not be hidden, so ties go to the side that reports the gap."""
    scores = []
    for t in np.arange(0.05, 0.96, 0.01):
        prec, _rec, f1, _ = precision_recall_fscore_support(y, (p >= t).astype(int), average="binary",
                                                            zero_division=0)
        if prec >= MIN_PRECISION:
            scores.append((float(round(t, 2)), f1))
    if not scores:
        return 0.95
    best_f1 = max(f1 for _t, f1 in scores)
    return max(t for t, f1 in scores if f1 >= best_f1 - F1_TOLERANCE)


def _figures(y: np.ndarray, p: np.ndarray, t: float) -> dict:
    prec, rec, f1, _ = precision_recall_fscore_support(y, (p >= t).astype(int), average="binary", zero_division=0)
    return {"precision": round(float(prec), 4), "recall": round(float(rec), 4), "f1": round(float(f1), 4),
            "support": int(y.sum()), "notes": len(y)}


def note_scores(model: GapModel, notes: list[NoteSentences], element: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([n.note_label(element) for n in notes])
    p = np.array([model.findings(n.rows, [element])[element].probability for n in notes])
    return y, p


def evaluate(model: GapModel, notes: list[NoteSentences]) -> dict[str, dict[str, float]]:
    """Note-level precision, recall and F1 of 'documented', per element and macro-averaged."""
    out: dict[str, dict[str, float]] = {}
    for element in ELEMENT_IDS:
        y, p = note_scores(model, notes, element)
        out[element] = _figures(y, p, model.thresholds[element])
    out["macro"] = {"f1": round(float(np.mean([out[e]["f1"] for e in ELEMENT_IDS])), 4)}
    return out


def model_card(model: GapModel, data: Dataset, test: dict, dev: dict) -> str:
    counts = {s: sum(len(n.rows) for n in data.split(s)) for s in ("train", "dev", "test")}
    notes = {s: len(data.split(s)) for s in ("train", "dev", "test")}
    positives = {e: sum(lab[e] for n in data.notes for lab in n.labels) for e in ELEMENT_IDS}
    lines = [
        f"# Model card: {MODEL_NAME}",
        "",
        f"- Built: {dt.date.today().isoformat()} with `facetcoder train gaps` (seed {model.meta['seed']}).",
        f"- Libraries: scikit-learn {sklearn.__version__}, spaCy {spacy.__version__}, "
        f"Python {platform.python_version()}.",
        "- Task: for each documentation element of coding-rules.md §5 learned here, the probability that a "
        "sentence documents it; a note documents an element when its best sentence does.",
        "- Model: per element, word 1-2-grams + character 3-5-grams (TF-IDF) + pipeline features (section, "
        "matched facts and their context, duration rule, score/percent/index cues) -> logistic regression, "
        "sigmoid-calibrated (3-fold). Rules override the model where they read better (model_types.py): "
        "durations for D-CHRONICITY, absent care for D-CONSERVATIVE, before/after cues for D-PAIN-SCORE and "
        "D-RESPONSE, the RFA_REASON patterns for D-RFA-CONTRAINDICATION. Inference uses the same model compiled "
        "to JSON + numpy (compiled.py).",
        f"- Data: `annotated_notes/sentences/` — {sum(counts.values())} labelled sentences from "
        f"{sum(notes.values())} notes; split by note: train {counts['train']} sentences / {notes['train']} "
        f"notes, dev {counts['dev']} / {notes['dev']}, test {counts['test']} / {notes['test']}.",
        "- Positive sentences per element: " + ", ".join(f"{e} {positives[e]}" for e in ELEMENT_IDS) + ".",
        f"- Fitted on train + dev. Thresholds chosen on {FOLDS}-fold out-of-fold note scores of train + dev "
        f"(the strictest threshold within {F1_TOLERANCE} of the best F1 with precision of 'documented' >= {MIN_PRECISION}): "
        + ", ".join(f"{e} {t:.2f}" for e, t in model.thresholds.items()) + ".",
        "",
        "## Note-level figures (documented vs missing)",
        "",
        "| element | train+dev out-of-fold P | R | F1 | test P | test R | test F1 | test notes with element |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in ELEMENT_IDS:
        d, t = dev[e], test[e]
        lines.append(f"| {e} | {d['precision']:.3f} | {d['recall']:.3f} | {d['f1']:.3f} | {t['precision']:.3f} | "
                     f"{t['recall']:.3f} | {t['f1']:.3f} | {t['support']}/{t['notes']} |")
    lines += ["", f"Macro F1: out-of-fold {dev['macro']['f1']:.3f}, test {test['macro']['f1']:.3f}.", "",
              "Reproduce: `facetcoder train gaps` then `facetcoder evaluate --split test`.", ""]
    return "\n".join(lines)


def train_and_save(out_dir: Path | None = None, seed: int = SEED) -> tuple[GapModel, dict]:
    out_dir = Path(out_dir) if out_dir else MODEL_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset()
    model = fit(data, seed)
    dev = dict(model.meta["out_of_fold"])
    dev["macro"] = {"f1": round(float(np.mean([dev[e]["f1"] for e in ELEMENT_IDS])), 4)}
    test = evaluate(model, data.split("test"))
    model.meta.update({"trained": dt.date.today().isoformat(), "test": test, "dev": dev})
    save(model, out_dir / f"{MODEL_NAME}.skops")
    export(model, *compiled_paths(out_dir))
    atomic_write_text(out_dir / f"{MODEL_NAME}.md", model_card(model, data, test, dev))
    return model, test
