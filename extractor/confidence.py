"""Confidence of a result and its straight-through status (``auto`` or ``review``).

The confidence is rule-derived, not a fitted probability: it starts at 1 and loses a fixed amount for each
sign, in the extraction, that the claim lines rest on something the rules may have read wrongly (a
mismatch between joints and nerves, a level or side mentioned in the procedure description but not
counted, an addendum, an intent that could not be read, ...). ``status`` is ``auto`` when the confidence is
at least the payer profile's ``auto_threshold`` and no edit is an error; a result with an error-severity
edit is never ``auto``. How the threshold was chosen, and what it gives on the annotated test split, is
measured by ``facetcoder evaluate --straight-through`` (``straight_through`` below) and quoted in the README.
"""

from __future__ import annotations

from .schema import FACET_PROCEDURES, Edit, Extraction, Gap, PayerProfile

#: Sections that describe today's procedure: a level or side mentioned there but not counted is a doubt.
_PROCEDURE_SECTIONS = {"procedure", "technique", "targets", "target", "today"}

#: Penalty per sign (why each: see ``confidence``).
PENALTIES = {
    "unknown_procedure_with_levels": 0.6,
    "non_facet_with_levels": 0.3,
    "nerve_mismatch": 0.35,
    "levels_without_side": 0.4,
    "uncounted_level_in_procedure": 0.15,
    "uncounted_side_in_procedure": 0.15,
    "addendum": 0.2,
    "intent_unknown": 0.2,
    "several_procedure_kinds": 0.2,
    "several_guidance_kinds": 0.1,
    "many_levels": 0.1,
    "nerve_only_levels": 0.05,
    "no_diagnosis": 0.05,
}


def confidence_signs(extraction: Extraction) -> list[str]:
    """The signs of doubt found in one extraction (each counted once)."""
    e = extraction
    signs: list[str] = []
    level_mentions = [m for m in e.mentions if m.kind == "level"]
    if e.procedure not in FACET_PROCEDURES:
        # no facet lines are proposed: a doubt only when facet levels are mentioned as done today
        if any(m.counted or m.context.current for m in level_mentions):
            signs.append("unknown_procedure_with_levels" if e.procedure == "unknown" else "non_facet_with_levels")
        return signs
    if e.nerve_mismatch:
        signs.append("nerve_mismatch")  # the rules chose between two readings
    if e.levels_without_side:
        signs.append("levels_without_side")
    in_procedure = [m for m in e.mentions if m.section in _PROCEDURE_SECTIONS and not m.counted and m.context.current]
    if any(m.kind == "level" for m in in_procedure):
        signs.append("uncounted_level_in_procedure")  # a level in today's description that we did not count
    if any(m.kind == "side" for m in in_procedure):
        signs.append("uncounted_side_in_procedure")
    if any(m.section == "addendum" and m.kind in ("level", "side", "guidance", "procedure") for m in e.mentions):
        signs.append("addendum")  # addenda take sides or levels back; the rules follow them, not always right
    if e.intent == "unknown":
        signs.append("intent_unknown")  # drives KX
    kinds = {m.label for m in e.mentions if m.kind == "procedure" and m.counted}
    if len(kinds) > 1:
        signs.append("several_procedure_kinds")
    if len(set(e.guidance) - {"none_documented"}) > 1:
        signs.append("several_guidance_kinds")
    if len(e.levels) > 4:
        signs.append("many_levels")
    if e.levels and all(lv.source == "nerve" for lv in e.levels):
        signs.append("nerve_only_levels")  # joints derived through R-NERVE-MAP, none written
    if not e.diagnoses:
        signs.append("no_diagnosis")
    return signs


def confidence(extraction: Extraction, edits: list[Edit], gaps: list[Gap]) -> float:
    """1 minus the penalties of the signs found, floored at 0; an error edit caps it at 0.5 (the result
    needs a person whatever the extraction says)."""
    score = 1.0 - sum(PENALTIES[s] for s in confidence_signs(extraction))
    if any(e.severity == "error" for e in edits):
        score = min(score, 0.5)
    return round(max(0.0, min(1.0, score)), 3)


def status(conf: float, edits: list[Edit], profile: PayerProfile) -> str:
    if any(e.severity == "error" for e in edits):
        return "review"
    return "auto" if conf >= profile.auto_threshold else "review"
