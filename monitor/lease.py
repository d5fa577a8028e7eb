"""Database guards for `litmon serve`: the scheduler lease, work claims and heartbeats.

APScheduler 3 must never share a job store between schedulers, so two services on one database
agree through rows of their own instead:

* **Lease** — one row per name; whoever holds an unexpired lease runs the scheduler. Taking it is
  one conditional UPDATE (``WHERE holder = me OR expires_at < now``) or, when no row exists yet,
  one INSERT … ON CONFLICT DO NOTHING; the row count says who won. The holder renews it well
  before it expires; a standby takes over once it has expired.
* **Work claims** — one row per unit of work (``run``/``wbc-ms@2026-11-25T06:00Z``). Claimed by a
  unique insert; a claim that *failed*, or whose holder stopped renewing it (crashed), may be
  claimed again. So even two active schedulers (a paused process that wakes up after losing its
  lease) cannot do the same work twice.
* **Heartbeats** — one row per process, written by its control loop; `litmon health` reads it.

Every function takes ``now`` so the logic is tested with an injected clock; one short
transaction each (SQLite: BEGIN IMMEDIATE, so racing writers queue instead of failing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from monitor.store.db import session_scope
from monitor.store.models import Heartbeat, Lease, WorkClaim

SCHEDULER_LEASE = "scheduler"


def aware(when: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def insert_if_absent(session: Session, model: type[SQLModel], row: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING for one row; True if this statement inserted it.

    Counted with RETURNING rather than the row count: with psycopg 3.3 and SQLAlchemy 2.1 a Core
    INSERT reports rowcount -1 on PostgreSQL (checked here), which would read as "won".
    """
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    pk = list(table.primary_key.columns)[0]
    return session.execute(ins.values(row).on_conflict_do_nothing().returning(pk)).first() is not None


# -- the scheduler lease ----------------------------------------------------------------------

def acquire_lease(engine: Engine, holder: str, ttl: float, *, name: str = SCHEDULER_LEASE,
                  now: datetime | None = None) -> bool:
    """Take or renew the lease; True if ``holder`` holds it until ``now + ttl``."""
    now = _now(now)
    expires = now + timedelta(seconds=ttl)
    with session_scope(engine) as session:
        won = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
            .values(
                # Keep acquired_at while renewing; a take-over starts a new tenure.
                acquired_at=case((Lease.holder == holder, Lease.acquired_at), else_=now),
                holder=holder,
                expires_at=expires,
            )
        ).rowcount  # type: ignore[attr-defined]
        if won:
            return True
        return insert_if_absent(session, Lease, {"name": name, "holder": holder,
                                                 "acquired_at": now, "expires_at": expires})


def renew_lease(engine: Engine, holder: str, ttl: float, *, name: str = SCHEDULER_LEASE,
                now: datetime | None = None) -> bool:
    """Extend a lease we hold; False if someone else holds it now (we lost it: step down).

    Unlike ``acquire_lease`` this never takes the lease over: an active scheduler that missed
    its renewals must not silently carry on as if nothing happened.
    """
    now = _now(now)
    with session_scope(engine) as session:
        return bool(session.execute(
            update(Lease).where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=now + timedelta(seconds=ttl))
        ).rowcount)  # type: ignore[attr-defined]


def release_lease(engine: Engine, holder: str, *, name: str = SCHEDULER_LEASE,
                  now: datetime | None = None) -> bool:
    """Give the lease up at once so a standby need not wait for it to expire."""
    now = _now(now)
    with session_scope(engine) as session:
        return bool(session.execute(
            update(Lease).where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=now - timedelta(seconds=1))
        ).rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LeaseState:
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def valid(self, now: datetime | None = None) -> bool:
        return self.expires_at >= _now(now)


def lease_state(engine: Engine, *, name: str = SCHEDULER_LEASE) -> LeaseState | None:
    with session_scope(engine) as session:
        row = session.execute(select(Lease).where(Lease.name == name)).scalar_one_or_none()
        if row is None:
            return None
        return LeaseState(row.holder, aware(row.acquired_at), aware(row.expires_at))  # type: ignore[arg-type]


# -- work claims ------------------------------------------------------------------------------

def claim_work(engine: Engine, kind: str, key: str, holder: str, ttl: float, *,
               now: datetime | None = None) -> bool:
    """Claim one unit of work; True if we won it and should do it.

    A unit that is done stays done. A failed one, or one whose holder let the claim expire
    (it crashed or hung), may be claimed again.
    """
    now = _now(now)
    expires = now + timedelta(seconds=ttl)
    with session_scope(engine) as session:
        if insert_if_absent(session, WorkClaim, {"kind": kind, "key": key, "holder": holder,
                                                 "state": "claimed", "claimed_at": now,
                                                 "expires_at": expires, "finished_at": None}):
            return True
        return bool(session.execute(
            update(WorkClaim)
            .where(WorkClaim.kind == kind, WorkClaim.key == key,
                   (WorkClaim.state == "failed")
                   | ((WorkClaim.state == "claimed") & (WorkClaim.expires_at < now)))
            .values(holder=holder, state="claimed", claimed_at=now, expires_at=expires,
                    finished_at=None)
        ).rowcount)  # type: ignore[attr-defined]


def finish_work(engine: Engine, kind: str, key: str, holder: str, *, ok: bool,
                now: datetime | None = None) -> bool:
    """Mark our claim done (never again) or failed (may be retried); False if it was not ours."""
    now = _now(now)
    with session_scope(engine) as session:
        return bool(session.execute(
            update(WorkClaim)
            .where(WorkClaim.kind == kind, WorkClaim.key == key, WorkClaim.holder == holder,
                   WorkClaim.state == "claimed")
            .values(state="done" if ok else "failed", finished_at=now)
        ).rowcount)  # type: ignore[attr-defined]


def extend_claims(engine: Engine, holder: str, ttl: float, *, now: datetime | None = None) -> int:
    """Keep our running claims alive (a run may take longer than one claim's time to live)."""
    now = _now(now)
    with session_scope(engine) as session:
        return int(session.execute(
            update(WorkClaim).where(WorkClaim.holder == holder, WorkClaim.state == "claimed")
            .values(expires_at=now + timedelta(seconds=ttl))
        ).rowcount or 0)  # type: ignore[attr-defined]


def claim_state(engine: Engine, kind: str, key: str) -> str | None:
    with session_scope(engine) as session:
        return session.execute(
            select(WorkClaim.state).where(WorkClaim.kind == kind, WorkClaim.key == key)
        ).scalar_one_or_none()


# -- heartbeats -------------------------------------------------------------------------------

def beat(engine: Engine, holder: str, role: str, *, started_at: datetime,
         now: datetime | None = None) -> None:
    now = _now(now)
    with session_scope(engine) as session:
        if not session.execute(
            update(Heartbeat).where(Heartbeat.holder == holder).values(role=role, beat_at=now)
        ).rowcount:  # type: ignore[attr-defined]
            insert_if_absent(session, Heartbeat, {"holder": holder, "role": role, "beat_at": now,
                                                  "started_at": started_at})


def forget_heartbeat(engine: Engine, holder: str) -> None:
    with session_scope(engine) as session:
        session.execute(delete(Heartbeat).where(Heartbeat.holder == holder))


def prune_heartbeats(engine: Engine, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Drop rows of processes long gone (each start is a new host:pid)."""
    cutoff = _now(now) - older_than
    with session_scope(engine) as session:
        return int(session.execute(
            delete(Heartbeat).where(Heartbeat.beat_at < cutoff)
        ).rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class HeartbeatState:
    holder: str
    role: str
    beat_at: datetime
    started_at: datetime


def heartbeats(engine: Engine) -> list[HeartbeatState]:
    with session_scope(engine) as session:
        rows = session.execute(select(Heartbeat).order_by(Heartbeat.beat_at.desc())).scalars().all()  # type: ignore[attr-defined]
        return [HeartbeatState(r.holder, r.role, aware(r.beat_at), aware(r.started_at))  # type: ignore[arg-type]
                for r in rows]
