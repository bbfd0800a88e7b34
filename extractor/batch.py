"""``process_batch``: many notes -> an output folder, streaming, in parallel, resumable, on one machine or
a Dask cluster. The CLI's ``facetcoder batch`` is a thin shell over it.

Data flow
---------
readers (main process, streaming) -> units of up to ``chunk_size`` notes -> engine (worker processes, each
building the pipeline once and coding its chunk with ``nlp.pipe``) -> outcomes written **in input order**
to ``results.jsonl`` / ``errors.jsonl`` -> journal entry -> ... -> finalisation (R-FREQ across each
patient's sessions, ``claims.csv``, ``results.parquet``, ``summary.json``).

Why these choices
-----------------
- Bounded window: at most ``2 * workers + 2`` units are in flight, so memory does not grow with the input.
- Input order: the oldest unit is always collected first. That makes the output files identical whatever
  the engine or the number of workers, and turns "which records are done" into one number.
- Journal (``DIR/.batch/journal.jsonl``): after each unit the two logs are fsync'd and a line
  ``{"next_seq", "results", "errors"}`` (record count and the logs' byte sizes) is appended and fsync'd.
  ``--resume`` cuts both logs back to the last entry's sizes (so a torn line or a unit written after the
  last entry disappears) and skips that many input records: every record exactly once.
- Finalisation reads ``results.jsonl`` back, so a resumed run and an uninterrupted one end the same, and a
  crash during finalisation is repaired by running it again (each end file is replaced atomically).
- A worker that dies (segfault, OOM kill, ``os._exit``) loses its chunk: each record of that chunk is
  retried once on its own; a record that kills its worker again becomes a ``worker_crash`` error record.

Test hook: when the environment variable ``FACETCODER_CRASH_MARKER`` is set, a worker that is given a note
whose text contains that marker exits at once (``os._exit(70)``), as a worker killed mid-record would.
It exists for the fault-injection tests in ``tests/robustness/``; leave it unset otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .io.readers import (
    Defaults,
    InputFormatError,
    ReadCounter,
    ReaderOptions,
    RecordError,
    input_bytes,
    iter_records,
    plan_inputs,
)
from .io.writers import (
    AppendLog,
    ClaimsCsv,
    ResultsParquet,
    SummaryCounter,
    atomic_file,
    truncate_to,
    write_json,
)

ENGINES = ("local", "dask")
OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
CRASH_MARKER_ENV = "FACETCODER_CRASH_MARKER"
STATE_DIR = ".batch"


class BatchError(RuntimeError):
    """The batch cannot start or continue (bad options, an output folder of another run): exit code 2."""


# ------------------------------------------------------------------------------------------------
# Worker side: runs in worker processes (or Dask workers). Module-level so that it pickles by reference.


def _warm_worker() -> None:
    """Build the pipeline and load the gap model once per worker process, before the first chunk."""
    from .gaps.detect import get_gap_model
    from .nlp import get_pipeline

    get_pipeline()
    get_gap_model()


def _internal_message(exc: BaseException) -> str:
    # the exception's type and where it was raised, never its message: messages can quote note text
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}{where}"


def _result_line(seq: int, locator: str, result) -> str:
    # seq first: the R-FREQ pass reads it from the start of the line without parsing the whole result
    return json.dumps({"seq": seq, "note_id": result.note_id, "locator": locator,
                       **result.model_dump(mode="json", exclude={"note_id"})}, ensure_ascii=False)


def process_chunk(chunk: list[tuple[int, str, dict]]) -> list[tuple]:
    """Code one chunk of notes: ``[(seq, locator, NoteInput as dict)]`` -> ``[(seq, "ok", line)]`` or
    ``[(seq, "error", kind, message)]``. One ``nlp.pipe`` over the chunk; if that fails, note by note so that
    one bad note does not take its neighbours with it."""
    from .nlp import get_pipeline
    from .pipeline import InputError, _result
    from .schema import NoteInput

    marker = os.environ.get(CRASH_MARKER_ENV)
    notes = []
    for seq, loc, data in chunk:
        note = NoteInput.model_validate(data)
        if marker and marker in note.text:
            os._exit(70)  # test hook, see the module docstring
        notes.append((seq, loc, note))
    nlp = get_pipeline()
    out: list[tuple] = []

    def one(seq, loc, note, doc) -> tuple:
        try:
            return (seq, "ok", _result_line(seq, loc, _result(note, doc, None)))
        except InputError as exc:  # messages of InputError never hold note text
            return (seq, "error", "invalid_field", str(exc))
        except Exception as exc:  # noqa: BLE001 - one note's failure is that note's error record
            return (seq, "error", "internal", f"coding failed ({_internal_message(exc)})")

    try:
        docs = list(nlp.pipe([n.text for _, _, n in notes], batch_size=len(notes) or 1))
    except Exception:  # noqa: BLE001 - retry note by note below
        docs = None
    if docs is not None:
        return [one(seq, loc, note, doc) for (seq, loc, note), doc in zip(notes, docs)]
    for seq, loc, note in notes:
        try:
            doc = nlp(note.text)
        except Exception as exc:  # noqa: BLE001
            out.append((seq, "error", "internal", f"pipeline failed ({_internal_message(exc)})"))
            continue
        out.append(one(seq, loc, note, doc))
    return out


# ------------------------------------------------------------------------------------------------
# Engines: submit a chunk, collect it, tell a lost worker from anything else.


class WorkerLost(RuntimeError):
    """The worker running a chunk died; the chunk's records are retried one by one."""


class LocalEngine:
    """A ``ProcessPoolExecutor`` of spawned worker processes (spawned, not forked: the parent may run a
    progress thread, and each worker then builds exactly one pipeline in ``_warm_worker``)."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self.generation = 0
        self._pool = None
        self._start()

    def _start(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_warm_worker)
        self.generation += 1

    def submit(self, chunk):
        return (self.generation, self._pool.submit(process_chunk, chunk))

    def result(self, handle) -> list[tuple]:
        from concurrent.futures.process import BrokenProcessPool

        generation, fut = handle
        try:
            return fut.result()
        except BrokenProcessPool:
            # every future of a broken pool fails; start a new pool once per breakage
            if generation == self.generation:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._start()
            raise WorkerLost() from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class DaskEngine:
    """Chunks as tasks on a ``dask.distributed`` cluster: ``scheduler`` is its address
    (``tcp://host:8786``); without one, a ``LocalCluster`` of ``workers`` single-threaded worker processes
    is started for the run. Workers must have the same facetcoder installed (they import
    ``extractor.batch.process_chunk``); each builds its pipeline once, on its first chunk."""

    name = "dask"

    def __init__(self, workers: int, scheduler: str | None = None, client=None):
        from dask.distributed import Client, LocalCluster

        self._own_cluster = None
        if client is not None:
            self.client = client
            self._own_client = False
        else:
            if scheduler:
                self.client = Client(scheduler)
            else:
                self._own_cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                 dashboard_address=":0")
                self.client = Client(self._own_cluster)
            self._own_client = True
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def submit(self, chunk):
        # pure=False: two chunks with equal content are still two tasks; retries=0: a lost worker is
        # handled here (one isolated retry per record), the same way as in the local engine
        return self.client.submit(process_chunk, chunk, pure=False, retries=0)

    def result(self, fut) -> list[tuple]:
        from distributed.scheduler import KilledWorker

        try:
            return fut.result()
        except KilledWorker:
            raise WorkerLost() from None
        finally:
            fut.release()

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._own_cluster is not None:
            self._own_cluster.close()


# ------------------------------------------------------------------------------------------------
# The run


@dataclass
class Progress:
    """What a progress display needs; passed to ``process_batch(progress=...)`` after each unit."""

    done: int  # records finished in this run
    results: int
    errors: int
    skipped: int  # records done by an earlier run (resume)
    bytes_read: int
    total_bytes: int
    elapsed: float
    finished: bool = False

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the share of the input bytes read so far."""
        if not self.total_bytes or not self.bytes_read or not self.rate:
            return None
        expected = (self.done + self.skipped) * self.total_bytes / self.bytes_read
        return max(0.0, (expected - self.done - self.skipped) / self.rate)


@dataclass
class _Unit:
    first_seq: int
    next_seq: int = 0
    notes: list = field(default_factory=list)  # (seq, locator, NoteInput dict)
    errors: list = field(default_factory=list)  # (seq, RecordError)
    handle: object = None


def _journal_state(path: Path) -> dict | None:
    """The last complete, valid journal entry (a torn last line is ignored)."""
    if not path.exists():
        return None
    last = None
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                entry = json.loads(raw)
            except ValueError:
                break
            if isinstance(entry, dict) and "next_seq" in entry:
                last = entry
    return last


def _manifest(planned, opts: ReaderOptions) -> dict:
    return {"facetcoder": __version__,
            "inputs": [[str(p.resolve()), fmt] for p, fmt in planned],
            "columns": opts.columns, "defaults": opts.defaults.__dict__,
            "max_line_bytes": opts.max_line_bytes}


def _error_line(seq: int, err: RecordError) -> str:
    return json.dumps({"seq": seq, **err.as_dict()}, ensure_ascii=False)


def process_batch(inputs: Iterable[str | Path], out: str | Path, *, workers: int | None = None,
                  engine: str = "local", scheduler: str | None = None, dask_client=None,
                  formats: Iterable[str] = ("jsonl", "csv"), resume: bool = False,
                  input_format: str | None = None, columns: dict[str, str] | None = None,
                  setting: str | None = None, claim: str | None = None, payer: str | None = None,
                  abn_on_file: bool | None = None, date_of_service: str | None = None,
                  chunk_size: int = 32, max_line_bytes: int | None = None,
                  progress: Callable[[Progress], None] | None = None) -> dict:
    """Code every record of ``inputs`` into the folder ``out``; returns the summary (also in summary.json).

    Raises ``InputFormatError`` (missing file, unknown format, CSV without text column) or ``BatchError``
    (bad options, an output folder holding another run) before anything is written."""
    t0 = time.perf_counter()
    formats = [f.strip() for f in formats if f.strip()]
    bad = [f for f in formats if f not in OUTPUT_FORMATS]
    if bad:
        raise BatchError(f"unknown output format {bad[0]!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    if engine not in ENGINES:
        raise BatchError(f"unknown engine {engine!r}; choose local or dask")
    if scheduler and engine != "dask":
        raise BatchError("--scheduler needs --engine dask")
    workers = workers or os.cpu_count() or 1
    if workers < 1 or chunk_size < 1:
        raise BatchError("--workers and the chunk size must be at least 1")
    defaults = Defaults()
    for name, value in (("setting", setting), ("claim", claim), ("payer", payer), ("abn_on_file", abn_on_file),
                        ("date_of_service", date_of_service)):
        if value is not None:
            setattr(defaults, name, value)
    _check_defaults(defaults)
    unknown_fields = set(columns or {}) - {"note_id", "text", "patient_id", "date_of_service", "setting", "claim",
                                            "payer", "abn_on_file"}
    if unknown_fields:
        raise BatchError(f"cannot map unknown field {sorted(unknown_fields)[0]!r}")
    opts = ReaderOptions(columns=dict(columns or {}), defaults=defaults, counter=ReadCounter())
    if max_line_bytes:
        opts.max_line_bytes = max_line_bytes
    planned = plan_inputs(inputs, input_format)

    out = Path(out)
    state = out / STATE_DIR
    journal_path = state / "journal.jsonl"
    manifest = _manifest(planned, opts)
    results_path, errors_path = out / "results.jsonl", out / "errors.jsonl"
    if journal_path.exists() or (state / "manifest.json").exists():
        if not resume:
            raise BatchError(f"{out} holds a batch run already: add --resume to finish it, or choose a new folder")
        old = json.loads((state / "manifest.json").read_text(encoding="utf-8"))
        if {k: v for k, v in old.items() if k != "facetcoder"} != {k: v for k, v in manifest.items()
                                                                    if k != "facetcoder"}:
            raise BatchError(f"{out} holds a run of other inputs or options; --resume needs the same ones")
    elif out.exists() and any(p.name in ("results.jsonl", "errors.jsonl") for p in out.iterdir()):
        raise BatchError(f"{out} holds results of an earlier run without its journal; choose a new folder")
    state.mkdir(parents=True, exist_ok=True)
    if not (state / "manifest.json").exists():
        write_json(state / "manifest.json", manifest)

    entry = _journal_state(journal_path) or {"next_seq": 0, "results": 0, "errors": 0}
    input_done = entry.get("input_done", False)
    for p in out.glob("*.tmp"):  # a finalisation cut short: its half-written files are worthless
        p.unlink()
    if not input_done:
        truncate_to(results_path, entry["results"])
        truncate_to(errors_path, entry["errors"])
    skip = entry["next_seq"]

    total_bytes = input_bytes(planned)
    stats = {"results": 0, "errors": 0}
    if not input_done:
        eng = _make_engine(engine, workers, scheduler, dask_client)
        try:
            _run(eng, planned, opts, skip, chunk_size, results_path, errors_path, journal_path, stats,
                 progress, total_bytes, t0)
        finally:
            eng.close()
    summary = _finalise(out, formats, planned)
    elapsed = time.perf_counter() - t0
    done = stats["results"] + stats["errors"]
    summary["run"] = {"engine": engine, "workers": workers, "resumed_after": skip if resume else 0,
                      "records_this_run": done, "seconds": round(elapsed, 2),
                      "notes_per_second": round(done / elapsed, 1) if elapsed > 0 else None}
    write_json(out / "summary.json", summary)
    if progress:
        progress(Progress(done, stats["results"], stats["errors"], skip, total_bytes, total_bytes, elapsed,
                          finished=True))
    return summary


def _check_defaults(defaults: Defaults) -> None:
    from .coding import available_payers
    from .schema import NoteInput

    if defaults.payer not in available_payers():
        raise BatchError(f"unknown payer profile {defaults.payer!r}; available: {', '.join(available_payers())}")
    try:
        NoteInput.model_validate({"text": "x", "setting": defaults.setting, "claim": defaults.claim,
                                  "date_of_service": defaults.date_of_service})
    except Exception as exc:  # pydantic ValidationError: name the option, not a stack
        err = exc.errors()[0]
        raise BatchError(f"invalid --{err['loc'][0].replace('_', '-')}: {err['msg']}") from None


def _make_engine(engine: str, workers: int, scheduler: str | None, client):
    if engine == "dask":
        return DaskEngine(workers, scheduler, client)
    return LocalEngine(workers)


def _run(eng, planned, opts, skip, chunk_size, results_path, errors_path, journal_path, stats, progress,
         total_bytes, t0) -> None:
    results_log, errors_log = AppendLog(results_path), AppendLog(errors_path)
    journal = open(journal_path, "ab")
    window = 2 * eng.workers + 2
    pending: deque[_Unit] = deque()
    last_report = 0.0

    def commit(unit: _Unit, outcomes: list[tuple]) -> None:
        merged = sorted([(seq, "reader", err) for seq, err in unit.errors] + [(o[0], "worker", o) for o in outcomes],
                        key=lambda x: x[0])
        for seq, source, item in merged:
            if source == "reader":
                errors_log.write(_error_line(seq, item))
                stats["errors"] += 1
            elif item[1] == "ok":
                results_log.write(item[2])
                stats["results"] += 1
            else:
                loc, note_id = unit_locs[seq]
                errors_log.write(_error_line(seq, RecordError(loc, item[2], item[3], note_id)))
                stats["errors"] += 1
        # data first, then the journal entry that says it is there
        entry = {"next_seq": unit.next_seq, "results": results_log.sync(), "errors": errors_log.sync()}
        journal.write((json.dumps(entry) + "\n").encode())
        journal.flush()
        os.fsync(journal.fileno())

    unit_locs: dict[int, tuple[str, str | None]] = {}

    def collect(unit: _Unit) -> None:
        nonlocal last_report
        if unit.notes:
            try:
                outcomes = eng.result(unit.handle)
            except WorkerLost:
                outcomes = _isolate(eng, unit.notes)
        else:
            outcomes = []
        commit(unit, outcomes)
        for seq, _, _ in unit.notes:
            unit_locs.pop(seq, None)
        now = time.perf_counter()
        if progress and now - last_report >= 0.2:
            last_report = now
            progress(Progress(stats["results"] + stats["errors"], stats["results"], stats["errors"], skip,
                              opts.counter.bytes, total_bytes, now - t0))

    def submit(unit: _Unit) -> None:
        if unit.notes:
            unit.handle = eng.submit(unit.notes)
        pending.append(unit)
        while len(pending) > window:
            collect(pending.popleft())

    seq = -1
    unit = _Unit(first_seq=skip)
    for loc, item in iter_records(planned, opts):
        seq += 1
        if seq < skip:
            continue  # done by the run being resumed
        if isinstance(item, RecordError):
            unit.errors.append((seq, item))
        else:
            unit.notes.append((seq, loc, item.model_dump(mode="json")))
            unit_locs[seq] = (loc, item.note_id)
        unit.next_seq = seq + 1
        # errors are cheap: let a unit carry many, but cut it so a file of errors still commits steadily
        if len(unit.notes) >= chunk_size or len(unit.errors) >= 8 * chunk_size:
            submit(unit)
            unit = _Unit(first_seq=seq + 1)
    if unit.notes or unit.errors:
        submit(unit)
    while pending:
        collect(pending.popleft())
    final = {"next_seq": max(seq + 1, skip), "results": results_log.sync(), "errors": errors_log.sync(),
             "input_done": True}
    journal.write((json.dumps(final) + "\n").encode())
    journal.flush()
    os.fsync(journal.fileno())
    journal.close()
    results_log.close()
    errors_log.close()


def _isolate(eng, notes: list) -> list[tuple]:
    """A chunk whose worker died: each note once more on its own; a second death is that note's error."""
    out = []
    for note in notes:
        try:
            out.extend(eng.result(eng.submit([note])))
        except WorkerLost:
            out.append((note[0], "error", "worker_crash",
                        "the worker process died while coding this record, twice; record skipped"))
    return out


# ------------------------------------------------------------------------------------------------
# Finalisation: R-FREQ across each patient's sessions, then the end files, all from results.jsonl


_SEQ = re.compile(r'^\{"seq": (\d+),')


def _session_families(result: dict) -> list[str]:
    from . import spine

    lines = result.get("claim_lines") or []
    if any("R-JUNCTION" in ln.get("rules", []) for ln in lines):
        return [spine.FAMILY_LUMBOSACRAL]  # R-JUNCTION: one lumbar session for R-FREQ
    joints = [lv["joint"] for lv in (result.get("extraction") or {}).get("levels", [])]
    return sorted({spine.family(j) for j in joints})


def _index_sessions(results_path: Path, db: sqlite3.Connection) -> None:
    """Light index of every facet session with a patient id, on disk so memory stays flat."""
    from .schema import FACET_PROCEDURES

    db.execute("CREATE TABLE sessions (patient TEXT, dos TEXT, note_id TEXT, seq INTEGER, family TEXT, "
               "intent TEXT, procedure TEXT, payer TEXT)")
    rows = []
    with open(results_path, encoding="utf-8") as f:
        for line in f:
            if '"patient_id": null' in line:
                continue  # no patient, no history to check: skip the parse
            r = json.loads(line)
            ex = r.get("extraction") or {}
            if not r.get("patient_id") or ex.get("procedure") not in FACET_PROCEDURES:
                continue
            for fam in _session_families(r):
                rows.append((r["patient_id"], r["date_of_service"], r.get("note_id") or "", r["seq"], fam,
                             ex.get("intent"), ex.get("procedure"), r.get("payer")))
            if len(rows) >= 5000:
                db.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?)", rows)
                rows = []
    db.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?)", rows)
    db.execute("CREATE INDEX by_patient ON sessions (patient, dos, note_id, seq)")


def _histories(db: sqlite3.Connection) -> None:
    """For each session with an earlier session of the same patient, region and intent inside the payer's
    window, store its history (every earlier session within the window). Earlier = earlier date of
    service, ties broken by note id (the coding core counts only strictly earlier dates)."""
    from .coding import load_payer_profile

    db.execute("CREATE TABLE affected (seq INTEGER PRIMARY KEY, history TEXT)")

    def flush(patient_rows: list) -> None:
        by_seq: dict[int, list] = {}
        for r in patient_rows:
            by_seq.setdefault(r[3], []).append(r)
        order = sorted(by_seq, key=lambda s: (by_seq[s][0][1], by_seq[s][0][2], s))
        for i, s in enumerate(order):
            mine = by_seq[s]
            profile = load_payer_profile(mine[0][7])
            if not profile.frequency:
                continue
            dos = dt.date.fromisoformat(mine[0][1])
            window = dt.timedelta(days=profile.frequency.window_days)
            earlier = [r for t in order[:i] for r in by_seq[t] if dos - dt.date.fromisoformat(r[1]) <= window]
            fams = {r[4] for r in mine}
            if any(r[4] in fams and r[5] == mine[0][5] for r in earlier):
                history = [{"date_of_service": r[1], "family": r[4], "intent": r[5], "procedure": r[6],
                            "note_id": r[2] or None} for r in earlier]
                db.execute("INSERT INTO affected VALUES (?, ?)", (s, json.dumps(history)))

    current, rows = None, []
    for row in db.execute("SELECT * FROM sessions ORDER BY patient, dos, note_id, seq"):
        if row[0] != current:
            if rows:
                flush(rows)
            current, rows = row[0], []
        rows.append(row)
    if rows:
        flush(rows)


def _apply_frequency(out: Path) -> int:
    """R-FREQ in batch: re-code the notes that have earlier sessions, rewrite results.jsonl atomically.
    Idempotent: coding again from the extraction gives the same lines whether or not it ran before."""
    from .pipeline import recode_with_history
    from .schema import NoteResult, PriorSession

    results_path = out / "results.jsonl"
    db_path = out / STATE_DIR / "sessions.sqlite"
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    try:
        _index_sessions(results_path, db)
        _histories(db)
        n = db.execute("SELECT COUNT(*) FROM affected").fetchone()[0]
        if not n:
            return 0
        affected = db.execute("SELECT seq, history FROM affected ORDER BY seq")
        nxt = affected.fetchone()
        with open(results_path, encoding="utf-8") as src, atomic_file(results_path, "w", encoding="utf-8") as dst:
            for line in src:
                m = _SEQ.match(line)
                seq = int(m.group(1)) if m else -1
                if nxt is not None and seq == nxt[0]:  # both in input order: a merge, no lookup table
                    data = json.loads(line)
                    head = {k: data.pop(k) for k in ("seq", "locator")}
                    result = NoteResult.model_validate(data)
                    history = [PriorSession.model_validate(h) for h in json.loads(nxt[1])]
                    line = _result_line(head["seq"], head["locator"], recode_with_history(result, history)) + "\n"
                    nxt = affected.fetchone()
                dst.write(line)
        return n
    finally:
        db.close()
        db_path.unlink(missing_ok=True)


def _finalise(out: Path, formats: list[str], planned) -> dict:
    recoded = _apply_frequency(out)
    counter = SummaryCounter()
    claims = ClaimsCsv(out / "claims.csv") if "csv" in formats else None
    parquet = ResultsParquet(out / "results.parquet") if "parquet" in formats else None
    ok = False
    try:
        with open(out / "results.jsonl", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                counter.add_result(r)
                if claims:
                    claims.add(r)
                if parquet:
                    parquet.add(r, line.rstrip("\n"))
        ok = True
    finally:
        if claims:
            claims.close(ok)
        if parquet:
            parquet.close(ok)
    errors_path = out / "errors.jsonl"
    if errors_path.exists():
        with open(errors_path, encoding="utf-8") as f:
            for line in f:
                counter.add_error(json.loads(line))
    summary = counter.as_dict()
    summary["r_freq_recoded"] = recoded
    summary["inputs"] = [str(p) for p, _ in planned]
    summary["outputs"] = sorted({p.name for p in out.iterdir() if p.is_file()} | {"summary.json"})
    return summary


__all__ = ["BatchError", "InputFormatError", "Progress", "process_batch", "process_chunk", "ENGINES",
           "OUTPUT_FORMATS"]
