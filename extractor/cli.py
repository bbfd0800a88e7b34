"""The ``facetcoder`` command line: a thin shell over the library calls.

Imports of spaCy and the pipeline happen inside the commands, so ``facetcoder --help`` and
``facetcoder schema`` start fast. Note text is printed only where the user asked to see evidence.
"""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="facetcoder: facet injection and medial branch block notes -> checked claim lines.")


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class Setting(str, Enum):
    office = "office"
    asc = "asc"
    hopd = "hopd"


class Claim(str, Enum):
    professional = "professional"
    facility = "facility"


class NoteFileError(ValueError):
    """A note file cannot be read as text; the message names the file, never its content."""


def _read_note(path: str) -> tuple[str, str]:
    if path == "-":
        return "stdin", sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        raise NoteFileError("no such file")
    try:
        return p.stem, p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise NoteFileError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None


@app.command()
def code(
    notes: list[str] = typer.Argument(..., metavar="NOTE...", help="note text files, or - for standard input"),
    setting: Setting = typer.Option(Setting.office, help="place of service"),
    claim: Claim = typer.Option(Claim.professional, help="professional (physician) or facility claim"),
    payer: str = typer.Option("medicare", help="payer profile (extractor/coding/payers/*.json)"),
    abn: Optional[bool] = typer.Option(None, "--abn/--no-abn", help="signed ABN on file (default: unknown)"),
    date: Optional[str] = typer.Option(None, help="date of service, YYYY-MM-DD (default: today)"),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text for a coder, json for machines"),
) -> None:
    """Code procedure notes: claim lines, edits, gaps and the evidence for each fact."""
    from . import InputError, process_note
    from .report import render_text

    exit_code = 0
    for path in notes:
        # one unreadable or refused note is reported and skipped; the others are still coded
        try:
            note_id, text = _read_note(path)
        except NoteFileError as exc:
            typer.echo(f"{path}: {exc}", err=True)
            exit_code = 2
            continue
        try:
            result = process_note(text, setting=setting.value, claim=claim.value, payer=payer,
                                  abn_on_file=abn, date_of_service=date, note_id=note_id)
        except InputError as exc:
            typer.echo(f"{path}: {exc}", err=True)
            exit_code = 2
            continue
        if fmt is OutputFormat.json:
            typer.echo(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
        else:
            render_text(result, text)
    raise typer.Exit(exit_code)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the one-note result (NoteResult)."""
    from .schema import NoteResult

    typer.echo(json.dumps(NoteResult.model_json_schema(), indent=2))


review_app = typer.Typer(no_args_is_help=True, help="The review store: export corrected notes, agreement figures.")
app.add_typer(review_app, name="review")

_DB_HELP = ("review store: a SQLite file path or a SQLAlchemy URL "
            "(default: $FACETCODER_REVIEW_DB or ~/.facetcoder/reviews.sqlite)")


@review_app.command("export")
def review_export(
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write (annotated_notes/ record format)"),
    db: Optional[str] = typer.Option(None, "--db", help=_DB_HELP),
    split: str = typer.Option("review", help="split written into each record"),
    include_accepted: bool = typer.Option(False, "--include-accepted",
                                          help="also notes accepted without correction"),
) -> None:
    """Write corrected notes as gold records for evaluation and retraining (notes stored without text are
    skipped and counted: a gold record needs its text)."""
    from .review.export import export_reviews
    from .review.store import ReviewStore

    with ReviewStore(db) as store:
        summary = export_reviews(store, out, split=split, include_accepted=include_accepted)
    typer.echo(f"{out}: {summary.describe()}")


@review_app.command("evaluate")
def review_evaluate(
    records: Path = typer.Argument(..., help="JSONL of gold records, e.g. written by `facetcoder review export`"),
    errors: bool = typer.Option(True, "--errors/--no-errors", help="list every disagreement with the gold"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
) -> None:
    """Per-field accuracy of facetcoder on reviewed notes (the `evaluate` figures, on the reviewers' gold)."""
    from .evaluation import print_evaluation
    from .review.export import evaluate_records, read_records

    if not records.is_file():
        raise typer.BadParameter(f"no such file: {records}", param_hint="RECORDS")
    ev = evaluate_records(read_records(records))
    if as_json:
        typer.echo(json.dumps(ev.summary(), indent=2))
    else:
        print_evaluation(ev, records.name, show_errors=errors)


@review_app.command("stats")
def review_stats(
    db: Optional[str] = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
) -> None:
    """Agreement figures: acceptance rate per field, corrections by rule id and by gap element."""
    from .review.agreement import agreement
    from .review.store import ReviewStore

    with ReviewStore(db) as store:
        ag = agreement(store)
    if as_json:
        typer.echo(json.dumps({"reviews": ag.reviews, "accepted": ag.accepted,
                               "acceptance_rate": {r["field"]: r["acceptance rate"] for r in ag.field_rows()},
                               "corrections_by_rule": dict(ag.corrections_by_rule.most_common()),
                               "corrections_by_gap_element": dict(ag.corrections_by_gap_element.most_common())},
                              indent=2))
        return
    typer.echo(f"{ag.reviews} notes reviewed, {ag.accepted} accepted as coded")
    for row in ag.field_rows():
        rate = row["acceptance rate"]
        typer.echo(f"  {row['field']:12} {'—' if rate is None else f'{rate:.1%}':>7}  ({row['corrected']} corrected)")
    for title, counts in (("by rule id", ag.corrections_by_rule), ("by gap element", ag.corrections_by_gap_element)):
        if counts:
            typer.echo(f"corrections {title}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))


train_app = typer.Typer(no_args_is_help=True, help="Rebuild trained artifacts in models/.")
app.add_typer(train_app, name="train")


@train_app.command("gaps")
def train_gaps(out: Optional[Path] = typer.Option(None, help="output folder (default: models/)")) -> None:
    """Rebuild the documentation-gap classifier from annotated_notes/sentences (fixed seed)."""
    import time

    from .gaps.train import train_and_save

    t0 = time.perf_counter()
    model, test = train_and_save(out)
    typer.echo(f"trained gap model {model.version} in {time.perf_counter() - t0:.1f} s; "
               f"test macro F1 {test['macro']['f1']:.3f}")
    for element, figures in test.items():
        if element != "macro":
            typer.echo(f"  {element:24} P {figures['precision']:.3f}  R {figures['recall']:.3f}  "
                       f"F1 {figures['f1']:.3f}")


@app.command()
def evaluate(
    split: str = typer.Option("test", help="train, dev, test or all"),
    errors: bool = typer.Option(True, "--errors/--no-errors", help="list every disagreement with the gold"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    thresholds: bool = typer.Option(False, "--thresholds",
                                    help="also print auto rate and accuracy of auto results per confidence threshold"),
    batch: Optional[str] = typer.Option(None, "--batch",
                                        help="only the notes of one batch file (annotated_notes/batches/NAME.jsonl): "
                                             "how a new practice's notes score before any rule sees them"),
) -> None:
    """Per-field accuracy of facetcoder on the annotated notes, and the list of errors."""
    from .evaluation import (evaluate_gaps, evaluate_split, print_evaluation, print_gap_evaluation,
                             print_threshold_sweep)

    if split not in ("train", "dev", "test", "all"):
        raise typer.BadParameter("choose train, dev, test or all", param_hint="--split")
    ev = evaluate_split(split, batch=batch)
    if batch and not ev.n:
        raise typer.BadParameter(f"no notes of split {split} in annotated_notes/batches/{batch}.jsonl",
                                 param_hint="--batch")
    gaps = evaluate_gaps(split, batch=batch)
    if as_json:
        typer.echo(json.dumps({**ev.summary(), "gaps": gaps}, indent=2))
    else:
        print_evaluation(ev, split, show_errors=errors)
        if thresholds:
            print_threshold_sweep(ev, split)
        print_gap_evaluation(gaps, split)


class _PlainProgress:
    """Progress for logs and pipes: one line every ``every`` seconds (and at the end), on stderr."""

    def __init__(self, every: float):
        self.every = every
        self.last = time.monotonic()

    def __call__(self, p) -> None:
        now = time.monotonic()
        if not p.finished and now - self.last < self.every:
            return
        self.last = now
        eta = f", ETA {_duration(p.eta)}" if p.eta is not None and not p.finished else ""
        state = "done" if p.finished else "batch"
        typer.echo(f"{state}: {p.done + p.skipped:,} records ({p.results:,} results, {p.errors:,} errors"
                   f"{f', {p.skipped:,} from the earlier run' if p.skipped else ''}), {p.rate:.1f} notes/s{eta}",
                   err=True)


class _RichProgress:
    """A progress bar with notes/s and ETA, for a terminal."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("[bold]batch"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TextColumn("{task.fields[records]} records · {task.fields[rate]} notes/s · "
                                            "ETA {task.fields[eta]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=False)
        self.task = None

    def __call__(self, p) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("batch", total=max(p.total_bytes, 1), records="0", rate="0", eta="?")
        self.progress.update(self.task, completed=p.bytes_read, records=f"{p.done + p.skipped:,}",
                             rate=f"{p.rate:.1f}", eta=_duration(p.eta) if p.eta is not None else "?")
        if p.finished:
            self.progress.update(self.task, completed=max(p.total_bytes, 1), eta="0s")
            self.progress.stop()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s")


def _print_summary(summary: dict, out: Path) -> None:
    run = summary.get("run", {})
    typer.echo(f"{summary['records']:,} records: {summary['results']:,} results, {summary['errors']:,} errors; "
               f"{summary['claim_lines']:,} claim lines; {run.get('notes_per_second')} notes/s this run "
               f"({run.get('records_this_run', 0):,} records in {run.get('seconds')} s)")
    for title, key in (("by CPT", "by_cpt"), ("by status", "by_status"), ("by edit", "by_edit"),
                       ("by gap", "by_gap"), ("errors by kind", "errors_by_kind")):
        if summary.get(key):
            typer.echo(f"  {title}: " + ", ".join(f"{k} {v:,}" for k, v in summary[key].items()))
    typer.echo(f"outputs in {out}: {', '.join(summary['outputs'])}")


@app.command()
def batch(
    inputs: list[str] = typer.Argument(..., metavar="INPUT...",
                                       help="CSV, JSONL, FHIR NDJSON (.ndjson) files, .txt files or folders of .txt"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder"),
    workers: Optional[int] = typer.Option(None, help="worker processes (default: the number of cores)"),
    resume: bool = typer.Option(False, "--resume", help="finish an interrupted run in the same --out folder"),
    engine: str = typer.Option("local", help="local (process pool) or dask"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786 "
                                                       "(default: a LocalCluster)"),
    fmt: str = typer.Option("jsonl,csv", "--format", help="outputs: jsonl (always), csv (claims.csv), parquet"),
    input_format: Optional[str] = typer.Option(None, help="txt, csv, jsonl or fhir (default: by extension)"),
    column: list[str] = typer.Option([], help="map a field to an input column/key: FIELD=NAME, e.g. text=body"),
    setting: Optional[str] = typer.Option(None, help="default place of service (office, asc, hopd)"),
    claim: Optional[str] = typer.Option(None, help="default claim type (professional, facility)"),
    payer: Optional[str] = typer.Option(None, help="default payer profile"),
    abn: Optional[bool] = typer.Option(None, "--abn/--no-abn", help="default: signed ABN on file"),
    date: Optional[str] = typer.Option(None, help="default date of service, YYYY-MM-DD (default: today)"),
    chunk_size: int = typer.Option(32, help="notes per worker task"),
    progress_every: float = typer.Option(10.0, help="seconds between progress lines when not on a terminal"),
) -> None:
    """Code many notes into an output folder: results.jsonl, errors.jsonl, claims.csv, summary.json."""
    from .batch import BatchError, process_batch
    from .io.readers import InputFormatError

    columns = {}
    for item in column:
        name, sep, source = item.partition("=")
        if not sep or not name.strip() or not source.strip():
            typer.echo(f"error: --column expects FIELD=NAME, e.g. text=body (got {item!r})", err=True)
            raise typer.Exit(2)
        columns[name.strip()] = source.strip()
    show = _RichProgress() if sys.stderr.isatty() else _PlainProgress(progress_every)
    try:
        summary = process_batch(inputs, out, workers=workers, engine=engine, scheduler=scheduler,
                                formats=fmt.split(","), resume=resume, input_format=input_format, columns=columns,
                                setting=setting, claim=claim, payer=payer, abn_on_file=abn, date_of_service=date,
                                chunk_size=chunk_size, progress=show)
    except (BatchError, InputFormatError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _print_summary(summary, out)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
