"""What both gap-model forms (skops/sklearn and compiled) share: the finding type and the chronicity rule."""

from __future__ import annotations

from dataclasses import dataclass

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


