"""Digests end to end: real records from the stand-in E-utilities server, stored on SQLite and
PostgreSQL, delivered to a real SMTP server (aiosmtpd on loopback) that fails on demand.

Classification uses a small rule-based stand-in (``stub_classify``) so that the golden files
depend on the digest code and the stored records, not on the classifier's next version.
Regenerate the golden files with ``LITMON_TEST_UPDATE_GOLDEN=1 pytest tests/test_digest.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from monitor.commands import Context
from monitor.config import Settings
from monitor.digest import (
    DigestContent,
    deliver_one,
    deliver_pending,
    header_text,
    make_message,
    message_id_for,
)
from monitor.feeds import load_feed
from monitor.records import AbstractSection, Article
from monitor.runs import run_feed
from monitor.store.db import make_engine, session_scope
from monitor.store.models import Digest, DigestRecipient, FeedArticle

GOLDEN = Path(__file__).with_name("golden")
UPDATE_GOLDEN = bool(os.environ.get("LITMON_TEST_UPDATE_GOLDEN"))
# Real records with what a digest must show: <sub> in a title (an MS trial), a cold-therapy
# trial with a registry id, an erratum, retractions, <i> in a title, months of follow-up.
PMIDS = ["28731372", "31191790", "35649368", "8655018", "8863847", "27797938", "20301577"]
NOW = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)  # period 2026-11-25T06:00Z
RECIPIENTS = ["ana@example.org", "ben@example.org"]

FEED_TOML = """\
name = "wbc-ms"
title = "Whole-body cryotherapy & multiple sclerosis"
query = '("whole-body cryotherapy"[tiab] OR cryostimulation[tiab]) AND "multiple sclerosis"[tiab]'
schedule = "0 6 * * *"
recipients = {recipients}
long_term_threshold_weeks = 26

[digest]
max_items = {max_items}
send_when_empty = {send_when_empty}
subject_prefix = "[litmon]"
"""


# -- a deterministic stand-in for the classifier ---------------------------------------------

@dataclass
class StubVerdict:
    threshold_weeks: float
    long_term: str
    longest_followup_weeks: float | None
    evidence: str | None
    reason: str | None
    design: str | None
    sample_size: int | None
    relevance: str | None
    outcome_domains: list[str] = field(default_factory=list)
    registry_ids: list[str] = field(default_factory=list)
    version: str = "stub-1"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.relevance == "other-cold-treatment":
            data["relevance_note"] = "cold-water immersion, not whole-body cryotherapy"
        return data


_UNITS = {"day": 1 / 7, "week": 1.0, "month": 4.345, "year": 52.18}
_DURATION = re.compile(r"\b(\d+(?:\.\d+)?)[- ](day|week|month|year)s?\b", re.I)
_DOMAINS = {"fatigue": "fatigue", "quality of life": "quality-of-life", "depress": "mood",
            "disability": "disability", "cancer": "cancer", "mortality": "mortality"}


def stub_classify(article: Article, threshold: float) -> StubVerdict:
    text = article.abstract_text
    best: tuple[float, str] | None = None
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for number, unit in _DURATION.findall(sentence):
            weeks = float(number) * _UNITS[unit.lower()]
            if best is None or weeks > best[0]:
                best = (weeks, sentence.strip())
    types = {p.name for p in article.publication_types}
    design = ("randomised-trial" if "Randomized Controlled Trial" in types else
              "systematic-review" if "Systematic Review" in types else
              "narrative-review" if "Review" in types else
              "case-series" if "Case Reports" in types else
              "cohort" if "Observational Study" in types else None)
    size = re.search(r"\b(\d{2,6}) (?:patients|participants|subjects|individuals|women|men)\b", text)
    lowered = (article.title_text + " " + text).lower()
    return StubVerdict(
        threshold_weeks=threshold,
        long_term="unclear" if best is None else ("yes" if best[0] >= threshold else "no"),
        longest_followup_weeks=best[0] if best else None,
        evidence=best[1] if best else None,
        reason="stub",
        design=design,
        sample_size=int(size.group(1)) if size else None,
        relevance=("other-cold-treatment" if re.search(r"cryo|\bcold\b", lowered)
                   and "whole-body" not in lowered else None),
        outcome_domains=sorted({v for k, v in _DOMAINS.items() if k in lowered}),
        registry_ids=sorted(set(re.findall(r"\bNCT\d{8}\b", text))),
    )


# -- fixtures and helpers ---------------------------------------------------------------------

@pytest.fixture(autouse=True)
def stub_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.runs._default_classifier", lambda: stub_classify)


@pytest.fixture
def corpus(eutils_server):
    """The stand-in server answering every search with the chosen real records only."""
    eutils_server.term_predicate = lambda term, rec: rec.pmid in PMIDS
    return eutils_server


def write_feed(feeds_dir: Path, *, recipients: list[str] = RECIPIENTS, max_items: int = 6,
               send_when_empty: bool = False, title: str | None = None) -> Path:
    path = feeds_dir / "wbc-ms.toml"
    text = FEED_TOML.format(recipients="[" + ", ".join(f'"{r}"' for r in recipients) + "]",
                            max_items=max_items, send_when_empty=str(send_when_empty).lower())
    if title is not None:
        text = text.replace('title = "Whole-body cryotherapy & multiple sclerosis"',
                            f"title = {title}")
    path.write_text(text, encoding="utf-8")
    return path


class World:
    """One test's litmon: settings, the feed, the database; runs and deliveries at set times."""

    def __init__(self, engine: Engine, env: dict[str, str], feed_path: Path) -> None:
        self.engine, self.env, self.feed_path = engine, env, feed_path
        self.settings = Settings.from_env(env)
        self.feed = load_feed(feed_path)

    def run(self, now: datetime = NOW):
        client = Context(environ=self.env).client()
        report = run_feed(self.engine, self.settings, self.feed, client, now=now)
        assert report.ok, report.error
        return report

    def deliver(self, now: datetime = NOW):
        return deliver_pending(self.engine, self.settings, [self.feed], now=now)

    def digests(self) -> list[Digest]:
        with session_scope(self.engine) as s:
            return list(s.execute(select(Digest).order_by(Digest.id)).scalars())

    def recipients(self) -> dict[str, DigestRecipient]:
        with session_scope(self.engine) as s:
            return {r.address: r for r in s.execute(select(DigestRecipient)).scalars()}


@pytest.fixture
def world(engine, litmon_env, feeds_dir, corpus, smtp_server):
    def make(sink=None, *, extra: dict[str, str] | None = None, **feed_options) -> World:
        env = {**litmon_env, **(sink or smtp_server).env(), **(extra or {})}
        return World(engine, env, write_feed(feeds_dir, **feed_options))
    return make


def normalise(raw: bytes, feeds_dir: Path) -> bytes:
    text = raw.decode("utf-8").replace("\r\n", "\n")
    text = re.sub(r"(?m)^Date: .*$", "Date: <DATE>", text)
    text = re.sub(r"(?m)^Message-ID: .*$", "Message-ID: <MESSAGE-ID>", text)
    boundaries = set(re.findall(r'boundary="([^"]+)"', text))
    for i, b in enumerate(sorted(boundaries)):
        text = text.replace(b, f"BOUNDARY-{i}")
    return text.replace(str(feeds_dir), "<FEEDS_DIR>").encode("utf-8")


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {path} did not exist; written now, check it and rerun")
    assert data.decode("utf-8") == path.read_text(encoding="utf-8"), f"differs from {path}"


# -- content ----------------------------------------------------------------------------------

def test_digest_is_delivered_to_every_recipient_and_matches_the_golden_files(world, smtp_server, feeds_dir):
    w = world(extra={"LITMON_REPORT_URL": "https://reports.example.org/litmon/"})
    report = w.run()
    assert report.digest_id is not None
    [outcome] = w.deliver()
    assert outcome.status == "sent", outcome.line()
    [got] = smtp_server.messages
    assert sorted(got.rcpt_tos) == RECIPIENTS
    assert got.mail_from == "digests@litmon.example.org"
    msg = got.message
    [digest] = w.digests()
    assert digest.status == "sent" and digest.sent_at is not None and digest.item_count == len(PMIDS)
    assert msg["Message-ID"] == digest.message_id == message_id_for(
        "wbc-ms", "2026-11-25T06:00Z", digest.id, "digests@litmon.example.org")
    assert msg["Message-ID"] == f"<litmon.wbc-ms.20261125T0600Z.{digest.id}@litmon.example.org>"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    subject = msg["Subject"]
    assert subject.startswith("[litmon] 7 new studies — Whole-body cryotherapy & multiple sclerosis (")
    assert subject.endswith(" with long-term follow-up)")
    assert {r.status for r in w.recipients().values()} == {"sent"}

    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    headers = "".join(f"{k}: {v}\n" for k, v in msg.items() if k.lower() != "content-type")
    check_golden("digest.txt", normalise((headers + "\n" + text).encode(), feeds_dir))
    check_golden("digest.html", normalise(html.encode(), feeds_dir))

    # What a reader needs is there: long-term first, evidence, notices, links, the rest linked.
    assert text.index("Long-term follow-up:") < text.index("No long-term follow-up") \
        if "No long-term follow-up" in text else True
    assert "RETRACTED" in text and "Notice: ErratumIn" in text
    assert "https://pubmed.ncbi.nlm.nih.gov/" in text and "https://doi.org/" in text
    assert "1 more study not shown here." in text
    assert "https://reports.example.org/litmon/wbc-ms/latest.html" in html
    assert "vitamin D<sub>3</sub>" in html  # inline markup kept, sanitised
    assert "<script" not in html and "<img" not in html and "src=" not in html
    assert str(w.feed_path) in text  # the footer says which file to edit


def test_without_smtp_the_digest_is_written_to_the_outbox(world, tmp_path):
    w = world(extra={"LITMON_SMTP_HOST": ""})
    w.run()
    [outcome] = w.deliver()
    assert outcome.status == "written"
    assert outcome.path == tmp_path / "outbox" / "wbc-ms" / f"20261125T0600Z-{w.digests()[0].id}.eml"
    assert str(outcome.path) in outcome.line()
    msg = BytesParser(policy=policy.default).parsebytes(outcome.path.read_bytes())
    assert msg["Message-ID"] == w.digests()[0].message_id
    assert outcome.path.with_suffix(".html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(outcome.path.parent.glob("*.part"))
    assert w.digests()[0].status == "sent"


def test_nothing_new_makes_no_digest_unless_send_when_empty(world, corpus, smtp_server):
    corpus.term_predicate = lambda term, rec: False
    w = world()
    assert w.run().digest_id is None and w.digests() == []
    w = world(send_when_empty=True)
    assert w.run().digest_id is not None
    [outcome] = w.deliver()
    assert outcome.status == "sent"
    msg = smtp_server.messages[0].message
    assert msg["Subject"] == "[litmon] No new studies — Whole-body cryotherapy & multiple sclerosis"
    assert "No new studies this period." in msg.get_body(("plain",)).get_content()


# -- the outbox: one digest per (feed, period) --------------------------------------------------

def test_a_second_run_in_the_same_period_sends_nothing_and_new_articles_wait(world, corpus, smtp_server):
    w = world()
    w.run()
    assert [o.status for o in w.deliver()] == ["sent"]
    corpus.term_predicate = lambda term, rec: rec.pmid in PMIDS + ["11700088"]
    corpus.set_entry_date("11700088", NOW.date())  # entered PubMed today: inside the window
    again = w.run(NOW + timedelta(hours=2))  # same period: 06:00 slot
    assert again.digest_id is None
    assert w.deliver(NOW + timedelta(hours=2)) == []
    assert len(smtp_server.messages) == 1
    with session_scope(w.engine) as s:
        waiting = s.execute(select(FeedArticle.pmid).where(FeedArticle.digest_id.is_(None))).scalars().all()
    assert waiting == ["11700088"]
    nxt = w.run(NOW + timedelta(days=1))  # next period: the waiting article is announced
    assert nxt.digest_id is not None
    [outcome] = w.deliver(NOW + timedelta(days=1))
    assert outcome.status == "sent" and len(smtp_server.messages) == 2
    assert smtp_server.messages[1].message["Subject"].startswith("[litmon] 1 new study — ")


def test_litmon_run_delivers_exactly_one_digest_per_feed_and_period(cli, corpus, feeds_dir, smtp_server):
    write_feed(feeds_dir)
    first = cli("run", env=smtp_server.env())
    assert first.code == 0, first.err
    assert "sent (2 of 2 recipients accepted)" in first.out
    again = cli("run", env=smtp_server.env())
    assert again.code == 0, again.err
    assert len(smtp_server.messages) == 1
    status = cli("status")
    assert "digests:   1 sent" in status.out


def test_two_runs_at_once_still_make_one_digest_and_one_email(cli, corpus, feeds_dir, smtp_server):
    write_feed(feeds_dir)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(cli("run", env=smtp_server.env())))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r.code for r in results] == [0, 0], [r.err for r in results]
    assert len(smtp_server.messages) == 1
    assert len(smtp_server.messages[0].rcpt_tos) == 2


def test_run_no_send_leaves_the_digest_pending_and_preview_shows_it(cli, corpus, feeds_dir, smtp_server):
    write_feed(feeds_dir)
    before = cli("digest", "preview", env=smtp_server.env())
    assert before.code == 0 and "No new studies" in before.out  # never run: nothing to show
    assert cli("run", "--no-send", env=smtp_server.env()).code == 0
    assert smtp_server.messages == []
    nothing_new = cli("digest", "preview", env=smtp_server.env())
    assert nothing_new.code == 0 and "Subject: [litmon] No new studies" in nothing_new.out
    past = cli("digest", "preview", "--period", "latest", "--format", "eml", env=smtp_server.env())
    assert past.code == 0 and "Message-ID: <litmon.wbc-ms." in past.out
    sent = cli("digest", "send", env=smtp_server.env())
    assert sent.code == 0 and " sent (" in sent.out
    assert len(smtp_server.messages) == 1
    assert cli("digest", "send", env=smtp_server.env()).out.strip() == "no digest is due"


# -- SMTP failures ----------------------------------------------------------------------------

def test_451_is_retried_later_and_delivered_once_accepted(world, smtp_server):
    w = world()
    w.run()
    smtp_server.fail_data("451 4.3.0 Try again later")
    [first] = w.deliver()
    assert first.status == "deferred" and "451" in first.detail
    [d] = w.digests()
    assert d.status == "pending" and d.attempts == 1 and "451" in d.last_error
    assert w.deliver(NOW + timedelta(seconds=30)) == []  # not due yet: backoff
    [second] = w.deliver(first.next_attempt_at + timedelta(seconds=1))
    assert second.status == "sent"
    assert len(smtp_server.messages) == 1 and smtp_server.data_attempts == 2
    [d] = w.digests()
    assert d.status == "sent" and d.attempts == 2
    assert smtp_server.messages[0].message["Message-ID"] == d.message_id


def test_backoff_doubles_and_is_capped(world, smtp_server):
    w = world(extra={"LITMON_DIGEST_RETRY_SECONDS": "600"})
    w.run()
    smtp_server.fail_data("421 4.7.0 Too busy", times=10)
    now, gaps = NOW, []
    for _ in range(7):
        [o] = w.deliver(now)
        assert o.status == "deferred"
        gaps.append(o.next_attempt_at - now)
        now = o.next_attempt_at
    assert gaps[:3] == [timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40)]
    assert gaps[-1] == timedelta(hours=6)


def test_550_for_every_recipient_is_a_permanent_failure_shown_in_status(world, smtp_server, cli):
    w = world()
    w.run()
    smtp_server.refuse_rcpt("*", "550 5.1.1 No such user")
    [o] = w.deliver()
    assert o.status == "failed" and "550" in o.detail
    [d] = w.digests()
    assert d.status == "failed" and "550" in d.last_error
    assert {r.status for r in w.recipients().values()} == {"refused"}
    assert w.deliver(NOW + timedelta(days=1)) == []  # no retry loop
    assert smtp_server.messages == []
    status = cli("status")
    assert status.code == 1 and "FAILED digest 2026-11-25T06:00Z" in status.out
    smtp_server.accept_all()
    assert cli("digest", "send", "--retry-failed", env=smtp_server.env()).code == 1  # refused ones stay refused


def test_550_at_data_fails_the_digest(world, smtp_server):
    w = world()
    w.run()
    smtp_server.fail_data("554 5.6.0 Message rejected")
    [o] = w.deliver()
    assert o.status == "failed"
    assert {r.status for r in w.recipients().values()} == {"failed"}


def test_one_of_two_recipients_refused_is_recorded_and_the_other_gets_it(world, smtp_server):
    w = world()
    w.run()
    smtp_server.refuse_rcpt("ben@example.org", "550 5.1.1 <ben@example.org>: no such mailbox")
    [o] = w.deliver()
    assert o.status == "sent" and "ben@example.org" in o.line()
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.org"]]
    r = w.recipients()
    assert r["ana@example.org"].status == "sent"
    assert r["ben@example.org"].status == "refused" and r["ben@example.org"].smtp_code == 550
    [d] = w.digests()
    assert d.status == "sent" and "ben@example.org" in d.last_error


def test_a_recipient_deferred_with_4xx_is_retried_alone(world, smtp_server):
    w = world()
    w.run()
    smtp_server.refuse_rcpt("ben@example.org", "450 4.2.1 Mailbox busy")
    [o] = w.deliver()
    assert o.status == "deferred"
    smtp_server.accept_all()
    [o] = w.deliver(o.next_attempt_at)
    assert o.status == "sent"
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.org"], ["ben@example.org"]]
    ids = {m.message["Message-ID"] for m in smtp_server.messages}
    assert len(ids) == 1  # the same message, not a second digest


def test_connection_dropped_during_data_is_retried_with_the_same_message_id(world, smtp_server):
    w = world()
    w.run()
    smtp_server.drop_data()
    [o] = w.deliver()
    assert o.status == "deferred" and "closed the connection" in o.detail
    [o] = w.deliver(o.next_attempt_at)
    assert o.status == "sent"
    assert smtp_server.data_attempts == 2 and len(smtp_server.messages) == 1
    assert smtp_server.messages[0].message["Message-ID"] == w.digests()[0].message_id


def test_connection_refused_is_temporary(world, smtp_server):
    w = world(extra={"LITMON_SMTP_PORT": "1"})
    w.run()
    [o] = w.deliver()
    assert o.status == "deferred"


# -- TLS --------------------------------------------------------------------------------------

def test_starttls_required_and_offered_delivers_over_tls_with_login(world, smtp_tls_server):
    w = world(smtp_tls_server)
    w.run()
    [o] = w.deliver()
    assert o.status == "sent", o.line()
    [got] = smtp_tls_server.messages
    assert got.tls and got.login == "litmon-test"
    assert smtp_tls_server.logins == [("litmon-test", True)]


def test_implicit_tls_delivers(world, make_smtp_server):
    sink = make_smtp_server(tls="ssl")
    w = world(sink)
    w.run()
    [o] = w.deliver()
    assert o.status == "sent", o.line()
    assert sink.messages[0].tls


def test_no_starttls_offered_while_a_password_is_set_refuses_to_send(world, make_smtp_server):
    sink = make_smtp_server(tls="none")
    w = world(sink, extra={"LITMON_SMTP_SECURITY": "starttls", "LITMON_SMTP_USERNAME": "litmon-test",
                           "LITMON_SMTP_PASSWORD": "s3cret-test-password"})
    w.run()
    [o] = w.deliver()
    assert o.status == "failed" and "does not offer STARTTLS" in o.detail
    assert sink.logins == [] and sink.rcpt_seen == [] and sink.messages == []


def test_an_untrusted_certificate_is_refused(world, smtp_tls_server):
    w = world(smtp_tls_server, extra={"LITMON_SMTP_CA_FILE": ""})  # self-signed, not trusted
    w.run()
    [o] = w.deliver()
    assert o.status == "failed" and "not trusted" in o.detail
    assert smtp_tls_server.logins == [] and smtp_tls_server.messages == []


def test_verify_false_is_the_explicit_opt_out(world, smtp_tls_server):
    w = world(smtp_tls_server, extra={"LITMON_SMTP_CA_FILE": "", "LITMON_SMTP_VERIFY": "false"})
    w.run()
    [o] = w.deliver()
    assert o.status == "sent"


# -- untrusted text ---------------------------------------------------------------------------

def test_script_in_a_title_and_header_injection_attempts_are_neutralised(world, corpus, smtp_server):
    def poison(el: Any) -> None:
        from lxml import etree

        t = el.find("MedlineCitation/Article/ArticleTitle")
        for child in list(t):
            t.remove(child)
        t.text = "Cryostimulation "
        italic = etree.SubElement(t, "i")
        italic.text = "in vivo"
        italic.tail = "\r\nBcc: evil@example.net <b onclick='x()'>bold</b> "
        script = etree.SubElement(t, "script")
        script.text = "alert(1)"
        script.tail = " =?UTF-8?Q?=0A?=Bcc: evil2@example.net"
        img = etree.SubElement(t, "img", src="https://tracker.example.net/x.png", onerror="alert(2)")
        img.tail = " end"

    corpus.revise("28731372", edit=poison)
    w = world(title='"WBC\\r\\nBcc: evil@example.net =?UTF-8?Q?=0A?=Bcc: evil2@example.net"')
    w.run()
    [o] = w.deliver()
    assert o.status == "sent"
    raw = smtp_server.messages[0].data
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert "Bcc" not in msg and msg.get_all("Bcc") is None
    names = [k.lower() for k in msg.keys()]
    assert names.count("subject") == 1 and "bcc" not in names
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^bcc:", head)
    assert "\n" not in msg["Subject"] and "=?" not in msg["Subject"].replace("= ?", "")
    assert smtp_server.messages[0].rcpt_tos == RECIPIENTS  # nobody was added to the envelope
    html = msg.get_body(("html",)).get_content()
    assert "<script" not in html and "onerror" not in html and "tracker.example.net" not in html
    assert "<i>in vivo</i>" in html
    title = html.split("Cryostimulation ", 1)[1].split("</a>", 1)[0]
    assert "<b" not in title and "&lt;b onclick" in title  # text that looks like a tag stays text


def test_header_text_strips_line_breaks_and_encoded_words():
    assert header_text("a\r\nBcc: x") == "a Bcc: x"
    assert "=?" not in header_text("=?UTF-8?Q?=0A?=Bcc: x")
    assert header_text("a\x00b\u2028c") in ("a b c", "a b\u2028c")


def test_make_message_refuses_a_header_that_would_break_a_line(world):
    w = world()
    content = DigestContent(feed=w.feed, period="2026-11-25T06:00Z", studies=())
    built = make_message(w.settings, content, message_id="<x@y>\r\nBcc: z@example.net")
    assert "Bcc" not in BytesParser(policy=policy.default).parsebytes(built.as_bytes())


# -- crash and restart ------------------------------------------------------------------------

def test_a_pending_digest_is_delivered_after_a_restart(world, smtp_server, litmon_env):
    w = world()
    w.run()
    w.engine.dispose()  # the process that ran is gone
    fresh = make_engine(litmon_env["LITMON_DATABASE_URL"])
    try:
        outcomes = deliver_pending(fresh, w.settings, [w.feed], now=NOW + timedelta(hours=1))
    finally:
        fresh.dispose()
    assert [o.status for o in outcomes] == ["sent"]
    assert len(smtp_server.messages) == 1


def test_an_expired_sending_claim_is_resent_with_the_same_message_id(world, smtp_server):
    w = world()
    w.run()
    # A process claimed the digest, maybe sent it, and died before recording the result.
    from monitor.digest import claim_next

    digest_id = claim_next(w.engine, w.settings, {"wbc-ms": w.feed}, NOW, "dead-host:1:abc")
    [claimed] = w.digests()
    assert claimed.status == "sending"
    assert deliver_one(w.engine, w.settings, [w.feed], now=NOW + timedelta(seconds=10)) is None  # lease held
    later = NOW + timedelta(hours=1)
    o = deliver_one(w.engine, w.settings, [w.feed], now=later)
    assert o is not None and o.digest_id == digest_id and o.status == "sent"
    [d] = w.digests()
    assert d.attempts == 2 and d.message_id == claimed.message_id
    assert smtp_server.messages[0].message["Message-ID"] == claimed.message_id


def test_a_claim_is_won_by_one_caller_only(world):
    w = world()
    w.run()
    from monitor.digest import claim_next

    won = [claim_next(w.engine, w.settings, {"wbc-ms": w.feed}, NOW, f"h:{i}") for i in range(3)]
    assert sum(x is not None for x in won) == 1
    with session_scope(w.engine) as s:
        s.execute(update(Digest).values(lease_expires_at=NOW - timedelta(seconds=1)))
    assert claim_next(w.engine, w.settings, {"wbc-ms": w.feed}, NOW, "h:9") is not None


# -- rendering in a browser (optional) ----------------------------------------------------------

@pytest.mark.browser
def test_html_part_renders_in_headless_chromium(world, smtp_server, tmp_path):
    chromium = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                     if Path(p).exists()), None) or shutil.which("chromium")
    if chromium is None:
        pytest.skip("headless Chromium not installed (/usr/bin/chromium)")
    w = world()
    w.run()
    w.deliver()
    html = smtp_server.messages[0].message.get_body(("html",)).get_content()
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "digest.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=390,2000",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=60)
    assert shot.exists() and shot.stat().st_size > 1000


def test_litmon_run_without_smtp_says_where_the_digest_was_written(cli, corpus, feeds_dir, tmp_path):
    write_feed(feeds_dir)
    result = cli("run")
    assert result.code == 0, result.err
    written = re.search(r"written to (\S+\.eml)", result.out)
    assert written, result.out
    path = Path(written.group(1))
    assert path.parent == tmp_path / "outbox" / "wbc-ms" and path.exists()
    assert path.with_suffix(".html").exists()


def test_preview_writes_html_or_eml_to_a_file_without_sending(cli, corpus, feeds_dir, smtp_server, tmp_path):
    write_feed(feeds_dir)
    assert cli("run", "--no-send", env=smtp_server.env()).code == 0
    out = tmp_path / "preview.html"
    result = cli("digest", "preview", "--period", "latest", "--format", "html", "--output", str(out))
    assert result.code == 0 and "7 studies" in result.err
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    missing = cli("digest", "preview", "--period", "1999-01-01T06:00Z")
    assert missing.code == 2 and "no digest for period" in missing.err
    assert smtp_server.messages == []


@pytest.mark.parametrize(("title", "abstract", "note"), [
    ("Whole-body cryotherapy in multiple sclerosis",
     "Twenty patients received ten sessions of whole-body cryotherapy at -110 °C.", None),
    ("Cooling vest and walking in multiple sclerosis",
     "Patients wore a cooling vest during a six-minute walk test.",
     "Other cold treatment: cooling garment/vest, not whole-body cryotherapy"),
    ("Vitamin D and relapses in multiple sclerosis",
     "Serum vitamin D was measured in 120 patients.",
     "Mentions no cold treatment; it matched the search words only"),
])
def test_the_relevance_note_says_what_the_real_classifier_found(title, abstract, note):
    from types import SimpleNamespace

    from monitor.classify import classify_article
    from monitor.render import study_view

    article = Article(pmid="1", title=title, abstract=(AbstractSection(abstract),))
    result = classify_article(article, threshold_weeks=26)
    row = SimpleNamespace(**{k: v for k, v in result.to_json().items() if k != "details"},
                          details=result.to_json())
    assert study_view(article, row).relevance_text == note
