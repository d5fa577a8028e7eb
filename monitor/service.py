"""`litmon serve`: the scheduler, one active per database, with catch-up, reload and a heartbeat.

Three threads, each with one job:

* the **control loop** (the main thread): signals, the lease, the heartbeat, feed reloads. It
  never does slow work, so the heartbeat and the lease stay fresh during a long run.
* the **scheduler** (APScheduler 3 BackgroundScheduler, UTC, only while we hold the lease): its
  jobs do nothing but put a work item on the queue.
* the **worker**: takes items off the queue one at a time; each is claimed in the database
  before it is done (see monitor.lease), so two schedulers could not do it twice.

APScheduler does not catch up missed runs (its next run time is computed from *now*), so on
becoming active we compare each feed's ``last_success_at`` with its latest schedule slot and
run the ones that are behind, once. On SIGTERM/SIGINT the current unit — the fetch batch being
stored, or the digest being sent — finishes, the run stops there (a failed run whose claim may
be retried: the next start catches it up from the watermark), the lease is released and the
process exits 0.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor import lease
from monitor.config import Settings
from monitor.feeds import Feed, FeedError, last_fire_time, load_feed
from monitor.progress import NoProgress
from monitor.runs import PubMedSource, format_period, holder_id
from monitor.store.db import session_scope, upgrade
from monitor.store.models import FeedRow

# The weekly report first fetches again the feed's records not re-checked for this many days,
# so retractions and errata published since reach the report and the next digest.
RECHECK_AFTER_DAYS = 6

log = logging.getLogger("litmon.service")

Clock = Callable[[], datetime]

RUN_RETRY_FIRST_SECONDS = 300
DATABASE_WAIT_SECONDS = 60
RUN_RETRY_MAX_SECONDS = 3600


def utc_clock() -> datetime:
    return datetime.now(UTC)


class ShuttingDown(Exception):
    """Raised between two fetch batches when a stop was asked for: the run ends there."""


@dataclass(frozen=True)
class WorkItem:
    kind: str  # run | report | digests
    feed: str | None = None
    trigger: str = "schedule"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.feed}" if self.feed else self.kind


class Service:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        source_factory: Callable[[], PubMedSource],
        *,
        holder: str | None = None,
        clock: Clock = utc_clock,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.source_factory = source_factory
        # host:pid plus a random tag: a restarted container is host:1 again, and must not take
        # the claims of the process that died before it for its own.
        self.holder = holder or f"{holder_id()}:{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.started_at = clock()
        self.feeds: dict[str, Feed] = {}
        self._feed_files: dict[Path, str] = {}  # path -> feed name, for reloads
        self._feed_signature: tuple[tuple[str, int, int], ...] = ()
        self.active = False
        self.scheduler: BackgroundScheduler | None = None
        self.queue: queue.Queue[WorkItem | None] = queue.Queue()
        self._queued: set[WorkItem] = set()
        self._queued_lock = threading.Lock()
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._reload = threading.Event()
        self._lease_valid_until: datetime | None = None
        self._last_prune = 0.0
        self.worker = threading.Thread(target=self._work_loop, name="litmon-worker", daemon=True)
        self.busy_with: WorkItem | None = None
        self._failures: dict[str, int] = {}

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def tick_seconds(self) -> float:
        # Renew the lease at least three times per lease period; beat at the heartbeat rate.
        return max(0.2, min(self.settings.heartbeat_seconds, self.settings.lease_seconds / 3))

    def start(self) -> None:
        """Migrate, load the feeds (a bad file stops start-up), start the worker."""
        self._upgrade_when_reachable()
        self.load_feeds(strict=True)
        # Before the worker starts this process runs no feed: a run left "running" by a
        # process that died (even one that had our pid: a restarted container) is over.
        self.mark_interrupted(own_pid_gone=True)
        self.worker.start()
        log.info("service started", extra={"holder": self.holder, "feeds": ",".join(self.feeds),
                                           "lease_seconds": self.settings.lease_seconds,
                                           "heartbeat_seconds": self.settings.heartbeat_seconds})

    def _upgrade_when_reachable(self, wait_seconds: float = DATABASE_WAIT_SECONDS) -> None:
        """Run the migrations; a database that is still starting (a container restarted with
        its database) gets a minute before start-up fails."""
        deadline = time.monotonic() + wait_seconds
        delay = 1.0
        while True:
            try:
                upgrade(self.engine)
                return
            except SQLAlchemyError as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("database not reachable yet; waiting", extra={"error": _short(exc),
                                                                          "retry_in": delay})
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def serve_forever(self) -> int:
        """The control loop; returns the exit status once a stop was asked for."""
        self.start()  # a bad feed file stops here, before any handler is installed
        self.install_signal_handlers()
        while not self.stopping.is_set():
            self.tick()
            self._wake.wait(self.tick_seconds)
            self._wake.clear()
        return self.shutdown()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop_signal(self, signum: int, _frame: Any) -> None:
        if self.stopping.is_set():
            return
        log.info("stop requested", extra={"signal": signal.Signals(signum).name,
                                          "busy_with": self.busy_with.label if self.busy_with else "-"})
        self.request_stop()

    def _on_hup(self, _signum: int, _frame: Any) -> None:
        self._reload.set()
        self._wake.set()

    def request_stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._on_hup(0, None)

    def shutdown(self) -> int:
        """Finish the current unit, release the lease, say goodbye. 0 if all finished in time."""
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        self.stopping.set()
        self._stop_scheduler()
        self.queue.put(None)  # the worker drops what is queued (caught up at the next start)
        finished = True
        if self.worker.is_alive():
            self.worker.join(max(0.0, deadline - time.monotonic()))
            finished = not self.worker.is_alive()
        if not finished:
            log.error("grace period over with work still running; its claim will expire and be retried",
                      extra={"busy_with": self.busy_with.label if self.busy_with else "-",
                             "grace_seconds": self.settings.shutdown_grace_seconds})
        try:
            if self.active:
                lease.release_lease(self.engine, self.holder, now=self.clock())
                log.info("lease released", extra={"holder": self.holder})
            self.active = False
            lease.forget_heartbeat(self.engine, self.holder)
        except SQLAlchemyError as exc:
            log.error("could not release the lease; a standby takes over when it expires",
                      extra={"error": _short(exc)})
        log.info("service stopped", extra={"holder": self.holder, "clean": finished})
        return 0 if finished else 1

    # -- the control loop ---------------------------------------------------------------------

    def tick(self) -> None:
        now = self.clock()
        if self._reload.is_set() or self._feeds_changed():
            self._reload.clear()
            self.reload_feeds()
        try:
            if self.active:
                if lease.renew_lease(self.engine, self.holder, self.settings.lease_seconds, now=now):
                    self._lease_valid_until = now + timedelta(seconds=self.settings.lease_seconds)
                else:
                    log.warning("lease lost to another scheduler; stepping down to standby",
                                extra={"holder": self.holder})
                    self.step_down()
            elif not self.stopping.is_set() and lease.acquire_lease(
                    self.engine, self.holder, self.settings.lease_seconds, now=now):
                self._lease_valid_until = now + timedelta(seconds=self.settings.lease_seconds)
                self.become_active()
            if self.busy_with is not None:
                # Keep the claim of the work in hand alive, even after stepping down: the work
                # finishes, and nobody else may start the same unit meanwhile.
                lease.extend_claims(self.engine, self.holder, self.settings.lease_seconds, now=now)
            lease.beat(self.engine, self.holder, "active" if self.active else "standby",
                       started_at=self.started_at, now=now)
            if time.monotonic() - self._last_prune > 3600:
                self._last_prune = time.monotonic()
                lease.prune_heartbeats(self.engine, timedelta(days=1), now=now)
        except SQLAlchemyError as exc:
            log.warning("database unreachable", extra={"error": _short(exc), "holder": self.holder})
            if self.active and self._lease_valid_until and now >= self._lease_valid_until:
                log.warning("lease expired while the database was unreachable; stepping down")
                self.step_down()

    def become_active(self) -> None:
        self.active = True
        log.info("lease acquired: this scheduler is active", extra={"holder": self.holder})
        self._start_scheduler()
        self.catch_up()
        self.enqueue(WorkItem("digests", trigger="start"))

    def step_down(self) -> None:
        self.active = False
        self._stop_scheduler()
        self._drain_queue()
        log.info("standing by", extra={"holder": self.holder})

    # -- the scheduler ------------------------------------------------------------------------

    def _start_scheduler(self) -> None:
        scheduler = BackgroundScheduler(
            timezone=UTC,
            # Jobs only enqueue; a late fire still belongs to its slot (the claim key says which),
            # and several missed fires collapse into one.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        for feed in self.feeds.values():
            self._add_feed_jobs(scheduler, feed)
        scheduler.add_job(self.enqueue, IntervalTrigger(seconds=self.settings.digest_retry_seconds,
                                                        timezone=UTC),
                          args=[WorkItem("digests")], id="digests", name="deliver pending digests")
        scheduler.start()
        self.scheduler = scheduler

    def _add_feed_jobs(self, scheduler: BackgroundScheduler, feed: Feed) -> None:
        scheduler.add_job(self.enqueue, feed.trigger(), args=[WorkItem("run", feed.name)],
                          id=f"run:{feed.name}", name=f"run {feed.name}", replace_existing=True)
        scheduler.add_job(self.enqueue, feed.report_trigger(), args=[WorkItem("report", feed.name)],
                          id=f"report:{feed.name}", name=f"report {feed.name}", replace_existing=True)

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=False)
            except Exception:  # noqa: BLE001 - already stopped
                pass
            self.scheduler = None

    def enqueue(self, item: WorkItem) -> bool:
        with self._queued_lock:
            if item in self._queued or self.stopping.is_set():
                return False
            self._queued.add(item)
        self.queue.put(item)
        return True

    def _drain_queue(self) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is None:  # keep the worker's stop marker
                self.queue.put(None)
                return
            with self._queued_lock:
                self._queued.discard(item)

    def mark_interrupted(self, *, own_pid_gone: bool = False) -> list[Any]:
        """Runs whose process is gone are "interrupted", not "running" (monitor.interrupted)."""
        from monitor.interrupted import mark_interrupted

        try:
            return mark_interrupted(self.engine, lease_seconds=self.settings.lease_seconds,
                                    now=self.clock(), own_pid_gone=own_pid_gone)
        except SQLAlchemyError as exc:  # bookkeeping only: never a reason not to run
            log.warning("could not mark interrupted runs", extra={"error": _short(exc)})
            return []

    def catch_up(self) -> list[str]:
        """Enqueue every feed whose last success is older than its latest slot; returns them."""
        self.mark_interrupted()
        now = self.clock()
        behind = []
        with session_scope(self.engine) as session:
            last = dict(session.execute(select(FeedRow.name, FeedRow.last_success_at)).all())
        for feed in self.feeds.values():
            slot = feed.period_for(now)
            done = lease.aware(last.get(feed.name))
            if done is None or done < slot:
                behind.append(feed.name)
                log.info("catching up a missed slot", extra={
                    "feed": feed.name, "period": format_period(slot),
                    "last_success": done.isoformat() if done else "never"})
                self.enqueue(WorkItem("run", feed.name, trigger="catch-up"))
        self._catch_up_reports(now)
        return behind

    def _catch_up_reports(self, now: datetime) -> None:
        from monitor.store.models import ReportRow

        with session_scope(self.engine) as session:
            written = set(session.execute(
                select(FeedRow.name, ReportRow.week).join(ReportRow, ReportRow.feed_id == FeedRow.id)
            ).all())
        for feed in self.feeds.values():
            week = report_week(last_fire_time(feed.report_trigger(), now))
            if (feed.name, week) not in written:
                self.enqueue(WorkItem("report", feed.name, trigger="catch-up"))

    # -- the worker ---------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            with self._queued_lock:
                self._queued.discard(item)
            if self.stopping.is_set() or not self.active:
                continue
            self.busy_with = item
            try:
                self.do(item)
            except ShuttingDown:
                pass
            except Exception:  # noqa: BLE001 - one bad unit must not stop the service
                log.exception("work failed", extra={"work": item.label})
            finally:
                self.busy_with = None

    def do(self, item: WorkItem) -> None:
        if item.kind == "run":
            self.do_run(item.feed or "", item.trigger)
        elif item.kind == "report":
            self.do_report(item.feed or "")
        elif item.kind == "digests":
            self.do_digests()

    def do_run(self, name: str, trigger: str = "schedule") -> Any:
        from monitor.runs import run_feed

        feed = self.feeds.get(name)
        if feed is None:
            return None
        now = self.clock()
        slot = feed.period_for(now)
        period = format_period(slot)
        key = f"{feed.name}@{period}"
        with session_scope(self.engine) as session:
            done = lease.aware(session.execute(
                select(FeedRow.last_success_at).where(FeedRow.name == feed.name)).scalar_one_or_none())
        if done is not None and done >= slot:
            log.info("run skipped: this period already succeeded",
                     extra={"feed": feed.name, "period": period, "trigger": trigger})
            return None
        ttl = self.settings.lease_seconds
        if not lease.claim_work(self.engine, "run", key, self.holder, ttl, now=now):
            log.info("run skipped: claimed by another process",
                     extra={"feed": feed.name, "period": period, "trigger": trigger})
            return None
        ok = False
        try:
            report = run_feed(self.engine, self.settings, feed, self.source_factory(),
                              trigger=trigger, now=now, progress=self._progress)
            ok = report.ok
            extra = {"feed": feed.name, "run_id": report.run_id, "period": period,
                     "trigger": trigger, "status": report.status, "found": report.found,
                     "new": report.new, "updated": report.updated, "linked": report.linked}
            if ok:
                log.info("feed run finished", extra=extra)
            else:
                log.error("feed run failed", extra={**extra, "error": report.error})
        finally:
            lease.finish_work(self.engine, "run", key, self.holder, ok=ok)
        if ok:
            self._failures.pop(feed.name, None)
            if not self.stopping.is_set():
                self.do_digests([feed.name])
        elif not self.stopping.is_set():
            self._schedule_retry(feed.name)
        return report

    def _schedule_retry(self, name: str) -> None:
        """A failed run's claim may be taken again: try again later in the same period, backing
        off (5, 10, 20, 40, 60 min) so a long NCBI outage is not hammered."""
        failures = self._failures[name] = self._failures.get(name, 0) + 1
        delay = min(RUN_RETRY_FIRST_SECONDS * 2 ** (failures - 1), RUN_RETRY_MAX_SECONDS)
        scheduler = self.scheduler
        if scheduler is None:
            return
        when = self.clock() + timedelta(seconds=delay)
        scheduler.add_job(self.enqueue, DateTrigger(run_date=when, timezone=UTC),
                          args=[WorkItem("run", name, trigger="retry")], id=f"retry:{name}",
                          name=f"retry {name}", replace_existing=True)
        log.info("failed run will be retried", extra={"feed": name, "failures": failures,
                                                      "retry_at": when.isoformat(timespec="seconds")})

    def _progress(self, label: str, total: int) -> NoProgress:
        return _StopAwareProgress(self.stopping)

    def do_report(self, name: str) -> Path | None:
        """Re-check the feed's stored records (retractions, errata, deletions), then write the
        weekly report, so the report and the next digest flag what changed in PubMed."""
        from monitor.recheck import recheck
        from monitor.report import write_report

        feed = self.feeds.get(name)
        if feed is None:
            return None
        now = self.clock()
        week = report_week(last_fire_time(feed.report_trigger(), now))
        key = f"{feed.name}@{week}"
        if not lease.claim_work(self.engine, "report", key, self.holder,
                                self.settings.lease_seconds, now=now):
            log.info("report skipped: claimed by another process", extra={"feed": name, "week": week})
            return None
        ok = False
        try:
            try:
                summary = recheck(self.engine, self.source_factory(), feed_names=[feed.name],
                                  older_than_days=RECHECK_AFTER_DAYS, now=now)
                log.info("stored records re-checked", extra={"feed": name, **_counts(summary)})
            except Exception as exc:  # noqa: BLE001 - a failed re-check must not cost the report
                log.warning("re-check failed; report written without it",
                            extra={"feed": name, "error": _short(exc)})
            path = write_report(self.engine, self.settings, feed, week)
            ok = True
            log.info("weekly report written", extra={"feed": name, "week": week, "path": str(path)})
            return path
        except Exception as exc:  # noqa: BLE001
            log.error("weekly report failed", extra={"feed": name, "week": week, "error": _short(exc)})
            return None
        finally:
            lease.finish_work(self.engine, "report", key, self.holder, ok=ok)

    def do_digests(self, feed_names: list[str] | None = None) -> int:
        """Deliver due digests; monitor.digest claims each one itself. One digest is one unit
        of work, so a stop is honoured between two of them. Returns how many."""
        from monitor.digest import deliver_one

        feeds = [self.feeds[n] for n in (feed_names or self.feeds) if n in self.feeds]
        count = 0
        while not self.stopping.is_set() and count < 1000:
            if deliver_one(self.engine, self.settings, feeds, now=self.clock()) is None:
                break
            count += 1
        return count

    # -- feed files -------------------------------------------------------------------------

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        try:
            for path in sorted(self.settings.feeds_dir.glob("*.toml")):
                try:
                    st = path.stat()
                except OSError:
                    continue
                out.append((path.name, st.st_mtime_ns, st.st_size))
        except OSError:
            pass
        return tuple(out)

    def _feeds_changed(self) -> bool:
        return self._scan() != self._feed_signature

    def load_feeds(self, *, strict: bool) -> list[FeedError]:
        """Read every feed file. At start (strict) a bad file is fatal; on reload it is reported
        and that feed keeps its previous definition."""
        directory = self.settings.feeds_dir
        signature = self._scan()
        if not directory.is_dir():
            error = FeedError(f"{directory}: feeds directory does not exist (LITMON_FEEDS_DIR)")
            if strict:
                raise error
            log.error("feed reload failed; keeping every feed as it was", extra={"error": str(error)})
            self._feed_signature = signature
            return [error]
        new: dict[str, Feed] = {}
        files: dict[Path, str] = {}
        errors: list[FeedError] = []
        for path in sorted(directory.glob("*.toml")):
            try:
                feed = load_feed(path)
            except FeedError as exc:
                errors.append(exc)
                previous = self._feed_files.get(path)
                if previous and previous in self.feeds:
                    new[previous] = self.feeds[previous]
                    files[path] = previous
                    log.error("feed file is broken; keeping its previous definition",
                              extra={"feed": previous, "file": str(path), "error": str(exc)})
                else:
                    log.error("feed file is broken", extra={"file": str(path), "error": str(exc)})
                continue
            new[feed.name] = feed
            files[path] = feed.name
        if strict and errors:
            raise errors[0]
        if strict and not new:
            raise FeedError(f"no feed files (*.toml) in {directory} (LITMON_FEEDS_DIR)")
        self.feeds, self._feed_files, self._feed_signature = new, files, signature
        return errors

    def reload_feeds(self) -> list[FeedError]:
        before = dict(self.feeds)
        errors = self.load_feeds(strict=False)
        added = [n for n in self.feeds if n not in before]
        removed = [n for n in before if n not in self.feeds]
        changed = [n for n in self.feeds if n in before and self.feeds[n] != before[n]]
        log.info("feeds reloaded", extra={"feeds": ",".join(self.feeds) or "-",
                                          "added": ",".join(added) or "-",
                                          "removed": ",".join(removed) or "-",
                                          "changed": ",".join(changed) or "-",
                                          "errors": len(errors)})
        scheduler = self.scheduler
        if scheduler is not None:
            for name in removed:
                for prefix in ("run", "report"):
                    try:
                        scheduler.remove_job(f"{prefix}:{name}")
                    except Exception:  # noqa: BLE001 - no such job
                        pass
            for name in added + changed:
                old = before.get(name)
                feed = self.feeds[name]
                # Re-adding a job recomputes its next fire time from now: only do it when the
                # schedule really changed, so no slot is skipped for an unrelated edit.
                if old is None or (old.schedule, old.report_schedule) != (feed.schedule, feed.report_schedule):
                    self._add_feed_jobs(scheduler, feed)
        return errors


class _StopAwareProgress(NoProgress):
    """Called by run_feed after each stored batch: the place a run may stop cleanly."""

    def __init__(self, stopping: threading.Event) -> None:
        super().__init__()
        self._stopping = stopping

    def advance(self, n: int) -> None:
        super().advance(n)
        if self._stopping.is_set():
            raise ShuttingDown("stopped after a stored batch because the service is shutting down; "
                               "the next run resumes from the watermark")


def report_week(slot: datetime) -> str:
    """The ISO week a weekly report written at ``slot`` covers: the week before the slot's day
    (a Monday-morning report covers the whole of last week)."""
    year, week, _ = (slot.astimezone(UTC) - timedelta(days=1)).isocalendar()
    return f"{year}-W{week:02d}"


def _counts(summary: Any) -> dict[str, Any]:
    """A dataclass summary's numeric fields, for a log line."""
    return {k: v for k, v in vars(summary).items() if isinstance(v, int | float)}


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def serve(engine: Engine, settings: Settings, source_factory: Callable[[], PubMedSource]) -> int:
    service = Service(engine, settings, source_factory)
    return service.serve_forever()


# -- health -----------------------------------------------------------------------------------

@dataclass
class Health:
    ok: bool
    reasons: list[str]
    lines: list[str]


def check_health(engine: Engine, settings: Settings, *, max_age: float | None = None,
                 host: str | None = None, now: datetime | None = None) -> Health:
    """Healthy when the database answers and this host's service (else any) beat recently."""
    import socket

    from sqlalchemy import text

    now = (now or utc_clock()).astimezone(UTC)
    max_age = max_age if max_age is not None else 3 * settings.heartbeat_seconds
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        beats = lease.heartbeats(engine)
        current = lease.lease_state(engine)
    except SQLAlchemyError as exc:
        return Health(False, [f"database does not answer: {_short(exc)}"], [])
    host = host if host is not None else socket.gethostname()
    mine = [b for b in beats if b.holder.split(":", 1)[0] == host]
    candidates = mine or beats
    lines = []
    for b in beats:
        age = (now - b.beat_at).total_seconds()
        lines.append(f"{b.holder}: {b.role}, last heartbeat {age:.1f} s ago")
    if current is not None:
        state = "valid" if current.valid(now) else "expired"
        lines.append(f"lease: held by {current.holder} ({state}, expires {current.expires_at:%H:%M:%S} UTC)")
    if not candidates:
        return Health(False, ["no heartbeat: `litmon serve` has not run against this database"], lines)
    freshest = max(candidates, key=lambda b: b.beat_at)
    age = (now - freshest.beat_at).total_seconds()
    if age > max_age:
        return Health(False, [f"heartbeat of {freshest.holder} is {age:.1f} s old "
                              f"(limit {max_age:g} s): the service is stuck or stopped"], lines)
    return Health(True, [], lines)
