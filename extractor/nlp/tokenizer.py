"""Tokenizer rules for spinal notation and dictated layouts.

spaCy's English tokenizer keeps ``,POSTOPERATIVE`` (comma-joined transcription layout), ``L5S1.,2`` and
``C5/6`` as single tokens. We split them so that matcher patterns see ``L5S1`` ``.,`` ``2`` and
``C5`` ``/`` ``6``, and keep clinical shorthands (``b/l``, ``s/p``, ``w/``) whole.
"""

from __future__ import annotations

import re

import spacy
from spacy.language import Language
from spacy.symbols import ORTH
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

from .dictation import spoken_punctuation

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

    def make(nlp: Language) -> LongRunGuard:
        return LongRunGuard(build_tokenizer(nlp))

    return make


#: Longest run of non-space characters given to spaCy's affix rules. No real note in the corpus or the
#: MTSamples notes has a run over 60 characters (table rules like '|-----|----|').
MAX_RUN = 100
_LONG_RUN = re.compile(r"\S{%d,}" % (MAX_RUN + 1))


_TEXT_KEY = "facetcoder.text"


def doc_text(doc: Doc) -> str:
    """The Doc's text, kept once in ``user_data``: spaCy's ``Doc.text`` joins every token each time it is
    read (about 0.3 ms for a typical note), and the components read it several times per note."""
    text = doc.user_data.get(_TEXT_KEY)
    if text is None:
        text = doc.user_data[_TEXT_KEY] = doc.text
    return text


class LongRunGuard:
    """spaCy's tokenizer strips prefixes and suffixes from a whitespace-free run one at a time, copying
    the rest of the run each time: a run of thousands of brackets or quotes takes quadratic time (16,000
    characters: 39 s). Runs longer than ``MAX_RUN`` are cut into ``MAX_RUN``-character tokens without affix
    rules; everything else goes through the real tokenizer unchanged. Offsets are kept: the Doc's text is
    the input text, character for character."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.vocab = tokenizer.vocab

    def __call__(self, text: str) -> Doc:
        text = spoken_punctuation(text)  # same length: every offset still points into the note as written
        if not _LONG_RUN.search(text):
            doc = self.tokenizer(text)
            doc.user_data[_TEXT_KEY] = text
            return doc
        words: list[str] = []
        spaces: list[bool] = []
        pos = 0
        for m in _LONG_RUN.finditer(text):
            self._add(self.tokenizer(text[pos:m.start()]), words, spaces)
            run = m.group()
            for i in range(0, len(run), MAX_RUN):
                words.append(run[i:i + MAX_RUN])
                spaces.append(False)
            pos = m.end()
        self._add(self.tokenizer(text[pos:]), words, spaces)
        doc = Doc(self.vocab, words=words, spaces=spaces)
        if doc.text != text:  # offsets of every fact depend on it
            raise RuntimeError("long-run tokenizer guard changed the text")
        doc.user_data[_TEXT_KEY] = text
        return doc

    @staticmethod
    def _add(piece: Doc, words: list[str], spaces: list[bool]) -> None:
        for token in piece:
            words.append(token.text)
            spaces.append(bool(token.whitespace_))

    def pipe(self, texts, batch_size: int = 1000):
        for text in texts:
            yield self(text)


def build_tokenizer(nlp: Language) -> Tokenizer:
    """A tokenizer with the extra affix rules and special cases, built in one go: setting the affix
    attributes one by one makes spaCy recompile its ~5,000 special cases each time."""
    defaults = nlp.Defaults
    rules = dict(defaults.tokenizer_exceptions)
    for case in _SPECIAL_CASES:
        rules[case] = [{ORTH: case}]
        if case[-1].isalpha():
            # 'MB, B/L.' at the end of a sentence: without this case spaCy's 'L.' exception wins -> 'B', '/', 'L.'
            rules[case + "."] = [{ORTH: case}, {ORTH: "."}]
    return Tokenizer(
        nlp.vocab,
        rules=rules,
        prefix_search=compile_prefix_regex(list(defaults.prefixes) + _EXTRA_PREFIXES).search,
        suffix_search=compile_suffix_regex(_EXTRA_SUFFIXES + list(defaults.suffixes)).search,
        infix_finditer=compile_infix_regex(list(defaults.infixes) + _EXTRA_INFIXES).finditer,
        token_match=defaults.token_match,
        url_match=defaults.url_match,
    )
