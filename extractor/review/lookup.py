"""The code lookup: CPT codes of the facet family, modifiers, rule ids (R-…) and documentation elements
(D-…) with a short explanation each, from ``lookup.json`` in this package. When ``coding-rules.md`` is found
(``FACETCODER_RULES_MD``, or ``../shared/coding-rules.md`` beside the checkout), the rule's full text from it
is added; the lookup works without it."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

LOOKUP_PATH = Path(__file__).with_name("lookup.json")


@lru_cache(maxsize=1)
def lookup_entries() -> tuple[dict, ...]:
    return tuple(json.loads(LOOKUP_PATH.read_text(encoding="utf-8"))["entries"])


def rules_md_path() -> Path | None:
    env = os.environ.get("FACETCODER_RULES_MD")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[2].parent / "shared" / "coding-rules.md")
    return next((p for p in cands if p.is_file()), None)


_RULE_BULLET = re.compile(r"^- \*\*(R-[A-Z0-9-]+)\*\*\s*[—-]+\s*(.*)$")


def parse_rules_md(path: Path) -> dict[str, str]:
    """Rule id -> its bullet's text (with continuation lines) from coding-rules.md."""
    texts: dict[str, str] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _RULE_BULLET.match(line)
        if m:
            current = m.group(1)
            texts[current] = m.group(2).strip()
        elif current and line.startswith("  ") and line.strip():
            texts[current] += " " + line.strip()
        else:
            current = None
    return texts


def search(query: str, kinds: list[str] | None = None, rules_md: Path | None = None) -> list[dict]:
    """Entries whose id or explanation contains every word of ``query`` (case-insensitive)."""
    full = parse_rules_md(rules_md) if rules_md else {}
    words = query.lower().split()
    found = []
    for entry in lookup_entries():
        if kinds and entry["kind"] not in kinds:
            continue
        detail = full.get(entry["id"], "")
        hay = f"{entry['id']} {entry['summary']} {detail}".lower()
        if all(w in hay for w in words):
            found.append({**entry, "rules_md": detail} if detail else dict(entry))
    return found
