"""How long `write_report` and one digest take over 10,000 stored studies, and their size.

The real records in tests/data/pubmed are parsed and classified once, then copied under new
PMIDs into a temporary SQLite database until there are N studies, first seen over the previous
100 weeks with about N/100 in the week reported. Targets: report under 2 s for 10,000; one
digest under 100 ms (measured at its worst: every study unannounced, a feed's first digest).

    .venv/bin/python benchmarks/bench_report.py [N]

The page stays small because the report aggregates what grows with the feed: the evidence map
is a domain × follow-up band table over all studies plus a study-by-study matrix of at most
MAP_STUDY_LIMIT rows, the charts are per year and per follow-up bin, and the week's list shows
FULL_STUDY_LIMIT studies in full. Only the week's studies are loaded as full records.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.config import Settings  # noqa: E402
from monitor.digest import DigestContent, content_for, make_message, preview_next  # noqa: E402
from monitor.feeds import load_feed  # noqa: E402
from monitor.pubmed.parse import parse_batch  # noqa: E402
from monitor.report import current_week, week_bounds, week_studies, write_report  # noqa: E402
from monitor.store import repo  # noqa: E402
from monitor.store.db import make_engine, session_scope, upgrade  # noqa: E402
from monitor.store.models import FeedArticle  # noqa: E402


def classifier():
    try:
        from monitor.classify import classify_article

        return classify_article, "real classifier"
    except ImportError:
        from tests.test_report_support import standin_classify

        return standin_classify, "stand-in classifier"


def main(n: int = 10_000) -> None:
    classify, which = classifier()
    from tests.standin.eutils import EutilsStandin

    corpus = EutilsStandin()  # every real record under tests/data/pubmed, as the tests see them
    articles = list(parse_batch(corpus.article_set(sorted(corpus.records))).articles)
    results = [classify(a, 26.0) for a in articles]
    feed = load_feed(REPO / "feeds" / "wbc-ms.toml")
    now = datetime.now(UTC)
    week = current_week(now)
    week_start, _ = week_bounds(week)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            feed_id = repo.ensure_feed(session, feed.name, feed.display_title, feed.query).id
        batch, links = [], []
        for i in range(n):
            src = articles[i % len(articles)]
            pmid = str(90_000_000 + i)
            batch.append((dataclasses.replace(src, pmid=pmid), results[i % len(articles)]))
            # Week w (0 = the reported week) for about n/100 studies each.
            weeks_back = i % 100
            seen = week_start + timedelta(hours=1 + (i % 150)) - timedelta(weeks=weeks_back)
            links.append({"feed_id": feed_id, "pmid": pmid, "first_seen_at": seen,
                          "first_run_id": None, "digest_id": None})
            if len(batch) == 1000 or i == n - 1:
                with session_scope(engine) as session:
                    repo.upsert_articles(session, [a for a, _ in batch])
                    for a, r in batch:
                        repo.save_classification(session, a.pmid, r)
                    repo.insert_ignore(session, FeedArticle, links)
                batch, links = [], []
        print(f"stored {n} studies ({len(articles)} real records, {which}) "
              f"in {time.perf_counter() - t0:.1f} s")
        settings = Settings(reports_dir=Path(tmp) / "reports")
        timings = []
        for _ in range(3):
            t = time.perf_counter()
            path = write_report(engine, settings, feed, week, now=now)
            timings.append(time.perf_counter() - t)
        size = path.stat().st_size
        print(f"write_report over {n} studies, week {week}: best {min(timings):.2f} s, "
              f"first {timings[0]:.2f} s (target < 2 s); page {size / 1024:.0f} KiB, "
              f"feed.xml {(path.parent / 'feed.xml').stat().st_size / 1024:.0f} KiB")
        # One digest: content (every study ranked, full items for the shown ones) + the MIME
        # message. A weekly one (this week's studies), and the worst case: all n studies
        # unannounced, as in a feed's very first digest after a backfill.
        with session_scope(engine) as session:
            week_pmids = week_studies(session, feed_id, *week_bounds(week)).pmids

        def one_digest(kind: str) -> tuple[DigestContent, list[float]]:
            timings = []
            for _ in range(3):
                t = time.perf_counter()
                with session_scope(engine) as session:
                    content = (preview_next(session, feed) if kind == "first" else
                               content_for(session, feed, "bench", week_pmids))
                built = make_message(settings, content, message_id="<bench@localhost>", date=now)
                built.as_bytes()
                timings.append(time.perf_counter() - t)
            return content, timings

        for kind, what in (("weekly", "this week's"), ("first", "every study unannounced,")):
            content, timings = one_digest(kind)
            print(f"one digest, {what} {content.total} studies ({len(content.shown)} shown): best "
                  f"{min(timings) * 1000:.0f} ms, first {timings[0] * 1000:.0f} ms (target < 100 ms)")
        engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
