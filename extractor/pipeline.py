"""``process_note``: the one library call behind the CLI, the batch runner and the app.

text -> spaCy Doc -> Extraction -> gaps -> coding core -> NoteResult. Each step depends only on the one
before it and on ``schema``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from pydantic import ValidationError

from . import __version__
from .coding import RULESET_VERSION, code_extraction, load_payer_profile
from .confidence import confidence, status
from .gaps.detect import detect_gaps, gap_model_version
from .nlp import get_pipeline
from .nlp.extract import read_extraction
from .schema import (MAX_FACTS, MAX_NOTE_CHARS, CodingContext, NoteInput, NoteResult, PriorSession, Versions,
                     note_too_large)


class InputError(ValueError):
    """The caller's input cannot be processed (too large, unknown setting or payer, bad date).

    Messages never contain note text."""


def _validate(note: NoteInput | dict) -> NoteInput:
    if isinstance(note, NoteInput):
        return note
    try:
        return NoteInput.model_validate(note)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "input"
        # pydantic echoes the offending value in some messages; keep only the description
        raise InputError(f"invalid {field}: {err['msg']}") from None


def make_input(text, **kwargs) -> NoteInput:
    if not isinstance(text, str):
        raise TypeError(f"note text must be str, not {type(text).__name__}")
    if len(text) > MAX_NOTE_CHARS:
        raise InputError(note_too_large(len(text)))
    return _validate({"text": text, **{k: v for k, v in kwargs.items() if v is not None}})


def _check_fact_count(doc) -> None:
    facts = sum(len(doc.spans[key]) for key in ("facts", "spine") if key in doc.spans)
    if facts > MAX_FACTS:
        raise InputError(f"note holds {facts:,} matched facts (levels, sides, agents, ...); the limit is "
                         f"{MAX_FACTS:,}: is it several notes joined together?")


def _result(note: NoteInput, doc, history: list[PriorSession] | None) -> NoteResult:
    _check_fact_count(doc)
    dos = note.date_of_service or dt.date.today()
    try:
        profile = load_payer_profile(note.payer)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    extraction = read_extraction(doc, dos)
    ctx = CodingContext(setting=note.setting, claim=note.claim, payer_profile=profile,
                        abn_on_file=note.abn_on_file, date_of_service=dos, patient_history=history or [])
    gaps, documented = detect_gaps(doc, extraction, profile, dos, text=note.text)
    coding = code_extraction(extraction, ctx, documented)
    fees = [ln.fee_estimate for ln in coding.claim_lines if ln.fee_estimate is not None]
    conf = confidence(extraction, coding.edits, gaps)
    return NoteResult(
        note_id=note.note_id, patient_id=note.patient_id, date_of_service=dos, setting=note.setting,
        claim=note.claim, payer=note.payer, abn_on_file=note.abn_on_file, extraction=extraction,
        claim_lines=coding.claim_lines, gaps=gaps, edits=coding.edits,
        fee_total=round(sum(fees), 2) if fees else None,
        versions=Versions(facetcoder=__version__, ruleset=RULESET_VERSION, gap_model=gap_model_version()),
        confidence=conf, status=status(conf, coding.edits, profile),
    )


def _documented_from(result: NoteResult, profile) -> set[str] | None:
    """The learned elements a finished result documents: those that applied and drew no gap. (Only
    D-RFA-CONTRAINDICATION matters to the coding core; see ``code_extraction``.)"""
    if result.versions.gap_model is None:
        return None
    from .gaps.elements import applicable_elements

    missing = {g.element for g in result.gaps}
    return {e for e in applicable_elements(result.extraction, profile) if e not in missing}


def recode_with_history(result: NoteResult, history: list[PriorSession]) -> NoteResult:
    """The same result coded again with the patient's earlier sessions (R-FREQ), without re-reading the note:
    the batch runner learns a patient's history only after all of the patient's notes are read."""
    profile = load_payer_profile(result.payer)
    ctx = CodingContext(setting=result.setting, claim=result.claim, payer_profile=profile,
                        abn_on_file=result.abn_on_file, date_of_service=result.date_of_service,
                        patient_history=history)
    coding = code_extraction(result.extraction, ctx, _documented_from(result, profile))
    fees = [ln.fee_estimate for ln in coding.claim_lines if ln.fee_estimate is not None]
    conf = confidence(result.extraction, coding.edits, result.gaps)
    return result.model_copy(update={"claim_lines": coding.claim_lines, "edits": coding.edits,
                                     "fee_total": round(sum(fees), 2) if fees else None,
                                     "confidence": conf, "status": status(conf, coding.edits, profile)})


def process_note(text: str, *, setting: str = "office", claim: str = "professional", payer: str = "medicare",
                 abn_on_file: bool | None = None, date_of_service: dt.date | str | None = None,
                 patient_id: str | None = None, note_id: str | None = None,
                 patient_history: list[PriorSession] | None = None) -> NoteResult:
    """Code one procedure note. Any ``str`` gives a result; see ``InputError`` for what is refused."""
    note = make_input(text, setting=setting, claim=claim, payer=payer, abn_on_file=abn_on_file,
                      date_of_service=date_of_service, patient_id=patient_id, note_id=note_id)
    doc = get_pipeline()(note.text)
    return _result(note, doc, patient_history)


def process_notes(notes: Iterable[NoteInput], *, batch_size: int = 32) -> Iterator[NoteResult]:
    """Code many validated notes with ``nlp.pipe`` (one pipeline, streamed)."""
    nlp = get_pipeline()
    buf: list[NoteInput] = []

    def flush() -> Iterator[NoteResult]:
        for note, doc in zip(buf, nlp.pipe([n.text for n in buf], batch_size=batch_size)):
            yield _result(note, doc, None)
        buf.clear()

    for note in notes:
        buf.append(note)
        if len(buf) >= batch_size:
            yield from flush()
    yield from flush()
