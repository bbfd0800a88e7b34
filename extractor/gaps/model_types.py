"""What both gap-model forms (skops/sklearn and compiled) share: the finding type and the chronicity rule."""

from __future__ import annotations

from dataclasses import dataclass

import re

import numpy as np

from .features import SentenceRow

# Chronicity: a duration the rule reads with certainty overrides the model (features.py says why).
RULE_CONFIDENCE = 0.99


@dataclass
class ElementFinding:
    element: str
    probability: float  # that the note documents the element
    evidence: tuple[int, int] | None  # the sentence that came closest


def chronicity_rule(rows: list[SentenceRow], p: np.ndarray) -> np.ndarray:
    """A pain duration of 3 months or more is documented chronicity; a pain sentence whose only durations
    are shorter ('pain for 6 weeks') is not, whatever its words suggest."""
    p = p.copy()
    for i, row in enumerate(rows):
        f = row.features()
        if f.get("duration_ge3_pain"):
            p[i] = max(p[i], RULE_CONFIDENCE)
        elif f.get("duration_lt3") and f.get("pain_word"):
            p[i] = min(p[i], 1 - RULE_CONFIDENCE)
    return p




# care documented as never tried: 'has not tried PT', 'no prior physical therapy', 'declined PT'
_ABSENT_CARE = re.compile(
    r"\b(?:not|never|hasn't|has not|have not|did not|didn't)\s+(?:yet\s+)?(?:tried|had|done|attempted|started|"
    r"undergone|received|participated)\b|\bno\s+(?:prior\s+|previous\s+|formal\s+)?(?:pt|physical therapy|"
    r"therapy|conservative (?:care|treatment))\b|\bdeclined\s+(?:pt|physical therapy)\b")  # lower case, read in the lower-cased sentence


def element_rules(element: str, rows: list[SentenceRow], p: np.ndarray) -> np.ndarray:
    """Rules that read a sentence better than its words do (each states its hard negative):
    - D-CHRONICITY: durations are arithmetic (see chronicity_rule);
    - D-CONSERVATIVE: therapy named under a negation with no word of failure ('has not tried PT') is
      documented absence, not failed care;
    - D-PAIN-SCORE / D-RESPONSE: a score with only an 'after' cue is a response, one with only a 'before'
      cue is a baseline;
    - D-RFA-CONTRAINDICATION: a sentence with a current RFA_REASON match states the reason."""
    if element == "D-CHRONICITY":
        return chronicity_rule(rows, p)
    p = p.copy()
    for i, row in enumerate(rows):
        f = row.features()
        if element == "D-CONSERVATIVE" and _ABSENT_CARE.search(row.text.lower()):
            p[i] = min(p[i], 1 - RULE_CONFIDENCE)
        elif element == "D-PAIN-SCORE" and f.get("score_post_only"):
            p[i] = min(p[i], 1 - RULE_CONFIDENCE)
        elif element == "D-RESPONSE" and f.get("score_pre_only"):
            p[i] = min(p[i], 1 - RULE_CONFIDENCE)
        elif element == "D-RFA-CONTRAINDICATION" and f.get("fact=RFA_REASON|current"):
            # the reasons RFA is ruled out are a closed list (patterns/anchors.jsonl, RFA_REASON)
            p[i] = max(p[i], RULE_CONFIDENCE)
    return p


class NoteFindings:
    """Note-level decisions shared by both model forms: per element, the best sentence (after the rules)
    is the note's probability that it documents the element, and that sentence is the evidence.
    Subclasses provide ``sentence_probabilities``, ``element_ids`` and ``thresholds``."""

    thresholds: dict[str, float]

    def findings(self, rows: list[SentenceRow], elements: list[str] | None = None) -> dict[str, ElementFinding]:
        elements = elements or self.element_ids
        probs = self.sentence_probabilities(rows, elements)
        out = {}
        for element in elements:
            p = probs[element]
            if len(p) == 0:
                out[element] = ElementFinding(element, 0.0, None)
                continue
            p = element_rules(element, rows, p)
            best = int(np.argmax(p))
            out[element] = ElementFinding(element, float(p[best]), (rows[best].start, rows[best].end))
        return out

    def documented(self, finding: ElementFinding) -> bool:
        return finding.probability >= self.thresholds.get(finding.element, 0.5)
