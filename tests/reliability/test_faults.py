"""The fault matrix, outside-world rows, through real ``litmon`` processes: every E-utilities
fault form, a server that drips one byte a second, hostile XML, SMTP servers that refuse, drop,
stall or lack TLS, and malformed feed files.

Several rows share one process to keep the suite quick: a process runs many feeds in the order
of their file names, one request at a time, so faults queued in order reach the feeds in order.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Digest, DigestRecipient, FeedRow
from tests.reliability.conftest import (
    assert_no_partial_records,
    count,
    feed_rows,
    runs,
    stored_pmids,
)
from tests.standin.eutils import PUBMED_HEAD

pytestmark = pytest.mark.reliability

LOOKBACK = date(2025, 6, 1)
QUERY = '"multiple sclerosis"[tiab]'


def write_feeds(feeds_dir: Path, names: list[str], recipients: dict[str, list[str]] | None = None) -> None:
    for old in feeds_dir.glob("*.toml"):
        old.unlink()
    for name in names:
        addresses = ", ".join(f'"{a}"' for a in (recipients or {}).get(name, []))
        (feeds_dir / f"{name}.toml").write_text(
            f"name = \"{name}\"\nquery = '{QUERY}'\nrecipients = [{addresses}]\n", encoding="utf-8")


# -- E-utilities ----------------------------------------------------------------------------------

# (feed, fault kind, options); each fault is given to every attempt of one feed's first EFetch.
PERSISTENT = [
    ("f01-429", "429", {}),
    ("f02-429-retry-after", "429", {"retry_after": 1}),
    ("f03-500", "500", {}),
    ("f04-502", "502", {}),
    ("f05-503", "503", {}),
    ("f06-503-retry-after", "503", {"retry_after": 1}),
    ("f07-html-at-200", "html", {}),
    ("f08-error-at-200", "error", {}),
    ("f09-truncated", "truncated", {}),
    ("f10-empty", "empty", {}),
    ("f11-reset", "reset", {}),
    ("f12-slow", "slow", {"seconds": 2.5}),
    ("f13-expired", "expired", {}),
    ("f14-400", "400", {}),  # not worth retrying: one attempt
]
# An HTTP 400, and "Unable to obtain query" to an EFetch by id (no history involved), cannot
# get better by asking again: one attempt, then the run fails with NCBI's words.
NOT_RETRIED = {"400", "expired"}
ATTEMPTS = 3
REASON = {  # what the run's error must say, so an operator can tell the forms apart
    "f01-429": "429", "f02-429-retry-after": "Retry-After", "f03-500": "500", "f04-502": "502",
    "f05-503": "503", "f06-503-retry-after": "503", "f07-html-at-200": "HTML",
    "f08-error-at-200": "Search Backend failed", "f09-truncated": "XML", "f10-empty": "empty",
    "f11-reset": "connection", "f12-slow": "timeout", "f13-expired": "Unable to obtain query",
    "f14-400": "400",
}


def test_every_eutils_fault_form_fails_its_run_cleanly_then_heals_without_duplicates(
        litmon, db, eutils_server, feeds_dir):
    write_feeds(feeds_dir, [name for name, _, _ in PERSISTENT])
    for _name, kind, options in PERSISTENT:
        eutils_server.inject("efetch", kind, times=1 if kind in NOT_RETRIED else ATTEMPTS, **options)
    env = {"LITMON_HTTP_MAX_ATTEMPTS": str(ATTEMPTS), "LITMON_HTTP_TIMEOUT": "1",
           "LITMON_FETCH_BATCH_SIZE": "5",
           # With a key NCBI allows 10 requests/s: the same pacing code, a quicker test.
           "LITMON_NCBI_API_KEY": "test-key-0123456789"}
    started = time.monotonic()
    proc = litmon("run", "--no-send", env=env)
    assert proc.wait(180) == 1, proc.text()
    took = time.monotonic() - started
    assert not eutils_server.faults, "a fault was not consumed where it was meant to be"
    by_feed = {r.feed_id: r for r in runs(db)}
    rows = feed_rows(db)
    for name, kind, _ in PERSISTENT:
        run = by_feed[rows[name].id]
        assert run.status == "failed", (name, run.error)
        assert REASON[name].lower() in (run.error or "").lower(), (name, run.error)
        assert rows[name].watermark is None, name
        assert run.requests == (1 + 1 if kind in NOT_RETRIED else 1 + ATTEMPTS), (name, run.requests)
        assert f"{name}: run {run.id} FAILED" in proc.text()
    assert count(db, ArticleRow) == 0
    assert "Traceback" not in proc.text()
    # Bounded: 14 feeds × at most 3 attempts at 10 requests/s, capped waits, 1 s timeouts.
    assert took < 60, f"{took:.0f} s"
    assert "test-key-0123456789" not in proc.text()

    # Heal, with every transient form once more on the way — one for each of the 12 batches of
    # 5 that the first feed fetches: each batch retried once, nothing stored twice.
    eutils_server.reset_log()
    transient = [(kind, options) for _name, kind, options in PERSISTENT if kind not in NOT_RETRIED]
    offered = eutils_server.pmids_between(LOOKBACK, date.today())
    assert len(transient) == -(-len(offered) // 5) == 12
    for kind, options in transient:
        eutils_server.inject("efetch", kind, times=1, **options)
    take_fault, efetches = eutils_server._take_fault, itertools.count()

    def every_other_efetch(endpoint: str) -> Any:  # fault, clean, fault, clean, ...
        return None if endpoint == "efetch" and next(efetches) % 2 else take_fault(endpoint)

    eutils_server._take_fault = every_other_efetch
    again = litmon("run", "--no-send", env=env)
    assert again.wait(180) == 0, again.text()
    assert not eutils_server.faults
    assert [e.fault for e in eutils_server.requests("efetch")][::2] == [k for k, _ in transient]
    stored = stored_pmids(db)
    assert len(stored) == len(set(stored)) == len(offered) and set(stored) == offered
    assert set(eutils_server.fetched_pmids()) == offered
    assert_no_partial_records(db)
    assert all(r.watermark == date.today() for r in feed_rows(db).values())


class DripServer:
    """Answers every request with a complete, valid HTTP response — one byte a second."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {len(self.body)}\r\n"
                "\r\n").encode()
        with conn:
            try:
                conn.recv(65536)
                for i in range(len(head + self.body)):
                    conn.sendall((head + self.body)[i:i + 1])
                    if self.stop.wait(1.0):
                        return
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def drip_server() -> Iterator[DripServer]:
    server = DripServer(b'<?xml version="1.0"?><eSearchResult><Count>0</Count><IdList/></eSearchResult>')
    yield server
    server.close()


def test_a_server_dripping_one_byte_a_second_is_ended_by_the_overall_deadline(
        litmon, db, drip_server, sqlite_only):
    proc = litmon("run", "--no-send", env={
        "LITMON_EUTILS_URL": drip_server.url, "LITMON_HTTP_DEADLINE": "3",
        "LITMON_HTTP_TIMEOUT": "2", "LITMON_HTTP_MAX_ATTEMPTS": "2"})
    started = time.monotonic()
    assert proc.wait(60) == 1, proc.text()
    took = time.monotonic() - started
    # Two attempts of 3 s each plus start-up; each byte came well within the 2 s read timeout,
    # so only the wall-clock deadline can have ended them.
    assert took < 2 * 3 + 12, f"{took:.1f} s"
    assert drip_server.connections == 2
    [run] = runs(db)
    assert run.status == "failed" and "deadline" in (run.error or ""), run.error
    assert count(db, ArticleRow) == 0 and feed_rows(db)["wbc-ms"].watermark is None


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the database plays a small part in these rows, and the process rows
    (test_processes.py) run on both databases."""
    return f"sqlite:///{tmp_path / 'litmon.db'}"


@pytest.fixture
def sqlite_only() -> None:
    """Marks the rows where the database plays no part at all."""


# -- hostile XML --------------------------------------------------------------------------------

BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [\n <!ENTITY a "aaaaaaaaaa">\n'
        + b"".join(f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode()
                   for i in range(9))
        + b']>\n<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID Version="1">1</PMID>'
          b"<Article><ArticleTitle>&j;</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
          b"</PubmedArticleSet>")


def evil_documents(dtd_url: str) -> dict[str, bytes]:
    record = (b'<PubmedArticle><MedlineCitation><PMID Version="1">{pmid}</PMID><Article>'
              b"<ArticleTitle>{title}</ArticleTitle></Article></MedlineCitation></PubmedArticle>")
    return {
        "x1-billion-laughs": BOMB,
        "x2-external-dtd-entity": (
            b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet SYSTEM "' + dtd_url.encode() + b'">\n'
            b"<PubmedArticleSet>" + record.replace(b"{pmid}", b"1").replace(b"{title}", b"&evil;")
            + b"</PubmedArticleSet>"),
        "x3-external-entity-file": (
            b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM '
            b'"file:///etc/passwd">]>\n<PubmedArticleSet>'
            + record.replace(b"{pmid}", b"1").replace(b"{title}", b"&xxe;") + b"</PubmedArticleSet>"),
        "x4-invalid": PUBMED_HEAD + b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PM",
        "x5-not-pubmed": b'<?xml version="1.0"?><html><body>hello</body></html>',
    }


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    """A TCP port that records whether anyone connects (an external DTD must never be fetched)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(0.1)
    yield sock, f"http://127.0.0.1:{sock.getsockname()[1]}/evil.dtd"
    sock.close()


def test_xml_bombs_external_dtds_and_invalid_xml_are_rejected_and_the_database_is_unchanged(
        litmon, db, eutils_server, feeds_dir, listener, sqlite_only):
    sock, dtd_url = listener
    documents = evil_documents(dtd_url)
    write_feeds(feeds_dir, list(documents))
    queue = list(documents.values())
    real_efetch = eutils_server.efetch

    def efetch(params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if queue:
            return 200, {"Content-Type": "text/xml; charset=UTF-8"}, queue.pop(0)
        return real_efetch(params)

    eutils_server.efetch = efetch  # the handler looks it up on each request
    started = time.monotonic()
    proc = litmon("run", "--no-send", env={"LITMON_HTTP_MAX_ATTEMPTS": "1"})
    assert proc.wait(120) == 1, proc.text()
    assert time.monotonic() - started < 60
    assert not queue
    failed = {r.feed_id: r for r in runs(db)}
    for name, row in feed_rows(db).items():
        assert failed[row.id].status == "failed", (name, failed[row.id].error)
        assert row.watermark is None
    assert count(db, ArticleRow) == 0
    with pytest.raises(TimeoutError):
        sock.accept()  # nobody came for the DTD
    assert "root:" not in proc.text()


# -- SMTP ---------------------------------------------------------------------------------------

class ScriptedData:
    """A DATA hook answering from a script, one entry per DATA command: accept, 451, 554,
    drop (close without a reply), stall (answer only after the client's timeout)."""

    def __init__(self, sink: Any, script: list[str], stall_seconds: float) -> None:
        self.sink, self.script, self.stall_seconds = sink, list(script), stall_seconds
        self.original = sink.handle_DATA
        self.seen: list[str] = []

    async def __call__(self, server: Any, session: Any, envelope: Any) -> str:
        action = self.script.pop(0) if self.script else "accept"
        self.seen.append(action)
        if action == "451":
            return "451 4.3.0 Try again later"
        if action == "554":
            return "554 5.6.0 Message refused"
        if action == "drop":
            server.transport.abort()
            return "421 dropped"
        if action == "stall":
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 Too late"
        return await self.original(server, session, envelope)


def test_smtp_that_refuses_drops_or_stalls_keeps_digests_pending_or_fails_them_for_good(
        litmon, db, eutils_server, feeds_dir, smtp_server, sqlite_only):
    recipients = {
        "m1-451": ["a@example.org"],
        "m2-drop": ["b@example.org"],
        "m3-stall": ["c@example.org"],
        "m4-554-at-data": ["d@example.org"],
        "m5-550-everyone": ["gone@example.org"],
        "m6-550-one-of-two": ["e@example.org", "nobody@example.org"],
    }
    write_feeds(feeds_dir, list(recipients), recipients)
    smtp_server.refuse_rcpt("gone@example.org", "550 5.1.1 No such user")
    smtp_server.refuse_rcpt("nobody@example.org", "550 5.1.1 No such user")
    # Digests go out in the order their runs made them: m1, m2, ... (m5 never reaches DATA).
    hook = ScriptedData(smtp_server, ["451", "drop", "stall", "554"], stall_seconds=4)
    smtp_server.handle_DATA = hook
    env = smtp_server.env(LITMON_SMTP_TIMEOUT="2", LITMON_DIGEST_RETRY_SECONDS="600")
    proc = litmon("run", env=env)
    code = proc.wait(120)
    assert hook.seen == ["451", "drop", "stall", "554", "accept"], (hook.seen, proc.text())
    assert code == 1, proc.text()  # m4 and m5 failed for good
    state = digest_states(db)
    assert state["m1-451"][0] == "pending" and "451" in state["m1-451"][1]
    assert state["m2-drop"][0] == "pending"
    assert state["m3-stall"][0] == "pending" and "timed out" in state["m3-stall"][1].lower()
    assert state["m4-554-at-data"][0] == "failed" and "554" in state["m4-554-at-data"][1]
    assert state["m5-550-everyone"][0] == "failed" and "550" in state["m5-550-everyone"][1]
    assert state["m6-550-one-of-two"][0] == "sent" and "nobody@example.org" in state["m6-550-one-of-two"][1]
    assert recipient_states(db)["nobody@example.org"] == "refused"
    assert len(smtp_server.messages) == 1

    # A later pass, once the back-off is over: the pending ones go out once each, the failed
    # ones are not tried again (no retry loop), and an immediate third pass sends nothing.
    with session_scope(db) as s:  # ten minutes later
        s.execute(update(Digest).where(Digest.status == "pending")
                  .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    hook.seen.clear()
    later = litmon("digest", "send", env=env)
    assert later.wait(60) == 0, later.text()
    assert hook.seen == ["accept"] * 3, hook.seen
    state = digest_states(db)
    assert {n: s for n, (s, _) in state.items()} == {
        "m1-451": "sent", "m2-drop": "sent", "m3-stall": "sent", "m4-554-at-data": "failed",
        "m5-550-everyone": "failed", "m6-550-one-of-two": "sent"}
    third = litmon("digest", "send", env=env)
    assert third.wait(60) == 0
    assert len(smtp_server.messages) == 4
    ids = [m.message["Message-ID"] for m in smtp_server.messages]
    assert len(set(ids)) == 4


def digest_states(engine: Any) -> dict[str, tuple[str, str]]:
    with session_scope(engine) as s:
        rows = s.execute(select(FeedRow.name, Digest.status, Digest.last_error)
                         .join(Digest, Digest.feed_id == FeedRow.id)).all()
    return {name: (status, error or "") for name, status, error in rows}


def recipient_states(engine: Any) -> dict[str, str]:
    with session_scope(engine) as s:
        return dict(s.execute(select(DigestRecipient.address, DigestRecipient.status)).all())


def test_smtp_without_starttls_never_sees_the_password(
        litmon, db, eutils_server, feeds_dir, make_smtp_server, sqlite_only):
    write_feeds(feeds_dir, ["wbc-ms"], {"wbc-ms": ["reader@example.org"]})
    plain = make_smtp_server(tls="none", auth=False)
    env = plain.env(LITMON_SMTP_SECURITY="starttls", LITMON_SMTP_USERNAME="litmon-test",
                    LITMON_SMTP_PASSWORD="s3cret-test-password", LITMON_SMTP_VERIFY="true")
    proc = litmon("run", env=env)
    assert proc.wait(120) == 1, proc.text()
    [(status, error)] = digest_states(db).values()
    assert status == "failed" and "STARTTLS" in error
    assert plain.messages == [] and plain.logins == [] and plain.data_attempts == 0
    assert "s3cret-test-password" not in proc.text()


def test_smtp_server_that_never_greets_is_a_timeout_and_the_digest_stays_pending(
        litmon, db, eutils_server, feeds_dir, listener, sqlite_only):
    sock, _ = listener  # accepts connections (the kernel does) and never says a word
    write_feeds(feeds_dir, ["wbc-ms"], {"wbc-ms": ["reader@example.org"]})
    env = {"LITMON_SMTP_HOST": "127.0.0.1", "LITMON_SMTP_PORT": str(sock.getsockname()[1]),
           "LITMON_SMTP_SECURITY": "none", "LITMON_SMTP_TIMEOUT": "2",
           "LITMON_MAIL_FROM": "litmon <digests@litmon.example.org>"}
    started = time.monotonic()
    proc = litmon("run", env=env)
    assert proc.wait(60) == 0, proc.text()  # deferred is not a failure of the run
    assert time.monotonic() - started < 30
    [(status, error)] = digest_states(db).values()
    assert status == "pending" and "timed out" in error.lower(), error


# -- malformed feed files -------------------------------------------------------------------------

BAD_FEEDS = {
    "not TOML": ("bad.toml", 'name = "bad"\nquery = "x\n', ["bad.toml", "TOML"]),
    "bad cron": ("bad.toml", 'name = "bad"\nquery = "x"\nschedule = "0 25 * * *"\n',
                 ["bad.toml", "schedule", "0 25 * * *", "cron"]),
    "bad address": ("bad.toml", 'name = "bad"\nquery = "x"\nrecipients = ["someone at example"]\n',
                    ["bad.toml", "recipients", "someone at example", "not an email address"]),
    "unknown key": ("bad.toml", 'name = "bad"\nquery = "x"\nshedule = "0 6 * * *"\n',
                    ["bad.toml", "shedule", "unknown key"]),
}


@pytest.mark.parametrize("case", list(BAD_FEEDS))
def test_serve_refuses_to_start_on_a_malformed_feed_file_and_names_file_key_and_problem(
        litmon, db, feeds_dir, case, sqlite_only):
    name, text, expected = BAD_FEEDS[case]
    (feeds_dir / name).write_text(text, encoding="utf-8")
    proc = litmon("serve")
    assert proc.wait(60) == 2, proc.text()
    out = proc.text()
    for part in expected:
        assert part in out, (part, out)
    assert "Traceback" not in out
    from monitor import lease

    assert lease.lease_state(db) is None and lease.heartbeats(db) == []


