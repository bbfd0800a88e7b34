"""A reviewer's corrections of one result: applying them, and listing what changed field by field.

A result is handled as its JSON form (``NoteResult.model_dump(mode="json")``): that is what the batch
runner writes, what the store keeps and what the app edits, so there is one representation throughout.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

from ..schema import NoteResult

#: Fields a reviewer can correct, in the order the agreement page lists them.
REVIEWED_FIELDS = ["procedure", "levels", "guidance", "agents", "intent", "diagnoses", "claim_lines", "gaps",
                   "edits"]
#: Claim-line keys a reviewer edits; rules, rationale and fee are the coding core's explanation.
LINE_KEYS = ("cpt", "modifiers", "units", "icd10")


@dataclass(frozen=True)
class FieldChange:
    """One corrected field: ``field`` is a path such as ``claim_lines[0].modifiers`` or ``gaps[D-FUNCTION]``."""

    field: str
    before: Any
    after: Any

    @property
    def group(self) -> str:
        """The reviewed field the path belongs to (``claim_lines[0].modifiers`` -> ``claim_lines``)."""
        head = self.field.removeprefix("extraction.")
        return re.split(r"[\[.]", head, maxsplit=1)[0]


def split_codes(value: Any) -> list[str]:
    """'50, KX' / '50-KX' / ['50', 'KX'] / None -> ['50', 'KX'] (upper case, order kept, no empties)."""
    if value is None:
        return []
    if isinstance(value, float) and math.isnan(value):  # an empty table cell
        return []
    items = value if isinstance(value, (list, tuple)) else re.split(r"[,;\s-]+", str(value))
    return [str(x).strip().upper() for x in items if str(x).strip()]


def split_icd10(value: Any) -> list[str]:
    """ICD-10 codes contain no hyphen but do contain dots: split on commas, semicolons and spaces only."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    items = value if isinstance(value, (list, tuple)) else re.split(r"[,;\s]+", str(value))
    return [str(x).strip().upper() for x in items if str(x).strip()]


def _or_one(value: Any) -> Any:
    """An empty units cell means one unit."""
    return 1 if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _units(value: Any) -> int:
    try:
        units = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"units must be a whole number, not {value!r}") from None
    if units < 1:
        raise ValueError(f"units must be at least 1, not {units}")
    return units


def claim_lines_from_rows(rows: list[dict], original_lines: list[dict]) -> list[dict]:
    """Table rows (from the app's editor) -> claim-line dicts. A row without a CPT code is dropped (an empty
    row the reviewer added and left). A row keeps the coding core's rules and rationale when it is the same
    line as before (same position, same CPT); a new or changed line has none, as no rule produced it."""
    lines = []
    for i, row in enumerate(rows):
        cpt = str(row.get("cpt") or "").strip().upper()
        if not cpt or cpt == "NONE" or cpt == "NAN":
            continue
        old = original_lines[i] if i < len(original_lines) else {}
        same = old.get("cpt") == cpt
        lines.append({
            "cpt": cpt,
            "modifiers": split_codes(row.get("modifiers")),
            "units": _units(_or_one(row.get("units"))),
            "icd10": split_icd10(row.get("icd10")),
            "rules": list(old.get("rules", [])) if same else [],
            "rationale": old.get("rationale", "") if same else "corrected by reviewer",
            "joints": list(old.get("joints", [])) if same else [],
            "fee_estimate": old.get("fee_estimate") if same else None,
            "fee_basis": old.get("fee_basis") if same else None,
        })
    return lines


def apply_corrections(result: dict, *, claim_lines: list[dict] | None = None, procedure: str | None = None,
                      intent: str | None = None, guidance: list[str] | None = None,
                      levels: list[dict] | None = None, agents: list[str] | None = None,
                      diagnoses: list[str] | None = None, keep_gaps: list[str] | None = None,
                      keep_edits: list[str] | None = None) -> dict:
    """A copy of ``result`` with the reviewer's corrections; ``None`` leaves a field as it was.

    ``claim_lines`` are table rows (see ``claim_lines_from_rows``); ``levels`` rows of joint and side;
    ``agents`` generic names and ``diagnoses`` ICD-10 codes; ``keep_gaps`` / ``keep_edits`` the gap elements
    and edit rules the reviewer confirms (the others are judged wrong and removed). The result is validated
    against ``NoteResult`` so that a stored correction is always a valid result."""
    out = copy.deepcopy(result)
    ex = out["extraction"]
    if claim_lines is not None:
        out["claim_lines"] = claim_lines_from_rows(claim_lines, result.get("claim_lines", []))
        fees = [ln["fee_estimate"] for ln in out["claim_lines"] if ln.get("fee_estimate") is not None]
        out["fee_total"] = round(sum(fees), 2) if fees else None
    if procedure is not None:
        ex["procedure"] = procedure
    if intent is not None:
        ex["intent"] = intent
    if guidance is not None:
        ex["guidance"] = sorted(set(guidance)) or ["none_documented"]
    if levels is not None:
        old_levels = {(lv["joint"], lv["side"]): lv for lv in ex.get("levels", [])}
        new_levels = []
        for row in levels:
            joint = str(row.get("joint") or "").strip().upper()
            if not joint or joint in ("NONE", "NAN"):
                continue
            side = str(row.get("side") or "unknown").strip().lower()
            kept = old_levels.get((joint, side))
            if kept is not None:
                new_levels.append(kept)
            else:
                from .. import spine

                region = spine.region(joint) if _valid_joint(joint) else None
                if region is None:
                    raise ValueError(f"{joint} is not a facet joint (write it like C5-C6, L5-S1)")
                new_levels.append({"joint": joint, "region": region, "side": side, "evidence": [],
                                   "source": "joint"})
        ex["levels"] = new_levels
    if agents is not None:
        by_name = {a["name"]: a for a in ex.get("agents", [])}
        ex["agents"] = [by_name.get(name) or {"name": name, "role": "other", "dose": None, "evidence": []}
                        for name in dict.fromkeys(a.strip().lower() for a in agents if a.strip())]
    if diagnoses is not None:
        by_code = {d["icd10"]: d for d in ex.get("diagnoses", [])}
        ex["diagnoses"] = [by_code.get(code) or {"icd10": code, "text": "", "evidence": [], "source": "code"}
                           for code in dict.fromkeys(split_icd10(diagnoses))]
    if keep_gaps is not None:
        out["gaps"] = [g for g in out.get("gaps", []) if g["element"] in keep_gaps]
    if keep_edits is not None:
        out["edits"] = [e for e in out.get("edits", []) if e["rule"] in keep_edits]
    NoteResult.model_validate(_strip_queue_keys(out))
    return out


def _valid_joint(joint: str) -> bool:
    from .. import spine

    return joint in {j.name for j in spine.all_joints()}


def _strip_queue_keys(result: dict) -> dict:
    """The batch runner adds keys beside the NoteResult fields (locator, confidence, status)."""
    return {k: v for k, v in result.items() if k in NoteResult.model_fields}


def _views(result: dict) -> dict:
    ex = result["extraction"]
    return {
        "procedure": ex.get("procedure"),
        "intent": ex.get("intent"),
        "guidance": sorted(ex.get("guidance", [])),
        "agents": sorted({a["name"] for a in ex.get("agents", [])}),
        "diagnoses": sorted({d["icd10"] for d in ex.get("diagnoses", [])}),
        "levels": [{"joint": lv["joint"], "side": lv["side"]} for lv in ex.get("levels", [])],
        "claim_lines": [{k: ln.get(k) for k in LINE_KEYS} for ln in result.get("claim_lines", [])],
        "gaps": {g["element"]: g.get("message", "") for g in result.get("gaps", [])},
        "edits": {e["rule"]: e.get("severity") for e in result.get("edits", [])},
    }


def _list_changes(prefix: str, before: list[dict], after: list[dict]) -> list[FieldChange]:
    changes = []
    for i in range(max(len(before), len(after))):
        b = before[i] if i < len(before) else None
        a = after[i] if i < len(after) else None
        if b is None or a is None:
            if b != a:
                changes.append(FieldChange(f"{prefix}[{i}]", b, a))
            continue
        for key in b:
            if b[key] != a.get(key):
                changes.append(FieldChange(f"{prefix}[{i}].{key}", b[key], a.get(key)))
    return changes


def field_changes(original: dict, corrected: dict) -> list[FieldChange]:
    """Every field the reviewer changed, as paths with before and after values (JSON-serialisable)."""
    b, a = _views(original), _views(corrected)
    changes = []
    for name in ("procedure", "intent", "guidance", "agents", "diagnoses"):
        if b[name] != a[name]:
            changes.append(FieldChange(f"extraction.{name}", b[name], a[name]))
    changes += _list_changes("extraction.levels", b["levels"], a["levels"])
    changes += _list_changes("claim_lines", b["claim_lines"], a["claim_lines"])
    for name in ("gaps", "edits"):
        for key in sorted(set(b[name]) | set(a[name])):
            if b[name].get(key) != a[name].get(key):
                changes.append(FieldChange(f"{name}[{key}]", b[name].get(key), a[name].get(key)))
    return changes


def recode(corrected: dict, original: dict) -> dict:
    """``corrected`` with claim lines, edits and fee re-derived by the coding core from its facts.

    The reviewer corrects what the note says (levels, sides, intent, …); the lines then follow from the same
    rules as for any note. Documented elements (R-THERAPEUTIC-FACET reads them): those the gap detector found
    in the original (applicable there and not a gap) and the gaps the reviewer removed; an element that only
    applies after the correction counts as documented only by the extraction's own evidence."""
    import datetime as dt

    from ..coding import code_extraction, load_payer_profile
    from ..gaps.elements import applicable_elements
    from ..schema import CodingContext, Extraction

    out = copy.deepcopy(corrected)
    profile = load_payer_profile(out["payer"])
    before = Extraction.model_validate(original["extraction"])
    original_gaps = {g["element"] for g in original.get("gaps", [])}
    kept_gaps = {g["element"] for g in out.get("gaps", [])}
    documented = (set(applicable_elements(before, profile)) - original_gaps) | (original_gaps - kept_gaps)
    ctx = CodingContext(setting=out["setting"], claim=out["claim"], payer_profile=profile,
                        abn_on_file=out.get("abn_on_file"),
                        date_of_service=dt.date.fromisoformat(str(out["date_of_service"])))
    coding = code_extraction(Extraction.model_validate(out["extraction"]), ctx, documented)
    out["claim_lines"] = [ln.model_dump(mode="json") for ln in coding.claim_lines]
    out["edits"] = [e.model_dump(mode="json") for e in coding.edits]
    fees = [ln["fee_estimate"] for ln in out["claim_lines"] if ln.get("fee_estimate") is not None]
    out["fee_total"] = round(sum(fees), 2) if fees else None
    return out
