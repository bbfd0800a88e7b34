"""The review queue over batch output: ``results.jsonl`` read line by line, filtered, with note text when
the batch's text files are beside it.

Each line is ``NoteResult.model_dump(mode="json")`` plus ``locator`` (``notes.csv:17`` or a .txt path) and
``confidence`` / ``status`` (``auto`` or ``review``). Lines without a status are treated as ``review``: a
note nobody has judged safe is one a person should see. A bad line is reported by number and skipped;
warnings never quote the line (it may hold note text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..schema import NoteResult

QUEUE_KEYS = ("locator", "confidence", "status")
STATUSES = ("review", "auto")


@dataclass
class QueueItem:
    line_no: int
    locator: str | None
    confidence: float | None
    status: str  # review | auto
    result: dict  # NoteResult JSON, without the queue keys
    extra: dict = field(default_factory=dict)  # keys of the line that NoteResult does not know

    @property
    def key(self) -> str:
        """What the store files the review under: the note id, else the locator, else the line."""
        return self.result.get("note_id") or self.locator or f"results.jsonl:{self.line_no}"

    @property
    def edit_rules(self) -> list[str]:
        return [e["rule"] for e in self.result.get("edits", [])]

    @property
    def gap_elements(self) -> list[str]:
        return [g["element"] for g in self.result.get("gaps", [])]


@dataclass
class Queue:
    items: list[QueueItem]
    warnings: list[str]
    folder: Path | None = None


def _parse_line(line_no: int, line: str) -> QueueItem:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {line_no} is not JSON ({exc.msg} at column {exc.colno}); skipped") from None
    if not isinstance(data, dict):
        raise ValueError(f"line {line_no} is not a JSON object; skipped")
    queue = {k: data.pop(k, None) for k in QUEUE_KEYS}
    known = {k: v for k, v in data.items() if k in NoteResult.model_fields}
    extra = {k: v for k, v in data.items() if k not in NoteResult.model_fields}
    try:
        result = NoteResult.model_validate(known).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "result"
        raise ValueError(f"line {line_no} is not a facetcoder result ({where}: {err['msg']}); skipped") from None
    status = queue["status"] if queue["status"] in STATUSES else "review"
    confidence = queue["confidence"]
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool):
        confidence = None
    return QueueItem(line_no, queue["locator"], confidence, status, result, extra)


def parse_results(lines) -> Queue:
    """Queue items from an iterable of text lines (a file or an upload); bad lines become warnings."""
    items, warnings = [], []
    for line_no, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        try:
            items.append(_parse_line(line_no, line))
        except ValueError as exc:
            warnings.append(str(exc))
    return Queue(items, warnings)


def load_results(path: str | Path) -> Queue:
    """A batch output folder (its ``results.jsonl``) or a results file."""
    path = Path(path).expanduser()
    file = path / "results.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no results.jsonl in {path}" if path.is_dir() else f"no such file: {path}")
    with file.open(encoding="utf-8", errors="replace") as fh:
        queue = parse_results(fh)
    queue.folder = file.parent
    return queue


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
