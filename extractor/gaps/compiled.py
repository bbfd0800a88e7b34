"""The gap classifier compiled for inference: plain JSON + numpy arrays, no scikit-learn at run time.

Why: importing scikit-learn and skops costs about 3 s (scipy.stats, pandas, skops' type registry) and the
sklearn predict path validates its inputs on every call, which together tripled a note's processing time.
The skops file (model.py) stays the canonical, reproducible artifact; at training time the same fitted
objects are exported here, and ``tests/test_gaps.py`` checks that both give the same probabilities.

The export reproduces exactly: TfidfVectorizer (lowercase, word 1-2-grams with token pattern \\b\\w\\w+\\b,
char_wb n-grams, sublinear tf, idf, l2 norm), DictVectorizer, and the calibrated logistic regressions
(mean over folds of expit(-(a (x.w + c) + b))). Loading uses ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, atomic_write_text
from .features import SentenceRow
from .model_types import NoteFindings

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITE = re.compile(r"\s\s+")


def _word_terms(text: str, ngram: tuple[int, int]) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    lo, hi = ngram
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


def _char_wb_terms(text: str, ngram: tuple[int, int]) -> list[str]:
    out: list[str] = []
    for w in _WHITE.sub(" ", text.lower()).split():
        out.extend(_word_char_ngrams(w, ngram))
    return out


@lru_cache(maxsize=65536)
def _word_char_ngrams(word: str, ngram: tuple[int, int]) -> tuple[str, ...]:
    """sklearn's char_wb n-grams of one word (cached: clinical notes repeat their words)."""
    lo, hi = ngram
    w = " " + word + " "
    length = len(w)
    out = []
    for n in range(lo, hi + 1):
        offset = 0
        out.append(w[offset:offset + n])
        while offset + n < length:
            offset += 1
            out.append(w[offset:offset + n])
        if offset == 0:
            break
    return tuple(out)


class _Tfidf:
    def __init__(self, spec: dict, idf: np.ndarray, offset: int):
        self.vocab: dict[str, int] = spec["vocabulary"]
        self.kind = spec["analyzer"]
        self.ngram = tuple(spec["ngram_range"])
        self.idf = idf
        self.offset = offset
        self._cols_cache: dict[str, tuple[int, ...]] = {}

    def note_entries(self, rows: list[SentenceRow]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sentence index, column, l2-normalised tf-idf value) of every non-zero feature of the note.
        Term occurrences of all sentences go into one list of keys (sentence * width + column): one numpy
        call per note instead of several per sentence, which cost more than the arithmetic."""
        width = len(self.vocab) + 1
        keys: list[int] = []
        for i, row in enumerate(rows):
            base = i * width
            keys.extend([base + j for j in self._cols(row.text)])
        if not keys:
            return _EMPTY_I, _EMPTY_I, _EMPTY_F
        keys_arr, counts = np.unique(np.array(keys, dtype=np.int64), return_counts=True)
        r, c = keys_arr // width, keys_arr % width
        values = (1.0 + np.log(counts)) * self.idf[c]
        norms = np.sqrt(np.bincount(r, weights=values * values, minlength=len(rows)))
        return r, self.offset + c, values / norms[r]

    def _cols(self, text: str) -> list[int]:
        """In-vocabulary column of every term occurrence of ``text`` (repeats kept: they are the counts)."""
        if self.kind == "word":
            vocab = self.vocab
            return [j for t in _word_terms(text, self.ngram) if (j := vocab.get(t)) is not None]
        out: list[int] = []
        for w in _WHITE.sub(" ", text.lower()).split():
            out.extend(self._word_cols(w))
        return out

    def _word_cols(self, word: str) -> tuple[int, ...]:
        hit = self._cols_cache.get(word)
        if hit is None:
            vocab = self.vocab
            hit = tuple(j for t in _word_char_ngrams(word, self.ngram) if (j := vocab.get(t)) is not None)
            if len(self._cols_cache) < 200_000:
                self._cols_cache[word] = hit
        return hit


_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)


class CompiledGapModel(NoteFindings):
    def __init__(self, spec: dict, arrays: dict[str, np.ndarray]):
        self.version = spec["version"]
        self.thresholds: dict[str, float] = spec["thresholds"]
        self.blocks: list = []
        offset = 0
        for block in spec["blocks"]:
            if block["type"] == "tfidf":
                self.blocks.append(_Tfidf(block, arrays[block["idf"]], offset))
                offset += len(block["vocabulary"])
            else:
                self.blocks.append(("dict", block["vocabulary"], offset))
                offset += len(block["vocabulary"])
        self.width = offset
        # all elements' fold weights side by side: one matrix product per note
        names = list(spec["elements"])
        self.W = np.hstack([arrays[f"{e}.W"] for e in names])
        self.c = np.concatenate([arrays[f"{e}.c"] for e in names])
        self.a = np.concatenate([arrays[f"{e}.a"] for e in names])
        self.b = np.concatenate([arrays[f"{e}.b"] for e in names])
        self.slices: dict[str, slice] = {}
        start = 0
        for e in names:
            k = arrays[f"{e}.W"].shape[1]
            self.slices[e] = slice(start, start + k)
            start += k
        self.elements = names

    def decisions(self, rows: list[SentenceRow]) -> np.ndarray:
        """x.w for every sentence and every fold of every element (rows x folds), computed for the whole
        note at once: per-sentence numpy calls cost more than the arithmetic."""
        n = len(rows)
        all_rows: list[np.ndarray] = []
        all_cols: list[np.ndarray] = []
        all_vals: list[np.ndarray] = []
        for block in self.blocks:
            if isinstance(block, _Tfidf):
                r, c, v = block.note_entries(rows)
            else:
                _kind, vocab, offset = block
                triples = [(i, offset + j, float(value)) for i, row in enumerate(rows)
                           for name, value in row.features().items() if value and (j := vocab.get(name)) is not None]
                r = np.fromiter((t[0] for t in triples), dtype=np.int64, count=len(triples))
                c = np.fromiter((t[1] for t in triples), dtype=np.int64, count=len(triples))
                v = np.fromiter((t[2] for t in triples), dtype=np.float64, count=len(triples))
            all_rows.append(r)
            all_cols.append(c)
            all_vals.append(v)
        r, c, v = np.concatenate(all_rows), np.concatenate(all_cols), np.concatenate(all_vals)
        # sum the weighted entries per sentence with one reduceat over entries sorted by sentence: faster than a
        # bincount per fold column (equal up to float rounding, ~1e-14) and, unlike a matrix product, it starts
        # no BLAS threads (batch workers already use every core)
        out = np.zeros((n, self.W.shape[1]))
        if len(r) == 0:
            return out
        order = np.argsort(r, kind="stable")
        rows_sorted = r[order]
        starts = np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1]])
        out[rows_sorted[starts]] = np.add.reduceat(self.W[c[order]] * v[order, None], starts, axis=0)
        return out

    def sentence_probabilities(self, rows: list[SentenceRow], elements: list[str] | None = None) -> dict:
        elements = elements or list(self.elements)
        if not rows:
            return {e: np.zeros(0) for e in elements}
        folds = 1.0 / (1.0 + np.exp(self.a * (self.decisions(rows) + self.c) + self.b))
        return {e: folds[:, self.slices[e]].mean(axis=1) for e in elements}

    @property
    def element_ids(self) -> list[str]:
        return list(self.elements)


def export(model, json_path: Path, npz_path: Path) -> None:
    """Write the fitted GapModel (model.py) as JSON + npz."""
    from .model import _linear_form  # sklearn objects -> arrays

    arrays: dict[str, np.ndarray] = {}
    blocks = []
    for name, step in model.features.transformer_list:
        if hasattr(step, "named_steps"):
            tfidf = step.named_steps["tfidf"]
            key = f"idf.{name}"
            arrays[key] = tfidf.idf_.astype(np.float64)
            blocks.append({"type": "tfidf", "name": name, "analyzer": tfidf.analyzer,
                           "ngram_range": list(tfidf.ngram_range), "idf": key,
                           "vocabulary": {t: int(i) for t, i in tfidf.vocabulary_.items()}})
        else:
            blocks.append({"type": "dict", "name": name,
                           "vocabulary": {t: int(i) for t, i in step.vectorizer.vocabulary_.items()}})
    for element, clf in model.classifiers.items():
        W, c, a, b = _linear_form(clf)
        arrays[f"{element}.W"] = np.ascontiguousarray(W)
        arrays[f"{element}.c"], arrays[f"{element}.a"], arrays[f"{element}.b"] = c, a, b
    spec = {"version": model.version, "thresholds": model.thresholds, "elements": list(model.classifiers),
            "blocks": blocks}
    # each file replaced atomically: a crash mid-write leaves the previous file whole, never a torn one
    with atomic_path(npz_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    atomic_write_text(json_path, json.dumps(spec, ensure_ascii=False, sort_keys=True))


def load_compiled(json_path: Path, npz_path: Path) -> CompiledGapModel:
    spec = json.loads(json_path.read_text(encoding="utf-8"))
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return CompiledGapModel(spec, arrays)
