"""The coding core: a pure function (Extraction, CodingContext) -> CodingResult.

Every claim line lists the rule ids (coding-rules.md) that shaped it and a one-sentence rationale;
every edit has a rule id and a severity. Payer differences live in ``payers/*.json`` (validated against
``schema.PayerProfile`` at load), fees in ``fees.json``. Nothing here reads text or spaCy objects.

Where to put things:
- a new payer: a JSON file in ``payers/``;
- a new line-building rule: ``_build_lines``; a new coverage edit: ``_coverage_edits``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from .. import spine
from ..schema import (
    FACET_PROCEDURES,
    ClaimLine,
    CodingContext,
    CodingResult,
    Edit,
    Extraction,
    FeeTable,
    LevelFact,
    PayerProfile,
)

PAYER_DIR = Path(__file__).parent / "payers"
FEES_PATH = Path(__file__).parent / "fees.json"
RULESET_VERSION = "2026.11"

CODES = {
    # family -> guidance kind -> (primary, second level, third and further)
    spine.FAMILY_CERVICOTHORACIC: {"image": ("64490", "64491", "64492"), "ultrasound": ("0213T", "0214T", "0215T")},
    spine.FAMILY_LUMBOSACRAL: {"image": ("64493", "64494", "64495"), "ultrasound": ("0216T", "0217T", "0218T")},
    # R-JUNCTION: T12-L1 + L1-L2 as one lumbar session under Medicare: 64490 + 64494 (+ 64495)
    "junction": {"image": ("64490", "64494", "64495"), "ultrasound": ("0213T", "0217T", "0218T")},
}
FAMILY_WORDS = {spine.FAMILY_CERVICOTHORACIC: "cervical/thoracic", spine.FAMILY_LUMBOSACRAL: "lumbar/sacral",
                "junction": "thoraco-lumbar junction (one lumbar session)"}
ORDINAL = {0: "first", 1: "second", 2: "third"}


class PayerProfileError(ValueError):
    """A payer profile file is missing or invalid; the message names the file and field."""


def available_payers() -> list[str]:
    return sorted(p.stem for p in PAYER_DIR.glob("*.json"))


#: a payer profile is named by its file stem; anything else (paths, dots) is refused before touching disk
_PAYER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@lru_cache(maxsize=32)
def load_payer_profile(name: str) -> PayerProfile:
    if not isinstance(name, str) or not _PAYER_NAME.fullmatch(name):
        raise PayerProfileError(f"invalid payer profile name {str(name)[:70]!r}: use lower-case letters, digits, "
                                f"'-' and '_'; available: {', '.join(available_payers())}")
    path = PAYER_DIR / f"{name}.json"
    if not path.is_file():
        raise PayerProfileError(f"unknown payer profile {name!r}; available: {', '.join(available_payers())}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        profile = PayerProfile.model_validate(data)
    except json.JSONDecodeError as exc:
        raise PayerProfileError(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise PayerProfileError(f"{path.name}: field '{where}': {err['msg']}") from None
    if profile.fee_table and profile.fee_table not in _fees():
        raise PayerProfileError(f"{path.name}: field 'fee_table': no table {profile.fee_table!r} in "
                                f"{FEES_PATH.name} (tables: {', '.join(_fees())})")
    return profile


@lru_cache(maxsize=1)
def _fees() -> dict[str, FeeTable]:
    """Fee tables, validated at load: a bad amount must fail loudly, not price a claim line wrongly."""
    try:
        data = json.loads(FEES_PATH.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PayerProfileError(f"{FEES_PATH.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise PayerProfileError(f"{FEES_PATH.name}: expected an object of fee tables")
    tables = {}
    for name, table in data.items():
        try:
            tables[name] = FeeTable.model_validate(table)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise PayerProfileError(f"{FEES_PATH.name}: table {name!r} field '{where}': {err['msg']}") from None
    return tables


# ------------------------------------------------------------------------------------------------


@dataclass
class _Slot:
    """One billable position in a family: a level (or, for the third-level code, all further levels)."""

    family: str
    position: int  # 0 primary, 1 first add-on, 2 second add-on (covers every further level)
    levels: list[LevelFact]

    @property
    def side(self) -> str:
        sides = {lv.side for lv in self.levels}
        if "bilateral" in sides or sides >= {"left", "right"}:
            return "bilateral"
        return next(iter(sides))


def _family_groups(levels: list[LevelFact], profile: PayerProfile) -> dict[str, list[LevelFact]]:
    groups: dict[str, list[LevelFact]] = {}
    for lv in levels:
        groups.setdefault(spine.family(lv.joint), []).append(lv)
    joints = {lv.joint for lv in levels}
    if profile.thoracolumbar_junction_as_lumbar and {"T12-L1", "L1-L2"} <= joints:
        t12 = [lv for lv in groups[spine.FAMILY_CERVICOTHORACIC] if lv.joint == "T12-L1"]
        groups[spine.FAMILY_CERVICOTHORACIC] = [lv for lv in groups[spine.FAMILY_CERVICOTHORACIC]
                                                if lv.joint != "T12-L1"]
        if not groups[spine.FAMILY_CERVICOTHORACIC]:
            del groups[spine.FAMILY_CERVICOTHORACIC]
        groups["junction"] = t12 + groups.pop(spine.FAMILY_LUMBOSACRAL)
    return groups


def _order_levels(family: str, levels: list[LevelFact]) -> list[LevelFact]:
    """R-MIXED-SIDES: bilateral levels take the first positions, then one-sided, each head to tail.
    In a junction session T12-L1 is the primary (64490) whatever its side."""
    def key(lv: LevelFact):
        head = 0 if (family == "junction" and lv.joint == "T12-L1") else 1
        return (head, 0 if lv.side == "bilateral" else 1, spine.joint_by_name(lv.joint).index)
    return sorted(levels, key=key)


def _side_modifiers(side: str, ctx: CodingContext) -> list[list[str]]:
    """Modifier sets for one slot: one list per claim line (two for ASC facility bilateral)."""
    if side == "bilateral":
        if ctx.setting == "asc" and ctx.claim == "facility":
            return [["RT"], ["LT"]]
        return [["50"]]
    return [["RT"]] if side == "right" else [["LT"]]


def code_extraction(extraction: Extraction, ctx: CodingContext,
                    documented: set[str] | None = None) -> CodingResult:
    """Propose claim lines and edits for one note. Pure: same inputs, same output.

    ``documented``: the documentation elements the gap detector found (None: use the extraction's own
    rule matches), so that R-THERAPEUTIC-FACET agrees with the D-RFA-CONTRAINDICATION gap."""
    edits: list[Edit] = []
    proc = extraction.procedure
    if proc == "radiofrequency_ablation":
        edits.append(Edit(rule="R-RFA-SCOPE", severity="info",
                          message="Radiofrequency neurotomy (64633-64636) is out of scope for this version: "
                                  "code it by hand; no facet injection line is proposed."))
        return CodingResult(edits=edits)
    if extraction.si_joint:
        edits.append(Edit(rule="R-SI-NOT-FACET", severity="info",
                          message="Sacroiliac joint procedure (SI injection or L5 dorsal ramus with S1-S3 "
                                  "lateral branch blocks, 64451/27096/G0260): not a facet procedure."))
        if proc not in FACET_PROCEDURES:
            return CodingResult(edits=edits)
        # the same session also treated facet joints: those are coded below, the SI part by hand
    if proc not in FACET_PROCEDURES:
        return CodingResult()
    if extraction.imaging_codes:
        edits.append(Edit(rule="R-IMAGING-BUNDLED", severity="info",
                          message=f"Imaging guidance ({', '.join(extraction.imaging_codes)}) and contrast are "
                                  "included in 64490-64495: no separate imaging line."))
    if extraction.nerve_mismatch:
        edits.append(Edit(rule="R-NERVE-MAP", severity="warning",
                          message=f"Joints and nerves disagree: {extraction.nerve_mismatch}. The joints of "
                                  "the procedure line are coded; ask the physician to confirm."))
    if not extraction.levels:
        edits.append(Edit(rule="R-UNCODABLE", severity="error",
                          message="No facet joint level is documented for today's procedure: no line can be "
                                  "reported until the levels are added."))
        return CodingResult(edits=edits)
    coded_levels = [lv for lv in extraction.levels if lv.side != "unknown"]
    unknown = [lv.joint for lv in extraction.levels if lv.side == "unknown"]
    if unknown:
        edits.append(Edit(rule="R-UNCODABLE", severity="error",
                          message=f"No side documented for {', '.join(unknown)}: no line for "
                                  f"{'that level' if len(unknown) == 1 else 'those levels'}."))
    guidance = set(extraction.guidance) - {"none_documented"}
    if not guidance:
        edits.append(Edit(rule="R-NO-IMAGING", severity="error",
                          message="No imaging guidance is documented: 64490-64495 require fluoroscopy or CT. "
                                  "The physician may addend the note if imaging was used; without imaging CPT "
                                  "points to 20552/20553, which Medicare does not cover as a facet service."))
        return CodingResult(edits=edits)
    if not coded_levels:
        return CodingResult(edits=edits)
    ultrasound = "ultrasound" in guidance and not ({"fluoroscopy", "ct"} & guidance)
    lines, risk_edits = _build_lines(extraction, ctx, coded_levels, ultrasound)
    edits.extend(risk_edits)
    edits.extend(_coverage_edits(extraction, ctx, lines, documented))
    _liability(lines, ctx, edits)
    _fees_for(lines, ctx)
    return CodingResult(claim_lines=lines, edits=_one_per_rule(edits))


def _link_diagnoses(extraction: Extraction, family: str, profile: PayerProfile) -> list[str]:
    codes = [d.icd10 for d in extraction.diagnoses]
    wanted = {"junction": {"lumbar", "lumbosacral", "thoracolumbar", "thoracic", "any"},
              spine.FAMILY_LUMBOSACRAL: {"lumbar", "lumbosacral", "thoracolumbar", "any"},
              spine.FAMILY_CERVICOTHORACIC: {"cervical", "cervicothoracic", "thoracic", "thoracolumbar", "any"}}[family]
    mine = [c for c in codes if icd10_region(c) in wanted]
    if not mine:
        mine = codes
    covered = set(profile.covered_diagnoses)
    return sorted(mine, key=lambda c: (c not in covered, codes.index(c)))


def icd10_region(code: str) -> str:
    """Spinal region a diagnosis code refers to ('any' when it names none)."""
    c = code.upper()
    last = {"2": "cervical", "3": "cervicothoracic", "4": "thoracic", "5": "thoracolumbar", "6": "lumbar",
            "7": "lumbosacral"}
    for prefix in ("M47.81", "M47.89", "M48.1", "M53.8", "M54.1", "M43.1", "M51.3"):
        if c.startswith(prefix) and len(c) > len(prefix):
            return last.get(c[len(prefix)], "any")
    if c.startswith("M54.2") or c.startswith("M50"):
        return "cervical"
    if c.startswith("M54.6"):
        return "thoracic"
    if c.startswith("M54.5") or c.startswith("M48.06"):
        return "lumbar"
    if c.startswith("M48.0"):
        return {"2": "cervical", "4": "thoracic"}.get(c[5:6], "any")
    return "any"


def _build_lines(extraction: Extraction, ctx: CodingContext, levels: list[LevelFact],
                 ultrasound: bool) -> tuple[list[ClaimLine], list[Edit]]:
    profile = ctx.payer_profile
    groups = _family_groups(levels, profile)
    lines: list[ClaimLine] = []
    edits: list[Edit] = []
    two_families = len(groups) > 1
    order = [spine.FAMILY_CERVICOTHORACIC, "junction", spine.FAMILY_LUMBOSACRAL]
    for family in [f for f in order if f in groups]:
        ordered = _order_levels(family, groups[family])
        slots = [_Slot(family, i, [lv]) for i, lv in enumerate(ordered[:2])]
        if len(ordered) > 2:
            slots.append(_Slot(family, 2, ordered[2:]))
        codes = CODES[family]["ultrasound" if ultrasound else "image"]
        mixed = len({lv.side == "bilateral" for lv in ordered}) > 1 or len({lv.side for lv in ordered}) > 1
        icd = _link_diagnoses(extraction, family, profile)
        family_lines: list[ClaimLine] = []
        for slot in slots:
            code = codes[slot.position]
            rules = ["R-LEVEL-JOINT", "R-REGION", "R-PRIMARY-ADDON"]
            joints = [lv.joint for lv in slot.levels]
            if any(lv.source in ("nerve", "both") for lv in slot.levels):
                rules.append("R-NERVE-MAP")
            if family == "junction":
                rules.append("R-JUNCTION")
            if any(j in ("C0-C1", "C1-C2") for j in joints):
                rules.append("R-AO-AA")
            if slot.position == 2:
                rules.append("R-ADDON-ONCE")
            if two_families:
                rules.append("R-TWO-FAMILIES")
            if mixed:
                rules.append("R-MIXED-SIDES")
            if ultrasound:
                rules.append("R-US-CATIII")
            side = slot.side
            side_sets = _side_modifiers(side, ctx)
            if side == "bilateral":
                rules.append("R-ASC-RTLT" if len(side_sets) == 2 else "R-BILAT-50")
            else:
                rules.append("R-UNILAT-RTLT")
            kx = (profile.kx_on_diagnostic and extraction.intent == "diagnostic"
                  and code not in profile.noncovered_codes)
            if kx:
                rules.append("R-MOD-KX")
            rules.append("R-ORDER")
            where = ", ".join(joints)
            role = "primary code" if slot.position == 0 else (
                "second-level add-on" if slot.position == 1 else "add-on for the third and any further level, one unit")
            side_txt = {"bilateral": "both sides", "left": "the left", "right": "the right"}[side]
            for mods in side_sets:
                rationale = (f"{where} ({FAMILY_WORDS[family]}, {ORDINAL[slot.position]} level"
                             f"{'s' if len(joints) > 1 else ''}) treated on {side_txt}: {code} is the {role}"
                             f"{'; ultrasound guidance moves it to the Category III code' if ultrasound else ''}"
                             f"{'; KX marks a diagnostic block meeting the policy' if kx else ''}.")
                family_lines.append(ClaimLine(cpt=code, modifiers=list(mods) + (["KX"] if kx else []), units=1,
                                              icd10=list(icd), rules=list(rules), rationale=rationale,
                                              joints=joints))
        lines.extend(family_lines)
        if len(ordered) > profile.level_limit:
            over = [ln.cpt for ln in family_lines if ln.cpt == codes[2]]
            edits.append(Edit(rule="R-LEVEL-LIMIT", severity="error", cpt=sorted(set(over)),
                              message=f"{len(ordered)} {FAMILY_WORDS[family]} levels in one session: "
                                      f"{profile.name} covers at most {profile.level_limit} per region; "
                                      f"{codes[2]} is expected to be denied (report it, do not drop it)."))
    if ultrasound:
        edits.append(Edit(rule="R-US-CATIII", severity="error", cpt=sorted({ln.cpt for ln in lines}),
                          message="Ultrasound guidance: reported with Category III codes 0213T-0218T, which "
                                  "Medicare and many commercial payers do not cover (policies require "
                                  "fluoroscopy or CT)."))
    return lines, edits


def _coverage_edits(extraction: Extraction, ctx: CodingContext, lines: list[ClaimLine],
                    documented: set[str] | None = None) -> list[Edit]:
    profile = ctx.payer_profile
    edits: list[Edit] = []
    if not lines:
        return edits
    if profile.diagnosis_check and extraction.diagnoses:
        linked = {c for ln in lines for c in ln.icd10}
        if not linked & set(profile.covered_diagnoses):
            edits.append(Edit(rule="R-DX-SUPPORT", severity="warning", cpt=[ln.cpt for ln in lines],
                              message=f"Diagnosis may not support medical necessity: {', '.join(sorted(linked))} "
                                      f"{'is' if len(linked) == 1 else 'are'} not on the {profile.name} covered "
                                      "list (facet spondylosis M47.81x/M47.89x and the like)."))
    rfa_reason = bool(extraction.rfa_contraindication) or (
        documented is not None and "D-RFA-CONTRAINDICATION" in documented)
    if profile.therapeutic_needs_rfa_reason and extraction.intent == "therapeutic" and not rfa_reason:
        edits.append(Edit(rule="R-THERAPEUTIC-FACET", severity="warning",
                          message="Therapeutic facet procedure: the note must say why radiofrequency ablation "
                                  "is not an option (D-RFA-CONTRAINDICATION)."))
    if profile.sedation_warning and extraction.sedation:
        edits.append(Edit(rule="R-SEDATION", severity="warning",
                          message=f"Sedation documented ({', '.join(extraction.sedation)}): general anesthesia "
                                  "is not covered and moderate/deep sedation or MAC is not routinely covered for "
                                  "facet injections and medial branch blocks."))
    for rule in profile.prior_auth:
        if rule.setting != ctx.setting or ctx.date_of_service < rule.from_date:
            continue
        need = sorted({ln.cpt for ln in lines if ln.cpt in rule.codes and (
            ln.cpt not in rule.until or ctx.date_of_service <= rule.until[ln.cpt])})
        if need:
            edits.append(Edit(rule="R-PA-HOPD", severity="warning", cpt=need,
                              message=f"Hospital outpatient prior authorization required for {', '.join(need)} "
                                      f"(dates of service from {rule.from_date.isoformat()}): confirm the "
                                      "affirmed request is on file, for the facility and the physician claim."))
    edits.extend(_frequency_edits(extraction, ctx, lines))
    return edits


def _frequency_edits(extraction: Extraction, ctx: CodingContext, lines: list[ClaimLine]) -> list[Edit]:
    profile = ctx.payer_profile
    if not profile.frequency or not ctx.patient_history:
        return []
    limits = profile.frequency
    edits: list[Edit] = []
    families = set()
    for ln in lines:
        for j in ln.joints:
            families.add(spine.family(j))
    for fam in sorted(families):
        earlier = [p for p in ctx.patient_history
                   if p.family == fam and p.procedure in FACET_PROCEDURES and p.intent == extraction.intent
                   and dt.timedelta(0) < ctx.date_of_service - p.date_of_service <= dt.timedelta(days=limits.window_days)]
        limit = limits.diagnostic if extraction.intent == "diagnostic" else limits.therapeutic
        names = ", ".join(f"{p.date_of_service.isoformat()}" + (f" ({p.note_id})" if p.note_id else "")
                          for p in sorted(earlier, key=lambda p: p.date_of_service))
        if extraction.intent in ("diagnostic", "therapeutic") and len(earlier) + 1 > limit:
            edits.append(Edit(rule="R-FREQ", severity="error", cpt=[ln.cpt for ln in lines],
                              message=f"Session {len(earlier) + 1} of {extraction.intent} facet procedures in "
                                      f"this {FAMILY_WORDS[fam]} region within {limits.window_days} days "
                                      f"(limit {limit}); earlier: {names}."))
            for ln in lines:
                if any(spine.family(j) == fam for j in ln.joints):
                    ln.rules.append("R-FREQ")
        elif extraction.intent == "diagnostic" and len(earlier) >= 2:
            edits.append(Edit(rule="R-FREQ", severity="warning", cpt=[ln.cpt for ln in lines],
                              message=f"Third or later diagnostic session in this {FAMILY_WORDS[fam]} region "
                                      f"within 12 months: KX is expected only on the first two; earlier: {names}."))
    return edits


def _liability(lines: list[ClaimLine], ctx: CodingContext, edits: list[Edit]) -> None:
    """R-LIABILITY-MOD: Medicare lines expected to be non-covered get GA (ABN on file) or GZ (none)."""
    profile = ctx.payer_profile
    if not profile.liability_modifiers or not lines:
        return
    dx_risk = any(e.rule == "R-DX-SUPPORT" for e in edits)
    freq_risk = any(e.rule == "R-FREQ" and e.severity == "error" for e in edits)
    at_risk = [ln for ln in lines if ln.cpt in profile.noncovered_codes or dx_risk or
               (freq_risk and "R-FREQ" in ln.rules)]
    if not at_risk:
        return
    codes = ", ".join(dict.fromkeys(ln.cpt for ln in at_risk))
    if ctx.abn_on_file is None:
        edits.append(Edit(rule="R-LIABILITY-MOD", severity="warning", cpt=sorted({ln.cpt for ln in at_risk}),
                          message=f"{codes} expected to be non-covered: append GA if a signed ABN is on file, GZ "
                                  "if not (tell facetcoder with --abn/--no-abn). Do not drop the line."))
        return
    mod = "GA" if ctx.abn_on_file else "GZ"
    for ln in at_risk:
        ln.modifiers.append(mod)
        ln.rules.append("R-LIABILITY-MOD")
    edits.append(Edit(rule="R-LIABILITY-MOD", severity="info", cpt=sorted({ln.cpt for ln in at_risk}),
                      message=f"{mod} appended to {codes}: expected to be non-covered, "
                              f"{'signed ABN on file' if ctx.abn_on_file else 'no ABN on file'}."))


def _fees_for(lines: list[ClaimLine], ctx: CodingContext) -> None:
    """R-FEE: estimated allowed amount of the professional claim, by year; 150 % for modifier 50."""
    table_name = ctx.payer_profile.fee_table
    if not table_name or ctx.claim != "professional":
        return
    table = _fees().get(table_name)
    if not table:
        return
    years = sorted(table.years)
    year = str(ctx.date_of_service.year)
    if year not in table.years:
        year = years[-1] if year > years[-1] else years[0]
    rates = table.years[year]
    column = "office" if ctx.setting == "office" else "facility"
    for ln in lines:
        if ln.cpt in rates:
            amount = getattr(rates[ln.cpt], column) * (1.5 if "50" in ln.modifiers else 1.0)
            ln.fee_estimate = round(amount, 2)
            ln.fee_basis = f"{table_name} {year} {column} estimate" + (" x 150% (bilateral)" if "50" in ln.modifiers else "")
            ln.rules.append("R-FEE")


def _one_per_rule(edits: list[Edit]) -> list[Edit]:
    """One edit per rule per note; the most severe wins, messages of the same rule are joined."""
    rank = {"error": 0, "warning": 1, "info": 2}
    out: dict[str, Edit] = {}
    for e in edits:
        if e.rule not in out:
            out[e.rule] = e.model_copy()
            continue
        cur = out[e.rule]
        best = e if rank[e.severity] < rank[cur.severity] else cur
        out[e.rule] = Edit(rule=e.rule, severity=best.severity, message=cur.message + " " + e.message,
                           cpt=sorted(set(cur.cpt) | set(e.cpt)))
    return sorted(out.values(), key=lambda e: (rank[e.severity], e.rule))
