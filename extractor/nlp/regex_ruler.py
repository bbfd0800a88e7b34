"""A span ruler whose patterns are regular expressions over the text, kept as data (``*.regex.jsonl``).

Why not token patterns: spinal notation ('L4-5', 'C5 through C7', 'L2-3 through L5-S1') and proximity
rules ('facet ... injection' within a few words) make spaCy's token Matcher evaluate regex predicates and
wildcards on every token, which cost a third of the pipeline's time. One compiled regex per rule over
``doc.text`` finds the same spans in a fraction of that. Matches are snapped to token boundaries.

Each row: ``{"label": ..., "id": ..., "regex": ...}``; case-insensitive unless ``"case": true``. With
``first_longest`` the rules of a file are tried in file order at each position and matches do not overlap
(the spine file lists its longest notations first).
"""

from __future__ import annotations

import re
from pathlib import Path

from .rulefiles import PatternFileError, read_rule_rows
from .tokenizer import doc_text
from spacy.language import Language
from spacy.tokens import Doc, Span

PATTERN_DIR = Path(__file__).parent / "patterns"


class RegexRulerError(PatternFileError):
    """A regex pattern file is malformed; the message names the file, line and field."""


def load_regex_rules(name: str) -> list[dict]:
    path = PATTERN_DIR / f"{name}.regex.jsonl"
    rules = []
    for line, row in enumerate(read_rule_rows(path, {}), start=1):
        for field in ("label", "regex"):
            if not isinstance(row.get(field), str):
                raise RegexRulerError(f"{path.name} line {line}: field '{field}' must be a string")
        try:
            compiled = re.compile(row["regex"], 0 if row.get("case") else re.IGNORECASE)
        except re.error as exc:
            raise RegexRulerError(f"{path.name} line {line}: field 'regex' does not compile: {exc}") from None
        lower = None
        if not row.get("case") and _lower_case_only(row["regex"]):
            lower = re.compile(row["regex"])  # same matches on the lower-cased text, without re.I's cost
        rules.append({"label": row["label"], "id": row.get("id", ""), "regex": compiled,
                      "case": bool(row.get("case")), "lower": lower})
    return rules


def _lower_case_only(pattern: str) -> bool:
    """True when the pattern names no upper-case letter (escapes like \\S and the class A-Za-z aside), so it
    finds on ``text.lower()`` exactly what it finds case-insensitively on ``text``."""
    rest = re.sub(r"\\.", "", pattern).replace("A-Za-z", "")
    return not any(c.isupper() for c in rest)


class RegexRuler:
    def __init__(self, nlp: Language, name: str, spans_key: str, files: list[str], first_longest: bool):
        self.name = name
        self.spans_key = spans_key
        self.first_longest = first_longest
        self.rules = [r for f in files for r in load_regex_rules(f)]
        if first_longest:
            # one alternation: at each position the first rule (file order) that matches wins; each rule
            # keeps its own case setting as a scoped flag
            self.combined = re.compile("|".join(
                f"(?P<r{i}>(?{'' if r['case'] else 'i'}:{r['regex'].pattern}))" for i, r in enumerate(self.rules)))
            self.combined_lower = re.compile("|".join(
                f"(?P<r{i}>{r['regex'].pattern})" for i, r in enumerate(self.rules))) if all(
                r["lower"] is not None for r in self.rules) else None

    def _span(self, doc: Doc, start: int, end: int, rule: dict) -> Span | None:
        span = doc.char_span(start, end, label=rule["label"], alignment_mode="expand")
        if span is None or len(span) == 0:
            return None
        return Span(doc, span.start, span.end, label=rule["label"], span_id=rule["id"])

    def __call__(self, doc: Doc) -> Doc:
        text = doc_text(doc)
        # case-insensitive rules written in lower case run on the lower-cased text: re.I makes each scan about
        # 1.6 times slower. (Not when lower-casing changes the length, e.g. 'İ': offsets must hold.)
        low = text.lower()
        if len(low) != len(text):
            low = None
        spans: list[Span] = []
        if self.first_longest:
            combined = self.combined_lower if low is not None and self.combined_lower is not None else None
            for m in (combined.finditer(low) if combined is not None else self.combined.finditer(text)):
                rule = self.rules[int(m.lastgroup[1:])]
                span = self._span(doc, m.start(), m.end(), rule)
                if span is not None:
                    spans.append(span)
        else:
            for rule in self.rules:
                fast = rule["lower"] is not None and low is not None
                for m in (rule["lower"].finditer(low) if fast else rule["regex"].finditer(text)):
                    span = self._span(doc, m.start(), m.end(), rule)
                    if span is not None:
                        spans.append(span)
        group = doc.spans.get(self.spans_key)
        if group is None:
            doc.spans[self.spans_key] = spans
        else:
            group.extend(spans)
        return doc


@Language.factory("regex_ruler", default_config={"spans_key": "facts", "files": [], "first_longest": False})
def make_regex_ruler(nlp: Language, name: str, spans_key: str, files: list[str], first_longest: bool) -> RegexRuler:
    return RegexRuler(nlp, name, spans_key, files, first_longest)
