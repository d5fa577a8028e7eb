"""One run of one feed, start to finish.

search the window → fetch only PMIDs not stored yet, in batches → classify → store, one
transaction per batch → link, record the run, advance the watermark and open the digest in one
last transaction. While a batch is classified and stored, the next one is fetched in a
background thread (one batch ahead at most; ``_FetchAhead``), so a backfill waits for NCBI's
3 requests/s or for its own work, not for the sum of both.

The watermark moves only when every step succeeded; a failed run records its error and leaves
it where it was, so the next run searches the same window again. A failed trials/preprints
source does not fail the run: it keeps its own watermark and is asked again next run.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.feeds import Feed
from monitor.interrupted import mark_interrupted
from monitor.progress import NoProgress, Progress
from monitor.records import Article, ParsedBatch
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import FeedRow, Run, utcnow

log = logging.getLogger("litmon.run")


class PubMedSource(Protocol):
    """What a run needs from PubMed; EutilsClient is the real one."""

    def search(self, term: str, mindate: date, maxdate: date) -> list[Any]: ...
    def fetch(self, pmids: list[str]) -> ParsedBatch: ...


@dataclass
class RunReport:
    feed: str
    run_id: int
    status: str
    window_start: date
    window_end: date
    period: str
    found: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    linked: int = 0
    deleted: int = 0
    requests: int = 0  # HTTP requests to E-utilities, retries included
    missing: list[str] = field(default_factory=list)  # PMIDs the search gave but EFetch did not
    error: str | None = None
    digest_id: int | None = None
    known: list[str] = field(default_factory=list, repr=False)  # found and already stored
    # The feed's other sources ([trials], [preprints]): name -> monitor.sources.run.SourceCounts
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def source_errors(self) -> str | None:
        """'trials: <error>' for each other source that failed in a run that stands."""
        failed = [f"{name}: {c.error}" for name, c in self.other.items() if c.error is not None]
        return "; ".join(failed) or None

    def summary(self) -> str:
        window = f"{self.window_start:%Y-%m-%d}..{self.window_end:%Y-%m-%d}"
        if not self.ok:
            return f"{self.feed}: run {self.run_id} FAILED ({window}): {self.error}"
        text = (f"{self.feed}: run {self.run_id} ok ({window}): {self.found} found, "
                f"{self.fetched} fetched, {self.new} new, {self.updated} updated, "
                f"{self.linked} added to the feed; E-utilities requests: {self.requests}")
        if self.deleted:
            text += f", {self.deleted} deleted by PubMed"
        if self.missing:
            text += f", {len(self.missing)} not returned by EFetch"
        for name, counts in self.other.items():
            text += f"; {counts.text(name)}"
        return text


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def format_period(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def search_window(settings: Settings, feed_row: FeedRow, today: date, since: date | None) -> tuple[date, date]:
    if since is not None:
        start = since
    elif feed_row.watermark is not None:
        # Records can appear in PubMed with an entry date a few days in the past; look back.
        start = feed_row.watermark - timedelta(days=settings.overlap_days)
    else:
        start = settings.lookback_start
    return min(start, today), today


def run_feed(
    engine: Engine,
    settings: Settings,
    feed: Feed,
    source: PubMedSource,
    *,
    since: date | None = None,
    now: datetime | None = None,
    trigger: str = "manual",
    progress: Callable[[str, int], Progress] | None = None,
    classify: Callable[[Article, float], Any] | None = None,
    other_sources: dict[str, Any] | None = None,
) -> RunReport:
    """Run ``feed`` once. Never raises for PubMed or data errors: they end in a failed run."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    # Runs whose process died (kill -9, OOM) stop showing as "running", also where litmon only
    # runs from cron (monitor/interrupted.py: marked only when the process is certainly gone).
    mark_interrupted(engine, lease_seconds=settings.lease_seconds, now=now)
    classify = classify or _default_classifier()
    period = format_period(feed.period_for(now))
    with session_scope(engine) as session:
        feed_row = repo.ensure_feed(session, feed.name, feed.display_title, feed.query)
        start, end = search_window(settings, feed_row, now.date(), since)
        run = Run(feed_id=feed_row.id, trigger=trigger, period=period, window_start=start,
                  window_end=end, holder=holder_id(), started_at=utcnow())
        session.add(run)
        session.flush()
        run_id, feed_id = run.id, feed_row.id
    assert run_id is not None and feed_id is not None
    report = RunReport(feed=feed.name, run_id=run_id, status="running", window_start=start,
                       window_end=end, period=period)
    requests_before = getattr(source, "requests_sent", 0)
    log.info("run started", extra={"feed": feed.name, "run_id": run_id,
                                   "window": f"{start}..{end}", "trigger": trigger})
    try:
        _fetch_and_store(engine, settings, feed, feed_id, run_id, source, report, classify, progress)
        report.requests = getattr(source, "requests_sent", 0) - requests_before
        from monitor.sources.run import fetch_other_sources

        report.other = fetch_other_sources(engine, settings, feed, feed_id, run_id, classify,
                                           today=now.date(), clients=other_sources)
        with session_scope(engine) as session:
            _finish_success(session, feed, feed_id, run_id, report, classify, now)
        report.status = "succeeded"
        log.info("run succeeded", extra={"feed": feed.name, "run_id": run_id, "found": report.found,
                                         "new": report.new, "updated": report.updated,
                                         "linked": report.linked})
    except Exception as exc:  # noqa: BLE001 - every failure must end as a recorded failed run
        report.requests = getattr(source, "requests_sent", 0) - requests_before
        report.status = "failed"
        report.error = f"{type(exc).__name__}: {exc}"
        log.error("run failed", extra={"feed": feed.name, "run_id": run_id, "error": report.error})
        with session_scope(engine) as session:
            run_row = session.get(Run, run_id)
            if run_row is not None:
                _copy_counts(run_row, report)
                run_row.status, run_row.error, run_row.finished_at = "failed", report.error, utcnow()
                session.add(run_row)
    return report


def _default_classifier() -> Callable[[Article, float], Any]:
    from monitor.classify import classify_article

    return lambda article, threshold: classify_article(article, threshold_weeks=threshold)


def _fetch_and_store(
    engine: Engine,
    settings: Settings,
    feed: Feed,
    feed_id: int,
    run_id: int,
    source: PubMedSource,
    report: RunReport,
    classify: Callable[[Article, float], Any],
    progress: Callable[[str, int], Progress] | None,
) -> None:
    results = source.search(feed.query, report.window_start, report.window_end)
    pmids: list[str] = list(dict.fromkeys(p for r in results for p in r.pmids))
    report.found = len(pmids)
    with session_scope(engine) as session:
        known = repo.stored_pmids(session, pmids)
    missing = [p for p in pmids if p not in known]
    del results, pmids
    bar = progress(f"{feed.name}: fetching", len(missing)) if progress and missing else NoProgress()
    batch_size = settings.fetch_batch_size
    batches = [missing[i : i + batch_size] for i in range(0, len(missing), batch_size)]
    with _FetchAhead(source, batches) as fetched:
        for batch, parsed in fetched:
            _store_batch(engine, feed, feed_id, run_id, batch, parsed, report, classify)
            del parsed
            bar.advance(len(batch))
    if report.missing:
        log.warning("EFetch did not return every PMID the search found",
                    extra={"feed": feed.name, "run_id": run_id, "missing": len(report.missing),
                           "pmids": ",".join(report.missing[:20])})
    report.known = sorted(known)


def _store_batch(engine: Engine, feed: Feed, feed_id: int, run_id: int, batch: list[str],
                 parsed: ParsedBatch, report: RunReport,
                 classify: Callable[[Article, float], Any]) -> None:
    """Classify one fetched batch and store it in one transaction."""
    results = [classify(a, feed.long_term_threshold_weeks) for a in parsed.articles]
    returned = {a.pmid for a in parsed.articles}
    with session_scope(engine) as session:
        stored = store_parsed(session, feed_id, run_id, parsed, results)
    report.fetched += len(parsed.articles)
    report.new += len(stored.new)
    report.updated += len(stored.updated)
    report.linked += stored.linked
    report.deleted += stored.deleted
    report.missing.extend(p for p in batch if p not in returned and p not in parsed.deleted_pmids)


@dataclass
class StoredBatch:
    new: list[str]
    updated: list[str]
    linked: int  # feed links made
    deleted: int  # records marked deleted


def store_parsed(session: Any, feed_id: int, run_id: int | None, parsed: ParsedBatch,
                 results: Sequence[Any]) -> StoredBatch:
    """Everything a run writes for one fetched batch, inside the caller's transaction: the
    records (new or revised), their judgements, the feed's links, PubMed's deletions and the
    study links. ``results``: the judgement of each of ``parsed.articles``, in order.
    (benchmarks/bench_pipeline.py times this very function as its "store" stage.)"""
    from monitor.studies import link_records

    articles = parsed.articles
    returned = sorted({a.pmid for a in articles})
    upserted = repo.upsert_articles(session, articles)
    repo.save_classifications(session, [(a.pmid, r) for a, r in zip(articles, results, strict=True)])
    linked = repo.link_to_feed(session, feed_id, returned, run_id)
    deleted = repo.mark_deleted(session, list(parsed.deleted_pmids))
    link_records(session, returned)
    return StoredBatch(upserted.new, upserted.updated, linked, deleted)


class _FetchAhead:
    """The batches' EFetch results in order, each fetched while the one before is stored.

    One background thread fetches one batch ahead: at most two batches are in memory (the one
    being stored and the next). Requests keep the client's process-wide pacing (3/s, retries
    included), whichever thread sends them. A failed fetch raises from the iteration at that
    batch, after every batch before it was stored — as a fetch in line would. On leaving the
    ``with`` block (done, an error, a stop request) the fetch still running is cancelled
    between attempts (``EutilsClient.fetch(cancel=...)``), the thread is joined, and whatever
    it fetched is dropped: it never outlives the run and never stores anything.
    """

    def __init__(self, source: PubMedSource, batches: list[list[str]]) -> None:
        self._batches = batches
        self._cancel = threading.Event()
        self._fetch = _fetch_function(source, self._cancel)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Iterator[tuple[list[str], ParsedBatch]]:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litmon-fetch-ahead")
        return self._iterate(self._pool)

    def __exit__(self, *exc_info: object) -> None:
        self._cancel.set()
        assert self._pool is not None
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _iterate(self, pool: ThreadPoolExecutor) -> Iterator[tuple[list[str], ParsedBatch]]:
        batches = self._batches
        ahead: Future[ParsedBatch] | None = pool.submit(self._fetch, batches[0]) if batches else None
        for i, batch in enumerate(batches):
            assert ahead is not None
            parsed = ahead.result()
            ahead = pool.submit(self._fetch, batches[i + 1]) if i + 1 < len(batches) else None
            yield batch, parsed
            del parsed


def _fetch_function(source: PubMedSource, cancel: threading.Event) -> Callable[[list[str]], ParsedBatch]:
    """``source.fetch``, given ``cancel`` when it takes one (EutilsClient does: a fetch ahead
    still waiting for its turn at the rate limit, or retrying, gives up when the run ends)."""
    fetch: Callable[..., ParsedBatch] = source.fetch
    try:
        takes_cancel = "cancel" in inspect.signature(fetch).parameters
    except (TypeError, ValueError):  # a callable without a signature Python can read
        takes_cancel = False
    if takes_cancel:
        return functools.partial(fetch, cancel=cancel)
    return fetch


def _finish_success(session: Any, feed: Feed, feed_id: int, run_id: int, report: RunReport,
                    classify: Callable[[Article, float], Any], now: datetime) -> None:
    known = report.known
    if known:
        # Stored earlier (by another feed, or before a failed run): not fetched again, but
        # linked to this feed and judged at this feed's threshold if not yet.
        report.linked += repo.link_to_feed(session, feed_id, known, run_id)
        _classify_missing(session, known, feed.long_term_threshold_weeks, classify)
    feed_row = session.get(FeedRow, feed_id)
    feed_row.watermark = max(feed_row.watermark or report.window_end, report.window_end)
    # The moment the run started (its period's clock), not when it finished: a run that began
    # just before a slot and ended after it must not count as that slot's run, or the slot
    # would be skipped (the service compares last_success_at with the latest slot).
    feed_row.last_success_at = now
    session.add(feed_row)
    if report.other:
        from monitor.sources.run import advance

        advance(session, feed_id, [n for n, c in report.other.items() if c.error is None],
                now.date())
    run_row = session.get(Run, run_id)
    _copy_counts(run_row, report)
    run_row.status, run_row.finished_at = "succeeded", utcnow()
    run_row.error = report.source_errors  # the run stands; status shows what to look at
    session.add(run_row)
    session.flush()
    report.digest_id = after_success(session, feed, feed_row, run_row, now)


def _classify_missing(session: Any, pmids: list[str], threshold: float,
                      classify: Callable[[Article, float], Any]) -> None:
    from sqlalchemy import select

    from monitor.store.models import Classification

    have: set[str] = set()
    for part in repo.chunks(pmids):
        have.update(session.execute(
            select(Classification.pmid).where(Classification.pmid.in_(part),  # type: ignore[attr-defined]
                                              Classification.threshold_weeks == float(threshold))
        ).scalars())
    todo = [p for p in pmids if p not in have]
    # A chunk at a time: a second feed's first run may find 100,000 stored records to judge.
    for part in repo.chunks(todo):
        repo.save_classifications(session, [
            (pmid, classify(article, threshold))
            for pmid, article in repo.load_articles(session, list(part)).items()
        ])


def after_success(session: Any, feed: Feed, feed_row: FeedRow, run: Run, now: datetime) -> int | None:
    """Work that belongs in the same transaction as a successful run: the digest outbox row.

    Assigns the feed's not-yet-announced articles to a new digest for the run's period and
    returns its id; None when the period already has one or nothing is new (see
    ``monitor.digest.open_digest``).
    """
    from monitor.digest import open_digest

    return open_digest(session, feed, feed_row, run, now)


def _copy_counts(run_row: Run, report: RunReport) -> None:
    run_row.found, run_row.fetched, run_row.new = report.found, report.fetched, report.new
    run_row.updated, run_row.linked, run_row.deleted = report.updated, report.linked, report.deleted
    run_row.requests = report.requests
