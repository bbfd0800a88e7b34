"""How often reviewers agree with facetcoder: acceptance rate per reviewed field, and which rules and
documentation elements the corrections touch. Computed from the latest review of each note."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .corrections import REVIEWED_FIELDS, FieldChange
from .store import Review, ReviewStore


@dataclass
class Agreement:
    reviews: int = 0
    accepted: int = 0
    corrected_by_field: Counter = field(default_factory=Counter)
    corrections_by_rule: Counter = field(default_factory=Counter)
    corrections_by_gap_element: Counter = field(default_factory=Counter)

    def acceptance_rate(self, name: str) -> float | None:
        """Share of reviewed notes whose ``name`` field was left as facetcoder had it."""
        if not self.reviews:
            return None
        return 1 - self.corrected_by_field[name] / self.reviews

    def field_rows(self) -> list[dict]:
        return [{"field": f, "notes reviewed": self.reviews, "corrected": self.corrected_by_field[f],
                 "acceptance rate": self.acceptance_rate(f)} for f in REVIEWED_FIELDS]


_LINE = re.compile(r"^claim_lines\[(\d+)\]")
_KEYED = re.compile(r"^(gaps|edits)\[([^\]]+)\]$")


def _rules_of_change(review: Review, change: FieldChange) -> set[str]:
    """Rule ids a correction is about: an edit's rule; for a claim line, the rules the coding core cited
    for the line as it was (a line the reviewer added cites none)."""
    keyed = _KEYED.match(change.field)
    if keyed and keyed.group(1) == "edits":
        return {keyed.group(2)}
    line = _LINE.match(change.field)
    if line:
        lines = review.original.get("claim_lines", [])
        i = int(line.group(1))
        return set(lines[i].get("rules", [])) if i < len(lines) else set()
    return set()


def agreement(store: ReviewStore) -> Agreement:
    ag = Agreement()
    for review in store.latest_reviews():
        ag.reviews += 1
        changes = [FieldChange(ev.field, ev.before, ev.after) for ev in review.audit_events if ev.field != "status"]
        if not changes:
            ag.accepted += 1
        for group in {ch.group for ch in changes}:
            ag.corrected_by_field[group] += 1
        rules: set[str] = set()
        elements: set[str] = set()
        for ch in changes:
            rules |= _rules_of_change(review, ch)
            keyed = _KEYED.match(ch.field)
            if keyed and keyed.group(1) == "gaps":
                elements.add(keyed.group(2))
        ag.corrections_by_rule.update(rules)  # counted once per note
        ag.corrections_by_gap_element.update(elements)
    return ag
