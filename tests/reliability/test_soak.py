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

The check after each step looks only at what that step added — its articles, runs, digests and
the messages the SMTP server received — plus the article count (nothing missed, nothing gone)
and the digests in a state that needs a look (an indexed query); every ``FULL_CHECK_EVERY``
steps (every five times that after step 1,000) and at the end the check is done again from
scratch over every row and message, and must agree with the running tallies. So a step costs
about the same at step 5,000 as at step 50.

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
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import and_, func, or_, select

import monitor.digest as digest_module
from monitor.config import Settings
from monitor.digest import deliver_pending
from monitor.feeds import load_feed
from monitor.interrupted import mark_interrupted
from monitor.pubmed.client import EutilsClient
from monitor.runs import run_feed
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Classification, Digest, FeedArticle, FeedRow, Run
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
PROGRESS_EVERY = 250  # a progress line to LITMON_SOAK_FIGURES, with the mean time of a step
FULL_CHECK_EVERY = 100  # the from-scratch check (every row and message; after step 1,000 every 500)
DIGEST_STATES = ("pending", "sending", "sent", "failed")
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
    interrupted: int = 0  # runs of SIGKILLed processes marked interrupted
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
                f"{self.kills_after_250}, real processes SIGKILLed {self.kills_process}, their "
                f"runs marked interrupted {self.interrupted}); "
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
        self.by_date: defaultdict[date, set[str]] = defaultdict(set)  # entry date -> pmids
        self.run_step: dict[int, int] = {}  # run id -> step it started
        self.killed_250: Counter = Counter()  # Message-ID -> kills after 250
        self.must: set[str] = set()  # offered to a run that succeeded: must be stored
        self.counted_runs: set[int] = set()
        # Running tallies of the incremental check (the full one recomputes and compares them).
        self.stored: set[str] = set()  # article PMIDs in the database
        self.unstored: set[str] = set()  # must - stored: what a check finds here is lost
        self.seen: Counter = Counter()  # table -> highest id the check has looked at
        self.periods: set[tuple[int, str]] = set()  # (feed id, period) of every digest
        self.mails: list[tuple[str, tuple[str, ...]]] = []  # (Message-ID, recipients) received
        self.mail_ids: set[str] = set()
        self.mails_tallied = 0  # self.mails[:mails_tallied] are counted in per_recipient
        self.per_recipient: Counter = Counter()  # (Message-ID, recipient) -> copies received
        self.timing: Counter = Counter()  # seconds checking (incremental, full) since the last report
        self.next_pmid = 90_000_000
        self.real_dates: set[date] = set()  # entry dates given for the real-clock processes
        self.recent_studies: deque[str] = deque(maxlen=5)  # study keys of the last clones
        self.ids_rng = random.Random(f"study ids {soak_seed_value}")  # the main sequence stays as it was
        self.templates = sorted(server.records)[:40]
        # The server starts with a month of history: 40 real records over 30 days.
        for i, pmid in enumerate(list(self.templates)):
            self.server.set_entry_date(pmid, self.now.date() - timedelta(days=30 - i * 30 // 40))
            self.added[pmid] = 0
            self.by_date[self.server.records[pmid].entry_date].add(pmid)
        for pmid in set(server.records) - set(self.templates):
            server.remove(pmid)

    # -- the world ------------------------------------------------------------------------------

    def new_records(self, step: int, n: int, entry_date: date | None = None) -> None:
        for _ in range(n):
            self.next_pmid += self.rng.randint(1, 3)
            pmid = str(self.next_pmid)
            self.server.clone(self.rng.choice(self.templates), pmid, entry_date=entry_date or self.now.date())
            self.own_ids(pmid)
            self.added[pmid] = step
            self.by_date[self.server.records[pmid].entry_date].add(pmid)

    def own_ids(self, pmid: str) -> None:
        """Give a clone a DOI and PMCID of its own, or those of a recent clone.

        A clone is a real record under a new PMID. Left with its template's DOI and PMCID, every
        clone of a template would be one *study* (monitor.studies links records by DOI and
        PMCID) of ever more records — N/40 after N — and each digest would show that whole
        history: a world in which a step costs more and more. Real studies have a few records:
        here one clone in five joins the study of one of the last five clones.
        """
        recent = list(self.recent_studies)
        key = self.ids_rng.choice(recent) if recent and self.ids_rng.random() < 0.2 else pmid
        self.recent_studies.append(key)
        with self.server.lock:
            rec = self.server.records[pmid]
            root = etree.fromstring(rec.xml)
            for el in root.iter("ArticleId", "ELocationID"):
                if any(a.tag == "Reference" for a in el.iterancestors()):
                    continue  # the cited works keep theirs
                kind = el.get("IdType") or el.get("EIdType")
                if kind == "doi":
                    el.text = f"10.5555/soak.{key}"
                elif kind == "pmc":
                    el.text = f"PMC{key}"
            rec.xml = etree.tostring(root, encoding="utf-8")

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
            self.receive_mail()
            with session_scope(self.engine) as s:
                for (mid,) in s.execute(select(Digest.message_id).where(Digest.status == "sending")):
                    if mid in self.mail_ids:
                        self.killed_250[mid] += 1
        finally:
            digest_module.smtp_send = real
        self.figures.deliveries += 1

    def process_kill(self, step: int) -> None:
        """A real ``litmon run`` (real clock, real classifier), SIGKILLed at a random moment."""
        # Its clock is the real one, and its window ends today: records of today's date, not of
        # the simulated clock's (days ahead), or it would find nothing to fetch.
        today = datetime.now(UTC).date()
        self.real_dates.add(today)
        self.new_records(step, 6, entry_date=today)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LITMON_")}
        env.update({
            "LITMON_DATABASE_URL": self.database_url, "LITMON_DATA_DIR": str(self.tmp_path / "data"),
            "LITMON_EUTILS_URL": self.server.url, "LITMON_FEEDS_DIR": str(self.feeds_dir),
            "LITMON_NCBI_EMAIL": "soak@example.org", "LITMON_FETCH_BATCH_SIZE": "2",
            "LITMON_HTTP_BACKOFF": "0", "LITMON_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1",
        })
        before = self._max_run_id()
        log_path = self.tmp_path / "process.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        # Fetches answered slowly, so that the kill finds the process at work: its two runs
        # take a second or two from the first "run started" (else it has often exited already).
        slow = self.server.inject("efetch", "slow", times=1000, seconds=0.25)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--no-send"], cwd=REPO,
                                    env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                with open(log_path, "rb") as f:
                    f.seek(offset)
                    if b'"run started"' in f.read():
                        break
                time.sleep(0.05)
            time.sleep(self.rng.uniform(0.0, 2.5))
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(30)
        with self.server.lock:
            if slow in self.server.faults:
                self.server.faults.remove(slow)
        self.figures.kills_process += 1
        started = range(before + 1, self._max_run_id() + 1)
        for run_id in started:
            self.run_step[run_id] = step
        # Its run, if the kill caught it, said "running": its process is gone, so it is marked
        # interrupted. The in-process "kills" (this process lives on) are left as they are.
        marked = mark_interrupted(self.engine, lease_seconds=self.settings.lease_seconds)
        assert {m.run_id for m in marked} <= set(started), (step, marked)
        self.figures.interrupted += len(marked)
        with session_scope(self.engine) as s:
            left = s.execute(select(Run.id).where(Run.id.in_(list(started)),
                                                  Run.status == "running")).scalars().all()
        assert not left, (step, "runs of a killed process still running", left)

    def _max_run_id(self) -> int:
        with session_scope(self.engine) as s:
            return int(s.execute(select(func.max(Run.id))).scalar() or 0)

    # -- invariants ------------------------------------------------------------------------------

    def receive_mail(self) -> None:
        """Read the messages the SMTP server received since the last look (each one once)."""
        with self.sink.lock:
            arrived = self.sink.messages[len(self.mails):]
        new = [(header_message_id(m.data), tuple(m.rcpt_tos)) for m in arrived]
        self.mails.extend(new)
        self.mail_ids.update(mid for mid, _ in new)

    def check(self, step: int) -> None:
        """The invariants after a step, looking only at the rows and messages the step added:
        its articles (found through their classification rows, which a batch writes in the same
        transaction, by id), runs and digests (by id), messages (by position); the article count
        proves none was missed. ``full_check`` does it all from scratch every
        ``FULL_CHECK_EVERY`` steps and at the end."""
        began = time.monotonic()
        where = f"step {step} (seed {soak_seed_value})"
        with session_scope(self.engine) as s:
            judged = s.execute(select(Classification.id, Classification.pmid)
                               .where(Classification.id > self.seen["classification"])).all()
            fresh = {p for _, p in judged} - self.stored
            self.seen["classification"] = max([self.seen["classification"], *(i for i, _ in judged)])
            articles = s.execute(select(func.count()).select_from(ArticleRow)).scalar_one()
            feed_ids = list(s.execute(select(FeedRow.id)).scalars())
            rows = linked = set()
            if fresh:
                rows = set(s.execute(select(ArticleRow.pmid).where(ArticleRow.pmid.in_(sorted(fresh)))).scalars())
                linked = set(s.execute(select(FeedArticle.pmid).where(
                    FeedArticle.feed_id.in_(feed_ids), FeedArticle.pmid.in_(sorted(fresh)))).scalars())
            new_digests = s.execute(select(Digest.id, Digest.feed_id, Digest.period)
                                    .where(Digest.id > self.seen["digest"])).all()
            bad = s.execute(select(Digest.id, Digest.status).where(or_(
                Digest.status.not_in(DIGEST_STATES),
                and_(Digest.status == "sending", Digest.lease_expires_at.is_(None))))).all()
            new_runs = list(s.execute(select(Run, FeedRow.name).join(FeedRow, FeedRow.id == Run.feed_id)
                                      .where(Run.id > self.seen["run"]).order_by(Run.id)))
            succeeded = s.execute(select(func.count()).select_from(Run)
                                  .where(Run.status == "succeeded")).scalar_one()
        # Each new article: a record the server has, whole (classification, as found, and feed
        # link), and the count says there is no other new one (none unclassified) and none gone.
        unknown = [p for p in fresh if p not in self.server.records]
        assert not unknown, (where, "stored, but not a record of the server", unknown)
        assert rows == fresh, (where, "a classification without its article", sorted(fresh - rows)[:5])
        assert linked == fresh, (where, "an article not linked to a feed", sorted(fresh - linked)[:5])
        self.stored |= fresh
        self.unstored -= fresh
        if len(self.stored) != articles:
            assert_no_partial_records(self.engine)  # says which article has no classification
            raise AssertionError((where, "articles stored", articles, "known", len(self.stored)))
        for digest_id, feed_id, period in new_digests:
            self.seen["digest"] = max(self.seen["digest"], digest_id)
            assert (feed_id, period) not in self.periods, (where, "two digests for one period", period)
            self.periods.add((feed_id, period))
        assert not bad, (where, "digests in a bad state", bad)
        for run, feed_name in new_runs:
            self.seen["run"] = max(self.seen["run"], run.id)
            if run.status == "succeeded":
                self.count_run(run, feed_name)
        # A run is over when its step ends: none of the older ones may turn succeeded later.
        assert succeeded == len(self.counted_runs), (where, succeeded, len(self.counted_runs))
        assert not self.unstored, (where, "lost", sorted(self.unstored)[:10])
        self.receive_mail()
        new_mail, self.mails_tallied = self.mails[self.mails_tallied:], len(self.mails)
        if new_mail:
            with session_scope(self.engine) as s:
                ids = set(s.execute(select(Digest.message_id).where(
                    Digest.message_id.in_(sorted({mid for mid, _ in new_mail})))).scalars())
        for mid, rcpts in new_mail:
            assert mid in ids, (where, mid)
            for r in rcpts:
                self.per_recipient[(mid, r)] += 1
                n = self.per_recipient[(mid, r)]
                # killed_250 only grows: a count that was within its bound when it changed stays so.
                assert n <= 1 + self.killed_250[mid], (where, mid, r, n, self.killed_250[mid])
                self.figures.duplicates += n > 1
        self.timing["incremental"] += time.monotonic() - began
        if step % (FULL_CHECK_EVERY if step <= 1000 else 5 * FULL_CHECK_EVERY) == 0 or step < 0:
            began = time.monotonic()
            self.full_check(step)
            self.timing["full"] += time.monotonic() - began
            self.timing["fulls"] += 1

    def count_run(self, run: Run, feed_name: str) -> None:
        """What the server offered a succeeded run must be stored. Fixed once the run is over
        (records are only ever added), so each succeeded run is looked at once."""
        assert run.id not in self.counted_runs
        self.counted_runs.add(run.id)
        offered = self.offered_to(run, feed_name)
        self.must |= offered
        self.unstored |= {p for p in offered if p not in self.stored}

    def offered_to(self, run: Run, feed_name: str) -> set[str]:
        started = self.run_step[run.id]
        query = FEEDS[feed_name][0]
        out = set()
        day = run.window_start
        while day <= run.window_end:
            out |= {p for p in self.by_date.get(day, ())
                    if self.added[p] <= started and matches(query, self.server.records[p])}
            day += timedelta(days=1)
        return out

    def full_check(self, step: int) -> None:
        """Every invariant again from scratch — every row, every message received — and the
        running tallies of the incremental check must agree with it."""
        with session_scope(self.engine) as s:
            stored = list(s.execute(select(ArticleRow.pmid)).scalars())
            all_runs = list(s.execute(select(Run, FeedRow.name).join(FeedRow, FeedRow.id == Run.feed_id)))
            digests = list(s.execute(select(Digest)).scalars())
        where = f"step {step} (seed {soak_seed_value}), full check"
        assert len(stored) == len(set(stored)), where
        assert set(stored) <= set(self.server.records), (where, set(stored) - set(self.server.records))
        assert set(stored) == self.stored, (where, sorted(set(stored) ^ self.stored)[:10])
        assert_no_partial_records(self.engine)
        per_period = Counter((d.feed_id, d.period) for d in digests)
        assert max(per_period.values(), default=1) == 1, where
        assert set(per_period) == self.periods, where
        for d in digests:
            assert d.status in DIGEST_STATES, (where, d.status)
            assert d.status != "sending" or d.lease_expires_at is not None, where
        # The entry-date index against the server's own records...
        for p, rec in self.server.records.items():
            assert p in self.by_date[rec.entry_date], (where, p)
        # ...and what every succeeded run was offered, recomputed.
        must: set[str] = set()
        succeeded = {run.id for run, _ in all_runs if run.status == "succeeded"}
        assert succeeded == self.counted_runs, (where, sorted(succeeded ^ self.counted_runs)[:10])
        for run, feed_name in all_runs:
            if run.status == "succeeded":
                must |= self.offered_to(run, feed_name)
        assert must == self.must, where
        lost = must - set(stored)
        assert self.unstored == lost, where
        assert not lost, (where, sorted(lost)[:10])
        ids = {d.message_id for d in digests}
        with self.sink.lock:
            received = list(self.sink.messages)
        # The Message-IDs as read when each message arrived (reading them again would give the
        # same: it is the one costly part of a full check).
        assert [tuple(m.rcpt_tos) for m in received] == [r for _, r in self.mails], where
        per_recipient: Counter = Counter()
        for mid, rcpts in self.mails:
            assert mid in ids, (where, mid)
            for r in rcpts:
                per_recipient[(mid, r)] += 1
        for (mid, r), n in per_recipient.items():
            assert n <= 1 + self.killed_250[mid], (where, mid, r, n, self.killed_250[mid])
        assert per_recipient == self.per_recipient, where
        assert self.figures.duplicates == sum(n - 1 for n in per_recipient.values() if n > 1), where

    def finish(self) -> None:
        """The world heals; a day later everything is delivered or failed for good."""
        self.server.clear_faults()
        self.data.queue.clear()
        self.heal_smtp()
        for name in sorted(self.feeds) if self.real_dates else ():
            # Today's records of a killed real-clock process: a run on the real clock too.
            report = run_feed(self.engine, self.settings, self.feeds[name], self.client,
                              since=min(self.real_dates), classify=classify, trigger="soak")
            assert report.ok, report.error
            self.run_step[report.run_id] = 10**9
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


_HEADERS = BytesHeaderParser(policy=policy.compat32)


def header_message_id(data: bytes) -> str:
    """The Message-ID of a received message (headers only: parsing each whole message with
    ``policy.default`` at every step was what made the soak slow down as mail piled up)."""
    value = _HEADERS.parsebytes(data)["Message-ID"]
    return " ".join(str(value).split())


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
        window_began, window_steps = time.monotonic(), 0
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
            window_steps += 1
            if step % PROGRESS_EVERY == 0 and os.environ.get("LITMON_SOAK_FIGURES"):
                now = time.monotonic()
                t = world.timing
                with open(os.environ["LITMON_SOAK_FIGURES"], "a", encoding="utf-8") as out:
                    out.write(f"  ... {world.figures.text()}; {now - started:.0f} s; steps "
                              f"{step - window_steps + 1}-{step}: "
                              f"{1000 * (now - window_began) / window_steps:.0f} ms a step, of "
                              f"which checking {1000 * t['incremental'] / window_steps:.1f} ms "
                              f"(+ {t['fulls']:.0f} full checks, {1000 * t['full']:.0f} ms in all)\n")
                window_began, window_steps = now, 0
                world.timing = Counter()
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
