"""The fault matrix, DST row: schedules are UTC, so a day on which Europe or the US changes its
clocks has each slot exactly once — checked through the library API with fixed ``now`` values
(``Feed.period_for``, ``last_fire_time``, the APScheduler trigger) and through ``Service`` with
an injected clock stepping across the change, catching up and running feeds as it goes.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from monitor.config import Settings
from monitor.feeds import Feed, last_fire_time, load_feed
from monitor.records import ParsedBatch
from monitor.service import Service, WorkItem
from monitor.store.db import session_scope
from monitor.store.models import Run
from tests.reliability.conftest import slow_enabled

pytestmark = pytest.mark.reliability

# (zone, local day of the change): spring forward and fall back, Europe and the US, 2026.
DST_DAYS = [
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
]
SCHEDULES = {
    "daily-0600": "0 6 * * *",
    "daily-0130": "30 1 * * *",  # Europe changes at 01:00 UTC: right next to it
    "daily-0700": "0 7 * * *",  # 02:00/03:00 in New York: the local hour that repeats or vanishes
    "hourly": "0 * * * *",
}


def _ids(case: tuple[str, date]) -> str:
    return f"{case[0].split('/')[1]}-{case[1]}"


def test_the_zones_really_change_on_those_days() -> None:
    for zone, day in DST_DAYS:
        tz = ZoneInfo(zone)
        before = datetime(day.year, day.month, day.day, 0, 0, tzinfo=tz).utcoffset()
        after = datetime(day.year, day.month, day.day, 12, 0, tzinfo=tz).utcoffset()
        assert before != after, (zone, day)


@pytest.mark.parametrize("case", DST_DAYS, ids=_ids)
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_utc_slot_exactly_once_across_a_dst_change(case: tuple[str, date], name: str) -> None:
    zone, day = case
    feed = Feed(name=name, query="x", schedule=SCHEDULES[name])
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    end = start + timedelta(days=3)
    # Every five minutes of three days, as the service's clock would read it.
    tick = timedelta(minutes=5)
    periods = Counter()
    now = start
    while now < end:
        periods[feed.period_for(now)] += 1
        now += tick
    slots = sorted(periods)
    step = timedelta(hours=1) if name == "hourly" else timedelta(days=1)
    assert all(b - a == step for a, b in zip(slots, slots[1:], strict=False)), slots
    # Each slot owns exactly the minutes up to the next one: none lost, none doubled (the
    # first slot began before the minutes looked at).
    for a, b in zip(slots[1:], slots[2:], strict=False):
        assert periods[a] == (b - a) / tick
    # The scheduler's own trigger fires at those instants, each once.
    trigger = feed.trigger()
    fires, t = [], trigger.get_next_fire_time(None, start)
    while t is not None and t < end:
        fires.append(t.astimezone(UTC))
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    assert len(fires) == len(set(fires))
    assert [f for f in fires if f >= slots[1]] == [s for s in slots if s >= slots[1]]
    assert all(last_fire_time(trigger, f) == f for f in fires)
    # The same instants written in local time give the same periods (DST is only a notation).
    tz = ZoneInfo(zone)
    for f in fires:
        local = f.astimezone(tz)
        assert feed.period_for(local) == f
        # (Arithmetic in UTC: aware local arithmetic is wall-clock and drops the fold.)
        assert feed.period_for((f + timedelta(seconds=59)).astimezone(tz)) == f
        assert feed.period_for((f - timedelta(seconds=1)).astimezone(tz)) < f


def test_the_repeated_local_hour_of_a_fall_back_is_two_different_moments() -> None:
    feed = Feed(name="hourly", query="x", schedule="0 * * * *")
    tz = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=tz, fold=0)  # 00:30 UTC
    second = datetime(2026, 10, 25, 2, 30, tzinfo=tz, fold=1)  # 01:30 UTC
    assert feed.period_for(first) == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    assert feed.period_for(second) == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


class NothingNew:
    """A PubMed that finds nothing: the run itself is what is counted here."""

    requests_sent = 0

    def search(self, term: str, mindate: date, maxdate: date) -> list[object]:
        return []

    def fetch(self, pmids: list[str]) -> ParsedBatch:
        raise AssertionError("nothing to fetch")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("case", DST_DAYS, ids=_ids)
def test_service_runs_each_slot_exactly_once_across_a_dst_change(
        engine, tmp_path: Path, case: tuple[str, date], request) -> None:
    zone, day = case
    if engine.dialect.name != "sqlite" and case != DST_DAYS[0] and not slow_enabled(request.config):
        pytest.skip("PostgreSQL: one DST day by default (--reliability-slow for all four)")
    feeds_dir = tmp_path / "feeds"
    feeds_dir.mkdir()
    for name, expr in SCHEDULES.items():
        (feeds_dir / f"{name}.toml").write_text(f'name = "{name}"\nquery = "x"\nschedule = "{expr}"\n')
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=12)
    clock = Clock(start)
    service = Service(engine, Settings(feeds_dir=feeds_dir, data_dir=tmp_path), NothingNew,
                      clock=clock)
    service.load_feeds(strict=True)
    end = start + timedelta(hours=48)
    while clock.now < end:
        service.catch_up()  # what becoming active, and each fire of a trigger, leads to
        while not service.queue.empty():
            item = service.queue.get_nowait()
            service._queued.discard(item)
            if item is not None and item.kind == "run":
                service.do_run(item.feed or "", item.trigger)
        clock.now += timedelta(minutes=10)
    with session_scope(engine) as session:
        done = Counter((r.feed_id, r.period) for r in session.execute(select(Run)).scalars()
                       if r.status == "succeeded")
    assert done and set(done.values()) == {1}, [k for k, v in done.items() if v != 1]
    feeds = {name: load_feed(feeds_dir / f"{name}.toml") for name in SCHEDULES}
    per_feed = Counter(feed_id for feed_id, _ in done)
    hourly_id = _feed_id(engine, "hourly")
    # Every hour of the 48 (from the first one the clock saw) ran once; each daily slot too.
    assert per_feed[hourly_id] == 48
    for name in ("daily-0600", "daily-0130", "daily-0700"):
        slots = {feeds[name].period_for(start + timedelta(minutes=10 * i)) for i in range(48 * 6)}
        assert per_feed[_feed_id(engine, name)] == len(slots), name
    assert WorkItem("run", "hourly") not in service._queued


def _feed_id(engine, name: str) -> int:
    from monitor.store.models import FeedRow

    with session_scope(engine) as session:
        return session.execute(select(FeedRow.id).where(FeedRow.name == name)).scalar_one()


def test_a_run_that_starts_before_a_slot_and_ends_after_it_does_not_swallow_that_slot(
        engine, tmp_path: Path) -> None:
    """A retry at 05:59:59 that finishes at 06:00:30 belongs to yesterday's period; the 06:00
    run must still happen (it used to be skipped: last_success_at was the finishing time)."""
    feeds_dir = tmp_path / "feeds"
    feeds_dir.mkdir()
    (feeds_dir / "daily.toml").write_text('name = "daily"\nquery = "x"\nschedule = "0 6 * * *"\n')
    clock = Clock(datetime(2026, 3, 29, 5, 59, 59, tzinfo=UTC))
    service = Service(engine, Settings(feeds_dir=feeds_dir, data_dir=tmp_path), NothingNew,
                      clock=clock)
    service.load_feeds(strict=True)
    assert service.do_run("daily").ok
    clock.now = datetime(2026, 3, 29, 6, 0, 30, tzinfo=UTC)
    assert service.catch_up() == ["daily"]
    report = service.do_run("daily")
    assert report is not None and report.ok and report.period == "2026-03-29T06:00Z"
