"""Feed files: the shipped default feed, and every kind of mistake named by file, key and value."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.feeds import FeedError, load_feed, load_feeds, load_feeds_collecting

REPO = Path(__file__).resolve().parents[1]


def test_default_feed_loads_and_finds_wbc_in_ms_by_text_and_mesh() -> None:
    feed = load_feed(REPO / "feeds" / "wbc-ms.toml")
    assert feed.name == "wbc-ms"
    q = feed.query
    for word in ("whole body cryotherapy", "cryostimulation", "cryochamber"):
        assert f"{word}" in q
    assert '"Cryotherapy"[mh]' in q
    assert '"Multiple Sclerosis"[mh]' in q and '"multiple sclerosis"[tiab]' in q
    assert feed.long_term_threshold_weeks == 26


def test_default_query_never_searches_wbc_as_a_bare_word() -> None:
    """'WBC' alone is 'white blood cell(s)' in most of PubMed."""
    q = load_feed(REPO / "feeds" / "wbc-ms.toml").query
    outside_quotes = re.sub(r'"[^"]*"', "", q)
    assert not re.search(r"\bwbc\b", outside_quotes, re.IGNORECASE)


def _write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


GOOD = 'name = "demo"\nquery = "cryotherapy[tiab]"\n'


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        (GOOD + 'schedul = "0 6 * * *"\n', "schedul", "0 6 * * *"),
        (GOOD + 'schedule = "61 6 * * *"\n', "schedule", "61 6 * * *"),
        (GOOD + 'schedule = "every day"\n', "schedule", "every day"),
        (GOOD + 'recipients = ["ann@example.org", "bob.example.org"]\n', "recipients", "bob.example.org"),
        (GOOD + "long_term_threshold_weeks = 0\n", "long_term_threshold_weeks", "0"),
        (GOOD + "[digest]\nmax_itemz = 3\n", "digest.max_itemz", "3"),
        (GOOD + "[digest]\nsend_when_empty = \"yes\"\n", "digest.send_when_empty", "yes"),
        ('name = "demo"\nquery = ""\n', "query", ""),
        ('name = "demo"\nquery = "(a OR b"\n', "query", "(a OR b"),
        ('name = "other"\nquery = "x"\n', "name", "other"),
    ],
)
def test_mistakes_name_file_key_and_value(tmp_path: Path, text: str, key: str, value: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(FeedError) as err:
        load_feed(path)
    message = str(err.value)
    assert str(path) in message
    assert f"'{key}'" in message
    assert value in message


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "demo"\nquery = "unterminated\n')
    with pytest.raises(FeedError, match=re.escape(str(path)) + r".*not valid TOML.*line 2"):
        load_feed(path)


def test_collecting_keeps_good_feeds_and_reports_bad_ones(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    _write(tmp_path, 'name = "broken"\nquery = "x"\nschedule = "nope"\n', name="broken")
    feeds, errors = load_feeds_collecting(tmp_path)
    assert [f.name for f in feeds] == ["demo"]
    assert len(errors) == 1 and "broken.toml" in str(errors[0])
    with pytest.raises(FeedError, match="broken.toml"):
        load_feeds(tmp_path)


def test_period_is_the_latest_slot_at_or_before_now(tmp_path: Path) -> None:
    feed = load_feed(_write(tmp_path, GOOD + 'schedule = "0 6 * * 1"\n'))  # Mondays 06:00 UTC
    # 2026-11-25 is a Wednesday: the period is Monday 23rd.
    assert feed.period_for(datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert feed.period_for(datetime(2026, 11, 23, 6, 0, tzinfo=UTC)) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert feed.period_for(datetime(2026, 11, 23, 5, 59, tzinfo=UTC)) == datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


def test_feeds_check_command_reports_each_file(cli, feeds_dir: Path) -> None:
    (feeds_dir / "bad.toml").write_text('name = "bad"\nquery = "x"\nrecipients = ["nobody"]\n')
    result = cli("feeds", "check")
    assert result.code == 1
    assert "ok   " in result.out and "wbc-ms" in result.out
    assert "FAIL" in result.out and "bad.toml" in result.out and "'recipients'" in result.out


@pytest.mark.parametrize(
    ("expr", "weekday"),  # the weekday (Mon=0) of the next slot after Wed 2026-11-25 12:00
    [("0 6 * * 1", 0), ("0 6 * * 0", 6), ("0 6 * * 7", 6), ("0 6 * * sat", 5),
     ("0 6 * * 1-5", 3), ("0 6 * * 5-0", 4)],
)
def test_weekdays_follow_cron_not_apscheduler_numbering(expr: str, weekday: int) -> None:
    from monitor.feeds import cron_trigger

    nxt = cron_trigger(expr).get_next_fire_time(None, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert nxt.weekday() == weekday


def test_the_commented_sources_in_the_default_feed_are_valid_when_enabled(tmp_path: Path) -> None:
    """The [trials]/[preprints] example shipped in wbc-ms.toml loads once uncommented."""
    text = (REPO / "feeds" / "wbc-ms.toml").read_text()
    enabled = re.sub(r"^# (\[trials\]|\[preprints\]|condition|intervention|query) ", r"\1 ", text, flags=re.M)
    enabled = re.sub(r"^# (\[trials\]|\[preprints\])$", r"\1", enabled, flags=re.M)
    path = tmp_path / "wbc-ms.toml"
    path.write_text(enabled)
    feed = load_feed(path)
    assert feed.trials is not None and feed.trials.condition == "Multiple Sclerosis"
    assert feed.preprints is not None and "cryostimulation" in feed.preprints.query
