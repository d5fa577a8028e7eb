"""The weekly report, its Atom feed and index pages, from real records run through `litmon run`.

Each database test runs on SQLite and PostgreSQL (the ``engine``/``cli`` fixtures).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from sqlalchemy import select

from monitor import report
from monitor.feeds import load_feed
from monitor.report import band_of, current_week, iso_week, week_bounds
from monitor.store.db import make_engine, session_scope
from monitor.store.models import FeedArticle, ReportRow
from monitor.studies import study_ids
from tests.test_report_support import HOSTILE_TITLE, classifier, set_title  # noqa: F401

WEEK = current_week()


@pytest.fixture
def ran(cli, classifier, litmon_env):  # noqa: F811
    """`litmon run` against the stand-in server: the real records are stored this week."""
    result = cli("run", "--no-send")
    assert result.code == 0, result.err
    engine = make_engine(litmon_env["LITMON_DATABASE_URL"])
    yield engine
    engine.dispose()


def reports_dir(env: dict[str, str]) -> Path:
    return Path(env["LITMON_REPORTS_DIR"])


def parse(path: Path) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(path.read_bytes())


# -- pure pieces ------------------------------------------------------------------------------

def test_iso_weeks_and_bounds():
    assert iso_week(datetime(2026, 11, 25).date()) == "2026-W48"
    assert iso_week(datetime(2027, 1, 1).date()) == "2026-W53"  # 2026 has 53 ISO weeks
    start, end = week_bounds("2026-W48")
    assert start == datetime(2026, 11, 23, tzinfo=UTC) and (end - start).days == 7
    for bad in ("2026-48", "2026-W54", "2025-W53", "W48", "2026-W1"):
        with pytest.raises(report.ReportError):
            week_bounds(bad)


def test_bands_follow_the_feeds_threshold():
    assert [band_of(w, 26) for w in (None, 0.5, 4, 25.9, 26, 520)] == [
        "unknown", "short", "medium", "medium", "long", "long"]
    assert band_of(10, 8) == "long" and band_of(3, 2) == "long" and band_of(1, 2) == "short"


# -- the week's page --------------------------------------------------------------------------

def test_report_writes_week_latest_indexes_and_feed(cli, ran, litmon_env):
    result = cli("report", "--feed", "wbc-ms")
    assert result.code == 0, result.err
    root = reports_dir(litmon_env)
    week_path = root / "wbc-ms" / f"{WEEK}.html"
    assert f"wrote {week_path}" in result.out
    for name in (f"{WEEK}.html", "latest.html", "index.html", "feed.xml"):
        path = root / "wbc-ms" / name
        assert path.exists(), name
        assert os.stat(path).st_mode & 0o777 == 0o644  # a web server running as another user reads it
    assert (root / "wbc-ms" / "latest.html").read_bytes() == week_path.read_bytes()
    assert not list(root.rglob("*.tmp")), "a temp file was left behind"

    page = parse(week_path)
    with session_scope(ran) as session:
        stored = list(session.execute(select(FeedArticle.pmid)).scalars())
        studies = set(study_ids(session, stored).values())
        row = session.execute(select(ReportRow)).scalar_one()
    # Records of one study (linked by DOI, PMCID or registry id) are one item.
    assert len(studies) < len(stored)
    assert row.week == WEEK and row.item_count == len(studies) and Path(row.path) == week_path
    assert page.get_element_by_id("evidence-map") is not None
    assert page.get_element_by_id("charts").xpath(".//svg[@role='img']")
    items = page.xpath("//li[contains(@class,'study')]")
    assert len(items) == min(len(studies), report.FULL_STUDY_LIMIT)
    headline = page.xpath("//section[contains(@class,'headline')]")[0].text_content()
    counted = re.search(r"\d+ of (\d+) studies so far looked at long-term outcomes", headline)
    assert counted and int(counted.group(1)) <= len(studies)  # retracted ones are not counted
    # The evidence sentence is marked inside the abstract of at least one study.
    assert page.xpath("//details[contains(@class,'abstract')]//mark")
    # Every figure and table has a name a screen reader can read.
    assert all(t.xpath("./caption") for t in page.xpath("//table"))
    assert all(s.xpath("./title") and s.get("aria-labelledby") for s in page.xpath("//svg[@role='img']"))

    index = parse(root / "wbc-ms" / "index.html")
    assert [a.get("href") for a in index.xpath("//tbody//a")] == [f"{WEEK}.html"]
    top = parse(root / "index.html")
    assert "wbc-ms/latest.html" in [a.get("href") for a in top.xpath("//a")]


def test_page_is_self_contained_with_a_strict_csp(cli, ran, litmon_env):
    assert cli("report").code == 0
    for path in reports_dir(litmon_env).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        page = lxml.html.fromstring(text)
        csp = page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")
        assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0], path
        assert not page.xpath("//script|//iframe|//object|//embed|//form|//img"), path
        # Resources: nothing the browser would fetch from the network.
        for el in page.xpath("//*[@src]|//link[@href]"):
            ref = el.get("src") or el.get("href")
            assert not re.match(r"^(https?:)?//", ref), (path, ref)
        for style in page.xpath("//style/text()") + page.xpath("//@style"):
            assert "url(" not in style.replace("url(#", "") and "@import" not in style, path
        assert page.xpath("//meta[@name='viewport']"), path
        assert "@media print" in text, path


def test_empty_week_still_makes_a_clear_report(cli, ran, litmon_env):
    result = cli("report", "--week", "2020-W02")
    assert result.code == 0, result.err
    feed_dir = reports_dir(litmon_env) / "wbc-ms"
    page = parse(feed_dir / "2020-W02.html")
    assert "No new studies were found this week" in page.text_content()
    assert not page.xpath("//li[contains(@class,'study')]")
    # Nothing was first seen by then, so the headline says so rather than showing zeros as facts.
    assert "No studies stored for this feed yet" in page.text_content()
    with session_scope(ran) as session:
        assert session.execute(select(ReportRow.item_count)).scalar_one() == 0
    # An old week written later does not become "latest"; the index lists weeks newest first.
    assert cli("report").code == 0
    assert cli("report", "--week", "2020-W02").code == 0
    assert (feed_dir / "latest.html").read_bytes() == (feed_dir / f"{WEEK}.html").read_bytes()
    weeks = [a.text_content() for a in parse(feed_dir / "index.html").xpath("//tbody//th/a")]
    assert weeks == [WEEK, "2020-W02"]


def test_report_before_any_run_is_clear(cli, litmon_env):
    result = cli("report")
    assert result.code == 0, result.err
    text = parse(reports_dir(litmon_env) / "wbc-ms" / f"{WEEK}.html").text_content()
    assert "No studies stored for this feed yet" in text and "No new studies" in text


def test_bad_week_is_refused(cli, litmon_env, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli("report", "--week", "2026-W60")
    assert exit_.value.code == 2 and "2026 has no week 60" in capsys.readouterr().err
    assert not reports_dir(litmon_env).exists()


def test_long_weeks_are_shortened_and_the_map_is_capped(cli, ran, litmon_env, monkeypatch):
    monkeypatch.setattr(report, "FULL_STUDY_LIMIT", 5)
    monkeypatch.setattr(report, "MAP_STUDY_LIMIT", 7)
    assert cli("report").code == 0
    page = parse(reports_dir(litmon_env) / "wbc-ms" / f"{WEEK}.html")
    assert len(page.xpath("//li[contains(@class,'study')]")) == 5
    caption = page.xpath("//table[.//caption[contains(., 'more new studies')]]//caption")[0]
    assert re.match(r"\d+ more new studies", caption.text_content().strip())
    assert len(page.xpath("//table[contains(@class,'matrix')]/tbody/tr")) <= 7


# -- hostile record text ----------------------------------------------------------------------

def _newest_pmid(engine) -> str:
    """The study the Atom feed lists first (newest first seen, then highest PMID)."""
    with session_scope(engine) as session:
        return session.execute(select(FeedArticle.pmid).order_by(
            FeedArticle.first_seen_at.desc(), FeedArticle.pmid.desc())).scalars().first()


@pytest.mark.parametrize("stored", ["raw", "escaped"])
def test_hostile_title_is_text_and_never_markup(cli, ran, litmon_env, stored, monkeypatch):
    monkeypatch.setattr(report, "FULL_STUDY_LIMIT", 10_000)
    pmid = _newest_pmid(ran)
    # "escaped" is how the parser stores a title that says <script>; "raw" is a record that
    # reached the database some other way. Neither may become markup.
    title = HOSTILE_TITLE if stored == "raw" else (
        HOSTILE_TITLE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    set_title(ran, pmid, title)
    assert cli("report").code == 0
    feed_dir = reports_dir(litmon_env) / "wbc-ms"
    page = parse(feed_dir / f"{WEEK}.html")
    assert not page.xpath("//script|//img")
    assert not [a for el in page.iter() if isinstance(el.tag, str)
                for a in el.attrib if a.lower().startswith("on")]
    heading = page.get_element_by_id(f"t-{pmid}").text_content()
    if stored == "escaped":
        assert HOSTILE_TITLE in heading  # shown as the text it is
    else:
        assert "alert(1)" not in heading  # the sanitiser dropped the script element
    parsed = feedparser.parse((feed_dir / "feed.xml").read_bytes())
    assert not parsed.bozo
    entry = next(e for e in parsed.entries if e.id.endswith(f":pmid:{pmid}"))
    assert entry.title_detail.type == "text/plain"
    assert "<script>" in entry.title  # plain text in Atom: the characters themselves


# -- Atom -------------------------------------------------------------------------------------

def test_atom_feed_is_valid_and_stable(cli, ran, litmon_env):
    assert cli("report").code == 0
    path = reports_dir(litmon_env) / "wbc-ms" / "feed.xml"
    first = path.read_bytes()
    assert cli("report").code == 0
    assert path.read_bytes() == first  # same studies, same bytes: readers see nothing new
    parsed = feedparser.parse(first)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    feed = parsed.feed
    assert feed.id == "urn:litmon:wbc-ms" and feed.title and feed.updated_parsed
    assert feed.author == "litmon"
    assert any(link.rel == "self" for link in feed.links)
    assert 0 < len(parsed.entries) <= report.ATOM_LIMIT
    ids = [e.id for e in parsed.entries]
    assert len(set(ids)) == len(ids)
    for e in parsed.entries:
        pmid = re.fullmatch(r"urn:litmon:wbc-ms:pmid:(\d+)", e.id).group(1)
        assert e.link == f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
        assert e.updated_parsed and e.title
        assert re.match(r"(RETRACTED\. )?(Long-term follow-up|No long-term follow-up|Follow-up unclear|Not yet judged)",
                        e.summary)
    assert any("Evidence: “" in e.summary for e in parsed.entries)


def test_atom_self_link_uses_the_public_url(cli, ran, litmon_env):
    assert cli("report", env={"LITMON_REPORT_URL": "https://example.org/reports/"}).code == 0
    parsed = feedparser.parse((reports_dir(litmon_env) / "wbc-ms" / "feed.xml").read_bytes())
    self_link = next(link for link in parsed.feed.links if link.rel == "self")
    assert self_link.href == "https://example.org/reports/wbc-ms/feed.xml"


# -- library entry point for the scheduler ----------------------------------------------------

def test_write_report_is_callable_without_the_cli(engine, tmp_path, feeds_dir):
    from monitor.config import Settings

    settings = Settings(reports_dir=tmp_path / "out", feeds_dir=feeds_dir)
    feed = load_feed(feeds_dir / "wbc-ms.toml")
    path = report.write_report(engine, settings, feed, "2026-W01")
    assert path == tmp_path / "out" / "wbc-ms" / "2026-W01.html"
    assert (tmp_path / "out" / "index.html").exists()
    assert feedparser.parse((path.parent / "feed.xml").read_bytes()).bozo is False
