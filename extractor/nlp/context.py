"""Clinical context (R-CONTEXT), in the spirit of ConText / medspaCy.

Trigger rules live in ``patterns/context.jsonl``: a literal, a category (NEGATED, HISTORICAL,
HYPOTHETICAL, FAMILY, PSEUDO, TERMINATE) and a direction (forward, backward, pseudo, terminate), with an
optional ``max_scope`` in tokens, ``allowed`` target labels and ``sentence_start``. A trigger modifies the target spans in its scope: from the trigger to
the end of its sentence (forward) or back to the sentence start (backward), cut at a termination
trigger and at ``max_scope`` tokens. Section rules give a default category to every target in a
section (a fact in "PLAN:" is hypothetical). Pseudo-triggers ("negative aspiration", "prior to") mask
the triggers they contain.

Targets are the spans in ``doc.spans["spine"]`` and ``doc.spans["facts"]``; each gets the Span
extensions ``is_negated``, ``is_historical``, ``is_hypothetical``, ``is_family`` and ``section``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from .rulefiles import PatternFileError, read_rule_rows
from .sections import section_at, sentence_token_bounds
from .tokenizer import doc_text

CATEGORIES = {
    "NEGATED": "is_negated",
    "HISTORICAL": "is_historical",
    "HYPOTHETICAL": "is_hypothetical",
    "FAMILY": "is_family",
}
for _attr in CATEGORIES.values():
    Span.set_extension(_attr, default=False, force=True)
Span.set_extension("section", default="none", force=True)
Span.set_extension("context_triggers", default=None, force=True)  # list of trigger texts, for audit

TARGET_KEYS = ("spine", "facts")
DIRECTIONS = ("forward", "backward", "pseudo", "terminate", "section")


@dataclass(frozen=True)
class TriggerRule:
    literal: str
    category: str
    direction: str
    max_scope: int
    stop_at_comma: bool
    sentence_start: bool  # only when the trigger opens its sentence ('For a C7 medial branch block, ...')
    allowed: frozenset[str] | None  # labels the trigger may modify ('C-arm was down': guidance only)


class ClinicalContext:
    def __init__(self, nlp: Language, name: str, rules_path: str, default_max_scope: int):
        self.name = name
        self.rules: dict[str, TriggerRule] = {}
        self.section_defaults: dict[str, str] = {}
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        by_key: dict[str, list[Doc]] = {}
        rows = read_rule_rows(rules_path, {"category": str, "direction": str},
                              {"direction": DIRECTIONS, "category": (*CATEGORIES, "PSEUDO", "TERMINATE")})
        for i, row in enumerate(rows):
            # a section rule names a section; every other rule is a trigger phrase
            needed = "section" if row["direction"] == "section" else "literal"
            if not isinstance(row.get(needed), str):
                raise PatternFileError(f"{Path(rules_path).name}: a {row['direction']} rule needs a string "
                                       f"field '{needed}' (rule {i + 1})")
            if row["direction"] in ("forward", "backward", "section") and row["category"] not in CATEGORIES:
                raise PatternFileError(f"{Path(rules_path).name}: {row['direction']} rule {i + 1} field "
                                       f"'category' must be one of {', '.join(CATEGORIES)}")
            direction = row["direction"]
            if direction == "section":
                self.section_defaults[row["section"]] = row["category"]
                continue
            rule = TriggerRule(
                literal=row["literal"],
                category=row["category"],
                direction=direction,
                max_scope=int(row.get("max_scope", default_max_scope)),
                stop_at_comma=bool(row.get("stop_at_comma", False)),
                sentence_start=bool(row.get("sentence_start", False)),
                allowed=frozenset(row["allowed"]) if row.get("allowed") else None,
            )
            key = f"{rule.category}|{rule.direction}|{i}"
            self.rules[key] = rule
            by_key.setdefault(key, []).append(nlp.make_doc(rule.literal))
        for key, docs in by_key.items():
            self.matcher.add(key, docs)

    def __call__(self, doc: Doc) -> Doc:
        targets: list[Span] = []
        for key in TARGET_KEYS:
            if key in doc.spans:
                targets.extend(doc.spans[key])
        for t in targets:
            t._.section = section_at(doc, t.start_char)
            default = self.section_defaults.get(t._.section)
            if default:
                setattr(t._, CATEGORIES[default], True)
                t._.context_triggers = [f"section:{t._.section}"]
        if not targets:
            return doc
        matches = self.matcher(doc)
        pseudo: list[tuple[int, int]] = []
        triggers: list[tuple[int, int, TriggerRule]] = []
        terminations: set[int] = set()
        for match_id, start, end in matches:
            rule = self.rules[doc.vocab.strings[match_id]]
            if rule.direction == "pseudo":
                pseudo.append((start, end))
            elif rule.direction == "terminate":
                terminations.add(start)
            else:
                triggers.append((start, end, rule))
        # a trigger inside a pseudo-trigger is not a trigger; keep the longest of overlapping triggers
        covered = _covered_by(pseudo)
        triggers = [t for t in triggers if not covered(t[0], t[1])]
        triggers.sort(key=lambda t: (t[0], -(t[1] - t[0])))
        kept: list[tuple[int, int, TriggerRule]] = []
        last_end: dict[tuple[str, str], int] = {}  # triggers come sorted by start
        for t in triggers:
            key = (t[2].category, t[2].direction)
            if t[0] < last_end.get(key, -1):
                continue
            kept.append(t)
            last_end[key] = t[1]
        # targets sorted by start: each trigger looks only at the targets inside its scope
        target_spans = sorted(targets, key=lambda t: t.start)
        target_starts = [t.start for t in target_spans]
        # sentence bounds and each sentence's first word, computed once: Token.sent walks the Doc on every
        # call, which made a long sentence full of triggers quadratic
        bounds = sentence_token_bounds(doc)
        bound_starts = [a for a, _ in bounds]
        first_word = [next((i for i in range(a, b) if not doc[i].is_space and not doc[i].is_punct), b)
                      for a, b in bounds]
        # a scope counts words: a level written 'L4-5' or a target written 'C-arm' is one word, not three tokens
        free = [False] * len(doc)
        for t in targets:
            for i in range(t.start + 1, t.end):
                free[i] = True
        prefix = [0]
        for f in free:
            prefix.append(prefix[-1] + (0 if f else 1))

        def reach_forward(i: int, words: int) -> int:
            # the last token index j with `words` counted tokens in [i, j) (a level's free tokens ride along)
            if prefix[-1] - prefix[i] < words:
                return len(doc)
            return bisect.bisect_right(prefix, prefix[i] + words, i) - 1

        def reach_backward(i: int, words: int) -> int:
            if prefix[i] < words:
                return 0
            return bisect.bisect_right(prefix, prefix[i] - words, 0, i + 1) - 1

        for start, end, rule in kept:
            k = bisect.bisect_right(bound_starts, start) - 1
            sent_start, sent_end = bounds[k]
            if rule.sentence_start and first_word[k] < start:
                continue
            if rule.direction == "forward":
                lo, hi = end, min(sent_end, reach_forward(end, rule.max_scope))
                for i in range(end, hi):
                    if i in terminations or (rule.stop_at_comma and doc[i].text == ","):
                        hi = i
                        break
            else:  # backward
                lo, hi = max(sent_start, reach_backward(start, rule.max_scope)), start
                for i in range(start - 1, lo - 1, -1):
                    if i in terminations:
                        lo = i + 1
                        break
            if lo >= hi:
                continue
            for t in target_spans[bisect.bisect_left(target_starts, lo):bisect.bisect_left(target_starts, hi)]:
                if rule.allowed is not None and t.label_ not in rule.allowed:
                    continue
                if t.start >= lo and t.end <= hi and not (t.start < end and t.end > start):
                    setattr(t._, CATEGORIES[rule.category], True)
                    t._.context_triggers = (t._.context_triggers or []) + [doc[start:end].text]
        no_rows = checklist_no_rows(doc_text(doc))
        if no_rows:
            row_starts = [a for a, _ in no_rows]
            for t in targets:
                k = bisect.bisect_right(row_starts, t.start_char) - 1
                if k >= 0 and t.end_char <= no_rows[k][1]:
                    t._.is_negated = True
                    t._.context_triggers = (t._.context_triggers or []) + ["checklist: N"]
        return doc


# A checklist whose answers sit in Y and N columns ('Consent   Y  |', 'Sedation     |  N', or an X under N): the
# column header is a line ending in 'Y' and 'N'; rows follow it up to a blank line.
_YN_HEADER = re.compile(r"(?m)^(?P<label>[^\n]*?)(?<=\s)(?P<y>Y)[ \t]*\|?[ \t]*(?P<n>N)[ \t]*$")
_ROW_MARK = re.compile(r"(?<=\s)([XxYN✓✔])(?=\s|\||$)")


_LEADER_NO = re.compile(r"(?m)^[^\n]*?\S[ \t]*\.{3,}[ \t]*(?:N|No|NO)[ \t.]*$")  # 'IV sedation ....... N'


def checklist_no_rows(text: str) -> list[tuple[int, int]]:
    """Character ranges of checklist rows answered No (an 'N' or a mark in the N column, 'item ..... N')."""
    out: list[tuple[int, int]] = [(m.start(), m.end()) for m in _LEADER_NO.finditer(text)]
    for h in _YN_HEADER.finditer(text):
        line_start = h.start()
        y_col, n_col = h.start("y") - line_start, h.start("n") - line_start
        pos = h.end() + 1
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end == -1 else end
            row = text[pos:end]
            if not row.strip():
                break
            marks = [m for m in _ROW_MARK.finditer(row) if m.start() >= y_col - 3]
            if marks:
                mark = marks[-1]
                col = mark.start()
                if mark.group(1) == "N" or (mark.group(1) != "Y" and abs(col - n_col) < abs(col - y_col)):
                    out.append((pos, end))
            pos = end + 1
    return sorted(out)


def _covered_by(spans: list[tuple[int, int]]):
    """A test 'is [start, end) inside one of these spans', in log time."""
    spans = sorted(spans)
    starts = [a for a, _ in spans]
    reach: list[int] = []
    best = -1
    for _a, b in spans:
        best = max(best, b)
        reach.append(best)

    def covered(start: int, end: int) -> bool:
        k = bisect.bisect_right(starts, start) - 1
        return k >= 0 and reach[k] >= end

    return covered


@Language.factory(
    "clinical_context",
    default_config={
        "rules_path": str(Path(__file__).parent / "patterns" / "context.jsonl"),
        "default_max_scope": 12,
    },
)
def make_clinical_context(nlp: Language, name: str, rules_path: str, default_max_scope: int) -> ClinicalContext:
    return ClinicalContext(nlp, name, rules_path, default_max_scope)
