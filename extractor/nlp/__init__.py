"""The spaCy pipeline, assembled in one place.

``build_pipeline()`` = ``spacy.blank("en")`` + tokenizer rules for spinal notation + components:

1. ``fact_ruler``       phrases: sides, guidance, agents, procedure kinds, intent, diagnoses, sedation,
                        anchors -> ``doc.spans["facts"]`` (patterns/*.jsonl; agents, diagnoses are lexicons)
   ``fact_regex_ruler`` proximity rules and ICD-10 codes -> ``doc.spans["facts"]`` (patterns/facts.regex.jsonl)
2. ``spine_ruler``      spinal level references -> ``doc.spans["spine"]`` (patterns/spine.regex.jsonl)
3. ``facet_sections``  sections and sentence starts (patterns/sections.jsonl)
4. ``clinical_context`` negated / historical / hypothetical / family on every span (patterns/context.jsonl)

A new rule is a line in a pattern file; a new fact kind is a new pattern file listed in FACT_FILES.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import spacy
from spacy.language import Language

from . import context as _context  # noqa: F401  (registers the factory)
from . import regex_ruler as _regex_ruler  # noqa: F401
from . import sections as _sections  # noqa: F401
from . import tokenizer as _tokenizer  # noqa: F401  (registers facetcoder.tokenizer.v1)
from .rulefiles import PatternFileError, read_rule_rows  # noqa: F401  (PatternFileError is public)

PATTERN_DIR = Path(__file__).parent / "patterns"
FACT_FILES = ["sides", "guidance", "procedures", "intent", "sedation", "anchors", "regions"]



def _load_rows(name: str, fields: dict, allowed: dict | None = None) -> list[dict]:
    """Rows of ``patterns/<name>.jsonl``, each checked for its fields (and allowed values)."""
    return read_rule_rows(PATTERN_DIR / f"{name}.jsonl", fields, allowed)


def load_patterns(name: str) -> list[dict]:
    """Span-ruler patterns of one file: label (str), pattern (str or list), id (str, optional)."""
    return _load_rows(name, {"label": str, "pattern": (str, list)})


@lru_cache(maxsize=1)
def agent_lexicon() -> dict[str, dict]:
    """Injected agents: generic name -> role and brand/synonym phrases."""
    rows = _load_rows("agents", {"name": str, "role": str, "synonyms": list},
                      {"role": ("anesthetic", "steroid", "contrast", "other")})
    return {row["name"]: row for row in rows}


@lru_cache(maxsize=1)
def diagnosis_lexicon() -> dict[str, dict]:
    """Diagnosis concepts: phrases and the ICD-10 code per spinal region."""
    rows = _load_rows("diagnoses", {"concept": str, "by_region": dict, "phrases": list})
    return {row["concept"]: row for row in rows}


@lru_cache(maxsize=1)
def written_code_scope() -> dict[str, tuple[str, ...]]:
    """Prefixes of written ICD-10 codes that can be the problem a procedure treats, per scope ('any' procedure,
    'facet' procedures). Other written codes are comorbidities from a problem list (I10, E11.9, Z95.0)."""
    rows = _load_rows("written_codes", {"prefix": str, "scope": str}, {"scope": ("any", "facet")})
    return {scope: tuple(r["prefix"] for r in rows if r["scope"] == scope) for scope in ("any", "facet")}


def _with_plurals(patterns: list[dict]) -> list[dict]:
    """'facet joint injection' also matches 'facet joint injections': pattern files list singulars."""
    out = list(patterns)
    seen = {(p["label"], p["pattern"]) for p in patterns if isinstance(p["pattern"], str)}
    for p in patterns:
        text = p["pattern"]
        if isinstance(text, str) and re.search(r"(block|injection|nerve|arthrogram|joint|facet)$", text):
            plural = text + "s"
            if (p["label"], plural) not in seen:
                out.append({**p, "pattern": plural})
                seen.add((p["label"], plural))
    return out


def fact_patterns() -> list[dict]:
    patterns: list[dict] = []
    for name in FACT_FILES:
        patterns.extend(_with_plurals(load_patterns(name)))
    for name, row in agent_lexicon().items():
        patterns.extend({"label": "AGENT", "id": name, "pattern": s} for s in row["synonyms"])
    for concept, row in diagnosis_lexicon().items():
        patterns.extend({"label": "DX", "id": concept, "pattern": p} for p in row["phrases"])
    return patterns


def build_pipeline() -> Language:
    """A fresh pipeline. Use :func:`get_pipeline` for the shared, cached one."""
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "facetcoder.tokenizer.v1"}}})
    # Rulers first: adding phrase patterns runs them through the components before the ruler.
    facts = nlp.add_pipe(
        "span_ruler", name="fact_ruler", config={"spans_key": "facts", "phrase_matcher_attr": "LOWER"}
    )
    facts.add_patterns(fact_patterns())
    nlp.add_pipe("regex_ruler", name="fact_regex_ruler", config={"spans_key": "facts", "files": ["facts"]})
    nlp.add_pipe("regex_ruler", name="spine_ruler",
                 config={"spans_key": "spine", "files": ["spine"], "first_longest": True})
    nlp.add_pipe("facet_sections")
    nlp.add_pipe("clinical_context")
    return nlp


@lru_cache(maxsize=1)
def get_pipeline() -> Language:
    return build_pipeline()
