"""A run fetches the next batch while it stores this one (monitor.runs._FetchAhead), and keeps
every promise of a run fetching in line: the pacing, a failed fetch failing the run with only
whole earlier batches stored and the watermark where it was, and no thread outliving the run.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from monitor.config import Settings
from monitor.feeds import Feed
from monitor.pubmed.client import EutilsClient, EutilsError
from monitor.pubmed.parse import parse_batch
from monitor.records import Article, ParsedBatch
from monitor.runs import run_feed
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, FeedRow
from tests.test_digest import stub_classify

FEED = Feed(name="wbc-ms", query="cryotherapy")
NOW = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
BATCH = 10


def settings() -> Settings:
    return Settings(fetch_batch_size=BATCH, lookback_start=date(1800, 1, 1))


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("litmon-fetch-ahead")]


class Result:
    def __init__(self, pmids: list[str]) -> None:
        self.pmids = pmids


class FakePubMed:
    """Real parsed records; ``fetch`` logs each call and may wait or fail on a given batch."""

    requests_sent = 0

    def __init__(self, articles: list[Article], *, fail_at: int | None = None) -> None:
        self.by_pmid = {a.pmid: a for a in articles}
        self.fail_at = fail_at
        self.calls: list[list[str]] = []
        self.started = [threading.Event() for _ in range(len(articles) // BATCH + 2)]

    def search(self, term: str, mindate: date, maxdate: date) -> list[Any]:
        return [Result(list(self.by_pmid))]

    def fetch(self, pmids: list[str]) -> ParsedBatch:
        index = len(self.calls)
        self.calls.append(list(pmids))
        self.started[index].set()
        if index == self.fail_at:
            raise EutilsError(f"batch {index}: HTTP 500 after 6 attempts")
        return ParsedBatch(articles=tuple(self.by_pmid[p] for p in pmids))


def stored(engine) -> set[str]:
    with session_scope(engine) as s:
        return set(s.execute(select(ArticleRow.pmid)).scalars())


def watermark(engine) -> date | None:
    with session_scope(engine) as s:
        return s.execute(select(FeedRow.watermark).where(FeedRow.name == FEED.name)).scalar_one()


def articles(eutils_server, n: int = 45) -> list[Article]:
    pmids = sorted(eutils_server.records)[:n]
    return list(parse_batch(eutils_server.article_set(pmids)).articles)


def test_the_next_batch_is_fetched_while_this_one_is_stored(engine, eutils_server) -> None:
    source = FakePubMed(articles(eutils_server))
    overlapped: list[bool] = []

    def classify(article: Article, threshold: float) -> Any:
        if not overlapped:  # the first record of the first batch
            overlapped.append(source.started[1].wait(5))
        return stub_classify(article, threshold)

    report = run_feed(engine, settings(), FEED, source, now=NOW, classify=classify)
    assert report.ok, report.error
    assert overlapped == [True]
    assert stored(engine) == set(source.by_pmid) and report.new == len(source.by_pmid)
    # Every batch fetched once, in order.
    assert [p for batch in source.calls for p in batch] == list(source.by_pmid)
    assert fetch_threads() == []


def test_a_failed_fetch_fails_the_run_with_whole_earlier_batches_only(engine, eutils_server) -> None:
    source = FakePubMed(articles(eutils_server), fail_at=2)
    report = run_feed(engine, settings(), FEED, source, now=NOW, classify=stub_classify)
    assert report.status == "failed" and "batch 2" in (report.error or "")
    # Batches 0 and 1 stored whole, nothing of batch 2, and nothing fetched after it.
    assert stored(engine) == {p for batch in source.calls[:2] for p in batch}
    assert len(source.calls) == 3
    assert watermark(engine) is None
    assert fetch_threads() == []


def test_a_store_error_cancels_the_fetch_ahead_and_the_run_ends_at_once(engine, eutils_server) -> None:
    """The next batch's fetch is waiting to retry after an HTTP 500 (15-30 s) when storing
    this batch fails: the run must not wait for it, nor send another request, nor leave the
    thread behind."""
    retrying = threading.Event()

    class Client(EutilsClient):
        fetches = 0

        def fetch(self, pmids, *, cancel=None):  # type: ignore[no-untyped-def]
            Client.fetches += 1
            if Client.fetches == 2:
                eutils_server.inject("efetch", "500", times=10)
            return super().fetch(pmids, cancel=cancel)

    client = Client(eutils_server.url, backoff_base=30, backoff_cap=30,
                    on_progress=lambda event, info: event == "retry" and retrying.set())

    def classify(article: Article, threshold: float) -> Any:
        assert retrying.wait(10), "the fetch ahead never got its HTTP 500"
        raise RuntimeError("disk full")

    started = time.monotonic()
    report = run_feed(engine, Settings(fetch_batch_size=BATCH), FEED, client, now=NOW,
                      classify=classify)
    assert report.status == "failed" and "disk full" in (report.error or "")
    assert time.monotonic() - started < 10  # not the 15-30 s retry wait
    assert len(eutils_server.requests("efetch")) == 2  # no retry after the cancel
    assert stored(engine) == set() and watermark(engine) is None
    assert fetch_threads() == []


def test_any_source_whose_fetch_takes_cancel_is_told_when_the_run_ends(engine, eutils_server) -> None:
    """Not only EutilsClient: a source whose fetch takes ``cancel`` gets the run's event, set
    once the run is over (a fetch still waiting then gives up); one without it is called as
    before (the FakePubMed tests above)."""
    events: list[threading.Event] = []

    class Cancellable(FakePubMed):
        def fetch(self, pmids: list[str], *, cancel: threading.Event | None = None) -> ParsedBatch:  # type: ignore[override]
            assert cancel is not None
            events.append(cancel)
            assert not cancel.is_set()  # the run is still going
            return super().fetch(pmids)

    source = Cancellable(articles(eutils_server))
    report = run_feed(engine, settings(), FEED, source, now=NOW, classify=stub_classify)
    assert report.ok, report.error
    assert len(events) == len(source.calls) == 5
    assert len({id(e) for e in events}) == 1 and events[0].is_set()
    assert fetch_threads() == []
