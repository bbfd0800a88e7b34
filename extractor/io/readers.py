"""Readers: one per input format, each a generator of ``(locator, NoteInput | RecordError)``.

Every record of the input comes out exactly once, as a validated ``NoteInput`` or as a ``RecordError``
(blank lines between records are not records). Readers stream: they hold one line (CSV: one record) at a
time, never a whole file, and a line longer than ``max_line_bytes`` is skipped in bounded pieces and
reported as ``line_too_long`` instead of being read into memory.

Locators say where a record came from: ``path:line`` for CSV/JSONL/FHIR NDJSON (the line where the record
starts, 1-based), the file path for a ``.txt`` note.

PRIVACY: error messages name the locator and the problem only; they never quote note text or any field
value (a fuzzed or shifted CSV can put note text in any column).
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..schema import MAX_NOTE_CHARS, NoteInput, note_too_large

#: Longest CSV/JSONL/NDJSON line accepted, in bytes. A note at the size limit (200,000 characters) takes at
#: most 1.2 MB as a JSON string (\uXXXX escapes) and 1.1 MB as base64 in a FHIR attachment, so 4 MiB leaves
#: room for the other fields while keeping one line's memory bounded.
MAX_LINE_BYTES = 4 * 1024 * 1024

#: Largest .txt note file read (bytes): the note-size limit at 4 bytes per character (UTF-8 worst case).
MAX_TEXT_FILE_BYTES = 4 * MAX_NOTE_CHARS

FORMATS = ("txt", "csv", "jsonl", "fhir")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "fhir", ".txt": "txt"}

#: The NoteInput fields a CSV column or JSON key can fill (``text`` is the only one required).
FIELDS = ("note_id", "text", "patient_id", "date_of_service", "setting", "claim", "payer", "abn_on_file")

#: Error record kinds (also documented in the README).
ERROR_KINDS = ("bad_json", "bad_csv", "missing_text", "empty_text", "not_string", "invalid_utf8", "too_large",
               "line_too_long", "invalid_field", "worker_crash", "internal")

_MISSING = object()
# Put in place of a line that was too long to read, so that the CSV parser still sees a line there and the
# record holding it can be reported. A lone high surrogate cannot come out of UTF-8 decoding (strict or
# surrogateescape), so it cannot collide with input.
_TOO_LONG = "\ud800line-too-long"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" makes of an invalid byte
_BOM = b"\xef\xbb\xbf"


class InputFormatError(ValueError):
    """An input cannot be read at all (missing file, unknown format, CSV without a text column): the run
    stops before it starts (exit code 2). Messages name the file and the problem."""


@dataclass(frozen=True)
class RecordError:
    """One input record that could not become a NoteInput (or, later, a result)."""

    locator: str
    kind: str
    message: str
    note_id: str | None = None

    def as_dict(self) -> dict:
        return {"note_id": self.note_id, "locator": self.locator, "kind": self.kind, "message": self.message}


@dataclass
class Defaults:
    """Context the record does not hold, from CLI flags; a record's own field wins over these."""

    setting: str = "office"
    claim: str = "professional"
    payer: str = "medicare"
    abn_on_file: bool | None = None
    date_of_service: str | None = None


@dataclass
class ReadCounter:
    """Bytes read so far across all inputs (drives the progress bar's ETA)."""

    bytes: int = 0


@dataclass
class ReaderOptions:
    columns: dict[str, str] = field(default_factory=dict)  # field -> column/key name in the input
    defaults: Defaults = field(default_factory=Defaults)
    max_line_bytes: int = MAX_LINE_BYTES
    counter: ReadCounter = field(default_factory=ReadCounter)

    def name_of(self, fld: str) -> str:
        return self.columns.get(fld, fld)


# ------------------------------------------------------------------------------------------------
# From raw values to a NoteInput


def _as_id(value, what: str) -> str | None:
    if value is _MISSING or value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _FieldError(f"{what} must be a string or an integer, not {_type_name(value)}")
    return str(value)


def _type_name(value) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


class _FieldError(ValueError):
    pass


_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def _as_abn(value):
    if value is _MISSING or value is None or value == "":
        return _MISSING
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _FieldError("abn_on_file must be true, false or empty")


def build_note(values: dict, locator: str, default_id: str, defaults: Defaults) -> NoteInput | RecordError:
    """Validate one record's raw values (already mapped to field names) into a NoteInput."""
    try:
        note_id = _as_id(values.get("note_id", _MISSING), "note_id") or default_id
    except _FieldError as exc:
        return RecordError(locator, "invalid_field", str(exc), default_id)
    for name, val in values.items():
        if isinstance(val, str) and _SURROGATE.search(val):
            # JSON can spell a lone surrogate (\ud800); it is not text and cannot be written out as UTF-8
            return RecordError(locator, "invalid_utf8", f"field {name} holds an unpaired surrogate code point",
                               note_id)
    text = values.get("text", _MISSING)
    if text is _MISSING or text is None:
        return RecordError(locator, "missing_text", "no text field in the record", note_id)
    if not isinstance(text, str):
        return RecordError(locator, "not_string", f"text must be a string, not {_type_name(text)}", note_id)
    if not text.strip():
        return RecordError(locator, "empty_text", "text is empty or blank", note_id)
    if len(text) > MAX_NOTE_CHARS:
        return RecordError(locator, "too_large", note_too_large(len(text)), note_id)
    data: dict = {"note_id": note_id, "text": text}
    try:
        patient = _as_id(values.get("patient_id", _MISSING), "patient_id")
        abn = _as_abn(values.get("abn_on_file", _MISSING))
    except _FieldError as exc:
        return RecordError(locator, "invalid_field", str(exc), note_id)
    if patient is not None:
        data["patient_id"] = patient
    if abn is not _MISSING:
        data["abn_on_file"] = abn
    elif defaults.abn_on_file is not None:
        data["abn_on_file"] = defaults.abn_on_file
    for name in ("setting", "claim", "payer", "date_of_service"):
        val = values.get(name, _MISSING)
        if val is _MISSING or val is None or val == "":
            val = getattr(defaults, name)
        if val is None:
            continue
        if not isinstance(val, str):
            return RecordError(locator, "invalid_field", f"{name} must be a string, not {_type_name(val)}", note_id)
        data[name] = val.strip().lower() if name != "date_of_service" else val.strip()
    if "payer" in data:
        from ..coding import available_payers

        if data["payer"] not in available_payers():
            return RecordError(locator, "invalid_field",
                               f"unknown payer profile; available: {', '.join(available_payers())}", note_id)
    try:
        return NoteInput.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "record"
        # pydantic's msg describes the expected value and does not echo the input
        return RecordError(locator, "invalid_field", f"invalid {where}: {err['msg']}", note_id)


# ------------------------------------------------------------------------------------------------
# Bounded line reading


def _bounded_lines(f, max_bytes: int, counter: ReadCounter) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes incl. newline) for each line of a binary file; None for a line over ``max_bytes``,
    whose rest is skipped in 64 kB pieces so a single enormous line never sits in memory."""
    lineno = 0
    while True:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        lineno += 1
        counter.bytes += len(line)
        if len(line) > max_bytes:
            while not line.endswith(b"\n"):
                line = f.readline(65536)
                if not line:
                    break
                counter.bytes += len(line)
            yield lineno, None
            continue
        yield lineno, line


def _decode(raw: bytes, lineno: int) -> str:
    if lineno == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    return raw.decode("utf-8")


def _too_long(locator: str, max_bytes: int) -> RecordError:
    return RecordError(locator, "line_too_long", f"line is longer than {max_bytes:,} bytes; skipped")


def _json_objects(path: Path, opts: ReaderOptions, expected: str) -> Iterator[tuple[str, int, dict | RecordError]]:
    """(locator, line number, JSON object or RecordError) for each non-blank line; a line holding another JSON
    value is a ``bad_json`` error naming what was ``expected``."""
    with open(path, "rb") as f:
        for lineno, raw in _bounded_lines(f, opts.max_line_bytes, opts.counter):
            loc = f"{path}:{lineno}"
            if raw is None:
                yield loc, lineno, _too_long(loc, opts.max_line_bytes)
                continue
            if not raw.strip():
                continue
            try:
                line = _decode(raw, lineno)
            except UnicodeDecodeError as exc:
                yield loc, lineno, RecordError(loc, "invalid_utf8", f"line is not valid UTF-8 (byte {exc.start + 1})")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except RecursionError:
                yield loc, lineno, RecordError(loc, "bad_json", "not valid JSON (nested too deeply)")
            except json.JSONDecodeError as exc:
                # json's messages name the problem, never the text ("Unterminated string starting at")
                where = "" if exc.msg.endswith(" at") else " at"
                yield loc, lineno, RecordError(loc, "bad_json", f"not valid JSON ({exc.msg}{where} column {exc.colno})")
            except ValueError:  # e.g. an integer literal longer than Python's digit limit
                yield loc, lineno, RecordError(loc, "bad_json", "not valid JSON (a value cannot be read)")
            else:
                yield loc, lineno, (obj if isinstance(obj, dict) else
                                    RecordError(loc, "bad_json", f"{expected} expected, not {_type_name(obj)}"))


def _default_id(path: Path, lineno: int) -> str:
    return f"{path.stem}:{lineno}"


def read_jsonl(path: Path, opts: ReaderOptions) -> Iterator[tuple[str, NoteInput | RecordError]]:
    """One JSON object per line with keys note_id, text, patient_id, date_of_service, setting, claim, payer,
    abn_on_file (only text required; names mapped by ``opts.columns``)."""
    for loc, lineno, obj in _json_objects(path, opts, "a JSON object per line"):
        if isinstance(obj, RecordError):
            yield loc, obj
            continue
        values = {f: obj.get(opts.name_of(f), _MISSING) for f in FIELDS}
        yield loc, _guarded(build_note, values, loc, _default_id(path, lineno), opts.defaults)


def read_csv(path: Path, opts: ReaderOptions) -> Iterator[tuple[str, NoteInput | RecordError]]:
    """CSV with a header row; quoted fields may span lines (the locator is the line a record starts on)."""
    # the module-wide field limit (128 kB by default) is below the note-size limit; raise it, never lower it
    csv.field_size_limit(max(csv.field_size_limit(), opts.max_line_bytes))
    where = {"line": 0}

    with open(path, "rb") as f:
        def text_lines() -> Iterator[str]:
            for lineno, raw in _bounded_lines(f, opts.max_line_bytes, opts.counter):
                where["line"] = lineno
                if raw is None:
                    yield _TOO_LONG + "\n"
                    continue
                if lineno == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                # keep invalid bytes as escapes so one bad byte spoils only its record, reported below
                yield raw.decode("utf-8", "surrogateescape")

        rows = csv.reader(text_lines())
        try:
            header = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputFormatError(f"{path}: the header row cannot be read as CSV ({exc})") from None
        if any(_SURROGATE.search(h) for h in header):
            raise InputFormatError(f"{path}: the header row is not valid UTF-8 or is too long")
        names = [h.strip() for h in header]
        text_col = opts.name_of("text")
        if text_col not in names:
            raise InputFormatError(f"{path}: no column {text_col!r} in the header (columns: "
                                   f"{', '.join(names[:20])}); name the text column with --column text=NAME")
        index = {f: names.index(opts.name_of(f)) for f in FIELDS if opts.name_of(f) in names}
        while True:
            start = where["line"] + 1
            loc = f"{path}:{start}"
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                kind = "too_large" if "field larger" in str(exc) else "bad_csv"
                # csv's messages describe the syntax problem and never quote the data
                yield loc, RecordError(loc, kind, f"record cannot be read as CSV ({exc})")
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is not a record
            if any(_TOO_LONG in cell for cell in row):
                yield loc, _too_long(loc, opts.max_line_bytes)
                continue
            if any(_ESCAPED_BYTE.search(cell) for cell in row):
                yield loc, RecordError(loc, "invalid_utf8", "record is not valid UTF-8")
                continue
            if len(row) > len(names):
                yield loc, RecordError(loc, "bad_csv", f"record has {len(row)} fields; the header has {len(names)}")
                continue
            values = {f: (row[i] if i < len(row) else _MISSING) for f, i in index.items()}
            yield loc, _guarded(build_note, values, loc, _default_id(path, start), opts.defaults)


def _text_from_attachment(resource: dict, loc: str, note_id: str) -> str | RecordError:
    content = resource.get("content")
    attachments = [c.get("attachment") for c in content if isinstance(c, dict)] if isinstance(content, list) else []
    plain = [a for a in attachments if isinstance(a, dict) and isinstance(a.get("contentType"), str)
             and a["contentType"].split(";")[0].strip().lower() == "text/plain"]
    if not plain:
        return RecordError(loc, "missing_text", "no text/plain attachment in content", note_id)
    att = plain[0]
    params = [p.strip().lower() for p in att["contentType"].split(";")[1:]]
    charset = next((p.split("=", 1)[1].strip('"') for p in params if p.startswith("charset=")), "utf-8")
    data = att.get("data", _MISSING)
    if data is _MISSING or data is None:
        how = " (a url reference is not fetched)" if "url" in att else ""
        return RecordError(loc, "missing_text", f"text/plain attachment has no inline data{how}", note_id)
    if not isinstance(data, str):
        return RecordError(loc, "not_string", f"attachment data must be a base64 string, not {_type_name(data)}",
                           note_id)
    if len(data) > (MAX_TEXT_FILE_BYTES * 4) // 3 + 4:
        return RecordError(loc, "too_large", "attachment is larger than the note-size limit", note_id)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return RecordError(loc, "invalid_field", "attachment data is not valid base64", note_id)
    if charset not in ("utf-8", "utf8"):
        return RecordError(loc, "invalid_field", "only UTF-8 text/plain attachments are supported", note_id)
    try:
        return _decode(raw, 1)
    except UnicodeDecodeError as exc:
        return RecordError(loc, "invalid_utf8", f"attachment is not valid UTF-8 (byte {exc.start + 1})", note_id)


def _fhir_values(resource: dict, loc: str, note_id: str) -> dict | RecordError:
    if resource.get("resourceType") != "DocumentReference":
        return RecordError(loc, "invalid_field", "resourceType must be DocumentReference", note_id)
    text = _text_from_attachment(resource, loc, note_id)
    if isinstance(text, RecordError):
        return text
    values: dict = {"note_id": note_id, "text": text}
    subject = resource.get("subject")
    if isinstance(subject, dict) and isinstance(subject.get("reference"), str):
        values["patient_id"] = subject["reference"].removeprefix("Patient/")
    context = resource.get("context")
    period = context.get("period") if isinstance(context, dict) else None
    start = period.get("start") if isinstance(period, dict) else None
    when = start if isinstance(start, str) else resource.get("date")
    if isinstance(when, str) and when:
        values["date_of_service"] = when[:10]  # FHIR dateTime/instant: the date part is the date of service
    elif when is not None:
        return RecordError(loc, "invalid_field", "date must be a FHIR dateTime string", note_id)
    return values


def read_fhir(path: Path, opts: ReaderOptions) -> Iterator[tuple[str, NoteInput | RecordError]]:
    """FHIR R4 NDJSON, one DocumentReference per line: the first text/plain attachment (base64) is the note;
    id -> note id, subject.reference -> patient id, context.period.start (else date) -> date of service."""
    for loc, lineno, obj in _json_objects(path, opts, "a FHIR resource (JSON object)"):
        if isinstance(obj, RecordError):
            yield loc, obj
            continue
        rid = obj.get("id")
        note_id = rid if isinstance(rid, str) and rid else _default_id(path, lineno)
        values = _guarded(_fhir_values, obj, loc, note_id)
        if isinstance(values, RecordError):
            yield loc, values
            continue
        yield loc, _guarded(build_note, values, loc, note_id, opts.defaults)


def _txt_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.glob("*.txt") if p.is_file())


def read_text(path: Path, opts: ReaderOptions) -> Iterator[tuple[str, NoteInput | RecordError]]:
    """A .txt file or a folder of .txt files (not recursive), one note per file; note id = file stem."""
    for file in _txt_files(path):
        loc = str(file)
        size = file.stat().st_size
        opts.counter.bytes += size
        if size > MAX_TEXT_FILE_BYTES:
            yield loc, RecordError(loc, "too_large", f"file has {size:,} bytes; the limit is {MAX_TEXT_FILE_BYTES:,}",
                                   file.stem)
            continue
        try:
            text = _decode(file.read_bytes(), 1)
        except UnicodeDecodeError as exc:
            yield loc, RecordError(loc, "invalid_utf8", f"file is not valid UTF-8 (byte {exc.start + 1})", file.stem)
            continue
        yield loc, _guarded(build_note, {"text": text, "note_id": file.stem}, loc, file.stem, opts.defaults)


def _guarded(fn, *args):
    """Run one record's conversion; an unexpected exception becomes that record's ``internal`` error (with
    the exception type only: its message could quote the record), so one odd record never stops the run."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - deliberately broad, see docstring
        loc = args[1]
        return RecordError(loc, "internal", f"reader failed on this record ({type(exc).__name__})")


READERS = {"txt": read_text, "csv": read_csv, "jsonl": read_jsonl, "fhir": read_fhir}


def detect_format(path: Path, forced: str | None = None) -> str:
    if not path.exists():
        raise InputFormatError(f"{path}: no such file or folder")
    if forced:
        if forced not in READERS:
            raise InputFormatError(f"unknown input format {forced!r}; choose one of {', '.join(FORMATS)}")
        if forced == "txt" or not path.is_dir():
            return forced
        raise InputFormatError(f"{path}: is a folder; --input-format {forced} needs a file")
    if path.is_dir():
        return "txt"
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFormatError(f"{path}: unknown input format (extension {path.suffix or 'none'}); use .csv, "
                               ".jsonl, .ndjson (FHIR DocumentReference), .txt or a folder of .txt, or "
                               "--input-format")
    return fmt


def plan_inputs(inputs: Iterable[str | Path], forced: str | None = None) -> list[tuple[Path, str]]:
    """Check every input before the run starts: (path, format) each, or InputFormatError."""
    planned = [(Path(p), detect_format(Path(p), forced)) for p in inputs]
    if not planned:
        raise InputFormatError("no input given")
    return planned


def input_bytes(planned: list[tuple[Path, str]]) -> int:
    return sum(sum(f.stat().st_size for f in _txt_files(p)) if fmt == "txt" else p.stat().st_size
               for p, fmt in planned)


def iter_records(planned: list[tuple[Path, str]], opts: ReaderOptions
                 ) -> Iterator[tuple[str, NoteInput | RecordError]]:
    for path, fmt in planned:
        yield from READERS[fmt](path, opts)
