"""The review store: reviews and their audit trail in any SQLAlchemy database.

By default a SQLite file (``FACETCODER_REVIEW_DB``, else ``~/.facetcoder/reviews.sqlite``), created on first
use; any SQLAlchemy URL (``postgresql+psycopg://…``) works the same way. A review and its audit rows are
written in ONE transaction, and SQLite runs in WAL mode, so an app killed mid-write leaves either the whole
review or nothing.

Privacy: the note text is stored only when the caller passes ``store_text=True``. Without it the stored
results also lose their quotes (mention and diagnosis text), keeping only labels, codes and spans.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from .corrections import FieldChange, field_changes

ENV_DB = "FACETCODER_REVIEW_DB"


def default_db() -> Path:
    """``~/.facetcoder/reviews.sqlite`` (the home folder read at call time)."""
    return Path.home() / ".facetcoder" / "reviews.sqlite"


class Base(DeclarativeBase):
    pass


class Review(Base):
    """One reviewer's verdict on one note's result: accepted as coded, or corrected."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note_id: Mapped[str] = mapped_column(String(200), index=True)
    locator: Mapped[str | None] = mapped_column(String(1000))
    reviewer: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # accepted | corrected
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    original_json: Mapped[str] = mapped_column(Text)  # the result as facetcoder produced it
    result_json: Mapped[str] = mapped_column(Text)  # the result after correction (= original when accepted)
    facetcoder_version: Mapped[str | None] = mapped_column(String(50))
    ruleset_version: Mapped[str | None] = mapped_column(String(50))
    gap_model_version: Mapped[str | None] = mapped_column(String(50))
    note_text: Mapped[str | None] = mapped_column(Text)  # only when the reviewer chose to store it

    audit_events: Mapped[list[AuditEvent]] = relationship(back_populates="review", order_by="AuditEvent.id")

    @property
    def original(self) -> dict:
        return json.loads(self.original_json)

    @property
    def result(self) -> dict:
        return json.loads(self.result_json)


class AuditEvent(Base):
    """One changed field of a review: who, when, which field, before, after, and the versions that coded it."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    field: Mapped[str] = mapped_column(String(200))  # e.g. claim_lines[0].modifiers, gaps[D-FUNCTION], status
    before_json: Mapped[str] = mapped_column(Text)
    after_json: Mapped[str] = mapped_column(Text)
    facetcoder_version: Mapped[str | None] = mapped_column(String(50))
    ruleset_version: Mapped[str | None] = mapped_column(String(50))
    gap_model_version: Mapped[str | None] = mapped_column(String(50))

    review: Mapped[Review] = relationship(back_populates="audit_events")

    @property
    def before(self) -> Any:
        return json.loads(self.before_json)

    @property
    def after(self) -> Any:
        return json.loads(self.after_json)


def resolve_url(url: str | os.PathLike | None = None) -> str:
    """A SQLAlchemy URL from an explicit URL or path, else ``FACETCODER_REVIEW_DB``, else the default file.
    A plain path means a SQLite file; its folder is created."""
    raw = str(url) if url is not None else os.environ.get(ENV_DB) or str(default_db())
    if "://" in raw:
        return raw
    path = Path(raw).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL: a writer killed mid-transaction leaves the last committed state readable; FULL sync so a
    # committed review survives an OS crash too. busy_timeout lets the app and the CLI share the file.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


ENGINE_LOGGING_NAME = "facetcoder_review"


class _NoRowsInLogs(logging.Filter):
    """SQLAlchemy logs fetched rows at DEBUG ("Row (…)"); a review row can hold note text. Statements are
    kept; their parameters are hidden by ``hide_parameters``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


def _quiet_engine_logger() -> None:
    logger = logging.getLogger(f"sqlalchemy.engine.Engine.{ENGINE_LOGGING_NAME}")
    if not any(isinstance(f, _NoRowsInLogs) for f in logger.filters):
        logger.addFilter(_NoRowsInLogs())


def redact_quotes(result: dict) -> dict:
    """The result without the note's words: mention and diagnosis quotes blanked, spans and labels kept."""
    out = copy.deepcopy(result)
    ex = out.get("extraction", {})
    for m in ex.get("mentions", []):
        m["text"] = ""
    for d in ex.get("diagnoses", []):
        d["text"] = ""
    return out


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@dataclass(frozen=True)
class SavedReview:
    review_id: int
    status: str
    changes: list[FieldChange]


class ReviewStore:
    """Reviews and audit events in the database at ``url`` (see ``resolve_url``)."""

    def __init__(self, url: str | os.PathLike | None = None, *, echo: bool = False) -> None:
        self.url = resolve_url(url)
        _quiet_engine_logger()
        # Privacy: statement parameters (note text, results) never reach logs or exception messages.
        self.engine: Engine = create_engine(self.url, echo=echo, hide_parameters=True,
                                            logging_name=ENGINE_LOGGING_NAME)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def location(self) -> str:
        """The URL without a password, for display."""
        return self.engine.url.render_as_string(hide_password=True)

    def save_review(self, original: dict, corrected: dict | None = None, *, reviewer: str,
                    note_id: str | None = None, locator: str | None = None, note_text: str | None = None,
                    store_text: bool = False, previous_status: str | None = None) -> SavedReview:
        """Store one review and its audit rows in one transaction.

        ``corrected`` None (or equal to ``original`` in every reviewed field) records an acceptance. Every
        review gets a ``status`` audit row (before: the queue status or None, after: accepted/corrected),
        then one row per changed field."""
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise ValueError("a review needs the reviewer's name")
        corrected = original if corrected is None else corrected
        changes = field_changes(original, corrected)
        status = "corrected" if changes else "accepted"
        key = note_id or original.get("note_id") or locator
        if not key:
            raise ValueError("a review needs a note id or a locator")
        versions = original.get("versions") or {}
        now = dt.datetime.now(dt.timezone.utc)
        keep = (lambda r: r) if store_text else redact_quotes
        review = Review(note_id=str(key), locator=locator, reviewer=reviewer, status=status, created_at=now,
                        original_json=_dump(keep(original)), result_json=_dump(keep(corrected)),
                        facetcoder_version=versions.get("facetcoder"), ruleset_version=versions.get("ruleset"),
                        gap_model_version=versions.get("gap_model"),
                        note_text=note_text if store_text else None)
        rows = [FieldChange("status", previous_status, status), *changes]
        for ch in rows:
            review.audit_events.append(AuditEvent(
                reviewer=reviewer, created_at=now, field=ch.field, before_json=_dump(ch.before),
                after_json=_dump(ch.after), facetcoder_version=review.facetcoder_version,
                ruleset_version=review.ruleset_version, gap_model_version=review.gap_model_version))
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(review)
        return SavedReview(review.id, status, changes)

    def reviews(self, note_id: str | None = None) -> list[Review]:
        """All reviews, oldest first (optionally of one note), with their audit events loaded."""
        with Session(self.engine, expire_on_commit=False) as session:
            stmt = select(Review).order_by(Review.id)
            if note_id is not None:
                stmt = stmt.where(Review.note_id == note_id)
            found = list(session.scalars(stmt))
            for r in found:
                _ = r.audit_events  # load before the session closes
            return found

    def latest_reviews(self) -> list[Review]:
        """The latest review of each note: a later review of the same note supersedes the earlier ones."""
        latest: dict[str, Review] = {}
        for r in self.reviews():
            latest[r.note_id] = r
        return list(latest.values())

    def audit_events(self, review_id: int | None = None) -> list[AuditEvent]:
        with Session(self.engine, expire_on_commit=False) as session:
            stmt = select(AuditEvent).order_by(AuditEvent.id)
            if review_id is not None:
                stmt = stmt.where(AuditEvent.review_id == review_id)
            return list(session.scalars(stmt))

    def reviewed_status(self) -> dict[str, str]:
        """note id -> status of its latest review (two columns only: the queue asks on every page)."""
        with Session(self.engine) as session:
            rows = session.execute(select(Review.note_id, Review.status).order_by(Review.id))
            return {note_id: status for note_id, status in rows}
