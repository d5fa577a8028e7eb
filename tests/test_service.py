"""`litmon serve` and `litmon health`: lease, claims, catch-up, reload, signals, two replicas.

The lease and claim logic is tested with an injected clock; behaviour that is about processes
(catch-up on start, one active of two, kill -9 take-over, SIGTERM, SIGHUP) drives real
``python -m monitor serve`` subprocesses on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor import lease
from monitor.config import Settings
from monitor.service import Service, check_health, report_week
from monitor.store.db import make_engine, session_scope
from monitor.store.models import Digest, FeedRow, Run, WorkClaim

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LEASE = 5.0

pytestmark = pytest.mark.reliability


# -- the lease, with an injected clock ------------------------------------------------------------

def test_lease_acquire_renew_expire_takeover(engine):
    assert lease.acquire_lease(engine, "a", LEASE, now=T0)  # no row yet: the insert wins
    assert not lease.acquire_lease(engine, "b", LEASE, now=T0)  # held
    assert lease.renew_lease(engine, "a", LEASE, now=T0 + timedelta(seconds=3))
    # Renewed at +3 s: still a's at +7 s, although the first grant would have run out at +5 s.
    assert not lease.acquire_lease(engine, "b", LEASE, now=T0 + timedelta(seconds=7))
    state = lease.lease_state(engine)
    assert state.holder == "a" and state.acquired_at == T0
    assert state.expires_at == T0 + timedelta(seconds=8)
    # a stops renewing (dies): b takes over once the lease has expired.
    assert lease.acquire_lease(engine, "b", LEASE, now=T0 + timedelta(seconds=8.5))
    state = lease.lease_state(engine)
    assert state.holder == "b" and state.acquired_at == T0 + timedelta(seconds=8.5)
    # a wakes up: its renewal fails (it must step down) and it cannot grab the lease back.
    assert not lease.renew_lease(engine, "a", LEASE, now=T0 + timedelta(seconds=9))
    assert not lease.acquire_lease(engine, "a", LEASE, now=T0 + timedelta(seconds=9))
    # Re-acquiring our own lease renews it and keeps the tenure's start.
    assert lease.acquire_lease(engine, "b", LEASE, now=T0 + timedelta(seconds=10))
    assert lease.lease_state(engine).acquired_at == T0 + timedelta(seconds=8.5)


def test_released_lease_is_free_at_once_and_only_the_holder_can_release(engine):
    assert lease.acquire_lease(engine, "a", LEASE, now=T0)
    assert not lease.release_lease(engine, "b", now=T0)
    assert not lease.acquire_lease(engine, "b", LEASE, now=T0 + timedelta(seconds=1))
    assert lease.release_lease(engine, "a", now=T0 + timedelta(seconds=1))
    assert not lease.lease_state(engine).valid(T0 + timedelta(seconds=1))
    assert lease.acquire_lease(engine, "b", LEASE, now=T0 + timedelta(seconds=1))


# -- work claims ----------------------------------------------------------------------------------

def test_work_claim_is_won_once_and_done_stays_done(engine):
    key = "wbc-ms@2026-11-25T06:00Z"
    assert lease.claim_work(engine, "run", key, "a", 60, now=T0)
    assert not lease.claim_work(engine, "run", key, "b", 60, now=T0)
    assert lease.finish_work(engine, "run", key, "a", ok=True, now=T0)
    assert lease.claim_state(engine, "run", key) == "done"
    # Done is final, however much later somebody asks.
    assert not lease.claim_work(engine, "run", key, "b", 60, now=T0 + timedelta(days=3))
    # Another period, or another kind of work, is another claim.
    assert lease.claim_work(engine, "run", "wbc-ms@2026-11-26T06:00Z", "b", 60, now=T0)
    assert lease.claim_work(engine, "report", key, "b", 60, now=T0)


def test_failed_claim_may_be_retried(engine):
    key = "wbc-ms@2026-11-25T06:00Z"
    assert lease.claim_work(engine, "run", key, "a", 60, now=T0)
    assert lease.finish_work(engine, "run", key, "a", ok=False, now=T0)
    assert lease.claim_state(engine, "run", key) == "failed"
    assert lease.claim_work(engine, "run", key, "b", 60, now=T0 + timedelta(seconds=1))
    assert not lease.claim_work(engine, "run", key, "a", 60, now=T0 + timedelta(seconds=1))
    # Only the holder may finish it.
    assert not lease.finish_work(engine, "run", key, "a", ok=True)
    assert lease.finish_work(engine, "run", key, "b", ok=True)


def test_claim_of_a_crashed_holder_expires_unless_extended(engine):
    key = "wbc-ms@2026-11-25T06:00Z"
    assert lease.claim_work(engine, "run", key, "a", 60, now=T0)
    # a is alive and keeps its claim fresh while its run takes long.
    assert lease.extend_claims(engine, "a", 60, now=T0 + timedelta(seconds=50)) == 1
    assert not lease.claim_work(engine, "run", key, "b", 60, now=T0 + timedelta(seconds=100))
    # a died: after the claim expires b may do the work.
    assert lease.claim_work(engine, "run", key, "b", 60, now=T0 + timedelta(seconds=111))
    with session_scope(engine) as session:
        row = session.execute(select(WorkClaim)).scalar_one()
        assert row.holder == "b" and row.state == "claimed"


# -- runs whose process is gone: "interrupted", not "running" --------------------------------------

def _running_run(engine, holder: str, *, trigger: str = "schedule", period: str = "2026-11-25T06:00Z",
                 started_at: datetime = T0, feed: str = "wbc-ms") -> int:
    with session_scope(engine) as session:
        row = session.execute(select(FeedRow).where(FeedRow.name == feed)).scalar_one_or_none()
        if row is None:
            row = FeedRow(name=feed, query="q")
            session.add(row)
            session.flush()
        run = Run(feed_id=row.id, trigger=trigger, period=period, status="running",
                  started_at=started_at, holder=holder)
        session.add(run)
        session.flush()
        return int(run.id)


def _status(engine) -> dict[int, str]:
    with session_scope(engine) as session:
        return {r.id: r.status for r in session.execute(select(Run)).scalars()}


def test_a_service_run_on_another_host_is_interrupted_once_its_claim_is_not_renewed(engine):
    """Another host's pids cannot be looked at; the service's work claim is the signal: renewed
    every few seconds while its process lives, even through a long run."""
    from monitor.interrupted import mark_interrupted

    def no_local_look(pid: int, started: datetime | None) -> str | None:
        raise AssertionError("another host's pid was looked up here")

    def mark(at: datetime) -> list[int]:
        return [i.run_id for i in mark_interrupted(engine, lease_seconds=LEASE, now=at,
                                                   host="here", local=no_local_look)]

    p1, p2, p3 = "2026-11-25T06:00Z", "2026-11-25T07:00Z", "2026-11-25T08:00Z"
    # A scheduled run whose service keeps renewing its claim, and one that stopped renewing.
    alive = _running_run(engine, "there:100", period=p1)
    assert lease.claim_work(engine, "run", f"wbc-ms@{p1}", "there:100:aaaaaa", LEASE, now=T0)
    silent = _running_run(engine, "there:200", period=p2, feed="other")
    assert lease.claim_work(engine, "run", f"other@{p2}", "there:200:bbbbbb", LEASE, now=T0)
    # A manual `litmon run` on another host: no claim, no signal — however old, it stays.
    manual = _running_run(engine, "there:300", trigger="manual", period=p1)
    # A catch-up run whose claim another service took over, and one whose claim its own
    # service closed (done) without the row being finished.
    taken = _running_run(engine, "there:400", trigger="catch-up", period=p3)
    assert lease.claim_work(engine, "run", f"wbc-ms@{p3}", "elsewhere:9:cccccc", LEASE, now=T0)
    closed = _running_run(engine, "there:500", trigger="retry", period=p3, feed="other")
    assert lease.claim_work(engine, "run", f"other@{p3}", "there:500:dddddd", LEASE, now=T0)
    assert lease.finish_work(engine, "run", f"other@{p3}", "there:500:dddddd", ok=False, now=T0)

    assert sorted(mark(T0 + timedelta(seconds=1))) == [taken, closed]
    # Expired, but not yet by a whole lease period: could be a slow tick. Keep waiting.
    later = T0 + timedelta(seconds=LEASE + LEASE / 2)
    assert lease.extend_claims(engine, "there:100:aaaaaa", LEASE, now=later) == 1
    assert mark(later) == []
    assert mark(T0 + timedelta(seconds=2 * LEASE + 1)) == [silent]
    assert mark(T0 + timedelta(days=30)) == [alive]  # its claim was last renewed at `later`
    status = _status(engine)
    assert status[manual] == "running"
    assert {status[i] for i in (alive, silent, taken, closed)} == {"interrupted"}
    with session_scope(engine) as session:
        row = session.get(Run, silent)
        assert row.finished_at is not None
        assert "interrupted" in row.error and "there:200" in row.error and "renewed" in row.error


def test_a_run_on_this_host_is_interrupted_when_its_pid_is_gone_or_reused(engine):
    from monitor.interrupted import mark_interrupted, process_started_at

    host = socket.gethostname()
    now = datetime.now(UTC)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        started = process_started_at(sleeper.pid)
        assert started is not None and abs((started - now).total_seconds()) < 30
        dead = _running_run(engine, f"{host}:{gone.pid}", trigger="manual", started_at=now)
        live = _running_run(engine, f"{host}:{sleeper.pid}", trigger="manual", started_at=now)
        # The sleeper's pid on a run that started an hour before the sleeper: reused.
        reused = _running_run(engine, f"{host}:{sleeper.pid}", trigger="manual",
                              started_at=now - timedelta(hours=1), feed="other")
        mine = _running_run(engine, f"{host}:{os.getpid()}", trigger="manual", started_at=now)
        # A dead pid, but a live claim: the claim wins (a container with this host name but
        # its own pid namespace).
        claimed = _running_run(engine, f"{host}:{gone.pid}", period="2026-11-25T09:00Z",
                               started_at=now, feed="other")
        assert lease.claim_work(engine, "run", "other@2026-11-25T09:00Z", f"{host}:{gone.pid}:x",
                                LEASE, now=now)
        marked = mark_interrupted(engine, lease_seconds=LEASE, now=now)
        assert sorted(i.run_id for i in marked) == sorted([dead, reused])
        # This process may be running a feed itself, unless the caller says it runs none.
        assert mark_interrupted(engine, lease_seconds=LEASE, now=now) == []
        assert [i.run_id for i in mark_interrupted(engine, lease_seconds=LEASE, now=now,
                                                   own_pid_gone=True)] == [mine]
        status = _status(engine)
        assert status[live] == status[claimed] == "running"
        # The claim expired, by less than a lease period: still waiting; then it is over.
        assert mark_interrupted(engine, lease_seconds=LEASE,
                                now=now + timedelta(seconds=1.5 * LEASE)) == []
        assert [i.run_id for i in mark_interrupted(
            engine, lease_seconds=LEASE, now=now + timedelta(seconds=2 * LEASE + 1))] == [claimed]
        assert _status(engine)[live] == "running"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_service_marks_interrupted_runs_at_start_and_catch_up(engine, tmp_path):
    (tmp_path / "feeds").mkdir()
    _write_feed(tmp_path / "feeds", "wbc-ms")
    now = [T0]
    service = _service(engine, tmp_path, clock=lambda: now[0])
    # Before this process ran a single feed, its own pid on a "running" row is a dead
    # predecessor's (a restarted container is pid 1 again).
    mine = _running_run(engine, f"{socket.gethostname()}:{os.getpid()}", trigger="manual")
    remote = _running_run(engine, "there:7", period="2026-11-25T11:00Z")
    assert lease.claim_work(engine, "run", "wbc-ms@2026-11-25T11:00Z", "there:7:eeeeee", LEASE,
                            now=T0)
    service.start()
    service.queue.put(None)  # the worker's stop marker
    service.worker.join(10)
    assert _status(engine) == {mine: "interrupted", remote: "running"}
    now[0] = T0 + timedelta(seconds=3 * LEASE)
    service.active = True
    service.catch_up()
    assert _status(engine) == {mine: "interrupted", remote: "interrupted"}


# -- heartbeat and health -------------------------------------------------------------------------

def test_health_needs_a_fresh_heartbeat(engine):
    settings = Settings(heartbeat_seconds=2)
    health = check_health(engine, settings, host="h1", now=T0)
    assert not health.ok and "no heartbeat" in health.reasons[0]
    lease.beat(engine, "h1:10", "active", started_at=T0, now=T0)
    assert check_health(engine, settings, host="h1", now=T0 + timedelta(seconds=6)).ok
    stale = check_health(engine, settings, host="h1", now=T0 + timedelta(seconds=6.5))
    assert not stale.ok and "6.5 s old" in stale.reasons[0]
    assert check_health(engine, settings, host="h1", max_age=10,
                        now=T0 + timedelta(seconds=6.5)).ok
    # Another host's fresh beat does not make this host's stuck service healthy...
    lease.beat(engine, "h2:11", "standby", started_at=T0, now=T0 + timedelta(seconds=10))
    assert not check_health(engine, settings, host="h1", now=T0 + timedelta(seconds=10)).ok
    # ...but where no service ran on this host, any fresh one will do.
    assert check_health(engine, settings, host="h3", now=T0 + timedelta(seconds=10)).ok
    lease.forget_heartbeat(engine, "h1:10")
    assert [b.holder for b in lease.heartbeats(engine)] == ["h2:11"]


def test_health_fails_when_the_database_does_not_answer(tmp_path):
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    health = check_health(engine, Settings())
    assert not health.ok and "database does not answer" in health.reasons[0]


def test_report_week_is_the_week_before_a_monday_report():
    assert report_week(datetime(2026, 11, 23, 7, 0, tzinfo=UTC)) == "2026-W47"  # a Monday
    assert report_week(datetime(2026, 11, 27, 7, 0, tzinfo=UTC)) == "2026-W48"  # a Friday


# -- the service in-process: catch-up decision and reloads ---------------------------------------

def _write_feed(directory: Path, name: str = "wbc-ms", schedule: str = "0 6 * * *",
                extra: str = "") -> Path:
    path = directory / f"{name}.toml"
    path.write_text(f'name = "{name}"\nquery = "multiple sclerosis"\n'
                    f'schedule = "{schedule}"\n{extra}', encoding="utf-8")
    return path


def _service(engine, tmp_path: Path, clock: Callable[[], datetime] = lambda: T0) -> Service:
    settings = Settings(feeds_dir=tmp_path / "feeds", data_dir=tmp_path / "data",
                        reports_dir=tmp_path / "reports", lease_seconds=LEASE, heartbeat_seconds=1)
    return Service(engine, settings, lambda: None, holder="test:1", clock=clock)  # type: ignore[arg-type,return-value]


def test_catch_up_runs_feeds_behind_their_latest_slot(engine, tmp_path):
    (tmp_path / "feeds").mkdir()
    _write_feed(tmp_path / "feeds", "behind")
    _write_feed(tmp_path / "feeds", "current")
    _write_feed(tmp_path / "feeds", "never")
    with session_scope(engine) as session:
        # Latest slot of "0 6 * * *" at T0 (12:00) is 06:00 the same day.
        session.add(FeedRow(name="behind", query="q", last_success_at=T0.replace(hour=5, minute=59)))
        session.add(FeedRow(name="current", query="q", last_success_at=T0.replace(hour=6, minute=1)))
    service = _service(engine, tmp_path)
    service.load_feeds(strict=True)
    service.active = True
    assert sorted(service.catch_up()) == ["behind", "never"]
    queued = {service.queue.get_nowait() for _ in range(service.queue.qsize())}
    assert {(i.kind, i.feed, i.trigger) for i in queued if i.kind == "run"} == {
        ("run", "behind", "catch-up"), ("run", "never", "catch-up")}


def test_reload_keeps_the_previous_definition_of_a_broken_file(engine, tmp_path, caplog):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    path = _write_feed(feeds, "wbc-ms", schedule="0 6 * * *")
    _write_feed(feeds, "other")
    service = _service(engine, tmp_path)
    service.load_feeds(strict=True)
    before = service.feeds["wbc-ms"]

    path.write_text('name = "wbc-ms"\nquery = "x"\nschedule = "not cron"\n', encoding="utf-8")
    (feeds / "new.toml").write_text("this is = not = toml", encoding="utf-8")
    with caplog.at_level("ERROR", logger="litmon.service"):
        errors = service.reload_feeds()
    assert len(errors) == 2
    assert service.feeds["wbc-ms"] == before  # kept
    assert set(service.feeds) == {"wbc-ms", "other"}
    assert any("keeping its previous definition" in r.getMessage() for r in caplog.records)

    _write_feed(feeds, "wbc-ms", schedule="30 5 * * *")
    (feeds / "new.toml").unlink()
    (feeds / "other.toml").unlink()
    assert service.reload_feeds() == []
    assert service.feeds["wbc-ms"].schedule == "30 5 * * *"
    assert set(service.feeds) == {"wbc-ms"}


def test_reload_reschedules_only_changed_feeds(engine, tmp_path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    _write_feed(feeds, "a", schedule="0 6 * * *")
    _write_feed(feeds, "b", schedule="0 6 * * *")
    service = _service(engine, tmp_path, clock=lambda: datetime.now(UTC))
    service.load_feeds(strict=True)
    service._start_scheduler()
    try:
        job_b = service.scheduler.get_job("run:b")
        next_b = job_b.next_run_time
        _write_feed(feeds, "a", schedule="15 7 * * *")
        _write_feed(feeds, "c")
        service.reload_feeds()
        assert service.scheduler.get_job("run:a").trigger.fields[5].expressions[0].first == 7
        assert service.scheduler.get_job("run:c") is not None
        assert service.scheduler.get_job("run:b").next_run_time == next_b
        (feeds / "c.toml").unlink()
        service.reload_feeds()
        assert service.scheduler.get_job("run:c") is None
    finally:
        service._stop_scheduler()


def test_active_service_steps_down_when_its_lease_is_taken(engine, tmp_path):
    (tmp_path / "feeds").mkdir()
    _write_feed(tmp_path / "feeds", "wbc-ms")
    now = [T0]
    service = _service(engine, tmp_path, clock=lambda: now[0])
    service.load_feeds(strict=True)
    with session_scope(engine) as session:  # nothing to catch up
        session.add(FeedRow(name="wbc-ms", query="q", last_success_at=T0))
    service.tick()
    try:
        assert service.active and service.scheduler is not None
        assert lease.lease_state(engine).holder == service.holder
        # The process stalls past its lease; another one takes over.
        now[0] = T0 + timedelta(seconds=LEASE + 1)
        assert lease.acquire_lease(engine, "other", LEASE, now=now[0])
        service.tick()
        assert not service.active and service.scheduler is None
        assert {b.holder: b.role for b in lease.heartbeats(engine)}[service.holder] == "standby"
    finally:
        service._stop_scheduler()


def test_each_start_has_its_own_holder(engine, tmp_path):
    # A restarted container is host:1 again; its new process must not inherit the dead one's claims.
    settings = Settings(feeds_dir=tmp_path)
    a = Service(engine, settings, lambda: None)  # type: ignore[arg-type,return-value]
    b = Service(engine, settings, lambda: None)  # type: ignore[arg-type,return-value]
    assert a.holder != b.holder and a.holder.rsplit(":", 1)[0] == b.holder.rsplit(":", 1)[0]


def test_start_refuses_a_broken_feed_file(engine, tmp_path, cli, feeds_dir):
    (feeds_dir / "bad.toml").write_text('name = "bad"\nquery = "x"\nschedule = "61 * * * *"\n')
    result = cli("serve")
    assert result.code == 2
    assert "bad.toml" in result.err and "schedule" in result.err


# -- real `litmon serve` processes ------------------------------------------------------------------

class ServeProcess:
    """One ``python -m monitor serve`` with JSON logs in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, engine: Any) -> None:
        self.log_path, self.engine = log_path, engine
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in wait/kill
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve"], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.prefix = f"{socket.gethostname()}:{self.proc.pid}:"

    def owns(self, holder: str | None) -> bool:
        return bool(holder) and holder.startswith(self.prefix)

    @property
    def holder(self) -> str:
        """The service's holder id (host:pid:tag) from its heartbeat row."""
        for beat in lease.heartbeats(self.engine):
            if self.owns(beat.holder):
                return beat.holder
        raise AssertionError(f"no heartbeat of {self.prefix}")

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": line})
        return out

    def saw(self, event: str, **fields: Any) -> bool:
        return any(e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
                   for e in self.events())

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               proc: ServeProcess | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.proc.poll() is not None:
            pytest.fail(f"serve exited ({proc.proc.returncode}) while waiting for {what}:\n{proc.log_text()}")
        time.sleep(0.1)
    detail = f"\n{proc.log_text()}" if proc is not None else ""
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}{detail}")


@pytest.fixture
def serve_env(litmon_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITMON_")}
    return {
        **env, **litmon_env,
        "PYTHONUNBUFFERED": "1",
        "LITMON_LEASE_SECONDS": str(int(LEASE)),
        "LITMON_HEARTBEAT_SECONDS": "1",
        "LITMON_SHUTDOWN_GRACE_SECONDS": "10",
        "LITMON_LOG_FORMAT": "json",
        # A short search window keeps each run to a few dozen records.
        "LITMON_LOOKBACK_START": "2025-06-01",
    }


@pytest.fixture
def serve(serve_env: dict[str, str], tmp_path: Path, engine) -> Iterator[Callable[..., ServeProcess]]:
    procs: list[ServeProcess] = []

    def start(**overrides: str) -> ServeProcess:
        proc = ServeProcess({**serve_env, **overrides}, tmp_path / f"serve-{len(procs)}.log", engine)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def _runs(engine) -> list[Run]:
    with session_scope(engine) as session:
        return list(session.execute(select(Run).order_by(Run.id)).scalars())


def _digest_counts(engine) -> list[int]:
    with session_scope(engine) as session:
        return list(session.execute(
            select(func.count()).select_from(Digest).group_by(Digest.feed_id, Digest.period)).scalars())


def _succeeded(engine) -> list[Run]:
    return [r for r in _runs(engine) if r.status == "succeeded"]


def test_serve_catches_up_a_missed_slot_once(serve, engine, feeds_dir):
    # The default schedule (06:00 UTC daily) has its latest slot in the past and the feed never
    # ran: serve runs it at start. A second start in the same period must not run it again.
    first = serve()
    runs = wait_until(lambda: _succeeded(engine), 60, "the catch-up run", first)
    assert runs[0].trigger == "catch-up"
    period = runs[0].period
    first.signal(signal.SIGTERM)
    assert first.wait(20) == 0

    second = serve()
    wait_until(lambda: second.saw("lease acquired: this scheduler is active"), 30, "the lease", second)
    time.sleep(2)  # time for a (wrong) second catch-up run to start
    second.signal(signal.SIGTERM)
    assert second.wait(20) == 0
    assert [(r.period, r.status) for r in _runs(engine)] == [(period, "succeeded")]
    assert lease.claim_state(engine, "run", f"wbc-ms@{period}") == "done"
    assert not any(e.get("event") == "catching up a missed slot" for e in second.events())


def test_two_services_one_active_and_the_standby_takes_over_after_kill_9(
        serve, engine, feeds_dir, smtp_server):
    path = feeds_dir / "wbc-ms.toml"
    path.write_text(path.read_text().replace("recipients = []", 'recipients = ["reader@example.org"]'))
    a, b = serve(**smtp_server.env()), serve(**smtp_server.env())
    wait_until(lambda: _succeeded(engine), 60, "a run by one of the two", a)
    wait_until(lambda: all(any(p.owns(h.holder) for h in lease.heartbeats(engine)) for p in (a, b)),
               30, "heartbeats of both")
    time.sleep(2)  # time for a (wrong) second run or digest to appear
    roles = {h.holder: h.role for h in lease.heartbeats(engine)}
    assert sorted(roles[p.holder] for p in (a, b)) == ["active", "standby"]
    active, standby = (a, b) if roles[a.holder] == "active" else (b, a)
    assert lease.lease_state(engine).holder == active.holder
    assert len(_runs(engine)) == 1
    assert _digest_counts(engine) == [1]
    wait_until(lambda: smtp_server.messages, 20, "the digest email", active)
    assert len(smtp_server.messages) == 1

    active.proc.send_signal(signal.SIGKILL)
    active.wait(10)
    killed_at = time.monotonic()
    wait_until(lambda: lease.lease_state(engine).holder == standby.holder, LEASE + 10,
               "the standby to take the lease", standby)
    took = time.monotonic() - killed_at
    # Bounded: the lease's length plus a control-loop tick or two.
    assert took <= LEASE + 3, f"take-over took {took:.1f} s"
    wait_until(lambda: standby.saw("lease acquired: this scheduler is active"), 5, "active", standby)
    time.sleep(1.5)
    assert len(_runs(engine)) == 1, "the new active scheduler ran the same period again"
    assert _digest_counts(engine) == [1]
    assert len(smtp_server.messages) == 1, "the digest was sent twice"
    standby.signal(signal.SIGTERM)
    assert standby.wait(20) == 0


def test_sigterm_mid_run_finishes_the_batch_releases_the_lease_and_exits_0(
        serve, engine, eutils_server):
    eutils_server.inject("efetch", "slow", times=50, seconds=1.5)
    proc = serve(LITMON_FETCH_BATCH_SIZE="5", LITMON_SHUTDOWN_GRACE_SECONDS="8")
    wait_until(lambda: proc.saw("run started"), 60, "the run to start", proc)
    wait_until(lambda: len(eutils_server.requests("efetch")) >= 1, 30, "a fetch", proc)
    stopped_at = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0, proc.log_text()
    took = time.monotonic() - stopped_at
    assert took < 8 + 2, f"exit took {took:.1f} s"
    assert proc.saw("lease released")
    state = lease.lease_state(engine)
    assert proc.owns(state.holder) and not state.valid()
    [run] = _runs(engine)
    assert run.status == "failed" and "ShuttingDown" in (run.error or "")
    assert 0 < run.fetched < run.found  # stopped between batches, the stored ones kept
    assert lease.claim_state(engine, "run", f"wbc-ms@{run.period}") == "failed"
    with session_scope(engine) as session:
        assert session.execute(select(FeedRow.watermark)).scalar_one() is None


def test_sighup_reload_keeps_a_broken_feed_and_health_follows_the_service(
        serve, engine, feeds_dir, serve_env):
    def health() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitor", "health"], cwd=REPO, env=serve_env,
                              capture_output=True, text=True, timeout=60)

    before = health()
    assert before.returncode == 1 and "no heartbeat" in before.stdout

    proc = serve()
    wait_until(lambda: _succeeded(engine), 60, "the catch-up run", proc)
    ok = health()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "healthy" in ok.stdout

    path = feeds_dir / "wbc-ms.toml"
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace('schedule = "0 6 * * *"', 'schedule = "0 25 * * *"'), encoding="utf-8")
    proc.signal(signal.SIGHUP)
    wait_until(lambda: proc.saw("feed file is broken; keeping its previous definition", feed="wbc-ms"),
               10, "the broken file to be reported", proc)
    assert proc.proc.poll() is None
    assert health().returncode == 0

    proc.signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    after = health()
    assert after.returncode == 1, after.stdout


def test_start_waits_for_the_database_then_gives_up(tmp_path):
    from sqlalchemy.exc import OperationalError

    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    service = Service(engine, Settings(feeds_dir=tmp_path), lambda: None)  # type: ignore[arg-type,return-value]
    started = time.monotonic()
    with pytest.raises(OperationalError):
        service._upgrade_when_reachable(wait_seconds=2.5)
    assert 1 <= time.monotonic() - started < 10  # retried (1 s, 2 s back-off), then gave up


def test_weekly_report_job_rechecks_stored_records_first(engine, tmp_path, eutils_server):
    """A retraction published after a study was stored reaches the weekly report."""
    from lxml import etree

    from monitor.pubmed.client import EutilsClient
    from monitor.runs import run_feed
    from monitor.store.models import ArticleRow

    (tmp_path / "feeds").mkdir()
    _write_feed(tmp_path / "feeds", "wbc-ms", extra='report_schedule = "0 7 * * 1"\n')
    settings = Settings(feeds_dir=tmp_path / "feeds", data_dir=tmp_path / "data",
                        reports_dir=tmp_path / "reports", lease_seconds=LEASE, heartbeat_seconds=1)
    service = Service(engine, settings, lambda: EutilsClient(eutils_server.url, rate=50),
                      holder="test:1", clock=lambda: datetime.now(UTC))
    service.load_feeds(strict=True)
    # Stored more than a week ago, as the re-check only looks at records not checked lately.
    assert run_feed(engine, settings, service.feeds["wbc-ms"], EutilsClient(eutils_server.url, rate=50),
                    now=datetime.now(UTC) - timedelta(days=8)).ok
    pmid = "11748933"

    def retract(el):
        mc = el.find("MedlineCitation")
        ccl = mc.find("CommentsCorrectionsList")
        if ccl is None:
            ccl = etree.SubElement(mc, "CommentsCorrectionsList")
        cc = etree.SubElement(ccl, "CommentsCorrections", RefType="RetractionIn")
        etree.SubElement(cc, "RefSource").text = "Cryobiology. 2026 Nov;99:1"

    eutils_server.revise(pmid, edit=retract)
    with session_scope(engine) as s:
        s.get(ArticleRow, pmid).checked_at = datetime.now(UTC) - timedelta(days=8)
    path = service.do_report("wbc-ms")
    assert path is not None and path.exists()
    with session_scope(engine) as s:
        assert s.get(ArticleRow, pmid).retracted
    assert "retracted" in path.read_text(encoding="utf-8").lower()
