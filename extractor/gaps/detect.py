"""Gaps of one note: structural gaps from the extraction plus the learned elements, with evidence."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from spacy.tokens import Doc

from ..schema import Extraction, Gap, PayerProfile
from .elements import LEARNED, applicable_elements
from .features import sentence_rows
from .compiled import CompiledGapModel, load_compiled
from .paths import compiled_paths
from .structural import structural_gaps


@lru_cache(maxsize=1)
def get_gap_model() -> CompiledGapModel | None:
    """The bundled model in models/ in its compiled inference form, loaded once per process (None when the
    checkout has none). The skops artifact is the canonical one; see compiled.py for why both exist."""
    json_path, npz_path = compiled_paths()
    if not (json_path.is_file() and npz_path.is_file()):
        return None
    return load_compiled(json_path, npz_path)


def gap_model_version() -> str | None:
    model = get_gap_model()
    return f"gaps-{model.version}" if model is not None else None


def detect_gaps(doc: Doc, extraction: Extraction, profile: PayerProfile, dos: dt.date,
                model=None, text: str | None = None) -> tuple[list[Gap], set[str] | None]:
    """The note's gaps, and the learned elements it documents (None when no model is bundled)."""
    structural = structural_gaps(extraction)
    # D-DIAGNOSIS is judged below as a learned element; its structural twin stays only when no model is bundled
    gaps = [g for g in structural if g.element != "D-DIAGNOSIS"]
    elements = applicable_elements(extraction, profile)
    if not elements:
        return gaps, set()
    model = model or get_gap_model()
    if model is None:
        return structural, None
    documented_elements: set[str] = set()
    findings = model.findings(sentence_rows(doc, dos, extraction.mentions, text), elements)
    for element in elements:
        finding = findings[element]
        documented = model.documented(finding)
        if element == "D-DIAGNOSIS":
            # The extraction decides (the diagnosis lexicon and written codes read this better than word
            # n-grams): coding-rules §7 gives the gap only to a note with no indication at all, and a
            # symptom-only indication is an R-DX-SUPPORT edit instead. The model supplies the evidence.
            documented = bool(extraction.diagnoses)
        if documented:
            documented_elements.add(element)
            continue
        info = LEARNED[element]
        gaps.append(Gap(element=element, message=info.missing_message, query=info.query,
                        probability=round(1.0 - finding.probability, 3),
                        evidence=[finding.evidence] if finding.evidence else [], source="model"))
    return gaps, documented_elements
