"""Sections and sentences for dictated procedure notes.

Notes arrive as headed templates, comma-joined transcription exports (``PROCEDURE:,  ...,ANESTHESIA:``),
bullet lists and one-line notes. This component finds section headers (rules in
``patterns/sections.jsonl``: header literal -> category) and sets sentence starts at headers, line
breaks, bullets and full stops, so that later components reason within one sentence of one section.
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path

import numpy
from .rulefiles import read_rule_rows
from .tokenizer import doc_text
from spacy.attrs import IDX, IS_SPACE, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

# A header: a short run of words ending with a colon, at the start of the text, of a line, after a
# sentence end or a comma join, or after a run of spaces. Times like 10:30 are excluded by (?!\d). A
# parenthesis before the colon qualifies the header ('PROCEDURE (today, fluoroscopy, AP + lateral):').
_HEADER = re.compile(
    r"(?:^|(?<=\n)|(?<=[.,;])|(?<=\s\s)|(?<=\*\*))(?P<pre>[ \t,*•▪-]*)"
    r"(?P<h>[A-Za-z][A-Za-z0-9 /&()'’.-]{0,48}?)(?:[ \t]*\([^()\n:]{1,60}\))?[ \t]*:(?!\d)"
)
# A sentence ends at . ! ? before a capital, digit or bullet; terse notes also start sentences in lower
# case ("...failed PT. lido skin, ..."), so a full stop after a word of 3+ letters ends one too.
_BOUNDARY_AFTER = re.compile(
    r"(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bMrs)(?<!\bProf)(?<!\bvs)"  # 'Dr. Weller', 'vs. RFA' end no sentence
    r"[.!?](?=[\s\"')]*\s+[\"'(]?[A-Z0-9•\-*])|(?<=[A-Za-z]{3})(?<!\bProf)\.(?=\s+[a-z])|\.,|\n")
_BULLET = re.compile(r"(?m)^[ \t]*(?:[-•*▪◦]|\d{1,2}[.)])[ \t]+")

Doc.set_extension("sections", default=None, force=True)  # list of (start_char, end_char, category)


_ADDENDUM = re.compile(
    r"(?im)(?:^|(?<=[.,;]\s)|(?<=[.,;]))[ \t*•-]*"
    r"(?:(?:attending|physician|provider|surgeon|fellow|resident|procedure|procedural)\s+)?"  # 'ATTENDING ADDENDUM'
    r"(?P<h>(?:late\s+)?addendum|late entry|amendment)\b[^\n:]{0,60}:?")
_LEVEL_FIELDS = {"side", "sides", "laterality"}
# capital headings joined by commas at the start of a line: 'INDICATION, HISTORY:', 'PROCEDURE, AS PERFORMED:'
_COMMA_HEADER = re.compile(r"(?m)^[ \t]*(?P<h>[A-Z][A-Z/&'-]*(?: [A-Z/&'-]+)*(?:, ?[A-Z][A-Z/&'-]*(?: [A-Z/&'-]+)*){1,3})"
                           r"[ \t]*:(?!\d)")
# a known heading closed by a slash at the start of a line: 'S/ 67 F ...', 'PROC/', 'RTP/'
_SLASH_HEADER = re.compile(r"(?m)^[ \t]*(?P<h>[A-Za-z][A-Za-z ]{0,20}?)/(?=[ \t]|$)")
# a heading set off by brackets or rules at the start of a line: '[PROCEDURE] ...', '=== VITALS ==='
_MARKED = re.compile(r"(?m)^[ \t]*(?:\[(?P<b>[A-Za-z][^\]\n]{0,60})\]|={2,}[ \t]*(?P<e>[A-Za-z][^=\n]{0,60}?)[ \t]*={2,})")
_CAPS_LINE = re.compile(r"(?m)^[ \t]*(?P<h>[A-Z][A-Z /&()'-]{2,48}?)[ \t]*$")
_DX_END = re.compile(r"(?<=[a-z)])[.;](?=\s+[A-Z])")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# what only a finished procedure reports: a SOAP 'P:' that says it is the record of today's procedure
_DONE_TODAY = re.compile(r"(?i)\b(?:no\s+(?:cx|complications?)\b|tol(?:erated)?\s+(?:it\s+|the\s+procedure\s+)?well\b|"
                         r"(?:nrs|vas|pain)\s*\d{1,2}\s*(?:/\s*10\s*)?(?:->|→|to)\s*\d{1,2}\b)")
_NEW_THOUGHT = re.compile(r"[ \t]*(?:[A-Z0-9•*▪-])")


def _at_line_start(text: str, pos: int) -> bool:
    """Only spaces or bullet marks between the previous line break and ``pos``."""
    line_begin = text.rfind("\n", 0, pos) + 1
    return not text[line_begin:pos].strip(" \t*•▪-")


def _section_cut(text: str, start: int, header_end: int, end: int) -> int:
    """Where the section that starts at ``start`` really ends (<= end): at a blank line, or — for a field
    with its content on the header's line ('Dx: lumbar spondylosis') — at the end of that line, unless the
    next line merely continues a wrapped sentence."""
    blank = _BLANK_LINE.search(text, header_end, end)
    cut = blank.start() if blank else end
    nl = text.find("\n", header_end, cut)
    content = text[header_end:nl].strip() if nl != -1 else ""
    if nl != -1 and content:
        wrapped = len(content) >= 60 and not content.endswith((".", ";", ":", ")", ","))
        if _NEW_THOUGHT.match(text, nl + 1) or not wrapped:
            return nl
    return cut


def _normalise(header: str) -> str:
    h = re.sub(r"\s+", " ", header.strip().lower().replace("’", "'"))
    return h.rstrip(".").strip()


class SectionDetector:
    """Finds section headers and sentence boundaries; rules are data (header literal -> category)."""

    def __init__(self, nlp: Language, name: str, rules_path: str):
        self.name = name
        self.rules: dict[str, str] = {}
        for row in read_rule_rows(rules_path, {"literal": str, "category": str}):
            self.rules[_normalise(row["literal"])] = row["category"]

    def category(self, header: str) -> str | None:
        known = self.known(header)
        if known is not None:
            return known
        h = _normalise(header)
        # 'PROCEDURE PERFORMED TODAY', 'PREOPERATIVE DIAGNOSES': longest known prefix
        best = None
        for lit, cat in self.rules.items():
            if h.startswith(lit + " ") and (best is None or len(lit) > len(best[0])):
                best = (lit, cat)
        if best:
            return best[1]
        letters = [c for c in header if c.isalpha()]
        if len(letters) >= 3 and all(c.isupper() for c in letters) and len(header.split()) <= 6:
            return "other"
        return None

    def known(self, header: str) -> str | None:
        """The category of a header that is a known section name (no guess from capitals)."""
        h = _normalise(header)
        return self.rules.get(h) or self.rules.get(re.sub(r"\(s\)$|s$", "", h))

    def headers(self, text: str) -> list[tuple[int, int, str]]:
        out = []
        soap_plan: set[int] = set()
        # 'ADDENDUM (same day, 15:40):' — an addendum heading may carry a date, time or author
        for m in _ADDENDUM.finditer(text):
            out.append((m.start("h"), m.end(), "addendum"))
        taken = {h[0] for h in out}
        joined: list[tuple[int, int]] = []
        for m in _COMMA_HEADER.finditer(text):
            # the first part that names a known section names it ('DIFFERENTIAL, AS DISCUSSED WITH THE FELLOW')
            parts = [self.known(p) for p in m.group("h").split(",")]
            out.append((m.start("h"), m.end(), next((c for c in parts if c), "other")))
            joined.append((m.start("h"), m.end()))
        for m in _HEADER.finditer(text):
            if any(a <= m.start("h") < b for a, b in joined):
                continue
            cat = self.category(m.group("h"))
            line_start = _at_line_start(text, m.start("h"))
            if cat is None and line_start and m.group("h")[:1].isupper() and len(m.group("h").split()) <= 4:
                cat = "other"  # 'Levels/sides:', 'Today:' at the start of a line: a field of the template
            if not line_start and m.group("h").strip().lower() in _LEVEL_FIELDS:
                continue  # 'lvl 1: l4-5    side: rt': the side field of a level row, not a new section
            if cat is not None and not any(t <= m.start("h") < t + 80 for t in taken):
                out.append((m.start("h"), m.end(), cat))
                if m.group("h").strip().lower() == "p":
                    soap_plan.add(m.start("h"))
        for m in _SLASH_HEADER.finditer(text):
            cat = self.known(m.group("h"))
            if cat is not None and not any(h[0] <= m.start("h") < h[1] for h in out):
                out.append((m.start("h"), m.end(), cat))
                if m.group("h").strip().lower() == "p":
                    soap_plan.add(m.start("h"))
        for m in _MARKED.finditer(text):
            name = m.group("b") or m.group("e")
            if not any(h[0] <= m.start() < h[1] for h in out):
                # the words before a dash or a comma name it ('DIAGNOSES - imported from Problem List')
                cat = self.category(re.split(r"\s[-–,(]\s?|,", name)[0]) or "other"
                out.append((m.start(), m.end(), cat))
        # a known section name alone on its line, in capitals and without a colon ('PROCEDURE DETAILS')
        for m in _CAPS_LINE.finditer(text):
            cat = self.known(m.group("h"))
            if cat is not None and not any(h[0] <= m.start("h") < h[1] for h in out):
                out.append((m.start("h"), m.end(), cat))
        out.sort()
        # SOAP procedure notes put today's procedure under 'P:' and its details in a section after it
        # ('P: Diagnostic MBNB #1, right side ...' then 'PROCEDURE DETAILS'): that P is the procedure line.
        # A 'P:' that reports the outcome ('NRS 7->3. No cx.') is today's procedure even with no details after it.
        # So is a short PLAN section right before the procedure details ('PLAN / Therapeutic right L5-S1
        # intra-articular injection ...' / 'PROCEDURE DETAILS').
        # One pass from the end (a note may hold thousands of headers): whether procedure details follow is
        # read from the original categories, before any plan is turned into a procedure line.
        details = ("technique", "procedure")
        details_after = False
        next_cat = None
        for i in range(len(out) - 1, -1, -1):
            start, end, cat = out[i]
            following = out[i + 1][0] if i + 1 < len(out) else len(text)
            if (start in soap_plan and (details_after or _DONE_TODAY.search(text, end, following))) or (
                    cat == "plan" and next_cat in details and out[i + 1][0] - end <= 300):
                out[i] = (start, end, "procedure")
            details_after = details_after or cat in details
            next_cat = cat
        return out

    def __call__(self, doc: Doc) -> Doc:
        text = doc_text(doc)
        headers = self.headers(text)
        starts = {0}
        starts.update(h[0] for h in headers)
        for m in _BOUNDARY_AFTER.finditer(text):
            starts.add(m.end())
        for m in _BULLET.finditer(text):
            starts.add(m.start())
        boundary_list = sorted(starts)
        # sections: from each header to the next; text before the first header is the title. A section
        # also ends at a blank line, and a one-line field ('Indication: ...' at the start of a line) ends
        # with its line when the next line starts a new thought: the text after it is body text ('none').
        sections: list[tuple[int, int, str]] = []
        first = headers[0][0] if headers else len(text)
        if first > 0:
            sections.append((0, first, "title"))
        for i, (s, e, cat) in enumerate(headers):
            end = headers[i + 1][0] if i + 1 < len(headers) else len(text)
            if cat == "addendum":
                # an addendum's heading line often carries its date, time and author ('ADDENDUM 11/04/2025
                # 15:10 - Dr. X'): its body is the lines below, up to a blank line or the next header
                blank = _BLANK_LINE.search(text, e, end)
                cut = blank.start() if blank else end
            else:
                cut = _section_cut(text, s, e, end)
            if cat == "diagnosis":
                # a diagnosis field holds a phrase or a list; in one-line notes the narrative that follows
                # ('Dx: lumbar spondylosis. Bilat L4-5 FJI under fluoro ...') is not part of it
                m = _DX_END.search(text, e, cut)
                if m:
                    cut = m.end()
            sections.append((s, cut, cat))
            if cut < end:
                sections.append((cut, end, "none"))
        doc._.sections = sections
        # sentence starts: the first non-space token at or after each boundary. Only starts are set;
        # spaCy reads the other tokens as inside a sentence.
        if len(doc):
            idx = doc.to_array([IDX]).tolist()
            spaces = doc.to_array([IS_SPACE]).tolist()
            n = len(idx)
            starts_tok = {0}
            for b in boundary_list:
                i = bisect.bisect_left(idx, b)
                while i < n and spaces[i]:
                    i += 1
                if i < n:
                    starts_tok.add(i)
            # one array write: setting Token.is_sent_start token by token re-checks the whole Doc each time
            flags = numpy.full((n, 1), -1, dtype=numpy.int32)
            flags[sorted(starts_tok), 0] = 1
            doc.from_array([SENT_START], flags.view(numpy.uint32).astype(numpy.uint64))
        return doc


def section_at(doc: Doc, char: int) -> str:
    """Category of the section holding character offset ``char`` ('none' for a doc without sections)."""
    sections = doc._.sections or []
    if not sections:
        return "none"
    k = bisect.bisect_right(_starts(doc), char) - 1
    return sections[k][2] if k >= 0 else "title"


def _starts(doc: Doc) -> list[int]:
    starts = doc.user_data.get("facetcoder.section_starts")
    if starts is None:
        starts = doc.user_data["facetcoder.section_starts"] = [s[0] for s in doc._.sections or []]
    return starts


def sentence_token_bounds(doc: Doc) -> list[tuple[int, int]]:
    """(start, end) token indices of the sentences, read from arrays (iterating ``doc.sents`` walks the
    whole Doc once per sentence in spaCy 3.8)."""
    n = len(doc)
    if n == 0:
        return []
    starts = [i for i, v in enumerate(doc.to_array([SENT_START]).tolist()) if v == 1 or i == 0]
    return list(zip(starts, starts[1:] + [n]))


def section_bounds(doc: Doc, char: int) -> tuple[int, int, str]:
    """(start, end, category) of the section holding ``char``."""
    sections = doc._.sections or []
    k = bisect.bisect_right(_starts(doc), char) - 1
    return sections[k] if k >= 0 else (0, len(doc_text(doc)), "title")


@Language.factory(
    "facet_sections",
    default_config={"rules_path": str(Path(__file__).parent / "patterns" / "sections.jsonl")},
)
def make_section_detector(nlp: Language, name: str, rules_path: str) -> SectionDetector:
    return SectionDetector(nlp, name, rules_path)
