"""The report in a real browser: headless Chromium over the DevTools protocol.

Opens a report written from the stand-in server's real records (with one hostile title stored)
at 1280 px and 390 px, from the file system and from a local static server, and checks what a
reader would notice: errors, requests leaving the machine, missing parts, script that runs,
a page wider than the phone. Screenshots go to $LITMON_TEST_SCREENSHOTS (or the test's tmp dir).
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import report
from monitor.report import current_week
from monitor.store.db import make_engine, session_scope
from monitor.store.models import FeedArticle
from tests.browser.cdp import Browser, find_chromium
from tests.test_report_support import HOSTILE_TITLE, classifier, set_title  # noqa: F401

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                       "(apt-get install chromium, or set LITMON_TEST_CHROMIUM)"),
    # What a browser sees does not depend on the database; SQLite is enough here.
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def written(cli, classifier, litmon_env, monkeypatch):  # noqa: F811
    """A report of the real records, one of them titled HOSTILE_TITLE (as the parser stores it)."""
    assert cli("run", "--no-send").code == 0
    engine = make_engine(litmon_env["LITMON_DATABASE_URL"])
    with session_scope(engine) as session:
        pmids = session.execute(select(FeedArticle.pmid).order_by(FeedArticle.pmid)).scalars().all()
    escaped = HOSTILE_TITLE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    set_title(engine, pmids[0], escaped)
    set_title(engine, pmids[1], HOSTILE_TITLE)  # a raw record, for the sanitiser
    engine.dispose()
    monkeypatch.setattr(report, "FULL_STUDY_LIMIT", 10_000)  # both hostile studies in full
    assert cli("report").code == 0
    root = Path(litmon_env["LITMON_REPORTS_DIR"])
    return root, root / "wbc-ms" / f"{current_week()}.html", pmids[0], pmids[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    with Browser(CHROMIUM) as b:
        yield b


@pytest.fixture
def static_server(written) -> Iterator[str]:
    root = written[0]
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("LITMON_TEST_SCREENSHOTS") or tmp_path / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


VISIBLE = """(sel) => { const el = document.querySelector(sel); if (!el) return false;
  const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; }"""


def _check_page(page, allowed_prefix: str) -> None:
    log = page.log
    assert log.errors() == [], log.errors()
    assert log.failed == [], log.failed
    assert log.requests, "the page itself was not requested?"
    outside = [u for u in log.requests if not u.startswith(allowed_prefix)]
    assert outside == [], f"requests beyond {allowed_prefix}: {outside}"
    for sel in ("section.headline", "#evidence-map table.evidence", "#evidence-map table.matrix",
                "#charts svg[role=img]", "#new-studies ol.studies li.study"):
        assert page.evaluate(f"({VISIBLE})({sel!r})"), f"{sel} is not visible"
    # Nothing may run: no script in the DOM, no handler attributes, no dialogs opened.
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.evaluate(
        "[...document.querySelectorAll('*')].some(e => [...e.attributes].some(a => a.name.startsWith('on')))"
    ) is False
    assert log.dialogs == []


@pytest.mark.parametrize("width", [1280, 390])
def test_report_from_the_file_system(browser, written, shots, width):
    root, path, escaped_pmid, raw_pmid = written
    page = browser.open(path.as_uri(), width, mobile=width < 600)
    try:
        _check_page(page, "file://")
        # The stored title that says <script> shows as those characters...
        heading = page.evaluate(f"document.getElementById('t-{escaped_pmid}').textContent")
        assert HOSTILE_TITLE in heading
        # ...and a raw one lost its markup to the sanitiser.
        raw = page.evaluate(f"document.getElementById('t-{raw_pmid}').innerHTML")
        assert "<script" not in raw and "<img" not in raw
        # A phone never scrolls sideways: wide tables scroll inside their own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # The evidence sentence is marked inside an abstract.
        assert page.evaluate("document.querySelectorAll('details.abstract mark').length") > 0
        page.screenshot(shots / f"report-{width}-top.png", height=2400)
        top = page.evaluate("document.getElementById('new-studies').getBoundingClientRect().top + scrollY")
        page.screenshot(shots / f"report-{width}-studies.png", top=top, height=2000)
        if width == 1280:
            page.pdf(shots / "report-print.pdf")
    finally:
        page.close()


def test_report_behind_a_static_server(browser, written, static_server, shots):
    page = browser.open(static_server + f"wbc-ms/{current_week()}.html", 390, mobile=True)
    try:
        _check_page(page, static_server)
    finally:
        page.close()
    for name in ("index.html", "wbc-ms/index.html", "wbc-ms/latest.html"):
        page = browser.open(static_server + name, 390, mobile=True)
        try:
            log = page.log
            assert log.errors() == [] and log.failed == [], (name, log.errors(), log.failed)
            assert all(u.startswith(static_server) for u in log.requests), log.requests
            assert page.evaluate("document.querySelector('h1') !== null")
            if name == "index.html":
                page.screenshot(shots / "feeds-index-390.png")
        finally:
            page.close()
