"""Following a study through its records: re-checks for retractions, ClinicalTrials.gov trials,
Europe PMC preprints, imports, and one study shown once — on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from monitor.commands import Context
from monitor.digest import find_digest, stored_content
from monitor.feeds import load_feed
from monitor.pubmed.client import EutilsClient
from monitor.runs import run_feed
from monitor.store.db import make_engine, session_scope
from monitor.store.models import ArticleRow, FeedArticle

DATA = Path(__file__).resolve().parent / "data"
FAST = {"LITMON_HTTP_BACKOFF": "0.05", "LITMON_HTTP_MAX_ATTEMPTS": "3"}


@pytest.fixture
def db(litmon_env: dict[str, str]) -> Engine:
    eng = make_engine(litmon_env["LITMON_DATABASE_URL"])
    yield eng
    eng.dispose()


@pytest.fixture
def small_pubmed(empty_eutils_server):
    """A stand-in E-utilities server with two real records entered today."""
    empty_eutils_server.add_records((DATA / "pubmed" / "pubmed2.xml").read_bytes(), entry_date=date.today())
    return empty_eutils_server


def add_comment_correction(ref_type: str, source: str, pmid: str):
    def edit(el) -> None:
        mc = el.find("MedlineCitation")
        ccl = mc.find("CommentsCorrectionsList")
        if ccl is None:
            ccl = etree.SubElement(mc, "CommentsCorrectionsList")
        cc = etree.SubElement(ccl, "CommentsCorrections", RefType=ref_type)
        etree.SubElement(cc, "RefSource").text = source
        etree.SubElement(cc, "PMID", Version="1").text = pmid
    return edit


def count(db: Engine, model: type) -> int:
    with session_scope(db) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


# -- (1) corrections and retractions ----------------------------------------------------------

def test_a_retraction_found_by_recheck_is_flagged_in_the_next_digest(cli, small_pubmed, db, litmon_env, feeds_dir):
    env = {"LITMON_EUTILS_URL": small_pubmed.url, **FAST}
    first = cli("run", "--no-send", env=env)
    assert first.code == 0, first.err
    assert count(db, ArticleRow) == 2

    small_pubmed.revise("11748933", edit=add_comment_correction(
        "RetractionIn", "Cryobiology. 2026 Nov;99:1", "41000001"))
    checked = cli("recheck", env=env)
    assert checked.code == 0, checked.err
    assert "re-checked 2 PubMed records: 1 revised, 1 newly flagged (11748933)" in checked.out
    with session_scope(db) as s:
        row = s.get(ArticleRow, "11748933")
        assert row.retracted and row.has_notice and row.flagged_at is not None
        assert s.get(FeedArticle, (1, "11748933")).flag_pending

    preview = cli("digest", "preview", env=env)
    assert preview.code == 0, preview.err
    assert "Corrections and retractions found since these studies were announced" in preview.out
    assert "!! RETRACTED" in preview.out and "Notice: RetractionIn: Cryobiology. 2026 Nov;99:1" in preview.out

    # A second re-check finds nothing new: the study is not flagged twice.
    again = cli("recheck", env=env)
    assert "0 revised, 0 newly flagged" in again.out

    # The next period's run opens a digest that lists it, and clears the flag.
    ctx = Context(environ={**litmon_env, **env})
    feed = load_feed(feeds_dir / "wbc-ms.toml")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    report = run_feed(db, ctx.settings, feed, EutilsClient(small_pubmed.url, rate=50), now=tomorrow)
    assert report.ok and report.digest_id is not None, report.error
    with session_scope(db) as s:
        digest = find_digest(s, feed, "latest")
        content = stored_content(s, feed, digest)
        assert [v.pmid for v in content.flagged] == ["11748933"] and content.flagged[0].retracted
        assert content.total == 0
        assert not s.get(FeedArticle, (1, "11748933")).flag_pending
    assert cli("recheck", "--older-than-days", "30", env=env).out.startswith("re-checked 0 PubMed records")


def test_recheck_flags_a_deleted_record_and_an_erratum(cli, small_pubmed, db):
    env = {"LITMON_EUTILS_URL": small_pubmed.url, **FAST}
    assert cli("run", "--no-send", env=env).code == 0
    small_pubmed.delete("11700088")
    small_pubmed.revise("11748933", edit=add_comment_correction("ErratumIn", "Cryobiology. 2026;5:2", "41000002"))
    out = cli("recheck", "--feed", "wbc-ms", env=env)
    assert out.code == 0, out.err
    assert "2 newly flagged" in out.out
    with session_scope(db) as s:
        assert s.get(ArticleRow, "11700088").deleted
        row = s.get(ArticleRow, "11748933")
        assert row.has_notice and not row.retracted
    preview = cli("digest", "preview", env=env).out
    assert "PubMed has deleted this record." in preview and "Notice: ErratumIn" in preview
