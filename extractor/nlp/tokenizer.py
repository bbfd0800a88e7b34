"""Tokenizer rules for spinal notation and dictated layouts.

spaCy's English tokenizer keeps ``,POSTOPERATIVE`` (comma-joined transcription layout), ``L5S1.,2`` and
``C5/6`` as single tokens. We split them so that matcher patterns see ``L5S1`` ``.,`` ``2`` and
``C5`` ``/`` ``6``, and keep clinical shorthands (``b/l``, ``s/p``, ``w/``) whole.
"""

from __future__ import annotations

import spacy
from spacy.language import Language
from spacy.symbols import ORTH
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

# Why each rule exists:
_EXTRA_INFIXES = [
    r"\.,",  # 'spondylosis.,POSTOPERATIVE' (comma-joined section layout)
    r"(?<=[A-Za-z0-9.)])[,;](?=[A-Za-z(])",
    r"(?<=[A-Za-z)])[,;](?=[0-9])",  # 'omnipaque,1cc'
    r"(?<=[A-Za-z])\+(?=[A-Za-z0-9])",  # 'marcaine+kenalog', 'T11+T12'
    r"(?<=[0-9])\+(?=[A-Za-z])",  # 'L34,L45' and ',POSTOPERATIVE' glued to the previous word
    r"(?<=[A-Za-z0-9])/(?=[A-Za-z0-9])",  # 'C5/6', 'L4/L5'
    r"(?<=[0-9])(?=(?:mg|mL|ml|cc|mcg|ML|CC|MG)\b)",  # '20mg', '0.5mL', '1cc'
    r"(?<=[A-Za-z])(?=[0-9]+(?:%|mg|mL|ml|cc)\b)",  # 'bupivacaine0.5%' typos
    r"[–—]",  # en/em dash between levels: 'C5–C6'
    r"(?<=[0-9A-Za-z])-(?=[0-9A-Za-z])",  # 'C5-6', 'L5-S1', 'right-sided'
    r"(?<=[A-Za-z0-9])\.(?=[A-Z][a-z])",  # "injected.The" (missing space after a full stop)
    r":(?=[A-Za-z0-9])",  # 'PROCEDURE:Bilateral'
    r"#(?=[0-9])",  # 'block #1'
]
_EXTRA_PREFIXES = [r",", r";", r"\*", r"•", r"#"]
_EXTRA_SUFFIXES = [r",", r";", r"\.,", r":"]

_SPECIAL_CASES = ["b/l", "B/L", "B/l", "s/p", "S/P", "w/", "W/", "h/o", "H/O", "c/o", "w/o", "W/O", "f/u", "F/U", "r/o"]


@spacy.registry.tokenizers("facetcoder.tokenizer.v1")
def create_tokenizer():
    """Registered so that ``spacy.blank("en", config=...)`` builds our tokenizer once, not twice."""

    def make(nlp: Language) -> Tokenizer:
        return build_tokenizer(nlp)

    return make


def build_tokenizer(nlp: Language) -> Tokenizer:
    """A tokenizer with the extra affix rules and special cases, built in one go: setting the affix
    attributes one by one makes spaCy recompile its ~5,000 special cases each time."""
    defaults = nlp.Defaults
    rules = dict(defaults.tokenizer_exceptions)
    for case in _SPECIAL_CASES:
        rules[case] = [{ORTH: case}]
    return Tokenizer(
        nlp.vocab,
        rules=rules,
        prefix_search=compile_prefix_regex(list(defaults.prefixes) + _EXTRA_PREFIXES).search,
        suffix_search=compile_suffix_regex(_EXTRA_SUFFIXES + list(defaults.suffixes)).search,
        infix_finditer=compile_infix_regex(list(defaults.infixes) + _EXTRA_INFIXES).finditer,
        token_match=defaults.token_match,
        url_match=defaults.url_match,
    )
