"""The documentation elements of coding-rules.md §5 and which of them a note must carry.

This is the one place that says which elements apply to which procedure, intent and payer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import FACET_PROCEDURES, Extraction, PayerProfile


@dataclass(frozen=True)
class Element:
    id: str
    missing_message: str  # what to add
    query: str  # a plain, non-leading physician query


LEARNED: dict[str, Element] = {e.id: e for e in [
    Element("D-CHRONICITY", "Document how long the pain has lasted (facet procedures need at least 3 months).",
            "Please document how long the patient has had this pain."),
    Element("D-CONSERVATIVE", "Document the conservative care tried (physical therapy, home exercise, medication) "
            "and its result.",
            "Please document the conservative treatments the patient has tried and how they worked."),
    Element("D-PAIN-SCORE", "Document a pain score before the procedure (and, for a diagnostic block, after it "
            "on the same scale).",
            "Please document the patient's pain score before the procedure."),
    Element("D-FUNCTION", "Document the functional limitation or a disability index (e.g. ODI, NDI).",
            "Please document how the pain affects the patient's daily function."),
    Element("D-RESPONSE", "Document the response to the block as a percentage or pain score.",
            "Please document the patient's response to the block, such as the pain score or percentage of relief."),
    Element("D-DIAGNOSIS", "Document a diagnosis that supports a facet procedure (e.g. lumbar spondylosis, "
            "M47.816).",
            "Please document the diagnosis that supports this procedure."),
    Element("D-RFA-CONTRAINDICATION", "Document why radiofrequency ablation is not an option for this patient.",
            "Please document whether radiofrequency ablation was considered for this patient and, if it is not "
            "an option, why."),
]}

ELEMENT_IDS: list[str] = list(LEARNED)


def applicable_elements(extraction: Extraction, profile: PayerProfile) -> list[str]:
    """Elements a note must document: every facet injection or MBB needs chronicity, failed conservative
    care, a pain score, function and a supporting diagnosis; a diagnostic block also needs its response; a
    therapeutic procedure under a payer that asks for it needs the reason RFA is not an option."""
    if extraction.procedure not in FACET_PROCEDURES:
        return []
    out = ["D-CHRONICITY", "D-CONSERVATIVE", "D-PAIN-SCORE", "D-FUNCTION", "D-DIAGNOSIS"]
    if extraction.intent == "diagnostic":
        out.append("D-RESPONSE")
    if extraction.intent == "therapeutic" and profile.therapeutic_needs_rfa_reason:
        out.append("D-RFA-CONTRAINDICATION")
    return out
