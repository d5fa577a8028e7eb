"""The database tables (SQLModel). Times are timezone-aware UTC (SQLModel refuses naive ones).

Changing a table means a new Alembic migration in ``migrations/versions``; a test checks that
the migrations and these models agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, MetaData, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

# Stable constraint names: Alembic's batch mode on SQLite needs them to alter tables.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


class FeedRow(SQLModel, table=True):
    __tablename__ = "feed"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=63)
    title: str = ""
    query: str = Field(sa_column=Column(Text, nullable=False))
    # Entry dates up to and including this day were searched by a run that succeeded.
    watermark: date | None = None
    last_success_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Run(SQLModel, table=True):
    __tablename__ = "run"
    __table_args__ = (Index("ix_run_feed_started", "feed_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id")
    trigger: str = "manual"  # manual | schedule | catch-up
    period: str | None = None  # the schedule slot this run belongs to (ISO, UTC)
    status: str = "running"  # running | succeeded | failed | interrupted (monitor.interrupted)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    window_start: date | None = None
    window_end: date | None = None
    found: int = 0  # PMIDs the search returned
    fetched: int = 0  # records fetched from PubMed
    new: int = 0  # articles stored for the first time
    updated: int = 0  # stored articles replaced by a newer version or revision
    linked: int = 0  # articles newly linked to this feed
    deleted: int = 0  # PMIDs PubMed listed as deleted
    requests: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    holder: str | None = None  # host:pid that ran it


class ArticleRow(SQLModel, table=True):
    __tablename__ = "article"

    pmid: str = Field(primary_key=True, max_length=20)
    version: int = 1
    title: str = Field(default="", sa_column=Column(Text, nullable=False))  # plain text
    journal: str | None = None
    pub_year: int | None = Field(default=None, index=True)
    pub_date_text: str | None = None
    entrez_date: date | None = None
    doi: str | None = Field(default=None, index=True)
    pmcid: str | None = Field(default=None, index=True)  # study linking looks records up by it
    status: str | None = None
    retracted: bool = False
    has_notice: bool = False  # erratum, expression of concern, retraction...
    deleted: bool = False  # PubMed listed the PMID in DeleteCitation
    # Where the record came from: pubmed | preprint (Europe PMC, key PPR...) | trial
    # (ClinicalTrials.gov, key NCT...) | import (a hand-made RIS entry without a PMID). Indexed:
    # study linking reads the few non-PubMed records once per stored batch.
    source: str = Field(default="pubmed", max_length=16, index=True,
                        sa_column_kwargs={"server_default": text("'pubmed'")})
    checked_at: datetime | None = None  # last re-check against PubMed (corrections, retractions)
    flagged_at: datetime | None = None  # when a re-check found a new retraction/notice/deletion
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # Article.to_json()
    record_hash: str = Field(max_length=64)  # sha256 of the canonical record JSON
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Classification(SQLModel, table=True):
    __tablename__ = "classification"
    __table_args__ = (UniqueConstraint("pmid", "threshold_weeks"),)

    id: int | None = Field(default=None, primary_key=True)
    pmid: str = Field(foreign_key="article.pmid", index=True, max_length=20)
    threshold_weeks: float = 26.0
    version: str = Field(max_length=32)
    long_term: str = Field(max_length=16)  # yes | no | unclear
    longest_followup_weeks: float | None = None
    evidence: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    design: str | None = None
    sample_size: int | None = None
    relevance: str | None = None
    outcome_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    registry_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    classified_at: datetime = Field(default_factory=utcnow)


class FeedArticle(SQLModel, table=True):
    __tablename__ = "feed_article"
    __table_args__ = (Index("ix_feed_article_digest", "feed_id", "digest_id"),)

    feed_id: int = Field(foreign_key="feed.id", primary_key=True)
    pmid: str = Field(foreign_key="article.pmid", primary_key=True, max_length=20)
    first_seen_at: datetime = Field(default_factory=utcnow)
    first_run_id: int | None = Field(default=None, foreign_key="run.id")
    # The digest that announced this article to the feed's readers; NULL until one does.
    digest_id: int | None = Field(default=None, foreign_key="digest.id")
    # A re-check found a new retraction/notice after the article was linked: the next digest
    # lists it again, flagged (flag_pending), and records itself in flag_digest_id.
    flag_pending: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    flag_digest_id: int | None = Field(default=None, foreign_key="digest.id")


class Digest(SQLModel, table=True):
    """The outbox: one row per (feed, period), created before anything is sent."""

    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("feed_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id")
    period: str = Field(max_length=40)  # the schedule slot, ISO UTC
    run_id: int | None = Field(default=None, foreign_key="run.id")
    status: str = Field(default="pending", index=True)  # pending | sending | sent | failed | skipped
    message_id: str = Field(unique=True, max_length=255)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    item_count: int = 0
    long_term_count: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class DigestRecipient(SQLModel, table=True):
    __tablename__ = "digest_recipient"

    digest_id: int = Field(foreign_key="digest.id", primary_key=True)
    address: str = Field(primary_key=True, max_length=320)
    status: str = "pending"  # pending | sent | refused | failed
    smtp_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(default_factory=utcnow)


class WorkClaim(SQLModel, table=True):
    """A unit of scheduled work claimed by one process (unique insert wins)."""

    __tablename__ = "work_claim"

    kind: str = Field(primary_key=True, max_length=32)  # run | report | ...
    key: str = Field(primary_key=True, max_length=200)  # e.g. "wbc-ms@2026-11-25T06:00Z"
    holder: str = Field(max_length=200)
    state: str = "claimed"  # claimed | done | failed
    claimed_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    finished_at: datetime | None = None


class Lease(SQLModel, table=True):
    """The scheduler lease: one active `litmon serve` per database."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow)


class Heartbeat(SQLModel, table=True):
    __tablename__ = "heartbeat"

    holder: str = Field(primary_key=True, max_length=200)
    role: str = "standby"  # active | standby
    beat_at: datetime = Field(default_factory=utcnow)
    started_at: datetime = Field(default_factory=utcnow)


class ReportRow(SQLModel, table=True):
    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("feed_id", "week"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id")
    week: str = Field(max_length=10)  # ISO week, e.g. 2026-W48
    path: str
    item_count: int = 0
    written_at: datetime = Field(default_factory=utcnow)


class TrialRow(SQLModel, table=True):
    """A ClinicalTrials.gov registration as last seen (API v2). Its article row (key = NCT id,
    source "trial") is what feeds, digests and reports show; this keeps the registry facts."""

    __tablename__ = "trial"

    nct_id: str = Field(primary_key=True, max_length=20)
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str | None = None  # overallStatus: RECRUITING, COMPLETED, ...
    start_date: str | None = None  # as registered: "2024-03" or "2024-03-15"
    primary_completion_date: str | None = None
    completion_date: str | None = None
    first_posted: str | None = None
    last_update_posted: str | None = Field(default=None, index=True)
    enrollment: int | None = None
    enrollment_type: str | None = None  # ESTIMATED | ACTUAL
    has_results: bool = False
    # [{"kind": "primary"|"secondary"|"other", "measure", "time_frame", "description"}]
    outcomes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reference_pmids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the study JSON
    record_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class StudyLink(SQLModel, table=True):
    """Records that are one study share a study_id (the id of the group's first record)."""

    __tablename__ = "study_link"

    record_id: str = Field(foreign_key="article.pmid", primary_key=True, max_length=20)
    study_id: str = Field(index=True, max_length=20)
    linked_by: str | None = None  # doi | pmid | pmcid | registry | preprint | title
    linked_at: datetime = Field(default_factory=utcnow)


class FeedSource(SQLModel, table=True):
    """Per feed and outside source (trials, preprints): how far a successful run has looked."""

    __tablename__ = "feed_source"

    feed_id: int = Field(foreign_key="feed.id", primary_key=True)
    source: str = Field(primary_key=True, max_length=16)  # trials | preprints
    watermark: date | None = None
    last_success_at: datetime | None = None
