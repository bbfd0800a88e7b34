"""Sentence features for the gap classifier: the words of the sentence plus what the spaCy pipeline
already knows about it (section, matched facts and their context) and a duration reader.

Durations are read by a rule, not learned: "x 2 yrs", "since 2019" and "6 weeks" need arithmetic against
the date of service, which word n-grams cannot do. The rule's output is both a feature and, for
D-CHRONICITY, an override (see ``model.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from spacy.tokens import Doc

from ..nlp.sections import section_at, sentence_token_bounds
from ..nlp.tokenizer import doc_text

_NUM_WORDS = {"one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
              "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "several": 3, "few": 3,
              "couple": 2, "many": 5, "eighteen": 18, "fifteen": 15, "twenty": 20}
_UNIT_MONTHS = {"d": 1 / 30, "day": 1 / 30, "days": 1 / 30, "w": 0.23, "wk": 0.23, "wks": 0.23, "week": 0.23,
                "weeks": 0.23, "m": 1, "mo": 1, "mos": 1, "mon": 1, "month": 1, "months": 1, "y": 12, "yr": 12,
                "yrs": 12, "year": 12, "years": 12}
# Every pattern below is written in lower case and searched in the lower-cased sentence: with re.I each
# search takes about twice as long, and a note runs a dozen of them on each of its sentences.
_DURATION = re.compile(
    r"(?<![\w/])(?P<n>\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|"
    r"few|couple|many|eighteen|fifteen|twenty|an?)\s*(?:\+|-plus|\s+or\s+more)?\s*(?:-|\s)?\s*(?:of\s+)?"
    r"(?P<u>days?|d|wks?|weeks?|w|mos?|mon|months?|m|yrs?|years?|y)\b")
_SINCE_YEAR = re.compile(r"\b(?:since|from|beginning in|began in|started in|onset in|in)\s+(?:late\s+|early\s+)?"
                         r"(?P<y>(?:19|20)\d\d)\b")
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_SINCE_MONTH = re.compile(r"\bsince\s+(?:last\s+)?(?P<m>" + "|".join(_MONTHS) + r")\b")
_LONG = re.compile(r"\b(?:for|over)\s+(?:many|several)?\s*(?:years|decades)\b|\bdecades?\b|\bfor years\b")
_PAIN = re.compile(r"\b(?:pain|ache|aching|achy|sx|symptoms?|lbp|cervicalgia|lumbago|stiffness|discomfort|"
                   r"hurt\w*|sore\w*|headaches?)\b")
_THERAPY = re.compile(r"\b(?:pt|physical therapy|therapy|exercise|hep|nsaids?|chiropractic|course|sessions?|"
                      r"trial)\b")
_SCORE = re.compile(r"\b\d{1,2}\s*/\s*10\b|\b(?:nrs|vas)\s*:?\s*\d|\b\d{1,2}\s+out of\s+10\b")
_PERCENT = re.compile(r"\b\d{1,3}\s*(?:%|percent)")
_PRE = re.compile(r"\b(?:pre|pre-?procedure|pre-?procedural|before|baseline|prior to|preop|pre-op|on arrival|"
                  r"today|currently|average|avg)\b")
_POST = re.compile(r"\b(?:post|post-?procedure|post-?procedural|after|afterwards|following|relief|at \d+ ?min\w*|"
                   r"minutes? later|at discharge|on discharge|->|→|reduced|improved|decreased|dropped)")
_NEGATION = re.compile(r"\b(?:not|no|never|hasn't|has not|have not|did not|didn't|without|declined|refused)\b")
_INDEX = re.compile(r"\b(?:odi|ndi|oswestry|neck disability|disability index)\b")


def duration_months(text: str, dos: dt.date) -> list[float]:
    """Durations written in a sentence, in months (absolute dates measured back from the date of service)."""
    text = text.lower()
    out: list[float] = []
    for m in _DURATION.finditer(text):
        n = m.group("n").lower()
        value = float(n) if n[0].isdigit() else float(_NUM_WORDS.get(n, 1))
        unit = _UNIT_MONTHS.get(m.group("u").lower())
        if unit is not None:
            out.append(value * unit)
    for m in _SINCE_YEAR.finditer(text):
        year = int(m.group("y"))
        if year <= dos.year:
            out.append((dos.year - year) * 12 + max(dos.month - 6, 0))
    for m in _SINCE_MONTH.finditer(text):
        month = _MONTHS.index(m.group("m").lower()) + 1
        back = (dos.month - month) % 12 or 12
        out.append(float(back))
    if _LONG.search(text):
        out.append(24.0)
    return out


@dataclass
class SentenceRow:
    """One sentence (or labelled span) with the pipeline's view of it."""

    text: str
    start: int
    end: int
    section: str
    facts: list[str]
    durations: list[float]

    def features(self) -> dict[str, float]:
        cached = self.__dict__.get("_features")
        if cached is not None:
            return cached
        f = self._compute_features()
        self.__dict__["_features"] = f
        return f

    def _compute_features(self) -> dict[str, float]:
        f: dict[str, float] = {f"section={self.section}": 1.0}
        for fact in self.facts:
            f[f"fact={fact}"] = 1.0
        text = self.text.lower()
        pain = bool(_PAIN.search(text))
        therapy = bool(_THERAPY.search(text))
        if self.durations:
            longest = max(self.durations)
            f["duration_any"] = 1.0
            f["duration_ge3"] = float(longest >= 3)
            f["duration_lt3"] = float(longest < 3)
            f["duration_ge3_pain"] = float(longest >= 3 and pain)
            f["duration_therapy_only"] = float(therapy and not pain)
        f["pain_word"] = float(pain)
        # before / after cues tell a baseline score (D-PAIN-SCORE) from a response (D-RESPONSE)
        pre, post = bool(_PRE.search(text)), bool(_POST.search(text))
        score = bool(_SCORE.search(text))
        f["pre_cue"], f["post_cue"] = float(pre), float(post)
        f["score_pre_only"] = float(pre and not post and score)
        f["score_post_only"] = float(post and not pre and score)
        # 'has not tried PT', 'never had therapy': care documented as absent, not as failed
        neg = bool(_NEGATION.search(text))
        f["negation_cue"] = float(neg)
        f["negated_therapy"] = float(neg and therapy)
        f["score"] = float(score)
        f["percent"] = float(bool(_PERCENT.search(text)))
        f["disability_index"] = float(bool(_INDEX.search(text)))
        return f


_FACT_LABELS = {"DX", "ICD10", "RFA_REASON", "INTENT", "PROC", "AGENT", "SEDATION"}
# Extraction mention kinds -> the fact names of the features (training and inference both read mentions)
_KIND_LABEL = {"procedure": "PROC", "diagnosis": "DX", "intent": "INTENT", "agent": "AGENT",
               "sedation": "SEDATION", "rfa_contraindication": "RFA_REASON"}


def _doc_facts(doc: Doc, mentions=None) -> list[tuple[int, int, str, str]]:
    """(start_char, end_char, name, context) of the facts the features use. From the extraction's mentions
    when given (their context is already read), else from the Doc's spans."""
    out = []
    if mentions is not None:
        for m in mentions:
            label = _KIND_LABEL.get(m.kind)
            if label is None:
                continue
            ctx = m.context
            flags = [n for n, on in (("negated", ctx.negated), ("historical", ctx.historical),
                                     ("hypothetical", ctx.hypothetical)) if on]
            name = "AGENT" if label == "AGENT" else f"{label}:{m.label}"
            out.append((m.start, m.end, name, f"{label}|{'+'.join(flags) or 'current'}"))
        return sorted(out)
    for s in doc.spans.get("facts", []):
        if s.label_ in _FACT_LABELS:
            flags = [n for n in ("negated", "historical", "hypothetical") if getattr(s._, f"is_{n}")]
            out.append((s.start_char, s.end_char, f"{s.label_}:{s.id_}" if s.label_ != "AGENT" else "AGENT",
                        f"{s.label_}|{'+'.join(flags) or 'current'}"))
    return sorted(out)


def span_row(doc: Doc, start: int, end: int, dos: dt.date, facts: list | None = None,
             note_text: str | None = None) -> SentenceRow:
    # Doc.text is rebuilt from the tokens on every access: callers with many spans pass it once
    text = (note_text if note_text is not None else doc_text(doc))[start:end]
    names: list[str] = []
    for fs, fe, name, ctx in facts if facts is not None else _doc_facts(doc):
        if fs >= end:
            break  # facts are sorted by start
        if fs >= start and fe <= end:
            names.extend((name, ctx))
    return SentenceRow(text=text, start=start, end=end, section=section_at(doc, start), facts=names,
                       durations=duration_months(text, dos))


def sentence_rows(doc: Doc, dos: dt.date, mentions=None, text: str | None = None) -> list[SentenceRow]:
    """Every sentence of a processed note, stripped of surrounding white space. Pass the note's ``text``
    when the caller has it: Doc.text is rebuilt from the tokens on each access."""
    facts = _doc_facts(doc, mentions)
    text = doc_text(doc) if text is None else text
    rows = []
    for ts, te in sentence_token_bounds(doc):
        s, e = doc[ts].idx, doc[te - 1].idx + len(doc[te - 1])
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= 3:
            rows.append(span_row(doc, s, e, dos, facts, text))
    return rows
