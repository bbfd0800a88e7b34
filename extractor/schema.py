"""The contract between layers: every pydantic model shared by the pipeline, the coding core, the CLI,
the batch runner and the app. Field names of the one-note JSON (design.md) are fixed; fields may be added.

Validate at the edges (``NoteInput``, payer profiles), trust inside.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Setting = Literal["office", "asc", "hopd"]
ClaimType = Literal["professional", "facility"]
Procedure = Literal[
    "facet_joint_injection", "medial_branch_block", "radiofrequency_ablation", "epidural", "other", "unknown"
]
Side = Literal["left", "right", "bilateral", "unknown"]
Region = Literal["cervical", "thoracic", "lumbar"]
Guidance = Literal["fluoroscopy", "ct", "ultrasound", "none_documented"]
AgentRole = Literal["anesthetic", "steroid", "contrast", "other"]
Intent = Literal["diagnostic", "therapeutic", "unknown"]
Severity = Literal["error", "warning", "info"]

#: A character span [start, end) into the note text: the evidence of a fact.
Span = tuple[int, int]

FACET_PROCEDURES: frozenset[str] = frozenset({"facet_joint_injection", "medial_branch_block"})

#: Longest note accepted by ``process_note`` (characters). Real procedure notes are 1-20 kB; a note
#: larger than this is almost certainly a concatenated export or a binary file read as text.
MAX_NOTE_CHARS = 200_000

#: Most matched facts (level, nerve, side, agent, ... mentions) one note may hold. The longest real and
#: annotated notes hold under 150; thousands mean a concatenated export or generated text, and the
#: extraction's cost grows faster than linearly with them.
MAX_FACTS = 2_000


def note_too_large(length: int) -> str:
    """The one message for a note over MAX_NOTE_CHARS (library, batch readers, schema)."""
    return f"note text has {length:,} characters; the limit is {MAX_NOTE_CHARS:,}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteInput(_Model):
    """One note as it enters the library, from any reader (CLI, batch, app)."""

    note_id: str | None = None
    text: str
    patient_id: str | None = None
    date_of_service: dt.date | None = None
    setting: Setting = "office"
    claim: ClaimType = "professional"
    payer: str = "medicare"
    abn_on_file: bool | None = None

    @field_validator("text")
    @classmethod
    def _size(cls, v: str) -> str:
        if len(v) > MAX_NOTE_CHARS:
            raise ValueError(note_too_large(len(v)))
        return v


# ------------------------------------------------------------------------------------------------
# Extraction: what the note says, each fact with its evidence and context.


class FactContext(_Model):
    """Clinical context of a mention (R-CONTEXT). A fact counts for today only when all are False."""

    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False

    @property
    def current(self) -> bool:
        return not (self.negated or self.historical or self.hypothetical or self.family)


class Mention(_Model):
    """Every matched fact of the note, counted or not, for display and audit."""

    kind: str  # level, nerve, side, guidance, agent, procedure, intent, diagnosis, sedation, ...
    label: str  # normalised value: 'L4-L5', 'bilateral', 'fluoroscopy', 'bupivacaine', 'M47.816', ...
    text: str
    start: int
    end: int
    section: str = "none"
    context: FactContext = Field(default_factory=FactContext)
    counted: bool = True


class LevelFact(_Model):
    joint: str
    region: Region
    side: Side
    evidence: list[Span] = Field(default_factory=list)
    source: Literal["joint", "nerve", "both"] = "joint"


class AgentFact(_Model):
    name: str
    role: AgentRole
    dose: str | None = None
    evidence: list[Span] = Field(default_factory=list)


class DiagnosisFact(_Model):
    icd10: str
    text: str
    evidence: list[Span] = Field(default_factory=list)
    source: Literal["code", "phrase"] = "phrase"


class Extraction(_Model):
    procedure: Procedure = "unknown"
    levels: list[LevelFact] = Field(default_factory=list)
    guidance: list[Guidance] = Field(default_factory=lambda: ["none_documented"])
    agents: list[AgentFact] = Field(default_factory=list)
    intent: Intent = "unknown"
    diagnoses: list[DiagnosisFact] = Field(default_factory=list)
    # Facts the coding core needs beyond the contract's fields.
    procedure_evidence: list[Span] = Field(default_factory=list)
    guidance_evidence: list[Span] = Field(default_factory=list)
    intent_evidence: list[Span] = Field(default_factory=list)
    sedation: list[str] = Field(default_factory=list)
    sedation_evidence: list[Span] = Field(default_factory=list)
    imaging_codes: list[str] = Field(default_factory=list)
    si_joint: bool = False
    rfa_contraindication: list[Span] = Field(default_factory=list)
    nerve_mismatch: str | None = None  # set when procedure-line joints and nerve-derived joints disagree
    levels_without_side: list[str] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Coding context and payer profiles (data files validated against this model at load).


class PriorSession(_Model):
    """A facet session of the same patient on another date (for R-FREQ)."""

    date_of_service: dt.date
    family: Literal["cervicothoracic", "lumbosacral"]
    intent: Intent
    procedure: Procedure
    note_id: str | None = None


class PriorAuthRule(_Model):
    setting: Setting
    from_date: dt.date
    codes: list[str]
    until: dict[str, dt.date] = Field(default_factory=dict)  # code -> last date the code needed PA


class FrequencyLimits(_Model):
    window_days: int = 365
    diagnostic: int = 4
    therapeutic: int = 4
    rfa: int = 2


class PayerProfile(_Model):
    name: str
    description: str
    level_limit: int = Field(ge=1, le=10)
    kx_on_diagnostic: bool
    liability_modifiers: bool  # GA/GZ (R-LIABILITY-MOD)
    noncovered_codes: list[str]  # lines expected non-covered by their code
    thoracolumbar_junction_as_lumbar: bool  # R-JUNCTION
    therapeutic_needs_rfa_reason: bool  # R-THERAPEUTIC-FACET
    sedation_warning: bool  # R-SEDATION
    diagnosis_check: bool  # R-DX-SUPPORT
    covered_diagnoses: list[str]  # exact ICD-10 codes
    prior_auth: list[PriorAuthRule] = Field(default_factory=list)
    frequency: FrequencyLimits | None = None
    fee_table: str | None = None
    # straight-through processing: a result at or above this confidence, with no error edit, is ``auto``
    auto_threshold: float = Field(default=0.9, ge=0.0, le=1.0)


class FeeRate(_Model):
    office: float = Field(ge=0)
    facility: float = Field(ge=0)


class FeeTable(_Model):
    """One fee schedule of ``coding/fees.json``: year -> CPT -> amounts (estimates, R-FEE)."""

    source: str
    years: dict[str, dict[str, FeeRate]] = Field(min_length=1)

    @field_validator("years")
    @classmethod
    def _year_keys(cls, v: dict) -> dict:
        for year in v:
            if not (len(year) == 4 and year.isdigit()):
                raise ValueError(f"year keys are four digits, not {year!r}")
        return v


class CodingContext(_Model):
    setting: Setting = "office"
    claim: ClaimType = "professional"
    payer_profile: PayerProfile
    abn_on_file: bool | None = None
    date_of_service: dt.date
    patient_history: list[PriorSession] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Coding result


class ClaimLine(_Model):
    cpt: str
    modifiers: list[str] = Field(default_factory=list)
    units: int = 1
    icd10: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    rationale: str = ""
    joints: list[str] = Field(default_factory=list)
    fee_estimate: float | None = None
    fee_basis: str | None = None


class Edit(_Model):
    rule: str
    severity: Severity
    message: str
    cpt: list[str] = Field(default_factory=list)  # lines the edit is about, when it is about lines


class Gap(_Model):
    element: str
    message: str
    probability: float = 1.0
    evidence: list[Span] = Field(default_factory=list)
    query: str = ""
    source: Literal["rule", "model"] = "rule"


class CodingResult(_Model):
    claim_lines: list[ClaimLine] = Field(default_factory=list)
    edits: list[Edit] = Field(default_factory=list)


class Versions(_Model):
    facetcoder: str
    ruleset: str
    gap_model: str | None = None


class NoteResult(_Model):
    note_id: str | None = None
    patient_id: str | None = None
    date_of_service: dt.date
    setting: Setting
    claim: ClaimType
    payer: str
    abn_on_file: bool | None = None
    extraction: Extraction
    claim_lines: list[ClaimLine] = Field(default_factory=list)
    gaps: list[Gap] = Field(default_factory=list)
    edits: list[Edit] = Field(default_factory=list)
    fee_total: float | None = None
    versions: Versions
    # how sure the rules are of the claim lines (extractor/confidence.py), and whether the result may go
    # out without review (``auto``) under the payer profile's threshold; never ``auto`` with an error edit
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    status: Literal["auto", "review"] = "review"
