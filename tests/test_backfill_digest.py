"""A backfill's digest: the email shows the first ``max_items`` studies, built without loading
every record of the digest (a first backfill puts all of them, 100,000, in one digest).

``first_for_digest`` must give exactly the first items of the full reading-order list
(``order_for_reading(group_for_digest(...))``) and the counts of the whole list, with records
linked into studies, updates to studies announced earlier, unclassified and unstored records.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.digest import content_for, make_message
from monitor.feeds import DigestOptions, Feed
from monitor.pubmed.parse import parse_batch
from monitor.render import order_for_reading
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import Digest, FeedArticle, StudyLink, utcnow
from monitor.studies import first_for_digest, group_for_digest
from tests.standin.eutils import PUBMED_DIR, EutilsStandin
from tests.test_digest import stub_classify

THRESHOLD = 26.0


def _articles() -> list:
    server = EutilsStandin(data=PUBMED_DIR)
    return list(parse_batch(server.article_set(sorted(server.records))).articles)


@pytest.fixture
def stored(engine: Engine) -> dict:
    """Real records, some linked into studies, some announced to the feed by an earlier digest."""
    articles = _articles()
    assert len(articles) >= 30
    pmids = [a.pmid for a in articles]
    with session_scope(engine) as s:
        repo.upsert_articles(s, articles)
        # Every third record unclassified: no verdict sorts last.
        repo.save_classifications(s, [(a.pmid, stub_classify(a, THRESHOLD))
                                       for i, a in enumerate(articles) if i % 3])
        feed_id = repo.ensure_feed(s, "big", "Big", "q").id
        repo.link_to_feed(s, feed_id, pmids, None)
        digests = [Digest(feed_id=feed_id, period=period, message_id=f"<{period}@x>")
                   for period in ("2026-01-01T06:00Z", "2026-02-01T06:00Z")]
        s.add_all(digests)
        s.flush()
        earlier, current = (d.id for d in digests)
        announced = pmids[:6]
        s.execute(update(FeedArticle).where(FeedArticle.pmid.in_(announced))  # type: ignore[attr-defined]
                  .values(digest_id=earlier))
        s.execute(update(FeedArticle).where(FeedArticle.pmid.in_(pmids[6:]))  # type: ignore[attr-defined]
                  .values(digest_id=current))
        # Studies: two records both in this digest; an announced record and two new ones
        # (an update); an announced record and one new one whose study id is the new one.
        studies = {pmids[10]: [pmids[10], pmids[11]],
                   pmids[0]: [pmids[0], pmids[12], pmids[13]],
                   pmids[14]: [pmids[14], pmids[1]]}
        repo.insert_ignore(s, StudyLink, [
            {"record_id": r, "study_id": study, "linked_by": "doi", "linked_at": utcnow()}
            for study, records in studies.items() for r in records])
    return {"feed_id": feed_id, "digest_id": current, "pmids": pmids[6:] + ["99999999"]}


@pytest.mark.parametrize("scoped", [False, True], ids=["ids", "scope"])
@pytest.mark.parametrize("limit", [1, 2, 5, 17, 1000])
def test_first_studies_are_the_full_lists_first_and_counts_cover_all(engine, stored, limit, scoped):
    pmids, scope = stored["pmids"], None
    if scoped:  # the digest's rows as a SELECT, read joined to it (as open_digest does)
        scope = select(FeedArticle.pmid).where(FeedArticle.digest_id == stored["digest_id"])
        pmids = [p for p in pmids if p != "99999999"]  # exactly what the SELECT gives
    with session_scope(engine) as s:
        assert not scoped or sorted(s.execute(scope).scalars()) == sorted(pmids)
        full = order_for_reading(group_for_digest(s, stored["feed_id"], pmids, THRESHOLD,
                                                  stored["digest_id"]))
        shown, counts = first_for_digest(s, stored["feed_id"], pmids, THRESHOLD,
                                         stored["digest_id"], limit, scope=scope)
    assert [v.pmid for v in shown] == [v.pmid for v in full[:limit]]
    assert shown == full[:limit]
    assert counts.total == len(full)
    assert counts.long_term == sum(1 for v in full if v.is_long_term)
    assert counts.updates == sum(1 for v in full if v.is_update) >= 1
    assert counts.long_term >= 1 and any(v.history for v in full)


def test_the_email_shows_max_items_and_says_how_many_more(engine, stored):
    feed = Feed(name="big", query="q", digest=DigestOptions(max_items=4))
    with session_scope(engine) as s:
        full = order_for_reading(group_for_digest(s, stored["feed_id"], stored["pmids"], THRESHOLD,
                                                  stored["digest_id"]))
        content = content_for(s, feed, "2026-02-01T06:00Z", stored["pmids"],
                              digest_id=stored["digest_id"])
    assert len(content.studies) == 4 and content.total == len(full)
    assert content.hidden_count == len(full) - 4
    assert content.update_count == sum(1 for v in full if v.is_update)
    assert content.new_count == len(full) - content.update_count
    built = make_message(Settings(), content,
                         message_id="<t@x>", date=datetime(2026, 2, 1, 6, tzinfo=UTC))
    assert f"{len(full)} new studies" in built.subject
    assert "The 4 most relevant are below" in built.text
    for v in full[:4]:
        assert v.title_text in built.text
    assert full[4].title_text not in built.text
