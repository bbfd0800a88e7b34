"""The review queue over batch output: ``results.jsonl`` indexed line by line, filtered, each result read in
full only when it is shown, with the note text when the batch's text files are beside it.

Each line is ``NoteResult.model_dump(mode="json")`` plus ``locator`` (``notes.csv:17`` or a .txt path) and
``confidence`` / ``status`` (``auto`` or ``review``). Lines without a status are treated as ``review``: a
note nobody has judged safe is one a person should see. A bad line is reported by number and skipped;
warnings never quote the line (it may hold note text).

A nightly batch can hold millions of results of ~10 kB each, so the queue keeps only what it filters and
lists on (status, confidence, edit rules, gap elements, claim lines, the byte offset of the line) and reads
the full result from the file when a reviewer opens it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..schema import NoteResult

QUEUE_KEYS = ("locator", "confidence", "status")
STATUSES = ("review", "auto")
_REQUIRED = ("extraction", "claim_lines", "versions")


@dataclass(slots=True)
class QueueItem:
    line_no: int
    locator: str | None
    confidence: float | None
    status: str  # review | auto
    note_id: str | None
    lines: list[str]  # claim lines as a coder writes them: 64493-50-KX
    edit_rules: list[str]
    gap_elements: list[str]
    offset: int | None = None  # byte offset of the line in the results file
    raw: str | None = None  # the line itself, when there is no file (an upload)

    @property
    def key(self) -> str:
        """What the store files the review under: the note id, else the locator, else the line."""
        return self.note_id or self.locator or f"results.jsonl:{self.line_no}"


@dataclass
class Queue:
    items: list[QueueItem]
    warnings: list[str]
    file: Path | None = None
    _cache: dict[int, dict] = field(default_factory=dict, repr=False)

    @property
    def folder(self) -> Path | None:
        return self.file.parent if self.file else None

    def result(self, item: QueueItem) -> dict:
        """The item's full result (NoteResult JSON without the queue keys), validated.

        Raises ValueError naming the line when it is not a valid result."""
        if item.line_no in self._cache:
            return self._cache[item.line_no]
        if item.raw is not None:
            line = item.raw
        else:
            with self.file.open("rb") as fh:
                fh.seek(item.offset)
                line = fh.readline().decode("utf-8", errors="replace")
        data = json.loads(line)
        # locator is the queue's; confidence and status stay when NoteResult has them as fields
        known = {k: v for k, v in data.items() if k in NoteResult.model_fields}
        try:
            result = NoteResult.model_validate(known).model_dump(mode="json")
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "result"
            raise ValueError(f"line {item.line_no} is not a facetcoder result ({where}: {err['msg']})") from None
        self._cache = {item.line_no: result}  # the one on screen; the queue stays small
        return result


def _index_line(line_no: int, line: str, offset: int | None, keep_raw: bool) -> QueueItem:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {line_no} is not JSON ({exc.msg} at character {exc.pos}); skipped") from None
    if not isinstance(data, dict):
        raise ValueError(f"line {line_no} is not a JSON object; skipped")
    missing = [k for k in _REQUIRED if not isinstance(data.get(k), (dict, list))]
    if missing:
        raise ValueError(f"line {line_no} is not a facetcoder result (no {', '.join(missing)}); skipped")
    try:
        lines = ["-".join([ln["cpt"], *ln.get("modifiers", [])]) for ln in data["claim_lines"]]
        edit_rules = [e["rule"] for e in data.get("edits", [])]
        gap_elements = [g["element"] for g in data.get("gaps", [])]
    except (KeyError, TypeError):
        raise ValueError(f"line {line_no} is not a facetcoder result (malformed lines, edits or gaps); "
                         "skipped") from None
    status = data.get("status") if data.get("status") in STATUSES else "review"
    confidence = data.get("confidence")
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool):
        confidence = None
    locator = data.get("locator")
    return QueueItem(line_no, str(locator) if locator is not None else None, confidence, status,
                     data.get("note_id"), lines, edit_rules, gap_elements, offset=offset,
                     raw=line if keep_raw else None)


def parse_results(lines) -> Queue:
    """A queue from text lines held in memory (an upload); bad lines become warnings."""
    items, warnings = [], []
    for line_no, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        try:
            items.append(_index_line(line_no, line, None, keep_raw=True))
        except ValueError as exc:
            warnings.append(str(exc))
    return Queue(items, warnings)


def load_results(path: str | Path) -> Queue:
    """A batch output folder (its ``results.jsonl``) or a results file, indexed without keeping the results."""
    path = Path(path).expanduser()
    file = path / "results.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no results.jsonl in {path}" if path.is_dir() else f"no such file: {path}")
    items, warnings = [], []
    offset = 0
    with file.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                items.append(_index_line(line_no, raw.decode("utf-8", errors="replace"), start, keep_raw=False))
            except ValueError as exc:
                warnings.append(str(exc))
    return Queue(items, warnings, file=file)


def filter_items(items: list[QueueItem], *, statuses: list[str] | None = None, edit_rule: str | None = None,
                 gap_element: str | None = None) -> list[QueueItem]:
    """Items with one of ``statuses`` (all when None/empty), carrying the edit rule and the gap element."""
    return [it for it in items
            if (not statuses or it.status in statuses)
            and (not edit_rule or edit_rule in it.edit_rules)
            and (not gap_element or gap_element in it.gap_elements)]


def note_text_for(item: QueueItem, folder: Path | None) -> str | None:
    """The note's text when its locator is a .txt file that exists: as written, beside the results, or in
    the results folder's parent (where a batch over a folder of notes usually ran). Else None."""
    if not item.locator or not item.locator.lower().endswith(".txt"):
        return None
    loc = Path(item.locator).expanduser()
    candidates = [loc]
    if folder is not None and not loc.is_absolute():
        candidates += [folder / loc, folder.parent / loc, folder / loc.name]
    for cand in candidates:
        if cand.is_file():
            return cand.read_text(encoding="utf-8", errors="replace")
    return None
