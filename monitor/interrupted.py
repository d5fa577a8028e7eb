"""Runs whose process is gone: a ``litmon run`` killed with -9, OOM-killed or lost with its
machine never writes its end, so its row in ``run`` would say "running" for ever.

``mark_interrupted`` turns such rows into ``status = "interrupted"`` (``finished_at`` set, and an
``error`` saying why we know the process is gone) — but only on evidence that the process is
really gone, never on age alone (a long first run can take hours):

* **This host** (the row's ``holder`` is ``host:pid`` with our host name): no process has that
  pid (``os.kill(pid, 0)`` raises ProcessLookupError), or the pid was reused — the process that
  has it now started after the run did (Linux ``/proc``). A pid we cannot signal
  (PermissionError) is alive. Our own pid counts as gone only when the caller says this process
  runs no feed (``litmon status``, the service before its worker starts): a restarted container
  is pid 1 again.
* **Any host, runs of ``litmon serve``** (triggers schedule, catch-up, retry; a manual run of
  the same period holds no claim): the service claims each run (``run``/``feed@period``
  in ``work_claim``, holder ``host:pid:tag``) and its control loop renews the claim every few
  seconds, even during a long run. When that claim was taken over by another process, finished
  (done or failed) while the row still says running, or has not been renewed for a whole lease
  period past its expiry, the run is over — the same rule by which the service itself lets
  another process retry the work.
* A ``litmon run`` on another host has no such signal: it stays "running" (``litmon status``
  says where it runs).

A run whose claim is still live, or expired by less than a lease period, is never marked,
whatever the pid says (a container sharing the host's name but not its pid namespace).

Every update is conditional (``WHERE status = 'running'``): a run that finishes meanwhile keeps
its own ending.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from monitor.lease import aware
from monitor.store.db import session_scope
from monitor.store.models import FeedRow, Run, WorkClaim, utcnow

log = logging.getLogger("litmon.interrupted")

INTERRUPTED = "interrupted"
#: the triggers of runs the service starts, each under a work claim (monitor.service.do_run)
SERVICE_TRIGGERS = frozenset({"schedule", "catch-up", "retry"})
#: a process that started this long after the run's start cannot be the run's process
PID_REUSE_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class Interrupted:
    run_id: int
    feed: str
    holder: str | None
    reason: str


def parse_holder(holder: str | None) -> tuple[str, int] | None:
    """``host:pid`` → (host, pid); None when it is not of that form."""
    if not holder or ":" not in holder:
        return None
    host, _, pid = holder.rpartition(":")
    if not host or not pid.isdigit():
        return None
    return host, int(pid)


def pid_state(pid: int) -> str:
    """"gone", "alive" (or not ours to signal: alive) for a pid on this host."""
    if pid <= 0:
        return "gone"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        return "alive"
    except OSError:
        return "alive"
    return "alive"


def process_started_at(pid: int) -> datetime | None:
    """When the process with this pid started (Linux /proc), or None when not knowable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        with open("/proc/stat", encoding="ascii", errors="replace") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        # Field 22 (starttime, clock ticks since boot); the command name (field 2) may hold
        # spaces and parentheses, so count from its closing parenthesis.
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])
        return datetime.fromtimestamp(btime + ticks / os.sysconf("SC_CLK_TCK"), UTC)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def local_verdict(pid: int, run_started: datetime | None, *, own_pid_gone: bool) -> str | None:
    """Why the process ``pid`` of this host that started a run is certainly gone, or None."""
    if pid == os.getpid():
        return "its process id is this process, which runs no feed" if own_pid_gone else None
    if pid_state(pid) == "gone":
        return "no process has its process id any more"
    started = process_started_at(pid)
    if started is not None and run_started is not None and started > run_started + PID_REUSE_SLACK:
        return "its process id now belongs to a process that started after the run"
    return None


def claim_verdict(run_holder: str, claim: WorkClaim | None, now: datetime,
                  grace: timedelta) -> tuple[bool, str | None]:
    """(live, reason): whether the service claim of a run is still live, and why it shows the
    run is over (None: no evidence either way)."""
    if claim is None:
        return False, None
    if not claim.holder.startswith(run_holder + ":"):
        return False, f"its work claim was taken over by {claim.holder}"
    if claim.state in ("done", "failed"):
        return False, f"its work claim was closed ({claim.state}) without the run's end"
    expires = aware(claim.expires_at)
    if expires is None:
        return False, None
    if expires + grace < now:
        return False, (f"its work claim stopped being renewed (expired "
                       f"{expires:%Y-%m-%d %H:%M:%S} UTC)")
    # Renewed, or expired by less than a lease period (a slow tick): its process may live.
    return True, None


def mark_interrupted(engine: Engine, *, lease_seconds: float, now: datetime | None = None,
                     own_pid_gone: bool = False, host: str | None = None,
                     local: Callable[[int, datetime | None], str | None] | None = None,
                     ) -> list[Interrupted]:
    """Mark every "running" run whose process is certainly gone as interrupted; returns them.

    ``now`` is the clock the service's claims are written with (its injected clock in tests);
    ``lease_seconds`` the claims' time to live, also the grace after their expiry.
    ``own_pid_gone``: this process runs no feed, so a row with its own ``host:pid`` is a
    previous process's. ``host``/``local`` replace the host name and the pid check (tests).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    host = host if host is not None else socket.gethostname()
    grace = timedelta(seconds=lease_seconds)
    if local is None:
        def local(pid: int, started: datetime | None) -> str | None:
            return local_verdict(pid, started, own_pid_gone=own_pid_gone)

    with session_scope(engine) as session:
        running = session.execute(
            select(Run.id, Run.holder, Run.period, Run.started_at, FeedRow.name, Run.trigger)
            .join(FeedRow, FeedRow.id == Run.feed_id).where(Run.status == "running")
        ).all()
        keys = {f"{name}@{period}" for _, _, period, _, name, trigger in running
                if period and trigger in SERVICE_TRIGGERS}
        claims = {c.key: c for c in session.execute(
            select(WorkClaim).where(WorkClaim.kind == "run", WorkClaim.key.in_(sorted(keys)))
        ).scalars()} if keys else {}
    found: list[Interrupted] = []
    for run_id, holder, period, started, name, trigger in running:
        parsed = parse_holder(holder)
        if parsed is None:
            continue
        claim = claims.get(f"{name}@{period}") if trigger in SERVICE_TRIGGERS else None
        live, reason = claim_verdict(holder, claim, now, grace)
        if live:
            continue
        if reason is None and parsed[0] == host:
            reason = local(parsed[1], aware(started))
        if reason is None:
            continue
        found.append(Interrupted(run_id, name, holder, reason))
    marked = []
    for item in found:
        error = f"interrupted: the run's process ({item.holder}) ended without finishing it — {item.reason}"
        with session_scope(engine) as session:
            done = session.execute(
                update(Run).where(Run.id == item.run_id, Run.status == "running")
                .values(status=INTERRUPTED, finished_at=utcnow(), error=error)
            ).rowcount  # type: ignore[attr-defined]
        if done:
            marked.append(item)
            log.warning("run marked interrupted", extra={"run_id": item.run_id, "feed": item.feed,
                                                         "holder": item.holder, "reason": item.reason})
    return marked
