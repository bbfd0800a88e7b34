"""Structural documentation gaps derived from the extraction alone (D-GUIDANCE, D-LEVELS,
D-LATERALITY, D-AGENTS, D-INTENT, D-DIAGNOSIS). They apply to facet injections and MBBs only."""

from __future__ import annotations

from ..schema import FACET_PROCEDURES, Extraction, Gap

QUERIES = {
    "D-GUIDANCE": "Please document the imaging guidance used for this procedure (for example fluoroscopy or CT), "
                  "if any was used.",
    "D-LEVELS": "Please document which facet joint levels (or which medial branch nerves) were treated.",
    "D-LATERALITY": "Please document the side (left, right or both) treated at each level.",
    "D-AGENTS": "Please document the medications injected, with the dose or volume at each level.",
    "D-INTENT": "Please document whether this procedure was diagnostic or therapeutic.",
    "D-DIAGNOSIS": "Please document the diagnosis that supports this procedure.",
}


def structural_gaps(extraction: Extraction) -> list[Gap]:
    if extraction.procedure not in FACET_PROCEDURES:
        return []
    gaps: list[Gap] = []
    proc_ev = extraction.procedure_evidence[:1]
    if extraction.guidance == ["none_documented"]:
        gaps.append(Gap(element="D-GUIDANCE", evidence=proc_ev, query=QUERIES["D-GUIDANCE"],
                        message="Add the imaging guidance (fluoroscopy or CT): without it no facet code can be "
                                "reported."))
    if not extraction.levels:
        gaps.append(Gap(element="D-LEVELS", evidence=proc_ev, query=QUERIES["D-LEVELS"],
                        message="Add the facet joint levels (e.g. 'bilateral L4-L5 and L5-S1') or the nerves "
                                "blocked (e.g. 'L3, L4 medial branches and L5 dorsal ramus')."))
    unknown = [lv for lv in extraction.levels if lv.side == "unknown"]
    if unknown:
        gaps.append(Gap(element="D-LATERALITY", evidence=[ev for lv in unknown for ev in lv.evidence][:3],
                        query=QUERIES["D-LATERALITY"],
                        message=f"Add the side treated at {', '.join(lv.joint for lv in unknown)}."))
    if not extraction.agents:
        gaps.append(Gap(element="D-AGENTS", evidence=proc_ev, query=QUERIES["D-AGENTS"],
                        message="Add the injected drugs with dose or volume (e.g. '0.5 mL 0.5% bupivacaine')."))
    elif not any(a.dose for a in extraction.agents if a.role in ("anesthetic", "steroid")):
        gaps.append(Gap(element="D-AGENTS", evidence=[a.evidence[0] for a in extraction.agents if a.evidence][:3],
                        query=QUERIES["D-AGENTS"],
                        message="Add the dose or volume of the injected anesthetic/steroid."))
    if extraction.intent == "unknown":
        gaps.append(Gap(element="D-INTENT", evidence=proc_ev, query=QUERIES["D-INTENT"],
                        message="State whether the block is diagnostic or therapeutic (drives KX and the "
                                "frequency limits)."))
    if not extraction.diagnoses:
        gaps.append(Gap(element="D-DIAGNOSIS", evidence=[], query=QUERIES["D-DIAGNOSIS"],
                        message="Add the diagnosis or indication (e.g. lumbar spondylosis, M47.816)."))
    return gaps
