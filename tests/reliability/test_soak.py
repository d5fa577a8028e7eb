"""A randomised soak: a seeded loop of steps in which the world misbehaves at random points, with
the invariants of docs/reliability.md checked after every step.

Each step moves a simulated clock on, may let new records appear in PubMed, may queue
E-utilities faults (every fault form that can heal) or SMTP faults (451/554 at DATA, dropped
connections, 450/550 for one recipient), and then runs a feed or delivers digests — in process,
through the library API, with the simulated clock. Some runs are "killed": the process dies
between two fetch batches, inside a store transaction, or between the SMTP server's 250 and our
commit (a ``Killed`` exception that nothing in litmon catches, as nothing survives a kill -9).
Every ``SUBPROCESS_EVERY`` steps a real ``litmon run`` process is started and SIGKILLed at a
random moment.

Invariants after every step:
  * every stored PMID appears once, and is a record the server really has;
  * each stored article has its classification and its feed link (no partial batch);
  * every (feed, period) has at most one digest; a digest is pending, sending (a live claim),
    sent or failed;
  * no record lost: every record the server offered to a run that succeeded is stored;
  * no duplicate delivery, except after a kill between 250 and commit — then at most one per
    kill, with the same Message-ID.
At the end the world heals and every period must end sent or failed, every stored article
announced in a digest.

Size: ``--soak-steps N`` (with the tests/reliability path) or ``LITMON_SOAK_STEPS``; seed:
``--soak-seed`` / ``LITMON_SOAK_SEED``. Figures are printed (``-s`` shows them).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import monitor.digest as digest_module
from monitor.config import Settings
from monitor.digest import deliver_pending
from monitor.feeds import load_feed
from monitor.pubmed.client import EutilsClient
from monitor.runs import run_feed
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Digest, FeedArticle, FeedRow, Run
from tests.reliability.conftest import (
    REPO,
    assert_no_partial_records,
    slow_enabled,
    soak_seed,
    soak_steps,
)
from tests.standin.eutils import EutilsStandin

pytestmark = pytest.mark.reliability

SUBPROCESS_EVERY = 50
EUTILS_FAULTS = ["429", "500", "502", "503", "html", "error", "truncated", "empty", "reset"]
FEEDS = {
    # name: (query, recipients); the stand-in decides what a query matches (below)
    "alpha": ("alpha", ["a1@example.org", "a2@example.org"]),
    "beta": ("beta", ["b1@example.org"]),
}


class Killed(BaseException):
    """The process died here. BaseException: litmon's ``except Exception`` must not see it."""


def matches(term: str, rec: Any) -> bool:
    return term == "alpha" or int(rec.pmid) % 2 == 0


def stub_classify(article: Any, threshold: float) -> dict[str, Any]:
    return {"threshold_weeks": threshold, "long_term": "unclear", "longest_followup_weeks": None,
            "evidence": None, "reason": "soak", "design": None, "sample_size": None,
            "relevance": None, "outcome_domains": [], "registry_ids": [], "version": "soak-1"}


class StubVerdict(dict):
    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def classify(article: Any, threshold: float) -> StubVerdict:
    return StubVerdict(stub_classify(article, threshold))


@dataclass
class Figures:
    steps: int = 0
    runs: int = 0
    runs_failed: int = 0
    eutils_faults: int = 0
    smtp_faults: int = 0
    kills_fetch: int = 0
    kills_store: int = 0
    kills_after_250: int = 0
    kills_process: int = 0
    deliveries: int = 0
    offered: int = 0
    stored: int = 0
    lost: int = 0
    digests: int = 0
    duplicates: int = 0
    states: Counter = field(default_factory=Counter)

    def text(self) -> str:
        kills = self.kills_fetch + self.kills_store + self.kills_after_250 + self.kills_process
        return (f"soak: {self.steps} steps, {self.runs} runs ({self.runs_failed} failed), "
                f"{self.deliveries} delivery passes; faults injected: {self.eutils_faults} "
                f"E-utilities, {self.smtp_faults} SMTP; kills: {kills} (between fetches "
                f"{self.kills_fetch}, inside a store {self.kills_store}, after SMTP 250 "
                f"{self.kills_after_250}, real processes SIGKILLed {self.kills_process}); "
                f"records offered {self.offered}, stored {self.stored}, lost {self.lost}; "
                f"digests {self.digests} ({', '.join(f'{n} {s}' for s, n in sorted(self.states.items()))}); "
                f"duplicate deliveries {self.duplicates} (all after a kill after 250, same Message-ID)")


class DataScript:
    """aiosmtpd DATA hook: the next DATA commands get these answers (451, 554, drop)."""

    def __init__(self, sink: Any) -> None:
        self.sink, self.queue = sink, []  # type: ignore[var-annotated]
        self.original = sink.handle_DATA

    async def __call__(self, server: Any, session: Any, envelope: Any) -> str:
        action = self.queue.pop(0) if self.queue else None
        if action == "drop":
            server.transport.abort()
            return "421 dropped"
        if action in ("451", "554"):
            return f"{action} {'4.3.0 try later' if action == '451' else '5.6.0 refused'}"
        return await self.original(server, session, envelope)


class Soak:
    def __init__(self, engine: Any, tmp_path: Path, database_url: str, server: EutilsStandin,
                 sink: Any, rng: random.Random) -> None:
        self.engine, self.server, self.sink, self.rng = engine, server, sink, rng
        self.tmp_path, self.database_url = tmp_path, database_url
        self.figures = Figures()
        self.now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.feeds_dir = tmp_path / "feeds"
        self.feeds_dir.mkdir()
        for name, (query, recipients) in FEEDS.items():
            listed = ", ".join(f'"{a}"' for a in recipients)
            (self.feeds_dir / f"{name}.toml").write_text(
                f'name = "{name}"\nquery = "{query}"\nschedule = "0 * * * *"\n'
                f"recipients = [{listed}]\n", encoding="utf-8")
        self.feeds = {name: load_feed(self.feeds_dir / f"{name}.toml") for name in FEEDS}
        self.settings = Settings(
            data_dir=tmp_path / "data", database_url=database_url, eutils_url=server.url,
            fetch_batch_size=3, overlap_days=1, lookback_start=self.now.date() - timedelta(days=30),
            smtp_host=sink.host, smtp_port=sink.port, smtp_security="none", smtp_timeout=2,
            mail_from="litmon <digests@litmon.example.org>", lease_seconds=5,
            digest_retry_seconds=60)
        self.client = EutilsClient(server.url, tool="litmon-soak", email="soak@example.org",
                                   read_timeout=2, deadline=5, max_attempts=2, backoff_base=0,
                                   rate=1000)
        self.data = DataScript(sink)
        sink.handle_DATA = self.data
        self.added: dict[str, int] = {}  # pmid -> step it appeared
        self.run_step: dict[int, int] = {}  # run id -> step it started
        self.killed_250: Counter = Counter()  # Message-ID -> kills after 250
        self.must: set[str] = set()  # offered to a run that succeeded: must be stored
        self.counted_runs: set[int] = set()
        self.next_pmid = 90_000_000
        self.templates = sorted(server.records)[:40]
        # The server starts with a month of history: 40 real records over 30 days.
        for i, pmid in enumerate(list(self.templates)):
            self.server.set_entry_date(pmid, self.now.date() - timedelta(days=30 - i * 30 // 40))
            self.added[pmid] = 0
        for pmid in set(server.records) - set(self.templates):
            server.remove(pmid)

    # -- the world ------------------------------------------------------------------------------

    def new_records(self, step: int, n: int) -> None:
        for _ in range(n):
            self.next_pmid += self.rng.randint(1, 3)
            pmid = str(self.next_pmid)
            self.server.clone(self.rng.choice(self.templates), pmid, entry_date=self.now.date())
            self.added[pmid] = step

    def eutils_fault(self) -> None:
        self.server.inject(self.rng.choice(["esearch", "efetch", "efetch"]),
                           self.rng.choice(EUTILS_FAULTS), times=self.rng.choice([1, 1, 2, 3]))
        self.figures.eutils_faults += 1

    def smtp_fault(self) -> None:
        kind = self.rng.choice(["451", "554", "drop", "rcpt450", "rcpt550"])
        if kind.startswith("rcpt"):
            with self.sink.lock:
                self.sink._rcpt_replies.clear()
            self.sink.refuse_rcpt("a2@example.org", "450 4.2.1 mailbox busy" if kind == "rcpt450"
                                  else "550 5.1.1 no such user")
        else:
            self.data.queue.append(kind)
        self.figures.smtp_faults += 1

    def heal_smtp(self) -> None:
        with self.sink.lock:
            self.sink._rcpt_replies.clear()

    # -- litmon ----------------------------------------------------------------------------------

    def run(self, step: int, kill: str | None) -> None:
        feed = self.feeds[self.rng.choice(sorted(self.feeds))]
        source: Any = self.client
        restore: list[tuple[Any, str, Any]] = []
        if kill:
            self.new_records(step, self.rng.randint(3, 7))  # something to fetch and store
        if kill == "fetch":
            source = KillingSource(self.client, after=self.rng.randint(0, 2))
        elif kill == "store":
            # Dies at the n-th link_to_feed: inside a batch transaction (articles and their
            # classifications already written in it) or inside the run's last one.
            calls = {"n": 0, "at": self.rng.randint(1, 3)}
            real = repo.link_to_feed

            def dying(*args: Any, **kwargs: Any) -> Any:
                calls["n"] += 1
                if calls["n"] >= calls["at"]:
                    raise Killed("inside a store transaction")
                return real(*args, **kwargs)

            restore.append((repo, "link_to_feed", real))
            repo.link_to_feed = dying  # type: ignore[assignment]
        before = self._max_run_id()
        try:
            report = run_feed(self.engine, self.settings, feed, source, now=self.now,
                              classify=classify, trigger="soak")
            self.figures.runs += 1
            self.figures.runs_failed += not report.ok
        except Killed:
            self.figures.runs += 1
            if kill == "fetch":
                self.figures.kills_fetch += 1
            else:
                self.figures.kills_store += 1
        finally:
            for obj, name, value in restore:
                setattr(obj, name, value)
        for run_id in range(before + 1, self._max_run_id() + 1):
            self.run_step[run_id] = step

    def deliver(self, kill: bool) -> None:
        real = digest_module.smtp_send
        if kill:
            def accepted_then_killed(*args: Any, **kwargs: Any) -> Any:
                real(*args, **kwargs)
                raise Killed("after the SMTP server's 250, before our commit")
            digest_module.smtp_send = accepted_then_killed  # type: ignore[assignment]
        try:
            deliver_pending(self.engine, self.settings, self.feeds.values(), now=self.now)
        except Killed:
            self.figures.kills_after_250 += 1
            with session_scope(self.engine) as s:
                for (mid,) in s.execute(select(Digest.message_id).where(Digest.status == "sending")):
                    if any(m.message["Message-ID"] == mid for m in self.sink.messages):
                        self.killed_250[mid] += 1
        finally:
            digest_module.smtp_send = real
        self.figures.deliveries += 1

    def process_kill(self, step: int) -> None:
        """A real ``litmon run`` (real clock, real classifier), SIGKILLed at a random moment."""
        self.new_records(step, 6)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LITMON_")}
        env.update({
            "LITMON_DATABASE_URL": self.database_url, "LITMON_DATA_DIR": str(self.tmp_path / "data"),
            "LITMON_EUTILS_URL": self.server.url, "LITMON_FEEDS_DIR": str(self.feeds_dir),
            "LITMON_NCBI_EMAIL": "soak@example.org", "LITMON_FETCH_BATCH_SIZE": "2",
            "LITMON_HTTP_BACKOFF": "0", "LITMON_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1",
        })
        before = self._max_run_id()
        with open(self.tmp_path / "process.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--no-send"], cwd=REPO,
                                    env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            time.sleep(self.rng.uniform(1.5, 4.0))
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(30)
        self.figures.kills_process += 1
        for run_id in range(before + 1, self._max_run_id() + 1):
            self.run_step[run_id] = step

    def _max_run_id(self) -> int:
        with session_scope(self.engine) as s:
            return int(s.execute(select(func.max(Run.id))).scalar() or 0)

    # -- invariants ------------------------------------------------------------------------------

    def check(self, step: int) -> None:
        with session_scope(self.engine) as s:
            stored = list(s.execute(select(ArticleRow.pmid)).scalars())
            all_runs = list(s.execute(select(Run, FeedRow.name).join(FeedRow, FeedRow.id == Run.feed_id)))
            digests = list(s.execute(select(Digest)).scalars())
        where = f"step {step} (seed {soak_seed_value})"
        assert len(stored) == len(set(stored)), where
        assert set(stored) <= set(self.server.records), (where, set(stored) - set(self.server.records))
        assert_no_partial_records(self.engine)
        per_period = Counter((d.feed_id, d.period) for d in digests)
        assert max(per_period.values(), default=1) == 1, where
        for d in digests:
            assert d.status in ("pending", "sending", "sent", "failed"), (where, d.status)
            assert d.status != "sending" or d.lease_expires_at is not None, where
        for run, feed_name in all_runs:
            if run.status != "succeeded" or run.id in self.counted_runs:
                continue
            # What the server offered this run: fixed once the run is over (records are only
            # ever added), so each succeeded run is looked at once.
            self.counted_runs.add(run.id)
            started = self.run_step[run.id]
            query = FEEDS[feed_name][0]
            self.must |= {p for p, rec in self.server.records.items()
                          if run.window_start <= rec.entry_date <= run.window_end
                          and self.added[p] <= started and matches(query, rec)}
        lost = self.must - set(stored)
        assert not lost, (where, sorted(lost)[:10])
        ids = {d.message_id for d in digests}
        deliveries = Counter((m.message["Message-ID"], tuple(m.rcpt_tos)) for m in self.sink.messages)
        per_recipient = Counter()
        for (mid, rcpts), n in deliveries.items():
            assert mid in ids, (where, mid)
            for r in rcpts:
                per_recipient[(mid, r)] += n
        for (mid, r), n in per_recipient.items():
            assert n <= 1 + self.killed_250[mid], (where, mid, r, n, self.killed_250[mid])
        self.figures.duplicates = sum(n - 1 for n in per_recipient.values() if n > 1)

    def finish(self) -> None:
        """The world heals; a day later everything is delivered or failed for good."""
        self.server.clear_faults()
        self.data.queue.clear()
        self.heal_smtp()
        for _ in range(3):
            self.now += timedelta(hours=7)
            for name in sorted(self.feeds):
                report = run_feed(self.engine, self.settings, self.feeds[name], self.client,
                                  now=self.now, classify=classify, trigger="soak")
                assert report.ok, report.error
                self.run_step[report.run_id] = 10**9
            deliver_pending(self.engine, self.settings, self.feeds.values(), now=self.now)
        self.check(-1)
        with session_scope(self.engine) as s:
            digests = list(s.execute(select(Digest)).scalars())
            unannounced = s.execute(select(func.count()).select_from(FeedArticle)
                                    .where(FeedArticle.digest_id.is_(None))).scalar_one()
            stored = s.execute(select(func.count()).select_from(ArticleRow)).scalar_one()
        assert all(d.status in ("sent", "failed") for d in digests), Counter(d.status for d in digests)
        assert unannounced == 0
        offered = {p for p, rec in self.server.records.items()
                   if any(matches(q, rec) for q, _ in FEEDS.values())}
        f = self.figures
        f.offered, f.stored = len(offered), stored
        f.lost = len(offered - set(self._stored()))
        f.digests, f.states = len(digests), Counter(d.status for d in digests)
        assert f.lost == 0

    def _stored(self) -> list[str]:
        with session_scope(self.engine) as s:
            return list(s.execute(select(ArticleRow.pmid)).scalars())


class KillingSource:
    """The real client, but the process dies after ``after`` fetch batches."""

    def __init__(self, client: EutilsClient, after: int) -> None:
        self.client, self.after, self.fetches = client, after, 0

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def search(self, term: str, mindate: date, maxdate: date) -> list[Any]:
        return self.client.search(term, mindate, maxdate)

    def fetch(self, pmids: list[str]) -> Any:
        if self.fetches >= self.after:
            raise Killed("between two fetch batches")
        self.fetches += 1
        return self.client.fetch(pmids)


soak_seed_value = 0


def test_randomised_soak_keeps_every_promise(request, database_url, tmp_path, eutils_server,
                                            make_smtp_server, monkeypatch):
    global soak_seed_value
    steps = soak_steps(request.config)
    if database_url.startswith("postgresql") and not slow_enabled(request.config):
        steps = max(50, steps // 4)  # the same code paths; PostgreSQL is slower per statement
    soak_seed_value = seed = soak_seed(request.config)
    rng = random.Random(seed)
    from monitor.store.db import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    sink = make_smtp_server()
    eutils_server.term_predicate = matches
    world = Soak(engine, tmp_path, database_url, eutils_server, sink, rng)
    started = time.monotonic()
    try:
        for step in range(1, steps + 1):
            world.figures.steps = step
            world.now += timedelta(minutes=rng.choice([0, 5, 20, 45, 60, 90, 180]))
            if rng.random() < 0.35:
                world.new_records(step, rng.randint(1, 4))
            if rng.random() < 0.25:
                world.eutils_fault()
            if rng.random() < 0.15:
                world.smtp_fault()
            elif rng.random() < 0.2:
                world.heal_smtp()
            if step % SUBPROCESS_EVERY == 0:
                world.process_kill(step)
            elif rng.random() < 0.55:
                roll = rng.random()
                world.run(step, "fetch" if roll < 0.08 else "store" if roll < 0.14 else None)
            else:
                world.deliver(kill=rng.random() < 0.1)
            world.check(step)
            if step % 500 == 0 and os.environ.get("LITMON_SOAK_FIGURES"):
                with open(os.environ["LITMON_SOAK_FIGURES"], "a", encoding="utf-8") as out:
                    out.write(f"  ... {world.figures.text()}; {time.monotonic() - started:.0f} s\n")
        world.finish()
    finally:
        engine.dispose()
    took = time.monotonic() - started
    line = world.figures.text() + f"; {took:.0f} s"
    print("\n" + line)
    (tmp_path / "soak-figures.txt").write_text(line + "\n")
    if os.environ.get("LITMON_SOAK_FIGURES"):
        with open(os.environ["LITMON_SOAK_FIGURES"], "a", encoding="utf-8") as out:
            out.write(f"{database_url.split(':')[0]} seed {seed}: {line}\n")
    monkeypatch.undo()
