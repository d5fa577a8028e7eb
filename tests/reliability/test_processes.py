"""The fault matrix, process rows: replicas, kill -9 (during a fetch, a store, after SMTP 250),
a restart across missed slots and SIGTERM while a digest is being sent — each against real
``litmon run`` / ``litmon serve`` processes, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text, update

from monitor.runs import format_period
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Digest, FeedRow
from tests.reliability.conftest import (
    assert_no_partial_records,
    assert_one_digest_per_period,
    count,
    digests,
    feed_rows,
    runs,
    stored_pmids,
    wait_until,
)

pytestmark = pytest.mark.reliability

LOOKBACK = date(2025, 6, 1)


def offered(server: Any) -> set[str]:
    return server.pmids_between(LOOKBACK, date.today())


def with_recipients(feeds_dir: Any, *addresses: str) -> None:
    path = feeds_dir / "wbc-ms.toml"
    listed = ", ".join(f'"{a}"' for a in addresses)
    path.write_text(path.read_text().replace("recipients = []", f"recipients = [{listed}]"))


def message_ids(sink: Any) -> list[str]:
    return [m.message["Message-ID"] for m in sink.messages]


# -- two replicas, concurrent writers -------------------------------------------------------------

def test_two_litmon_runs_at_once_make_one_digest_one_email_and_no_lock_error(
        litmon, db, eutils_server, smtp_server, feeds_dir):
    """Two processes fire the same slot at the same moment (two replicas, or cron plus a hand
    run): on one SQLite file the second writer waits (BEGIN IMMEDIATE + busy_timeout) and
    neither fails; on both databases the unique (feed, period) gives one digest and one email."""
    with_recipients(feeds_dir, "reader@example.org")
    env = smtp_server.env(LITMON_SMTP_TIMEOUT="10")
    a, b = litmon("run", env=env), litmon("run", env=env)
    code_a, code_b = a.wait(120), b.wait(120)
    for proc, code in ((a, code_a), (b, code_b)):
        assert code == 0, proc.text()
        assert "database is locked" not in proc.text()
    assert sorted(stored_pmids(db)) == sorted(offered(eutils_server))
    assert_no_partial_records(db)
    [digest] = digests(db)
    assert digest.status == "sent"
    assert len(smtp_server.messages) == 1, message_ids(smtp_server)
    assert [r.status for r in runs(db)] == ["succeeded", "succeeded"]


# -- kill -9 --------------------------------------------------------------------------------------

def test_kill_9_during_a_fetch_keeps_whole_batches_and_the_next_run_resumes(
        litmon, db, eutils_server):
    eutils_server.inject("efetch", "slow", times=1000, seconds=0.6)
    first = litmon("run", "--no-send", env={"LITMON_FETCH_BATCH_SIZE": "10"})
    # Two batches fetched and stored, the third request in flight (the slow handler holds it).
    wait_until(lambda: len(eutils_server.requests("efetch")) >= 3, 90, "the third fetch", first)
    first.kill_group()
    eutils_server.clear_faults()
    before = set(stored_pmids(db))
    assert len(before) in (10, 20), len(before)  # whole batches only
    assert_no_partial_records(db)
    assert feed_rows(db)["wbc-ms"].watermark is None
    [killed] = runs(db)
    assert killed.status == "running"  # nobody could record the end: the row says running

    # `litmon status` knows better: that process is gone, so the run was interrupted — shown
    # as the feed's last run, a problem (exit 1) until a later run succeeds.
    status = litmon("status")
    assert status.wait(60) == 1, status.text()
    assert f"#{killed.id} interrupted" in status.text(), status.text()
    assert "running" not in status.text().split("wbc-ms", 1)[1], status.text()
    [marked] = runs(db)
    assert marked.status == "interrupted" and marked.finished_at is not None
    assert "interrupted" in (marked.error or "") and killed.holder in (marked.error or "")
    assert marked.found == killed.found and marked.window_start == killed.window_start

    eutils_server.reset_log()
    second = litmon("run", "--no-send", env={"LITMON_FETCH_BATCH_SIZE": "10"})
    assert second.wait(120) == 0, second.text()
    after = litmon("status")
    assert after.wait(60) == 0, after.text()  # the interrupted run is history now
    assert [r.status for r in runs(db)] == ["interrupted", "succeeded"]
    stored = stored_pmids(db)
    assert len(stored) == len(set(stored)) == len(offered(eutils_server))
    assert set(stored) == offered(eutils_server)
    assert not before & set(eutils_server.fetched_pmids()), "stored records were fetched again"
    assert feed_rows(db)["wbc-ms"].watermark == date.today()
    assert_no_partial_records(db)


def test_kill_9_inside_a_store_transaction_leaves_nothing_of_that_batch(
        litmon, db, database_url, eutils_server):
    """PostgreSQL: the test locks feed_article, so the run's first batch transaction stops at its
    third statement (articles and classifications written, links waiting); kill -9 there."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a lock held from outside can only stop a transaction midway on PostgreSQL; "
                    "SQLite is covered by the random kills below and by the soak")
    locker = create_engine(database_url)
    conn = locker.connect()
    trans = conn.begin()
    conn.execute(text("LOCK TABLE feed_article IN ACCESS EXCLUSIVE MODE"))
    try:
        proc = litmon("run", "--no-send", env={"LITMON_FETCH_BATCH_SIZE": "10"})

        def waiting_on_lock() -> bool:
            with locker.connect() as c:
                return bool(c.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE '%feed_article%' AND pid <> pg_backend_pid()")).scalar())

        wait_until(waiting_on_lock, 90, "the batch transaction to block on feed_article", proc)
        proc.kill_group()
    finally:
        trans.rollback()
        conn.close()
    time.sleep(0.5)  # the orphaned backend notices its client is gone and rolls back
    try:
        assert count(db, ArticleRow) == 0
        assert_no_partial_records(db)
        assert feed_rows(db)["wbc-ms"].watermark is None
    finally:
        locker.dispose()

    healed = litmon("run", "--no-send")
    assert healed.wait(120) == 0, healed.text()
    assert set(stored_pmids(db)) == offered(eutils_server)


def test_kill_9_at_random_moments_leaves_whole_batches_only(litmon, db, eutils_server, database_url):
    rng = random.Random(4711)
    seen: list[int] = []
    for _ in range(2 if database_url.startswith("sqlite") else 1):
        proc = litmon("run", "--no-send", env={"LITMON_FETCH_BATCH_SIZE": "3"})
        # Wait for the first fetch, then kill at a random moment of the batches that follow.
        base = len(eutils_server.requests("efetch"))
        wait_until(lambda b=base: len(eutils_server.requests("efetch")) > b, 90, "a fetch", proc)
        time.sleep(rng.uniform(0.0, 2.5))
        proc.kill_group()
        assert_no_partial_records(db)
        assert count(db, ArticleRow) % 3 == 0 or count(db, ArticleRow) == len(offered(eutils_server))
        seen.append(count(db, ArticleRow))
        assert feed_rows(db)["wbc-ms"].watermark is None
    healed = litmon("run", "--no-send", env={"LITMON_FETCH_BATCH_SIZE": "3"})
    assert healed.wait(120) == 0, healed.text()
    stored = stored_pmids(db)
    assert len(stored) == len(set(stored)) and set(stored) == offered(eutils_server), seen
    assert_no_partial_records(db)


class HangAfterData:
    """An aiosmtpd DATA hook that keeps the message, tells the test, and answers 250 only after
    the test has killed the client: the server accepted, our commit never happened."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.original = sink.handle_DATA

    async def __call__(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await self.original(server, session, envelope)
        self.arrived.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return reply


def test_kill_9_after_smtp_accepted_before_commit_resends_once_with_the_same_message_id(
        litmon, db, database_url, eutils_server, smtp_server, feeds_dir):
    with_recipients(feeds_dir, "reader@example.org")
    hook = HangAfterData(smtp_server)
    smtp_server.handle_DATA = hook  # looked up per connection by aiosmtpd
    # The claim on a digest lasts max(LEASE_SECONDS, 6 × SMTP_TIMEOUT) = 6 s here.
    env = smtp_server.env(LITMON_SMTP_TIMEOUT="1", LITMON_LEASE_SECONDS="5")
    proc = litmon("run", env=env)
    assert wait_until(hook.arrived.is_set, 120, "the digest at the SMTP server", proc)
    proc.kill_group()
    killed_at = time.monotonic()
    hook.release.set()
    smtp_server.handle_DATA = hook.original
    [digest] = digests(db)
    assert digest.status == "sending" and digest.attempts == 1
    first_id = digest.message_id
    assert message_ids(smtp_server) == [first_id]

    if database_url.startswith("sqlite"):
        # A restart while the claim is still fresh sends nothing: it may still be working.
        early = litmon("digest", "send", env=env)
        assert early.wait(60) == 0, early.text()
        if time.monotonic() - killed_at < 5.5:
            assert len(smtp_server.messages) == 1, "resent while the claim was still fresh"

    time.sleep(max(0.0, 6.5 - (time.monotonic() - killed_at)))
    later = litmon("digest", "send", env=env)
    assert later.wait(60) == 0, later.text()
    assert message_ids(smtp_server) == [first_id, first_id]  # one duplicate, the same Message-ID
    [digest] = digests(db)
    assert digest.status == "sent" and digest.message_id == first_id and digest.attempts == 2
    again = litmon("digest", "send", env=env)
    assert again.wait(60) == 0
    assert len(smtp_server.messages) == 2
    assert_one_digest_per_period(db)


# -- the service ----------------------------------------------------------------------------------

def test_serve_restarted_after_missed_slots_catches_up_once_from_the_watermark(
        litmon, cli, db, eutils_server, smtp_server, feeds_dir):
    with_recipients(feeds_dir, "reader@example.org")
    assert cli("run", "--no-send", env={"LITMON_LOOKBACK_START": "2025-06-01"}).code == 0
    # The service was down for the last three daily slots: set the feed back by four days.
    today = datetime.now(UTC).date()
    four_days_ago = datetime.now(UTC) - timedelta(days=4)
    with session_scope(db) as s:
        s.execute(update(FeedRow).values(watermark=today - timedelta(days=4),
                                         last_success_at=four_days_ago))
        # ... and its digest went out in the slot of that day.
        s.execute(update(Digest).values(status="sent", period=format_period(
            four_days_ago.replace(hour=6, minute=0, second=0, microsecond=0))))
    template = sorted(offered(eutils_server))[0]
    missed = [eutils_server.clone(template, f"9900000{i}", entry_date=today - timedelta(days=i))
              for i in (1, 2, 3)]
    before = len(runs(db))

    proc = litmon("serve", env=smtp_server.env())
    wait_until(lambda: smtp_server.messages, 45, "the caught-up digest", proc)
    time.sleep(1.5)  # time for a (wrong) second catch-up run or digest
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.text()
    new_runs = runs(db)[before:]
    assert [(r.trigger, r.status) for r in new_runs] == [("catch-up", "succeeded")]
    assert new_runs[0].window_start <= today - timedelta(days=4)
    assert set(missed) <= set(stored_pmids(db))
    assert len(smtp_server.messages) == 1
    body = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    for pmid in missed:
        assert pmid in body
    assert_one_digest_per_period(db)


def test_sigterm_while_a_digest_is_being_sent_finishes_that_send_and_exits_0(
        litmon, db, eutils_server, smtp_server, feeds_dir):
    with_recipients(feeds_dir, "reader@example.org")
    hook = HangAfterData(smtp_server)
    smtp_server.handle_DATA = hook
    proc = litmon("serve", env=smtp_server.env(LITMON_SMTP_TIMEOUT="20"))
    assert wait_until(hook.arrived.is_set, 120, "the digest at the SMTP server", proc)
    proc.signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.running(), "stopped before the digest in hand was finished"
    hook.release.set()
    assert proc.wait(20) == 0, proc.text()
    [digest] = digests(db)
    assert digest.status == "sent", digest
    assert len(smtp_server.messages) == 1
    with session_scope(db) as s:
        assert s.execute(select(FeedRow.watermark)).scalar_one() == date.today()
