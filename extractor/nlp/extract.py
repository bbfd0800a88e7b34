"""Doc -> Extraction: turn the matched, context-tagged spans into the facts of today's procedure.

The matchers only find mentions; this module decides which mentions describe *today's* procedure
(R-CONTEXT), assembles level lists and ranges into facet joints (R-LEVEL-JOINT), maps nerves to joints
(R-NERVE-MAP), assigns a side to each joint, and reads the procedure kind, guidance, agents, intent,
diagnoses and the coverage facts the coding core needs. No coding decision is taken here.

Where things are read (all in ``FactReader``):
- procedure kind ............ ``procedure`` (the procedure line first, then the narrative; visits, cancellations)
- levels and sides .......... ``level_groups`` -> ``_group_is_nerves`` / ``_group_joints`` / ``_group_nerves``,
                              ``_side_of`` (one group's side), ``levels`` (merging, nerve map, addenda),
                              ``_apply_side_sentences`` ("repeated on the other side"), ``_note_side``
- guidance, agents, intent .. ``guidance``, ``agents``, ``intent``
- diagnoses ................. ``diagnoses`` (written codes, phrases -> codes by region, symptom codes dropped)
- sedation, imaging codes, RFA reasons: ``read_extraction`` via ``simple``
Vocabulary lives in patterns/*.jsonl; only the reasoning about them is code.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span

from .. import spine
from ..schema import FACET_PROCEDURES, AgentFact, DiagnosisFact, Extraction, FactContext, LevelFact, Mention
from . import agent_lexicon, diagnosis_lexicon, written_code_scope
from .sections import section_bounds, sentence_token_bounds
from .tokenizer import doc_text

# Sections whose level mentions can describe the procedure done today. Diagnosis, indication,
# history, imaging, exam and plan sections talk about the patient, not about today's needles.
LEVEL_SECTIONS = {"title", "procedure", "technique", "addendum", "other", "post", "none", "codes", "consent",
                  "assessment"}
# Sections whose drug / guidance / intent mentions can describe today's procedure.
PROCEDURE_SECTIONS = LEVEL_SECTIONS | {"anesthesia", "indication"}
HEADLINE_SECTIONS = {"title", "procedure", "codes"}
# a month/year or month/day/year date that ends right before a drug name ('11/2025 lidocaine')
_DATE_BEFORE = re.compile(r"\b(?P<m>\d{1,2})/(?:\d{1,2}/)?(?P<y>\d{4}|\d{2}):?(?:\s{1,2}\(?|\()$")
# an earlier date opening a parenthesis that names levels: 'neck was done here 01/14/25 (rt c5-6 + c6-7 mbb, ...)'
_DATE_BEFORE_LEVEL = re.compile(r"(?i)\b(?P<m>\d{1,2})/(?:(?P<d>\d{1,2})/)?(?P<y>\d{4}|\d{2}):?\s{0,2}\(\s*"
                                r"(?:(?:rt|lt|r|l|right|left|bilat|bilateral|b/l)\.?\s+)?$")
_NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
_SPELLED = re.compile(r"([clt]) (" + "|".join(_NUMBER_WORDS) + r")(?:\s*[-/]\s*|\s+(?:to\s+)?)(?:([clts])\s*)?("
                      + "|".join(_NUMBER_WORDS) + r")")
_ANY_DATE = re.compile(r"\b\d{1,2}/(?:\d{1,2}/)?(?:\d{4}|\d{2})\b")
_LEVEL_CORRECTION = re.compile(r"(?i)\b(?:levels?\s+(?:typo|error|correction)|corrected\s+levels?|typo|wrong\s+levels?|levels?\s+(?:were|was)\s+"
                               r"(?:mis)?(?:dictated|typed|documented)\s+(?:wrong|incorrectly)|should\s+read|"
                               r"incorrect(?:ly)?\s+(?:dictated|documented|listed|stated)|(?:is|are)\s+amended|amended\s+to|corrected\s+to|"
                               r"than\s+(?:dictated|documented|stated|written)|by\s+mistake|miscount(?:ed)?|"
                               r"mislabell?ed|(?:transcribed|dictated|typed|written|documented|entered)\s+(?:incorrectly|wrong(?:ly)?|in\s+error))\b")
HEADLINE_CHARS = 250
SIDE_WINDOW = 40  # tokens around a level group in which its side is looked for
TITLE_CHARS = 150  # a first line longer than this is narrative, not a title
_LIST_JOINERS = {",", "+", "&", "and", "/"}
_STATEMENT_OPENERS = {"procedure", "procedures", "proc", "operation", "operations", "performed"}
_PERFORM_VERBS = {"performed", "did", "done", "underwent", "completed", "proceeded", "received", "had",
                  "injected", "blocked", "placed", "entered", "treated"}
# Guidance may be written under an "Imaging:" field of a procedure note; only narrative sections about the
# past or the future are excluded for it.
EXCLUDED_FOR_GUIDANCE = {"history", "past_history", "family_history", "social_history", "home_medications",
                         "allergies", "plan"}
EXCLUDED_FOR_FACTS = {"history", "past_history", "family_history", "social_history", "home_medications",
                      "allergies", "imaging", "plan", "exam", "diagnosis"}


_LIST_SEP = {",", "and", "&", "+", "/", "as", "well", "plus"}  # not ';': 'L4/5; L5/S1 left' are two items
_UNIT_AFTER = re.compile(r"^(?:mg|mcg|ml|cc|cm|mm|%|gauge|g|ga|inch|in|cm3|units?|x|times|minutes?|min|sec|"
                         r"seconds?|hours?|days?|weeks?|months?|years?|/10|out)$", re.I)
_DOSE = re.compile(r"(\d+(?:\.\d+)?\s*(?:mg/ml|mg|mcg|ml|cc|%))", re.I)
_DONE_WORDS = {"performed", "done", "carried", "injected", "blocked", "treated", "repeated", "completed"}
_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth"]
_ORDINAL_PAIR = re.compile(r"(" + "|".join(_ORDINALS) + r")\s*(?:and|-|to|/)\s*(" + "|".join(_ORDINALS) + r")")
def _ordinal_vertebra(text: str) -> str:
    """'fourth lumbar' -> 'L4'."""
    words = text.lower().split()
    letter = {"cervical": "C", "thoracic": "T", "lumbar": "L"}[words[-1]]
    return f"{letter}{_ORDINALS.index(words[0]) + 1}"


_LETTER_SIDES = {"L": "left", "R": "right", "B": "bilateral", "BL": "bilateral"}
_REPEAT_WORDS = {"repeat", "repeated", "same", "similar", "identical", "identically", "likewise", "mirror",
                 "mirrored", "contralateral"}


def _current(span: Span) -> bool:
    return not (span._.is_negated or span._.is_historical or span._.is_hypothetical or span._.is_family)


def _trigger_current(span: Span) -> bool:
    """Current when only section defaults (not explicit triggers) flagged the span: used for diagnoses and
    RFA contraindications, which are routinely written in history sections yet hold for today."""
    if _current(span):
        return True
    triggers = span._.context_triggers or []
    return all(t.startswith("section:") for t in triggers) and not span._.is_family


_DX_HISTORY_TRIGGERS = {"history of", "hx of", "h/o", "s/p", "status post", "resolved", "previous", "previously"}
_DX_UNCERTAIN_TRIGGERS = {"rule out", "r/o", "to rule out", "possible", "possibly", "probable", "probably",
                          "suspected", "suspect", "likely", "questionable", "versus", "vs", "vs.", "concern for",
                          "cannot exclude", "differential", "could be", "may be", "might be", "consider"}


def _dx_current(span: Span) -> bool:
    """Diagnoses are the patient's current problem even when written in a history narrative ('failed PT
    for her lumbar spondylosis') or a referral ('referred for facet arthropathy'). Only negation, family
    history, a 'history of' frame or an uncertain frame ('rule out', 'possible') removes one: outpatient
    coding does not code uncertain diagnoses."""
    if span._.is_negated or span._.is_family:
        return False
    triggers = {t.lower() for t in (span._.context_triggers or [])}
    if span._.is_historical and triggers & _DX_HISTORY_TRIGGERS:
        return False
    if span._.is_hypothetical and triggers & _DX_UNCERTAIN_TRIGGERS:
        return False
    return True


def _ctx(span: Span) -> FactContext:
    return FactContext.model_construct(negated=span._.is_negated, historical=span._.is_historical,
                       hypothetical=span._.is_hypothetical, family=span._.is_family)


def _drop_contained(spans: list[Span]) -> list[Span]:
    """Within one label, keep the longest of nested matches ('Omnipaque 240' over 'Omnipaque')."""
    by_label: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        by_label[s.label_].append(s)
    out: list[Span] = []
    for group in by_label.values():
        group.sort(key=lambda s: (s.start, -(s.end - s.start)))
        kept: list[Span] = []
        for s in group:
            if kept and s.start >= kept[-1].start and s.end <= kept[-1].end:
                continue
            kept.append(s)
        out.extend(kept)
    return sorted(out, key=lambda s: (s.start, s.end))



_SIDE_WORDS = {"r": "right", "rt": "right", "right": "right", "l": "left", "lt": "left", "left": "left",
               "b": "bilateral", "bl": "bilateral", "b/l": "bilateral", "bilat": "bilateral", "bilateral": "bilateral",
               "both": "bilateral", "r+l": "bilateral", "l+r": "bilateral", "r/l": "bilateral", "l/r": "bilateral"}
_MARKS = {"x", "✓", "✔", "yes", "y", "+", "•", "done", "*", "xx", "☑", "☒"}
_COLUMNS = re.compile(r" {2,}|\t+")


def table_sides(text: str) -> dict[int, str]:
    """Sides read from tables of levels or nerves ('| L4-5 | R | ...', or a 'Right | Left' header with X
    marks), keyed by the character offset of each data row. Rows are lines with two or more '|'."""
    out: dict[int, str] = {}
    side_cols: dict[int, str] = {}
    value_col: int | None = None
    pos = 0
    for line in text.split("\n"):
        start = pos
        pos += len(line) + 1
        if line.count("|") >= 2:
            cells = [c.strip().lower() for c in line.strip().strip("|").split("|")]
        elif len(_COLUMNS.split(line.strip())) >= 3:  # columns aligned with runs of spaces
            cells = [c.strip().lower() for c in _COLUMNS.split(line.strip())]
        else:
            side_cols, value_col = {}, None
            continue
        header_sides = {i: _SIDE_WORDS[c] for i, c in enumerate(cells) if c in ("right", "left", "rt", "lt", "r", "l")}
        if header_sides and not any(ch.isdigit() for ch in line):
            side_cols, value_col = header_sides, None
            continue
        if any(c in ("side", "sides", "laterality", "lat") for c in cells) and not any(ch.isdigit() for ch in line):
            value_col = next(i for i, c in enumerate(cells) if c in ("side", "sides", "laterality", "lat"))
            side_cols = {}
            continue
        sides: set[str] = set()
        if side_cols:
            for i, side in side_cols.items():
                if i < len(cells) and cells[i] in _MARKS:
                    sides.add(side)
        elif value_col is not None and value_col < len(cells):
            v = _SIDE_WORDS.get(cells[value_col].replace(" ", "").strip("()[]"))  # 'R', '(R)', '[B]'
            if v:
                sides.add(v)
            else:
                out[start] = "unknown"
        else:  # no header: a side word in its own cell
            found = {_SIDE_WORDS[c] for c in cells if c in _SIDE_WORDS}
            if len(found) == 1:
                sides = found
        if sides:
            out[start] = "bilateral" if sides >= {"left", "right"} or "bilateral" in sides else next(iter(sides))
    return out


@dataclass
class LevelGroup:
    """Adjacent spinal references in one sentence: 'L3-4, L4-5 and L5-S1', 'L3, L4 and L5'."""

    refs: list[Span]
    extra_numbers: list = field(default_factory=list)  # bare continuations: 'L3, 4 and 5'
    start: int = 0
    end: int = 0

    @property
    def start_char(self) -> int:
        return self.refs[0].start_char

    @property
    def end_char(self) -> int:
        return self.refs[-1].end_char if not self.extra_numbers else self.extra_numbers[-1].idx + len(
            self.extra_numbers[-1].text)


class FactReader:
    def __init__(self, doc: Doc, date_of_service: dt.date | None = None):
        self.doc = doc
        self.dos = date_of_service or dt.date.today()
        self.facts = _drop_contained(list(doc.spans.get("facts", [])))
        self.spine_refs = sorted(doc.spans.get("spine", []), key=lambda s: s.start)
        self.by_label: dict[str, list[Span]] = defaultdict(list)
        for s in self.facts:
            self.by_label[s.label_].append(s)
        # SEDATION matches inside 'no sedation' / 'local only' phrases are not sedation
        minimal = self.by_label.get("SEDATION_MINIMAL", [])
        self.by_label["SEDATION"] = [s for s in self.by_label.get("SEDATION", [])
                                    if not any(m.start <= s.start and s.end <= m.end for m in minimal)]
        # 'left side down', 'right lateral decubitus': patient positioning, not the treated side; 'left blank': a verb
        positions = self.by_label.get("SIDE_POSITION", [])
        self.by_label["SIDE"] = [s for s in self.by_label.get("SIDE", [])
                                 if not any(p.start <= s.start and s.end <= p.end for p in positions)]
        # sentence bounds per token, computed once (Span.sent re-scans the whole Doc on every call)
        self._sent_start = [0] * len(doc)
        self._sents = [doc[a:b] for a, b in sentence_token_bounds(doc)]
        for k, (a, b) in enumerate((s.start, s.end) for s in self._sents):
            self._sent_start[a:b] = [k] * (b - a)
        self.table_rows = table_sides(doc_text(doc))  # row start offset -> side
        self._cur_cache: dict = {}
        self._statement_cache: dict = {}
        self._starts: dict = {}
        self._words: dict = {}
        self._ref_starts = [r.start for r in self.spine_refs]
        self._groups: list | None = None
        self._sec_cache: dict = {}
        self.text = doc_text(doc)
        newline = self.text.find("\n")
        self._first_line_end = len(self.text) if newline < 0 else newline
        self.mentions: list[Mention] = []
        self.attached_sides: set[int] = set()  # SIDE spans bound to one level group (not note-wide)

    # ------------------------------------------------------------------ helpers
    def cur(self, span: Span) -> bool:
        """_current, cached: Span extension look-ups are slow and asked many times per span."""
        key = (span.start, span.end, span.label)
        hit = self._cur_cache.get(key)
        if hit is None:
            hit = self._cur_cache[key] = _current(span)
        return hit

    def sec(self, span: Span) -> str:
        key = (span.start, span.end, span.label)
        hit = self._sec_cache.get(key)
        if hit is None:
            hit = self._sec_cache[key] = span._.section
        return hit

    def sent_of(self, x) -> Span:
        """The sentence of a Span or Token."""
        i = x.i if hasattr(x, "i") else x.start
        return self._sents[self._sent_start[i]]

    def near(self, label: str, lo: int, hi: int) -> list[Span]:
        """Spans of ``label`` starting at token lo..hi-1 (bisect on a sorted index: notes can be long)."""
        index = self._starts.get(label)
        if index is None:
            spans = sorted(self.by_label.get(label, []), key=lambda x: x.start)
            index = self._starts[label] = ([x.start for x in spans], spans)
        starts, spans = index
        return spans[bisect.bisect_left(starts, lo):bisect.bisect_left(starts, hi)]

    def sent_facts(self, sent: Span, label: str) -> list[Span]:
        return [s for s in self.near(label, sent.start, sent.end) if s.end <= sent.end]

    def words_of(self, sent: Span) -> set[str]:
        hit = self._words.get(sent.start)
        if hit is None:
            hit = self._words[sent.start] = {t.lower_ for t in sent}
        return hit

    def mention(self, span: Span, kind: str, label: str, counted: bool) -> None:
        # model_construct: built from our own spans, no validation needed (trust inside)
        self.mentions.append(Mention.model_construct(
            kind=kind, label=label, text=span.text, start=span.start_char, end=span.end_char,
            section=self.sec(span), context=_ctx(span), counted=counted))

    def is_headline(self, span: Span) -> bool:
        """The procedure line: codes; a short first line (a title); the opening of a PROCEDURE section
        (templates often put the whole narrative under PROCEDURE:, whose later sentences describe
        localisation, not the levels); or a sentence that states today's procedure ('Procedure today
        bilateral L4-5 ...', 'Today under fluoroscopy we did ...')."""
        sec = self.sec(span)
        if sec == "codes" or self.in_short_first_line(span):
            return True
        if sec == "procedure":
            start, _end, _cat = section_bounds(self.doc, span.start_char)
            if span.start_char - start <= HEADLINE_CHARS:
                return True
        if sec in LEVEL_SECTIONS:
            return self._states_procedure(self.sent_of(span))
        return False

    def in_short_first_line(self, span: Span) -> bool:
        return self._first_line_end <= TITLE_CHARS and span.start_char <= self._first_line_end

    def _states_procedure(self, sent: Span) -> bool:
        key = sent.start
        hit = self._statement_cache.get(key)
        if hit is None:
            words = [t.lower_ for t in sent if not t.is_space and not t.is_punct]
            hit = bool(words) and (words[0] in _STATEMENT_OPENERS or (
                "today" in words and any(w in _PERFORM_VERBS for w in words)
                and not any(w in ("no", "not", "none", "without") for w in words)))
            self._statement_cache[key] = hit
        return hit

    # ------------------------------------------------------------------ procedure kind
    def procedure(self) -> tuple[str, list[Span], bool]:
        """The kind of procedure done today. The procedure line decides when it names one; otherwise the
        first procedure the note describes as done today. A note whose title says it is a visit, a call or
        a cancelled procedure has no procedure unless its procedure line names one."""
        all_procs = self.by_label.get("PROC", [])
        cancelled = [s for s in all_procs if s.id_ == "cancelled" and not s._.is_hypothetical]
        procs = [s for s in all_procs if self.cur(s) and (self.sec(s) not in EXCLUDED_FOR_FACTS
                                                         or self.in_short_first_line(s))
                 and s.id_ not in ("visit", "cancelled")
                 # 'post-laminectomy syndrome' names a diagnosis, not a procedure
                 and not any(d.start <= s.start < d.end for d in self.near("DX", s.start - 12, s.start + 1))
                 # 'RFA is not an option': naming the procedure that is ruled out
                 and not any(r.start <= s.start < r.end or s.start <= r.start < s.end
                             for r in self.near("RFA_REASON", s.start - 12, s.end))]
        # 'MBB NOT performed; no fluoroscopy used' (the plan changed on the day): a facet procedure said not to
        # have been done is not today's, wherever the plan names it
        called_off = {s.id_ for s in all_procs if s.id_ in FACET_PROCEDURES and s._.is_negated
                      and self.sec(s) not in EXCLUDED_FOR_FACTS and self.words_of(self.sent_of(s)) & _DONE_WORDS
                      # ('the left C6 MB was not blocked' takes one nerve off, not the procedure)
                      and not self._groups_in(self.sent_of(s))}
        if called_off:
            procs = [s for s in procs if s.id_ not in called_off]
        headline = [s for s in procs if self.is_headline(s)]
        if headline and all(s.id_ == "joint_weak" for s in headline):
            # 'the needle entered the joint' names no procedure: let a titled SI injection speak
            strong = [s for s in procs if s.id_ != "joint_weak"]
            headline = [s for s in headline if not strong] or [s for s in strong if self.sec(s) == "title"] or headline
        visit_title = [s for s in all_procs if s.id_ == "visit" and self.sec(s) == "title" and s.start < 12]
        # 'procedure cancelled' speaks of the note's procedure only when no procedure line says what was done
        first_line = self.text.split("\n", 1)[0].lower()
        if "procedure" in first_line:
            visit_title = []  # 'Office visit w/ procedure': a visit that includes one
        injected = any(self.cur(a) for a in self.by_label.get("AGENT", []))
        # an addendum written after the procedure line ('ADDENDUM: PROCEDURE CANCELLED before positioning')
        # overrides it, whatever the pre-filled template says was injected
        in_addendum = any(self.sec(s) == "addendum" and not s._.is_negated for s in cancelled)
        if (cancelled and (not headline or not injected or in_addendum)) or (visit_title and not headline):
            return "unknown", (cancelled or visit_title)[:1], False
        lateral = [s for s in self.by_label.get("LATERAL_BRANCH", []) if self.cur(s)]
        for pool, by_priority in ((headline, True), (procs, False)):
            kinds = [s.id_ for s in pool]
            if not kinds:
                continue
            if set(kinds) == {"joint_weak"} and all(s.id_ == "joint_weak" for s in procs):
                # 'C6-7 joint injection' is a facet injection unless the note names another joint procedure
                kinds = ["facet_joint_injection"]
            kinds = [k for k in kinds if k != "joint_weak"]
            if not kinds:
                continue  # the headline only says 'into the joint': the narrative names the procedure
            kind = kinds[0]  # the procedure line, or the narrative, names the main procedure first
            if by_priority and "radiofrequency_ablation" in kinds:
                kind = "radiofrequency_ablation"  # 'medial branch radiofrequency neurotomy'
            elif by_priority and kind == "epidural" and "other" in kinds[:2]:
                kind = "other"  # 'epidural blood patch', 'epidural stimulator trial'
            elif by_priority and kind in ("medial_branch_block", "joint_weak") and "facet_joint_injection" in kinds:
                kind = "facet_joint_injection"
            ev = [s for s in pool if s.id_ == kind or (kind == "facet_joint_injection" and s.id_ == "joint_weak")]
            if kind == "si_joint":
                return "other", ev, True
            if kind == "medial_branch_block" and lateral:
                # L5 dorsal ramus with S1-S3 lateral branches: an SI-joint block (R-SI-NOT-FACET)
                return "other", lateral, True
            if kind == "medial_branch_block" and ("facet_joint_injection" in kinds or any(
                    x.id_ == "joint_weak" for x in pool)):
                kind = "facet_joint_injection"
                ev = [s for s in pool if s.id_ == kind]
            # a facet procedure and an SI joint injection in one session: the facet joints are coded, the SI
            # part is reported (R-SI-NOT-FACET)
            return kind, ev, kind in FACET_PROCEDURES and "si_joint" in kinds
        visits = [s for s in all_procs if s.id_ == "visit"]
        return "unknown", visits[:1], False

    # ------------------------------------------------------------------ levels
    def level_groups(self) -> list[LevelGroup]:
        if self._groups is None:
            self._groups = self._level_groups()
        return self._groups

    def _level_groups(self) -> list[LevelGroup]:
        groups: list[LevelGroup] = []
        doc = self.doc
        refs = self.spine_refs
        i = 0
        while i < len(refs):
            cur = [refs[i]]
            j = i + 1
            while j < len(refs):
                gap = doc[cur[-1].end:refs[j].start]
                if self.sent_of(refs[j]).start != self.sent_of(cur[-1]).start:
                    break
                if all(t.lower_ in _LIST_SEP or t.is_space for t in gap) and len(gap) <= 4:
                    cur.append(refs[j])
                    j += 1
                else:
                    break
            g = LevelGroup(refs=cur, start=cur[0].start, end=cur[-1].end)
            # bare number continuations after a vertebra: 'L3, 4, and 5 medial branches'
            if cur[-1].label_ == "SPINE_VERT":
                k = cur[-1].end
                while k < len(doc) and self.sent_of(doc[k]).start == self.sent_of(cur[-1]).start:
                    t = doc[k]
                    if t.lower_ in _LIST_SEP or t.is_space:
                        k += 1
                        continue
                    if re.fullmatch(r"\d{1,2}", t.text) and (k + 1 >= len(doc) or not _UNIT_AFTER.match(
                            doc[k + 1].text)) and not (k > 0 and doc[k - 1].text in ("-", "/", ".")):
                        g.extra_numbers.append(t)
                        g.end = k + 1
                        k += 1
                        continue
                    break
            groups.append(g)
            i = j
        return groups

    def _groups_in(self, sent: Span) -> list[LevelGroup]:
        return [g for g in self.level_groups() if sent.start <= g.start < sent.end]

    def _group_is_nerves(self, g: LevelGroup) -> bool:
        """Nerves ('L3, L4 medial branches', 'TON', 'L5 dorsal ramus') or joints ('L4-5', 'L3-4 facet')?"""
        sent = self.sent_of(g.refs[0])
        if any(r.label_ == "SPINE_NERVE" for r in g.refs):
            return True
        if any(r.label_ == "SPINE_WORDS" or r.id_ in ("joint_range", "compact") for r in g.refs):
            return False
        if any(r.id_ == "range" and r.text.upper().rstrip().endswith("S1") for r in g.refs):
            return False  # 'MBB L3 through S1': no medial branch is named S1, so the range is of joints
        # a written pair of adjacent vertebrae ('L4-5 MBB') names the joint the block is for, except
        # 'L3/L4 MB', a slash list of the nerves themselves
        nerve_next = bool(self.near("NERVE_WORD", g.end, g.end + 1))
        for r in g.refs:
            if r.label_ == "SPINE_JOINT" and r.id_ == "pair" and len(spine.parse_joint_text(r.text)) == 1:
                if "/" in r.text and nerve_next and len(g.refs) == 1 and "S" not in r.text.upper():
                    continue  # 'L3/L4 MB' (but 'L4/L5 and L5/S1 MBNB' are joints)
                return False
        joint_after = [s for s in self.near("JOINT_WORD", g.end, g.end + 2) if s.end <= sent.end]
        nerve_near = [s for s in self.near("NERVE_WORD", max(sent.start, g.start - 4), g.end + 5)
                      if s.end <= min(sent.end, g.end + 5)]
        if joint_after and not any(s.start <= g.end + 1 for s in nerve_near if s.start >= g.end):
            return False
        return bool(nerve_near)

    def _group_nerves(self, g: LevelGroup) -> list[str]:
        out: list[str] = []
        letter = None
        for r in g.refs:
            if r.label_ == "SPINE_JOINT" and r.id_ == "pair" and "/" in r.text:  # 'L3/L4 MB'
                a, b = r.text.split("/", 1)
                b = b if b.strip()[:1].isalpha() else a.strip()[0] + b.strip()
                out.extend(n for n in (spine.nerve(a), spine.nerve(b)) if n)
                letter = a.strip()[0].upper()
                continue
            if r.label_ == "SPINE_NERVE":
                out.append("TON")
                continue
            if r.label_ == "SPINE_VERT":
                n = spine.nerve(_ordinal_vertebra(r.text) if r.id_ == "ordinal_vertebra" else r.text)
                if n:
                    out.append(n)
                    letter = n[0]
                continue
            if r.label_ == "SPINE_JOINT":  # a range of nerves
                parts = re.split(r"\s*(?:-|–|—|/|to|through|thru)\s*", r.text, flags=re.I)
                if len(parts) == 2:
                    a = parts[0]
                    b = parts[1] if parts[1][:1].isalpha() else a[0] + parts[1]
                    out.extend(spine.nerve_range(a, b))
                    letter = a[0].upper()
        for t in g.extra_numbers:
            if letter:
                n = spine.nerve(letter + t.text)
                if n:
                    out.append(n)
        return out

    def _group_joints(self, g: LevelGroup) -> list[str]:
        out: list[str] = []
        for r in g.refs:
            if r.label_ == "SPINE_WORDS":
                out.extend(j.name for j in self._words_joints(r))
            elif r.label_ == "SPINE_JOINT":
                out.extend(j.name for j in spine.parse_joint_text(r.text))
        return out

    def _words_joints(self, r: Span) -> list[spine.Joint]:
        if r.id_ in ("C0-C1", "C1-C2"):
            j = spine.joint_by_name(r.id_)
            return [j] if j else []
        if r.id_ == "lumbosacral":
            return [spine.joint_by_name("L5-S1")]
        if r.id_ == "spelled":  # 'L four five', 'C five-six', 'T twelve L one' as speech recognition writes them
            m = _SPELLED.fullmatch(r.text.lower())
            if not m:
                return []
            upper, lower = m.group(1).upper(), (m.group(3) or m.group(1)).upper()
            return spine.parse_joint_text(f"{upper}{_NUMBER_WORDS.index(m.group(2)) + 1}-"
                                          f"{lower}{_NUMBER_WORDS.index(m.group(4)) + 1}")
        words = [t.lower_ for t in r]
        if "sacral" in words:
            return [spine.joint_by_name("L5-S1")]
        letter = {"cervical": "C", "thoracic": "T", "lumbar": "L"}.get(words[-1])
        if not letter:
            return []
        # 'fifth and sixth cervical', 'fourth-fifth, fifth-sixth and sixth-seventh cervical'
        out: list[spine.Joint] = []
        for a, b in _ORDINAL_PAIR.findall(r.text.lower()):
            out.extend(spine.parse_joint_text(f"{letter}{_ORDINALS.index(a) + 1}-{letter}{_ORDINALS.index(b) + 1}"))
        return out

    def _side_of(self, g: LevelGroup) -> tuple[str | None, Span | None]:
        """The side that applies to a level group, in order of strength:
        1. written right before it ('right L4-5', 'R L4-5', 'bilateral C5-6 and C6-7');
        2. written right after it ('L4-5 on the left', 'L4-5 bilaterally');
        3. earlier in the sentence with no other level between ('Bilateral lumbar MBBs - L3, L4 ...');
        4. the only side of the sentence, when no ';' separates them.
        A side attached to another group never carries over to this one."""
        doc = self.doc
        sent = self.sent_of(g.refs[0])
        if self.table_rows:
            row = self.text.rfind("\n", 0, g.start_char) + 1
            if row in self.table_rows:
                side = self.table_rows[row]
                # an empty side cell is an unfilled field: the side was never written
                return ("placeholder" if side == "unknown" else side), None
        # an unfilled template field right after the level ('L4/L5 (Laterality: ***)'): the side was never
        # written, whatever the rest of the note says
        if any(g.end <= p.start <= g.end + 4 and not any(t.text in (".", ";", ",") for t in doc[g.end:p.start])
               and not self._opens_level(p) for p in self.near("PLACEHOLDER", g.end, g.end + 5)):
            return "placeholder", None
        # ... or right before it ('left L4-5 and {SIDE} L5-S1')
        if any(p.end == g.start for p in self.near("PLACEHOLDER", max(0, g.start - 6), g.start)):
            return "placeholder", None
        if g.start > 0 and doc[g.start - 1].text in _LETTER_SIDES and not (
                g.start > 1 and doc[g.start - 2].text == "/"):  # 'L C4 + C5 MBB', 'R L4-5' (not 'R/L C5-6')
            return _LETTER_SIDES[doc[g.start - 1].text], None
        if (g.start > 2 and doc[g.start - 1].text == ")" and doc[g.start - 3].text == "("
                and doc[g.start - 2].text in _LETTER_SIDES):  # '(R) C5-6 + C6-7'
            return _LETTER_SIDES[doc[g.start - 2].text], None
        group_negated = g.refs[0]._.is_negated
        # a side further than SIDE_WINDOW tokens away does not speak of this level (and a note that is one
        # giant sentence must not make every level look at every side)
        lo, hi = max(sent.start, g.start - SIDE_WINDOW), min(sent.end, g.end + SIDE_WINDOW)
        sides = [s for s in self.near("SIDE", lo, hi)
                 if s.end <= hi and (self.cur(s) or (group_negated and s._.is_negated)) and s.id_ != "other_side"]
        if not sides:
            return None, None
        i, j = bisect.bisect_left(self._ref_starts, lo), bisect.bisect_left(self._ref_starts, hi)
        refs_in_sent = [r for r in self.spine_refs[i:j] if r.end <= hi]

        def refs_between(lo: int, hi: int) -> bool:
            return any(r.start >= lo and r.end <= hi for r in refs_in_sent)

        def breaks(lo: int, hi: int, marks=(".", ";")) -> bool:
            return any(t.text in marks for t in doc[lo:hi])

        def postfix_of_earlier_group(side: Span) -> bool:
            # 'C5 and C6 medial branches on both sides, C7 ...': the side closes the earlier group
            return any(r.end <= side.start and side.start - r.end <= 4 and r.start < g.start
                       and not breaks(r.end, side.start, (".", ";", ","))
                       for r in refs_in_sent)

        def postfix_of_any(side: Span) -> bool:
            return any(r.end <= side.start and side.start - r.end <= 4 and (r.start, r.end) != (g.start, g.end)
                       and r.start != g.refs[0].start and not breaks(r.end, side.start, (".", ";"))
                       for r in refs_in_sent)

        before = [s for s in sides if s.end <= g.start]
        after = [s for s in sides if s.start >= g.end]
        if before:
            b = before[-1]
            if (g.start - b.end <= 4 and not breaks(b.end, g.start) and not refs_between(b.end, g.start)
                    and (g.start == b.end or not postfix_of_earlier_group(b))):
                self.attached_sides.add(b.start)
                return b.id_, b
        # 'RIGHT: L2 MB, ... L5 DR      LEFT: L2 MB, ...': a side followed by a colon labels what follows it
        after = [s for s in after if not (s.end < len(doc) and doc[s.end].text.startswith(":"))]
        if after:
            a = after[0]
            if (a.start - g.end <= 4 and not breaks(g.end, a.start, (".", ";", ","))
                    and not refs_between(g.end, a.start)):
                self.attached_sides.add(a.start)
                return a.id_, a
            # '1. C5 and C6 medial branches, right and left' / 'L3 + L4 MB, B/L.': a side that closes the line
            # or sentence after a comma speaks of the levels just before it
            # ('L3 MB + L4 MB, R and L': the levels of a coordinated list before it, not only the last one)
            if (not breaks(g.end, a.start)
                    and ((a.start - g.end <= 5 and not refs_between(g.end, a.start))
                         or (a.start - g.end <= 12 and self._coordinated(g.end, a.start, refs_in_sent)))
                    and (a.end >= len(doc) or doc[a.end].text in (".", ";") or "\n" in doc[a.end].text)):
                self.attached_sides.add(a.start)
                return a.id_, a
        if before:
            b = before[-1]
            if not breaks(b.end, g.start) and not refs_between(b.end, g.start) and not postfix_of_earlier_group(b):
                return b.id_, b
            # 'on the left L3 MB, L4 MB and the L5 dorsal ramus': a side opens a coordinated list of nerves
            if (self._group_is_nerves(g) and not breaks(b.end, g.start)
                    and not postfix_of_earlier_group(b)
                    and not any(b.end <= x.start < g.start for x in sides if x is not b)):
                return b.id_, b
        if len({s.id_ for s in sides}) == 1:
            s0 = sides[0]
            if s0.start > g.start and postfix_of_any(s0):
                return None, None  # 'L4/L5 (Laterality: ***), L5/S1 (Laterality: Right)': Right is L5/S1's
            if s0.start > g.start and any(0 <= r.start - s0.end <= 2 and r.start != g.refs[0].start
                                           for r in refs_in_sent):
                return None, None  # '... the L4/5 joint, then ... the left L5/S1 joint': left is L5/S1's
            lo, hi = sorted((s0.start, g.start))
            if s0.start in self.attached_sides and refs_between(lo, hi) and g.start - s0.end > SIDE_WINDOW // 4:
                # 'into the right L4-5 joint and a second needle into the L5-S1 joint': the side belongs to
                # the level it is written on; a level further on, past it, is not told its side
                return None, None
            if not breaks(lo, hi, (";",)):
                return s0.id_, s0
        return None, None

    def _headline_names_unlisted_nerves(self) -> bool:
        """The procedure line names medial branch blocks without their levels ('cervical MBr blocks')."""
        for p in self.by_label.get("PROC", []):
            if p.id_ == "medial_branch_block" and self.cur(p) and self.is_headline(p):
                k = bisect.bisect_left(self._ref_starts, p.start)
                if not (k > 0 and p.start - self.spine_refs[k - 1].end <= 1):
                    return True
        return False

    def _level_between(self, side: Span, g: LevelGroup) -> bool:
        """Another level is written between a side and this level group (the side is another level's)."""
        lo, hi = (side.end, g.start) if side.end <= g.start else (g.end, side.start)
        k = bisect.bisect_left(self._ref_starts, lo)
        return k < len(self.spine_refs) and self.spine_refs[k].end <= hi and self.spine_refs[k] not in g.refs

    def _coordinated(self, lo: int, hi: int, refs: list[Span]) -> bool:
        """Tokens lo..hi-1 only join levels into one list ('+ L4 MB,', 'and L5')."""
        covered = {i for r in refs for i in range(r.start, r.end)}
        covered.update(i for n in self.near("NERVE_WORD", lo, hi) for i in range(n.start, n.end))
        return all(i in covered or self.doc[i].lower_ in _LIST_JOINERS for i in range(lo, hi))

    def _opens_level(self, span: Span) -> bool:
        """A span written right before a level ('{SIDE} L5-S1') belongs to that level, not to the one before."""
        k = bisect.bisect_left(self._ref_starts, span.end)
        return k < len(self._ref_starts) and self._ref_starts[k] == span.end

    def _counts_for_levels(self, g: LevelGroup, procedure: str) -> bool:
        r0 = g.refs[0]
        # 'the L1 medial branch (L2 transverse process)': a vertebra named as a landmark is not a level
        if all(r.label_ == "SPINE_VERT" for r in g.refs) and bool(
                self.near("LANDMARK", g.end, g.end + 2)):
            return False
        if not all(self.cur(r) for r in g.refs):
            return False
        if self.sec(r0) not in LEVEL_SECTIONS and not self.in_short_first_line(r0):
            return False
        if self._level_dated_before_visit(g):
            return False
        sent = self.sent_of(r0)
        # a sentence about a different procedure (an epidural or an RFA mentioned in the same note)
        other = [s for s in self.sent_facts(sent, "PROC") if s.id_ in ("epidural", "radiofrequency_ablation",
                                                                        "other", "si_joint") and self.cur(s)]
        facet = [s for s in self.sent_facts(sent, "PROC") if s.id_ in FACET_PROCEDURES]
        if other and not facet:
            return False
        # 'Localizer and axial images T4 to T7': the span a CT scan covers, not the joints treated (unlike
        # 'axial images localized the R T7-8 facet', which names the joint)
        if not facet and self.sent_facts(sent, "IMAGING_SURVEY") and not self.sent_facts(sent, "JOINT_WORD"):
            return False
        # 'MRI in June showed ... an L3-4 disc bulge': the levels of an imaging report, not of the procedure
        if not facet and self.sent_facts(sent, "IMAGING_REPORT") and not self.sent_facts(sent, "GUIDANCE"):
            return False
        return True

    def levels(self, procedure: str) -> tuple[list[LevelFact], list[str], str | None]:
        """Joints treated today with their side, the joints whose side is unknown, and a nerve mismatch."""
        if procedure not in FACET_PROCEDURES:
            for g in self.level_groups():
                for r in g.refs:
                    self.mention(r, "level", r.text, counted=False)
            return [], [], None
        joint_sides: dict[str, set[str]] = defaultdict(set)
        joint_ev: dict[str, list[tuple[int, int]]] = defaultdict(list)
        headline_joints: set[str] = set()
        nerve_sides: dict[str, set[str]] = defaultdict(set)  # side -> nerves
        nerve_sides_head: dict[str, set[str]] = defaultdict(set)  # the same, named in the procedure line
        nerve_ev: dict[str, list[tuple[int, int]]] = defaultdict(list)
        joint_src: dict[str, str] = {}
        removed: dict[str, set[str]] = defaultdict(set)
        removed_in_addendum: dict[str, set[str]] = defaultdict(set)
        addendum_replace: set[str] = set()
        title_joints: set[str] = set()
        addendum_override: dict[str, set[str]] = {}
        explicit_unknown: set[str] = set()  # levels whose side field was left unfilled
        strong_sided: set[str] = set()  # levels with a side written at them
        removed_nerves: dict[str, set[str]] = defaultdict(set)
        for g in self.level_groups():
            counted = self._counts_for_levels(g, procedure)
            in_addendum = self.sec(g.refs[0]) == "addendum"
            side, _side_span = self._side_of(g)
            g_unfilled = side == "placeholder"
            if side == "placeholder":
                side = None
                if counted:
                    explicit_unknown.update(self._group_joints(g))
            negated = not counted and g.refs[0]._.is_negated and self.sec(g.refs[0]) in LEVEL_SECTIONS
            if negated and side in ("left", "right") and self._group_is_nerves(g):
                removed_nerves[side].update(self._group_nerves(g))  # 'L5 dorsal ramus on the right was not done'
            elif negated and (in_addendum or side in ("left", "right")):
                # 'right L5/S1 not injected', 'Addendum: L5-S1 was not done'
                for j in self._group_joints(g):
                    removed[j] |= ({"left", "right"} if side in (None, "bilateral") else {side})
                    if in_addendum:
                        removed_in_addendum[j] |= ({"left", "right"} if side in (None, "bilateral") else {side})
            for r in g.refs:
                self.mention(r, "level", r.text, counted=counted)
            if not counted:
                continue
            if self._group_is_nerves(g):
                nerves = self._group_nerves(g)
                # a nerve whose side field was left unfilled does not join either side's nerves
                key = side or ("unfilled" if g_unfilled else "unknown")
                nerve_sides[key].update(nerves)
                if self.is_headline(g.refs[0]):
                    nerve_sides_head[key].update(nerves)
                nerve_ev[key].append((g.start_char, g.end_char))
                continue
            joints = self._group_joints(g)
            ref_of = {j: r for r in g.refs for j in self._group_joints(LevelGroup(refs=[r]))}
            # a side read from elsewhere in the sentence, not written at the level, is a weak reading
            weak = _side_span is not None and self._level_between(_side_span, g)
            for j in joints:
                if side in ("left", "right", "bilateral") and not weak:
                    strong_sided.add(j)
                if side == "bilateral":
                    joint_sides[j] |= {"left", "right"}
                elif side in ("left", "right"):
                    joint_sides[j].add(side)
                else:
                    joint_sides.setdefault(j, set())
                ref = ref_of.get(j)
                joint_ev[j].append((ref.start_char, ref.end_char) if ref is not None else (g.start_char, g.end_char))
                joint_src[j] = "joint"
                if self.is_headline(g.refs[0]):
                    (title_joints if self.sec(g.refs[0]) == "title" else headline_joints).add(j)
                if in_addendum:
                    addendum_replace.add(j)
                    if side in ("left", "right", "bilateral"):
                        # an addendum that states a level's side corrects the body of the note
                        addendum_override.setdefault(j, set()).update(
                            {"left", "right"} if side == "bilateral" else {side})
        # the title of a note names its procedure; a procedure section may go on to describe localisation
        headline_joints = title_joints or headline_joints
        # nerves -> joints per side (R-NERVE-MAP); a side's nerves said not done come off that side
        for side_key, gone in removed_nerves.items():
            other = "left" if side_key == "right" else "right"
            nerve_sides[side_key] -= gone
            for key in ("bilateral", "unknown"):
                moved = nerve_sides.get(key, set()) & gone
                if moved:  # a nerve done on both (or unstated) sides but not on this one: the other side only
                    nerve_sides[key] -= moved
                    nerve_sides[other] |= moved
        nerve_joint_sides, nerve_joint_ev = _nerve_joints(nerve_sides, nerve_ev)
        explicit_unknown.update(j for j, s in nerve_joint_sides.items() if not s and nerve_sides.get("unfilled"))
        headline_nerve_joints, _ = _nerve_joints(nerve_sides_head, nerve_ev)
        mismatch = None
        stated = set(headline_joints) | set(headline_nerve_joints)
        if nerve_joint_sides and stated:
            # the procedure line wins; nerves named elsewhere that map to other joints are reported
            derived = set(nerve_joint_sides)
            # in a session with intra-articular injections, joints named without nerves are the injected ones
            unexplained = derived - stated if procedure == "facet_joint_injection" else derived ^ stated
            if headline_joints and unexplained:
                mismatch = (f"procedure line names {', '.join(sorted(stated, key=_jkey))}; the nerves blocked "
                            f"map to {', '.join(sorted(derived, key=_jkey))}")
            # a procedure line that names some nerves and leaves others unlisted ('third occipital nerve and
            # cervical MBr blocks') leaves them to the level table: every nerve named today counts
            final_joints = stated | set(addendum_replace)
            if not headline_joints and self._headline_names_unlisted_nerves():
                final_joints |= derived
        elif nerve_joint_sides:
            final_joints = set(nerve_joint_sides) | set(joint_sides)
        elif headline_joints:
            final_joints = set(headline_joints) | set(addendum_replace)
        else:
            final_joints = set(joint_sides)
        if addendum_replace and self._addendum_corrects_levels():
            # 'ADDENDUM: level typo in the note above ... i.e. lt C7-T1 and T1-2': the addendum's joints replace
            # the note's, nerve-derived ones included
            final_joints = set(addendum_replace)
            nerve_joint_sides = {j: s for j, s in nerve_joint_sides.items() if j in final_joints}
            mismatch = None  # the nerves the body named were corrected along with its levels
        # 'L5-S1 on the [inaudible]' and, later, '... into the right L4-5 joint and one into the L5-S1 joint': an
        # unfilled side stays unknown unless a side is written at the level itself
        for j in explicit_unknown - strong_sided:
            if j in joint_sides:
                joint_sides[j] = set()
        for j in nerve_joint_sides:
            if j in final_joints:
                joint_sides.setdefault(j, set())
                joint_sides[j] |= nerve_joint_sides[j]
                joint_ev[j].extend(nerve_joint_ev.get(j, []))
                joint_src[j] = "both" if j in joint_src else "nerve"
        joint_sides = {j: sides for j, sides in joint_sides.items() if j in final_joints}
        # joints or sides said not done ('right L5/S1 not injected', 'Addendum: L5-S1 was not done')
        self._remove_sides(joint_sides, removed, addendum_replace)
        self._apply_side_sentences(joint_sides)
        # an addendum is written after the procedure and corrects it: its removals also override the body's
        # side sentences ('Left side: the same targets ...' then 'ADDENDUM: left L5-S1 was not blocked')
        self._remove_sides(joint_sides, removed_in_addendum, addendum_replace)
        for j, sides in addendum_override.items():
            joint_sides[j] = set(sides)
        default_side = self._note_side()
        out: list[LevelFact] = []
        unknown: list[str] = []
        for j in sorted(joint_sides, key=_jkey):
            sides = joint_sides[j]
            if sides >= {"left", "right"}:
                side = "bilateral"
            elif sides:
                side = next(iter(sides))
            else:
                side = "unknown" if j in explicit_unknown else (default_side or "unknown")
            if side == "unknown":
                unknown.append(j)
            out.append(LevelFact(joint=j, region=spine.region(j), side=side,
                                 evidence=sorted(set(joint_ev.get(j, []))), source=joint_src.get(j, "joint")))
        return out, unknown, mismatch

    def _addendum_corrects_levels(self) -> bool:
        """An addendum that says the note's levels were written wrong ('level typo', 'should read')."""
        for start, end, cat in self.doc._.sections or []:
            if cat == "addendum" and _LEVEL_CORRECTION.search(self.text, start, end):
                return True
        return False

    @staticmethod
    def _remove_sides(joint_sides: dict[str, set[str]], removed: dict[str, set[str]],
                      addendum_replace: set[str]) -> None:
        for j, sides in removed.items():
            if j in joint_sides and j not in addendum_replace:
                if sides >= {"left", "right"} or not joint_sides[j] or joint_sides[j] <= sides:
                    del joint_sides[j]
                else:
                    joint_sides[j] -= sides

    def _apply_side_sentences(self, joint_sides: dict[str, set[str]]) -> None:
        """Sentences with a side and no level: 'the same procedure was repeated on the other side' makes
        every level bilateral; 'Addendum: the left side was not done' removes that side."""
        level_sents = {self.sent_of(r).start for r in self.spine_refs}
        sides = self.by_label.get("SIDE", [])
        for s in sides:
            sent = self.sent_of(s)
            if self.sec(s) not in LEVEL_SECTIONS:
                continue
            if self.sec(s) == "addendum" and s.id_ in ("left", "right") and self.cur(s):
                # 'ADDENDUM: the side was LEFT, not right': every level done on the wrong side moves
                wrong = {o.id_ for o in sides if o.id_ in ("left", "right") and o.id_ != s.id_
                         and o._.is_negated and self.sent_of(o).start == sent.start}
                if wrong:
                    for j in joint_sides:
                        if joint_sides[j] == wrong:
                            joint_sides[j] = {s.id_}
                    continue
            if (self.sec(s) == "addendum" and s._.is_negated and s.id_ in ("left", "right")
                    and s.start not in self.attached_sides):
                # 'ADDENDUM: after the right C5-C7 nerves were injected he became pale; the left side was not
                # done': a side said not done, not tied to a level, comes off every level
                for j in joint_sides:
                    joint_sides[j] = (joint_sides[j] or {"left", "right"}) - {s.id_}
                continue
            if sent.start in level_sents:
                # '... right C2-3 and C3-4, and the same procedure was repeated on the contralateral side'
                if s.id_ == "other_side" and self.cur(s) and self.words_of(sent) & (_REPEAT_WORDS - {"contralateral"}):
                    in_sentence = self._sentence_joints(sent)
                    for j in joint_sides:
                        if j in in_sentence:
                            joint_sides[j] = {"left", "right"}
                # 'On the left ... The identical procedure was then carried out on the right side: third occipital
                # nerve, C3 and C4 medial branches': what is repeated was done on the side named before as well
                elif (s.id_ in ("left", "right") and self.cur(s) and "side" in s.text.lower()
                      and "only" not in self.words_of(sent) and self.words_of(sent) & {"procedure", "technique"}
                      and self.words_of(sent) & (_REPEAT_WORDS - {"contralateral", "repeat"})
                      and self.words_of(sent) & _DONE_WORDS):
                    other = "left" if s.id_ == "right" else "right"
                    if any(o.id_ == other and o.start < sent.start and self.cur(o) and self.sec(o) in LEVEL_SECTIONS
                           for o in sides):
                        for j in self._sentence_joints(sent) & set(joint_sides):
                            joint_sides[j] |= {"left", "right"}
                continue
            words = self.words_of(sent)
            if self.sec(s) == "addendum" and s._.is_negated:
                for j in joint_sides:
                    if s.id_ in ("left", "right"):
                        joint_sides[j] = (joint_sides[j] or {"left", "right"}) - {s.id_}
                continue
            if not self.cur(s):
                continue
            if self.sec(s) == "addendum" and "only" in words and s.id_ in ("left", "right"):
                for j in joint_sides:
                    joint_sides[j] = {s.id_}
                continue
            if self.sec(s) == "addendum" and s.id_ == "bilateral":
                # 'ADDENDUM: Laterality correction: this was a bilateral procedure'
                for j in joint_sides:
                    joint_sides[j] = {"left", "right"}
                continue
            if words & (_REPEAT_WORDS - {"contralateral"}) or (s.id_ == "other_side" and words & _DONE_WORDS):
                for j in joint_sides:
                    if s.id_ == "other_side" or s.id_ == "bilateral":
                        joint_sides[j] = {"left", "right"}
                    elif s.id_ in ("left", "right") and joint_sides[j]:
                        joint_sides[j].add(s.id_)

    def _note_side(self) -> str | None:
        """The side stated for the whole procedure (headline or technique), used for levels with none.
        None when the note's laterality field was left unfilled ('Laterality: ***')."""
        for p in self.by_label.get("PLACEHOLDER", []):
            before = self.doc[max(0, p.start - 3):p.start]
            if any(t.lower_ in ("laterality", "side", "sides") for t in before):
                return None
        for sections in (HEADLINE_SECTIONS, LEVEL_SECTIONS):
            sides = {s.id_ for s in self.by_label.get("SIDE", [])
                     if self.cur(s) and self.sec(s) in sections and s.id_ != "other_side"
                     and s.start not in self.attached_sides}
            if len(sides) == 1:
                return next(iter(sides))
            if sides >= {"left", "right"} or "bilateral" in sides:
                if "bilateral" in sides and sections is HEADLINE_SECTIONS:
                    return "bilateral"
                if sides >= {"left", "right"}:
                    return "bilateral"
                return None
        return None

    # ------------------------------------------------------------------ guidance, agents, intent
    def guidance(self, procedure: str = "unknown") -> tuple[list[str], list[tuple[int, int]]]:
        found: dict[str, list] = {}
        # sentences that explain why RFA is not an option speak of RFA's imaging, not today's
        rfa_sents = {self.sent_of(r).start for r in self.by_label.get("RFA_REASON", []) if _trigger_current(r)}
        for s in self.by_label.get("GUIDANCE", []) + self.by_label.get("IMAGING_CODE", []):
            counted = (self.cur(s) and self.sec(s) not in EXCLUDED_FOR_GUIDANCE
                       and (procedure == "radiofrequency_ablation" or self.sent_of(s).start not in rfa_sents))
            label = s.id_ if s.label_ == "GUIDANCE" else {"77012": "ct"}.get(s.id_, "fluoroscopy")
            if s.label_ == "IMAGING_CODE" and s.id_ == "separate_fluoro":
                label = "fluoroscopy"
            self.mention(s, "guidance", label, counted)
            if counted:
                found.setdefault(label, []).append((s.start_char, s.end_char))
        # 'oblique view', 'AP and lateral' mean fluoroscopy unless the note is guided by ultrasound or CT,
        # whose images have views too
        views = found.pop("fluoroscopy_view", None)
        if views and "fluoroscopy" not in found and not ({"ultrasound", "ct"} & set(found)):
            found["fluoroscopy"] = views
        order = ["fluoroscopy", "ct", "ultrasound"]
        kinds = [k for k in order if k in found]
        if not kinds:
            return ["none_documented"], []
        return kinds, [sp for k in kinds for sp in found[k]]

    def agents(self) -> list[AgentFact]:
        lex = agent_lexicon()
        by_name: dict[str, AgentFact] = {}
        for s in self.by_label.get("AGENT", []):
            section = self.sec(s)
            if section in ("home_medications", "imaging") and not self._topical(s):
                # 'MEDICATIONS: 1% lidocaine skin; 0.5 mL bupivacaine' lists the injectate; 'Imaging: CT ...,
                # 0.3 mL Omnipaque' is the procedure's guidance field
                section = "technique"
            if _is_field_label(s):
                continue  # 'Contrast: none' — a field label, not an agent
            counted = self.cur(s) and section not in EXCLUDED_FOR_FACTS and not self._dated_before_visit(s)
            self.mention(s, "agent", s.id_, counted)
            if not counted:
                continue
            fact = by_name.get(s.id_)
            if fact is None:
                fact = AgentFact(name=s.id_, role=lex[s.id_]["role"])
                by_name[s.id_] = fact
            fact.evidence.append((s.start_char, s.end_char))
            if fact.dose is None:
                fact.dose = self._dose_near(s)
        named_contrast = any(a.role == "contrast" and a.name != "contrast" for a in by_name.values())
        if named_contrast:
            by_name.pop("contrast", None)
        return list(by_name.values())

    def _sentence_joints(self, sent: Span) -> set[str]:
        """The joints a sentence names, written as joints or as the nerves that supply them."""
        return {j for g in self._groups_in(sent)
                for j in self._group_joints(g) + [x.name for x in spine.joints_from_nerves(self._group_nerves(g))]}

    def _level_dated_before_visit(self, g: LevelGroup) -> bool:
        """Levels in a parenthesis that an earlier date opens were treated at that earlier visit. The note's
        first date is its own (the visit), so a date there never makes its levels history."""
        m = _DATE_BEFORE_LEVEL.search(self.text, max(0, g.start_char - 24), g.start_char)
        if not m:
            return False
        first = _ANY_DATE.search(self.text)  # only read when a dated parenthesis is there
        if first is None or first.start() >= m.start():
            return False
        month, year, day = int(m.group("m")), int(m.group("y")), int(m.group("d") or 1)
        year += 2000 if year < 100 else 0
        try:
            return dt.date(year, month, day) < self.dos
        except ValueError:
            return False

    def _dated_before_visit(self, s: Span) -> bool:
        """'(11/2025 lidocaine 90%, 12/2025 bupivacaine 85%)', 'Blk #1 02/10/26 (bupi): 85% relief': a drug
        written right after a date earlier than the date of service was given at an earlier visit."""
        m = _DATE_BEFORE.search(self.text, max(0, s.start_char - 14), s.start_char)
        if not m:
            return False
        month, year = int(m.group("m")), int(m.group("y"))
        year += 2000 if year < 100 else 0
        return 1 <= month <= 12 and (year, month) < (self.dos.year, self.dos.month)

    def _topical(self, s: Span) -> bool:
        """A lidocaine patch or cream among home medications is not an injected agent."""
        sent = self.sent_of(s)
        window = self.doc[max(sent.start, s.start - 3):min(sent.end, s.end + 3)]
        return any(t.lower_ in ("patch", "patches", "cream", "ointment", "gel", "topical", "viscous", "po", "oral")
                   for t in window)

    def _dose_near(self, s: Span) -> str | None:
        sent = self.sent_of(s)
        lo = max(sent.start, s.start - 8)
        hi = min(sent.end, s.end + 8)
        before = self.doc[lo:s.start].text
        after = self.doc[s.end:hi].text
        doses = _DOSE.findall(before) + _DOSE.findall(after)
        return ", ".join(dict.fromkeys(d.replace(" ", " ") for d in doses)) or None

    def intent(self, procedure: str, agents: list[AgentFact]) -> tuple[str, list[tuple[int, int]]]:
        if procedure not in FACET_PROCEDURES:
            for s in self.by_label.get("INTENT", []):
                self.mention(s, "intent", s.id_, counted=False)
            return "unknown", []
        stated: dict[str, list[Span]] = defaultdict(list)
        for s in self.by_label.get("INTENT", []):
            counted = self.cur(s) and self.sec(s) in PROCEDURE_SECTIONS
            self.mention(s, "intent", s.id_, counted)
            if counted:
                stated[s.id_].append(s)
        headline = {k for k, v in stated.items() if any(self.is_headline(s) for s in v)}
        for pool in (headline, set(stated)):
            if len(pool) == 1:
                kind = next(iter(pool))
                return kind, [(s.start_char, s.end_char) for s in stated[kind]]
            if len(pool) > 1:
                break
        roles = {a.role for a in agents}
        if "steroid" in roles:
            return "therapeutic", [ev for a in agents if a.role == "steroid" for ev in a.evidence]
        if "anesthetic" in roles:
            return "diagnostic", [ev for a in agents if a.role == "anesthetic" for ev in a.evidence]
        return "unknown", []

    # ------------------------------------------------------------------ diagnoses
    def diagnoses(self, levels: list[LevelFact], procedure: str) -> list[DiagnosisFact]:
        lex = diagnosis_lexicon()
        # a written code counts when it can be what today's procedure treats: a problem list's hypertension or
        # pacemaker status is a comorbidity, and a facet procedure treats a spinal condition, not the knee
        scope = written_code_scope()
        code_prefixes = scope["facet"] if procedure in FACET_PROCEDURES else scope["any"]
        level_regions = {lv.region for lv in levels}
        out: dict[str, DiagnosisFact] = {}
        for s in self.by_label.get("DX", []) + self.by_label.get("ICD10", []):
            counted = _dx_current(s) and self.sec(s) not in ("imaging", "family_history", "plan")
            code = None
            if s.label_ == "ICD10":
                code = _written_code(s)
                source = "code"
                counted = counted and code.startswith(code_prefixes)
            else:
                source = "phrase"
                region_name = self._dx_region(s, level_regions)
                table = lex[s.id_]["by_region"]
                if "any" in table:
                    code = table["any"]
                elif region_name in table:
                    code = table[region_name]
                elif region_name == "lumbosacral" and "lumbar" in table:
                    code = table["lumbar"]
                elif len(table) == 1:
                    code = next(iter(table.values()))
                if code == "M54.50" and self.dos < dt.date(2021, 10, 1):
                    code = "M54.5"  # M54.5 was split into M54.50/.51/.59 on 2021-10-01
            self.mention(s, "diagnosis", code or s.id_, counted and code is not None)
            if not counted or code is None:
                continue
            fact = out.get(code)
            if fact is None:
                out[code] = DiagnosisFact(icd10=code, text=s.text, evidence=[(s.start_char, s.end_char)],
                                          source=source)
            else:
                fact.evidence.append((s.start_char, s.end_char))
        # A code written next to its phrase ('Spondylosis, occipito-atlanto-axial region (M47.811)') is the
        # physician's own coding: a phrase of the same category (M47) in that sentence does not add a second,
        # guessed code. A code of another category speaks only for itself: in 'lumbosacral spondylosis; right
        # L5 radiculopathy (M54.16)' the spondylosis is still a diagnosis.
        explicit = [s for s in self.by_label.get("ICD10", []) if _dx_current(s)]
        written = {_written_code(s) for s in explicit}
        coded: dict[int, set[str]] = defaultdict(set)  # sentence start -> categories written there
        for s in explicit:
            coded[self.sent_of(s).start].add((_written_code(s) or "")[:3])
        for code, fact in list(out.items()):
            if code in written:
                continue
            sents = {self.sent_of(self.doc.char_span(a, b, alignment_mode="expand")).start for a, b in fact.evidence}
            if all(code[:3] in coded.get(st, ()) for st in sents):
                del out[code]
        # ICD-10-CM: signs and symptoms routinely part of a confirmed condition are not coded beside it.
        # Facet syndrome / facet-mediated pain (M47.89x) is how facet spondylosis (M47.81x) presents: with
        # the spondylosis code of the same region it adds nothing either.
        definitive = [c for c in out if not c.startswith(SYMPTOM_PREFIXES)]
        definitive_regions = set().union(*(_code_regions(c) for c in definitive))
        spondylosis_regions = set().union(*(_code_regions(c) for c in out if c.startswith("M47.81")))
        return [f for c, f in out.items()
                if not (c.startswith(SYMPTOM_PREFIXES) and _code_regions(c) & definitive_regions)
                and not (c.startswith("M47.89") and _code_regions(c) & spondylosis_regions)]

    def _dx_region(self, s: Span, level_regions: set[str]) -> str | None:
        sent = self.sent_of(s)
        words = [w for w in self.sent_facts(sent, "REGION_WORD") if abs(w.start - s.start) <= 6
                 or abs(w.end - s.end) <= 6]
        if words:
            nearest = min(words, key=lambda w: min(abs(w.start - s.start), abs(w.end - s.end)))
            return nearest.id_
        refs = [r for r in self.spine_refs if r.start >= sent.start and r.end <= sent.end]
        for r in refs:
            js = spine.parse_joint_text(r.text) if r.label_ == "SPINE_JOINT" else []
            if js:
                return spine.region(js[0])
            v = spine.vertebra(r.text) if r.label_ == "SPINE_VERT" else None
            if v:
                return {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "lumbosacral"}[v.name[0]]
        if len(level_regions) == 1:
            return next(iter(level_regions))
        return None

    # ------------------------------------------------------------------ coverage facts
    def simple(self, label: str, kind: str, *, trigger_only: bool = False,
               sections: set[str] | None = None) -> list[Span]:
        out = []
        for s in self.by_label.get(label, []):
            ok = _trigger_current(s) if trigger_only else self.cur(s)
            if sections is not None and self.sec(s) not in sections:
                ok = False
            self.mention(s, kind, s.id_, ok)
            if ok:
                out.append(s)
        return out


def _nerve_joints(nerve_sides: dict[str, set[str]], nerve_ev: dict[str, list]) -> tuple[dict, dict]:
    """R-NERVE-MAP per side: a joint counts when both its nerves were blocked on that side (nerves of
    'bilateral' groups count on both sides, nerves without a side join each side's pool; nerves whose side
    field was left unfilled join none)."""
    joint_sides: dict[str, set[str]] = {}
    joint_ev: dict[str, list] = defaultdict(list)
    for side_key, nerves in nerve_sides.items():
        pool = set(nerves)
        if side_key == "unfilled":
            # joints that need a nerve whose side was never written: known to be treated, side unknown
            others = set().union(*(n for k, n in nerve_sides.items() if k != "unfilled"))
            for j in set(spine.joints_from_nerves(pool | others)) - set(spine.joints_from_nerves(others)):
                joint_sides.setdefault(j.name, set())
                joint_ev[j.name].extend(nerve_ev.get(side_key, []))
            continue
        if side_key in ("left", "right"):
            pool |= nerve_sides.get("bilateral", set()) | (nerve_sides.get("unknown", set())
                                                           - nerve_sides.get("unfilled", set()))
        elif side_key == "unknown":
            pool |= nerve_sides.get("bilateral", set())
        for j in spine.joints_from_nerves(pool):
            sides = joint_sides.setdefault(j.name, set())
            if side_key == "bilateral":
                sides |= {"left", "right"}
            elif side_key in ("left", "right"):
                sides.add(side_key)
            joint_ev[j.name].extend(nerve_ev.get(side_key, []))
    return joint_sides, joint_ev


SYMPTOM_PREFIXES = ("M54.2", "M54.5", "M54.6")


def _written_code(span: Span) -> str:
    """An ICD-10 code as written in the note, normalised ('m47.816.' -> 'M47.816')."""
    return re.sub(r"[^A-Z0-9.]", "", span.text.upper()).rstrip(".")


def _is_field_label(span: Span) -> bool:
    """'Contrast: none', 'Sedation: none': the word names a template field, it does not state a fact."""
    doc = span.doc
    return span.end < len(doc) and doc[span.end].text in (":", ":,")


def _code_regions(code: str) -> set[str]:
    from ..coding import icd10_region  # the code -> region table lives with the coding core's data
    r = icd10_region(code)
    return {"lumbosacral": {"lumbar"}, "cervicothoracic": {"cervical", "thoracic"},
            "thoracolumbar": {"thoracic", "lumbar"}, "any": set()}.get(r, {r})


def _jkey(name: str) -> int:
    j = spine.joint_by_name(name)
    return j.index if j else 99


def read_extraction(doc: Doc, date_of_service: dt.date | None = None) -> Extraction:
    """The facts of today's procedure, from a processed Doc."""
    r = FactReader(doc, date_of_service)
    procedure, proc_ev, si_joint = r.procedure()
    levels, unknown_sides, mismatch = r.levels(procedure)
    guidance, guidance_ev = r.guidance(procedure)
    agents = r.agents()
    if procedure == "unknown":
        # no procedure today (a consult, a follow-up visit, a cancelled block): nothing was injected and no
        # imaging guided a needle; drugs and fluoroscopy the note names belong to earlier or planned visits
        agents, guidance, guidance_ev = [], ["none_documented"], []
        for m in r.mentions:
            if m.kind in ("agent", "guidance"):
                m.counted = False
    intent, intent_ev = r.intent(procedure, agents)
    diagnoses = r.diagnoses(levels, procedure)
    # 'Sedation: none' — a field label is not a statement that sedation was given
    r.by_label["SEDATION"] = [s for s in r.by_label.get("SEDATION", [])
                              if not _is_field_label(s)]
    sedation = r.simple("SEDATION", "sedation", sections=None)
    sedation = [s for s in sedation if s._.section not in ("history", "past_history", "plan", "home_medications",
                                                           "allergies")]
    imaging_codes = r.simple("IMAGING_CODE", "imaging_code")
    rfa_reason = r.simple("RFA_REASON", "rfa_contraindication", trigger_only=True)
    for s in r.by_label.get("SIDE", []):
        r.mention(s, "side", s.id_, r.cur(s))
    evidence_starts = {e.start for e in proc_ev}
    for s in r.by_label.get("PROC", []):
        r.mention(s, "procedure", s.id_, s.start in evidence_starts)
    return Extraction(
        procedure=procedure,
        levels=levels,
        guidance=guidance,
        agents=agents,
        intent=intent,
        diagnoses=diagnoses,
        procedure_evidence=[(s.start_char, s.end_char) for s in proc_ev],
        guidance_evidence=guidance_ev,
        intent_evidence=intent_ev,
        sedation=sorted({s.id_ for s in sedation}),
        sedation_evidence=[(s.start_char, s.end_char) for s in sedation],
        imaging_codes=sorted({s.id_ for s in imaging_codes if s.id_ != "separate_fluoro"} | (
            {"separate_fluoroscopy"} if any(s.id_ == "separate_fluoro" for s in imaging_codes) else set())),
        si_joint=si_joint and (procedure == "other" or procedure in FACET_PROCEDURES),
        rfa_contraindication=[(s.start_char, s.end_char) for s in rfa_reason],
        nerve_mismatch=mismatch,
        levels_without_side=unknown_sides,
        mentions=sorted(r.mentions, key=lambda m: (m.start, m.end)),
    )
