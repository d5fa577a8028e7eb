"""The other sources of one run: a feed's [trials] (ClinicalTrials.gov) and [preprints]
(Europe PMC), fetched after PubMed and stored the same way — one transaction per page, each
record stored once, linked to the feed and to the other records of its study.

Each source keeps its own watermark (``feed_source``): the next run asks only for what was
updated (trials: LastUpdatePostDate) or indexed (preprints: FIRST_IDATE) since then, minus the
feed's overlap. Watermarks move in the run's final transaction, so a failed run asks again;
a source that fails alone leaves the run standing and only its own watermark behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.feeds import Feed
from monitor.records import Article
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, FeedSource, TrialRow, utcnow

log = logging.getLogger("litmon.sources")


@dataclass
class SourceCounts:
    found: int = 0
    new: int = 0
    updated: int = 0
    linked: int = 0
    requests: int = 0
    error: str | None = None  # the source failed: its watermark stays, the next run asks again

    def text(self, name: str) -> str:
        if self.error is not None:
            return f"{name} FAILED ({self.error}); asked again next run"
        return (f"{name}: {self.found} found, {self.new} new, {self.updated} updated, "
                f"{self.linked} added to the feed")


def clients_from_settings(settings: Settings) -> dict[str, Any]:
    from monitor.sources.europepmc import EuropePmcClient
    from monitor.sources.trials import TrialsClient

    common = {"read_timeout": settings.http_timeout, "deadline": settings.http_deadline,
              "max_attempts": settings.http_max_attempts, "backoff_base": settings.http_backoff}
    return {"trials": TrialsClient(settings.ctgov_url, **common),
            "preprints": EuropePmcClient(settings.europepmc_url, **common)}


def watermark(session: Any, feed_id: int, source: str) -> date | None:
    row = session.get(FeedSource, (feed_id, source))
    return row.watermark if row is not None else None


def advance(session: Any, feed_id: int, sources: Sequence[str], today: date) -> None:
    """Move each source's watermark to ``today`` (in the run's final transaction)."""
    now = utcnow()
    for source in sources:
        repo.insert_ignore(session, FeedSource, [{"feed_id": feed_id, "source": source,
                                                  "watermark": None, "last_success_at": None}])
        row = session.get(FeedSource, (feed_id, source))
        row.watermark = max(row.watermark or today, today)
        row.last_success_at = now
        session.add(row)


def fetch_other_sources(engine: Engine, settings: Settings, feed: Feed, feed_id: int, run_id: int,
                        classify: Callable[[Article, float], Any], *, today: date,
                        clients: dict[str, Any] | None = None) -> dict[str, SourceCounts]:
    """Fetch and store the feed's trials and preprints.

    A source that fails does not fail the run: PubMed's part (already stored) still counts,
    its digest still opens. The failed source's counts carry the error, its watermark stays
    where it was (``advance`` is given only the sources that succeeded), so the next run asks
    it for the same period again; pages it stored before failing are kept, each whole.
    """
    if feed.trials is None and feed.preprints is None:
        return {}
    clients = clients if clients is not None else clients_from_settings(settings)
    done: dict[str, SourceCounts] = {}
    if feed.trials is not None:
        done["trials"] = _guarded("trials", feed, lambda: _trials(
            engine, settings, feed, feed_id, run_id, clients["trials"], today))
    if feed.preprints is not None:
        done["preprints"] = _guarded("preprints", feed, lambda: _preprints(
            engine, settings, feed, feed_id, run_id, clients["preprints"], classify, today))
    return done


def _guarded(name: str, feed: Feed, fetch: Callable[[], SourceCounts]) -> SourceCounts:
    try:
        return fetch()
    except Exception as exc:  # noqa: BLE001 - recorded on the run, asked again next time
        error = f"{type(exc).__name__}: {exc}"
        log.warning("source failed; PubMed's part of the run stands",
                    extra={"feed": feed.name, "source": name, "error": error})
        return SourceCounts(error=error)


def _since(engine: Engine, settings: Settings, feed_id: int, source: str) -> date | None:
    with session_scope(engine) as session:
        wm = watermark(session, feed_id, source)
    return wm - timedelta(days=settings.overlap_days) if wm is not None else None


def _trials(engine: Engine, settings: Settings, feed: Feed, feed_id: int, run_id: int,
            client: Any, today: date) -> SourceCounts:
    from monitor.sources.trials import judge_trial, trial_article
    from monitor.studies import link_records

    assert feed.trials is not None
    counts = SourceCounts()
    before = getattr(client, "requests_sent", 0)
    pages = client.search(condition=feed.trials.condition or None,
                          intervention=feed.trials.intervention or None,
                          term=feed.trials.term or None,
                          updated_since=_since(engine, settings, feed_id, "trials"))
    for trials in pages:
        trials = list({t.nct_id: t for t in trials}.values())
        counts.found += len(trials)
        if not trials:
            continue
        with session_scope(engine) as session:
            new, changed = _store_trials(session, trials)
            articles = [trial_article(t) for t in trials]
            repo.upsert_articles(session, articles)
            ids = [t.nct_id for t in trials]
            _set_source(session, ids, "trial")
            for t in trials:
                if t.nct_id in new or t.nct_id in changed or not _judged(session, t.nct_id, feed):
                    repo.save_classification(session, t.nct_id,
                                             judge_trial(t, feed.long_term_threshold_weeks))
            counts.linked += repo.link_to_feed(session, feed_id, ids, run_id)
            link_records(session, ids)
        counts.new += len(new)
        counts.updated += len(changed)
    counts.requests = getattr(client, "requests_sent", 0) - before
    return counts


def _store_trials(session: Any, trials: list[Any]) -> tuple[set[str], set[str]]:
    existing = dict(session.execute(
        select(TrialRow.nct_id, TrialRow.record_hash).where(TrialRow.nct_id.in_([t.nct_id for t in trials]))  # type: ignore[attr-defined]
    ).all())
    new: set[str] = set()
    changed: set[str] = set()
    now = utcnow()
    for t in trials:
        values = {
            "title": t.title, "status": t.status, "start_date": t.start_date,
            "primary_completion_date": t.primary_completion_date, "completion_date": t.completion_date,
            "first_posted": t.first_posted, "last_update_posted": t.last_update_posted,
            "enrollment": t.enrollment, "enrollment_type": t.enrollment_type,
            "has_results": t.has_results, "outcomes": t.outcomes_json(),
            "reference_pmids": list(t.reference_pmids), "record": t.raw,
            "record_hash": t.record_hash, "updated_at": now,
        }
        if t.nct_id not in existing:
            if repo.insert_ignore(session, TrialRow, [{"nct_id": t.nct_id, "created_at": now, **values}]):
                new.add(t.nct_id)
        elif existing[t.nct_id] != t.record_hash:
            session.execute(update(TrialRow).where(TrialRow.nct_id == t.nct_id).values(**values))  # type: ignore[arg-type]
            changed.add(t.nct_id)
    return new, changed


def _set_source(session: Any, ids: list[str], source: str) -> None:
    session.execute(update(ArticleRow).where(ArticleRow.pmid.in_(ids), ArticleRow.source != source)  # type: ignore[attr-defined]
                    .values(source=source))


def _judged(session: Any, record_id: str, feed: Feed) -> bool:
    return repo.classification_for(session, record_id, feed.long_term_threshold_weeks) is not None


def _preprints(engine: Engine, settings: Settings, feed: Feed, feed_id: int, run_id: int,
               client: Any, classify: Callable[[Article, float], Any], today: date) -> SourceCounts:
    from monitor.studies import link_records

    assert feed.preprints is not None
    counts = SourceCounts()
    before = getattr(client, "requests_sent", 0)
    since = _since(engine, settings, feed_id, "preprints")
    for articles in client.preprints(feed.preprints.query, since=since, until=today if since else None):
        articles = list({a.pmid: a for a in articles}.values())
        counts.found += len(articles)
        if not articles:
            continue
        with session_scope(engine) as session:
            upserted = repo.upsert_articles(session, articles)
            ids = [a.pmid for a in articles]
            _set_source(session, ids, "preprint")
            for a in articles:
                if a.pmid in upserted.changed or not _judged(session, a.pmid, feed):
                    repo.save_classification(session, a.pmid, classify(a, feed.long_term_threshold_weeks))
            counts.linked += repo.link_to_feed(session, feed_id, ids, run_id)
            link_records(session, ids)
        counts.new += len(upserted.new)
        counts.updated += len(upserted.updated)
    counts.requests = getattr(client, "requests_sent", 0) - before
    return counts
