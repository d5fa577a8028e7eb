"""Re-check stored PubMed records for corrections, retractions and deletions.

A study announced last month may be retracted today; PubMed then adds a CommentsCorrections
``RetractionIn`` (or ``ErratumIn``, ``ExpressionOfConcernIn``) to the record, or lists the
PMID in ``DeleteCitation``. A re-check fetches the stored records again by PMID, in batches,
stores the revised records (reports then show the notice), and marks every record that became
retracted, noticed or deleted as *newly flagged*: ``article.flagged_at`` and, for each feed that
already announced it, ``feed_article.flag_pending`` — the next digest of that feed lists it in
its own section and clears the flag in the same transaction that opens the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine

from monitor.records import ParsedBatch
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, FeedArticle, FeedRow, utcnow

log = logging.getLogger("litmon.recheck")


class FetchById(Protocol):
    def fetch(self, pmids: list[str]) -> ParsedBatch: ...


@dataclass
class RecheckSummary:
    checked: int = 0
    revised: int = 0
    flagged: list[str] = field(default_factory=list)  # newly retracted / noticed / deleted
    missing: list[str] = field(default_factory=list)  # neither returned nor listed as deleted

    def text(self) -> str:
        text = (f"re-checked {self.checked} PubMed records: {self.revised} revised, "
                f"{len(self.flagged)} newly flagged")
        if self.flagged:
            text += " (" + ", ".join(self.flagged[:20]) + (", ..." if len(self.flagged) > 20 else "") + ")"
        if self.missing:
            text += f"; {len(self.missing)} not returned by EFetch"
        return text


def due_pmids(session: Any, *, feed_names: Sequence[str] | None, older_than: datetime) -> list[str]:
    """PubMed records not checked since ``older_than`` (never-checked ones by their age)."""
    q = select(ArticleRow.pmid).where(
        ArticleRow.source == "pubmed",  # type: ignore[arg-type]
        ArticleRow.deleted.is_(False),  # type: ignore[attr-defined]
        or_(ArticleRow.checked_at < older_than,  # type: ignore[operator]
            and_(ArticleRow.checked_at.is_(None), ArticleRow.created_at <= older_than)),  # type: ignore[union-attr]
    )
    if feed_names is not None:
        q = q.where(ArticleRow.pmid.in_(  # type: ignore[attr-defined]
            select(FeedArticle.pmid).join(FeedRow, FeedRow.id == FeedArticle.feed_id)  # type: ignore[arg-type]
            .where(FeedRow.name.in_(list(feed_names)))  # type: ignore[attr-defined]
        ))
    return list(session.execute(q.order_by(ArticleRow.pmid)).scalars())


def recheck(engine: Engine, source: FetchById, *, feed_names: Sequence[str] | None = None,
            older_than_days: float = 0, batch_size: int = 200,
            now: datetime | None = None) -> RecheckSummary:
    """Fetch due PubMed records again and flag new retractions, notices and deletions."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = now - timedelta(days=older_than_days)
    with session_scope(engine) as session:
        pmids = due_pmids(session, feed_names=feed_names, older_than=cutoff)
    summary = RecheckSummary()
    for i in range(0, len(pmids), batch_size):
        batch = pmids[i : i + batch_size]
        parsed = source.fetch(batch)
        with session_scope(engine) as session:
            _store_batch(session, batch, parsed, now, summary)
        summary.checked += len(batch)
    log.info("re-check done", extra={"checked": summary.checked, "revised": summary.revised,
                                     "flagged": len(summary.flagged)})
    return summary


def _store_batch(session: Any, batch: list[str], parsed: ParsedBatch, now: datetime,
                 summary: RecheckSummary) -> None:
    before = {pmid: (retracted, notice, deleted) for pmid, retracted, notice, deleted in session.execute(
        select(ArticleRow.pmid, ArticleRow.retracted, ArticleRow.has_notice, ArticleRow.deleted)
        .where(ArticleRow.pmid.in_(batch))  # type: ignore[attr-defined]
    )}
    upserted = repo.upsert_articles(session, list(parsed.articles))
    summary.revised += len(upserted.updated)
    flagged: list[str] = []
    for article in parsed.articles:
        was = before.get(article.pmid)
        if was is None:
            continue
        if (article.is_retracted and not was[0]) or (bool(article.corrections) and not was[1]):
            flagged.append(article.pmid)
    deleted = [p for p in parsed.deleted_pmids if p in before and not before[p][2]]
    repo.mark_deleted(session, deleted)
    flagged.extend(deleted)
    returned = {a.pmid for a in parsed.articles} | set(parsed.deleted_pmids)
    summary.missing.extend(p for p in batch if p not in returned)
    session.execute(update(ArticleRow).where(ArticleRow.pmid.in_(batch))  # type: ignore[attr-defined]
                    .values(checked_at=now))
    if flagged:
        session.execute(update(ArticleRow).where(ArticleRow.pmid.in_(flagged))  # type: ignore[attr-defined]
                        .values(flagged_at=now, updated_at=utcnow()))
        # Only where a digest already announced it: an unannounced article goes out as new
        # anyway, with its notice shown, and must not appear twice.
        session.execute(update(FeedArticle).where(
            FeedArticle.pmid.in_(flagged),  # type: ignore[attr-defined]
            FeedArticle.digest_id.is_not(None),  # type: ignore[union-attr]
        ).values(flag_pending=True))
        summary.flagged.extend(flagged)
