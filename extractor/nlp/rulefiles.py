"""Reading rule files (``patterns/*.jsonl``): every row is checked at load, and a bad row stops the load
with a message naming the file, the line and the field — a typo in a rule file must never turn into a
silently missing rule or a KeyError deep inside a component."""

from __future__ import annotations

import json
from pathlib import Path


class PatternFileError(ValueError):
    """A pattern or lexicon file is malformed; the message names the file, line and field."""


def read_rule_rows(path: Path | str, fields: dict[str, type | tuple[type, ...]],
                   allowed: dict[str, tuple] | None = None) -> list[dict]:
    """The JSON objects of a JSONL rule file, each with the required ``fields`` of the given types and,
    for the fields in ``allowed``, one of the allowed values. Blank lines are skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PatternFileError(f"{path.name}: rule file not found at {path}") from None
    except UnicodeDecodeError as exc:
        raise PatternFileError(f"{path.name}: not UTF-8 (byte {exc.start})") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PatternFileError(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise PatternFileError(f"{path.name} line {number}: expected a JSON object")
        for field, typ in fields.items():
            if field not in row:
                raise PatternFileError(f"{path.name} line {number}: missing field '{field}'")
            if not isinstance(row[field], typ):
                raise PatternFileError(f"{path.name} line {number}: field '{field}' must be {_type_name(typ)}")
        for field, values in (allowed or {}).items():
            if field in row and row[field] not in values:
                raise PatternFileError(f"{path.name} line {number}: field '{field}' has unknown value "
                                       f"{row[field]!r} (allowed: {', '.join(map(str, values))})")
        rows.append(row)
    return rows


def _type_name(typ) -> str:
    types = typ if isinstance(typ, tuple) else (typ,)
    return " or ".join({"str": "a string", "list": "a list", "dict": "an object", "int": "an integer",
                        "bool": "true or false"}.get(t.__name__, t.__name__) for t in types)
