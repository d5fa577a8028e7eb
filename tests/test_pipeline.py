"""`litmon run` end to end against the stand-in E-utilities server, on SQLite and PostgreSQL.

What the pipeline promises: every record the server offers for the window is stored once and
judged; a second run fetches nothing it already has; new records are fetched and only they;
transient NCBI faults are retried at no more than the allowed rate; persistent faults fail the
run cleanly with the watermark where it was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from monitor.store.db import make_engine, session_scope
from monitor.store.models import ArticleRow, Classification, FeedArticle, FeedRow, Run

FAST_RETRY = {"LITMON_HTTP_BACKOFF": "0.05", "LITMON_HTTP_MAX_ATTEMPTS": "4"}


@pytest.fixture
def db(litmon_env: dict[str, str]) -> Engine:
    eng = make_engine(litmon_env["LITMON_DATABASE_URL"])
    yield eng
    eng.dispose()


def count(db: Engine, model: type) -> int:
    with session_scope(db) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def feed_row(db: Engine) -> FeedRow:
    with session_scope(db) as s:
        return s.execute(select(FeedRow).where(FeedRow.name == "wbc-ms")).scalar_one()


def efetch_ids(server) -> list[str]:
    ids: list[str] = []
    for entry in server.requests("efetch"):
        ids += [p for p in entry.params.get("id", "").split(",") if p]
    return ids


def test_first_run_stores_every_offered_record_once_and_judges_it(cli, eutils_server, db) -> None:
    offered = eutils_server.pmids_between(date(1800, 1, 1), date.today())
    assert len(offered) > 250  # the real corpus: Biopython, metapub, fatcat, pmparser records

    result = cli("run", "--no-send")
    assert result.code == 0, result.err
    assert f"{len(offered)} found" in result.out and f"{len(offered)} new" in result.out
    assert f"{len(offered)} added to the feed" in result.out

    with session_scope(db) as s:
        stored = set(s.execute(select(ArticleRow.pmid)).scalars())
        linked = set(s.execute(select(FeedArticle.pmid)).scalars())
        judged = set(s.execute(select(Classification.pmid)).scalars())
        run = s.execute(select(Run)).scalar_one()
    assert stored == offered == linked == judged
    assert run.status == "succeeded" and run.new == len(offered) and run.error is None
    # Each PMID asked for once, by POST, in batches of at most the default 200.
    fetches = eutils_server.requests("efetch")
    assert all(e.method == "POST" for e in fetches)
    assert sorted(efetch_ids(eutils_server)) == sorted(offered)
    assert max(len(e.params["id"].split(",")) for e in fetches) <= 200
    assert feed_row(db).watermark == date.today()
    # Identification NCBI asks for rides on every request.
    for entry in eutils_server.requests():
        assert entry.params.get("tool") == "litmon-tests"
        assert entry.params.get("email") == "tests@example.org"


def test_second_run_fetches_nothing_and_new_records_are_fetched_alone(cli, eutils_server, db) -> None:
    assert cli("run", "--no-send").code == 0
    before = count(db, ArticleRow)
    eutils_server.reset_log()

    again = cli("run", "--no-send")
    assert again.code == 0
    assert eutils_server.requests("efetch") == []
    assert count(db, ArticleRow) == before
    assert "0 new" in again.out
    assert "E-utilities requests: 1" in again.out  # one ESearch, no EFetch

    # Two records appear in PubMed today (copies of real ones under new PMIDs).
    today = date.today()
    some = sorted(eutils_server.records)[:2]
    new_ids = [eutils_server.clone(p, f"9900000{i}", entry_date=today) for i, p in enumerate(some)]
    eutils_server.reset_log()
    third = cli("run", "--no-send")
    assert third.code == 0, third.err
    assert sorted(efetch_ids(eutils_server)) == sorted(new_ids)
    assert count(db, ArticleRow) == before + 2
    assert "2 new" in third.out
    assert "E-utilities requests: 2" in third.out  # one ESearch + ⌈2 / 200⌉ EFetch
    # The incremental run searched from the watermark minus the 3-day overlap.
    search = eutils_server.requests("esearch")[0].params
    assert search["mindate"] == (today - timedelta(days=3)).strftime("%Y/%m/%d")
    assert search["maxdate"] == today.strftime("%Y/%m/%d")
    assert search["datetype"] in ("crdt", "edat")


def test_known_records_found_by_a_second_feed_are_linked_without_fetching(cli, eutils_server, db, feeds_dir) -> None:
    assert cli("run", "--no-send", "--feed", "wbc-ms").code == 0
    (feeds_dir / "cryo-all.toml").write_text('name = "cryo-all"\nquery = "cryotherapy[tiab]"\n')
    eutils_server.reset_log()
    result = cli("run", "--no-send", "--feed", "cryo-all")
    assert result.code == 0, result.err
    assert eutils_server.requests("efetch") == []
    with session_scope(db) as s:
        per_feed = dict(s.execute(
            select(FeedRow.name, func.count()).join(FeedArticle, FeedArticle.feed_id == FeedRow.id)
            .group_by(FeedRow.name)
        ).all())
    assert per_feed["cryo-all"] == per_feed["wbc-ms"] == count(db, ArticleRow)


@pytest.mark.parametrize("kind", ["429", "500", "502", "html", "error", "truncated", "empty", "reset"])
def test_transient_faults_are_retried_and_the_run_succeeds(cli, eutils_server, db, kind) -> None:
    eutils_server.inject("efetch", kind, times=2)
    eutils_server.inject("esearch", kind, times=1)
    result = cli("run", "--no-send", env=FAST_RETRY)
    assert result.code == 0, result.out + result.err
    offered = eutils_server.pmids_between(date(1800, 1, 1), date.today())
    assert count(db, ArticleRow) == len(offered)
    assert feed_row(db).watermark == date.today()


def test_requests_never_exceed_three_per_second_including_retries(cli, eutils_server) -> None:
    eutils_server.rate_limit = 3  # the stand-in answers 429 like NCBI when pushed harder
    eutils_server.inject("efetch", "500", times=3)
    result = cli("run", "--no-send", env={**FAST_RETRY, "LITMON_FETCH_BATCH_SIZE": "50"})
    assert result.code == 0, result.err
    starts = sorted(e.time for e in eutils_server.requests())
    assert len(starts) >= 10
    assert eutils_server.rate_limited == 0
    # Any window of 1 s holds at most 3 request starts (small slack for timer granularity).
    for i in range(len(starts) - 3):
        assert starts[i + 3] - starts[i] >= 0.98, f"4 requests within {starts[i + 3] - starts[i]:.3f}s"


@pytest.mark.parametrize("endpoint", ["esearch", "efetch"])
def test_persistent_faults_fail_the_run_cleanly_and_keep_the_watermark(cli, eutils_server, db, endpoint) -> None:
    assert cli("run", "--no-send").code == 0
    mark = feed_row(db).watermark
    eutils_server.clone(sorted(eutils_server.records)[0], "99000001", entry_date=date.today())
    before = count(db, ArticleRow)

    eutils_server.inject(endpoint, "500", times=100)
    result = cli("run", "--no-send", env=FAST_RETRY)
    assert result.code == 1
    assert "FAILED" in result.out and "500" in result.out
    assert count(db, ArticleRow) == before  # nothing half-stored
    assert feed_row(db).watermark == mark
    with session_scope(db) as s:
        last = s.execute(select(Run).order_by(Run.id.desc())).scalars().first()
    assert last.status == "failed" and "500" in (last.error or "")
    status = cli("status")
    assert status.code == 1 and "failed" in status.out

    eutils_server.clear_faults()
    healed = cli("run", "--no-send", env=FAST_RETRY)
    assert healed.code == 0
    assert count(db, ArticleRow) == before + 1


def test_first_run_shows_progress_and_since_limits_the_window(cli, eutils_server) -> None:
    result = cli("run", "--no-send", "--since", "2020-01-01", env={"LITMON_FETCH_BATCH_SIZE": "20"})
    assert result.code == 0
    offered = eutils_server.pmids_between(date(2020, 1, 1), date.today())
    assert f"{len(offered)} found" in result.out
    assert "fetching" in result.err and f"{len(offered)}/{len(offered)}" in result.err
    assert eutils_server.requests("esearch")[0].params["mindate"] == "2020/01/01"


def test_articles_list_and_status_show_verdicts(cli) -> None:
    assert cli("run", "--no-send").code == 0
    listing = cli("articles", "list", "--feed", "wbc-ms", "--limit", "5")
    assert listing.code == 0
    lines = listing.out.strip().splitlines()
    assert lines[0].split()[:3] == ["PMID", "year", "long-term"]
    assert len(lines) == 6
    assert all(line.split()[2] in ("yes", "no", "unclear") for line in lines[1:])
    status = cli("status")
    assert status.code == 0
    assert "wbc-ms" in status.out and "succeeded" in status.out and "long-term:" in status.out


def test_bad_settings_and_unknown_feed_stop_with_a_clear_message(cli) -> None:
    bad = cli("run", env={"LITMON_FETCH_BATCH_SIZE": "9000"})
    assert bad.code == 2 and "LITMON_FETCH_BATCH_SIZE" in bad.err
    unknown = cli("run", "--feed", "nope")
    assert unknown.code == 2 and "no feed named 'nope'" in unknown.err and "wbc-ms" in unknown.err


def test_every_command_has_help() -> None:
    import argparse

    from monitor.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    yield f"{path} {name}", helps.get(name), sub
                    yield from walk(sub, f"{path} {name}")

    commands = list(walk(build_parser(), "litmon"))
    assert {"litmon run", "litmon feeds check", "litmon articles list", "litmon status",
            "litmon db upgrade", "litmon classify"} <= {c for c, _, _ in commands}
    for command, help_line, sub in commands:
        assert help_line, f"{command} has no help line"
        assert sub.description, f"{command} has no description"
        assert sub.format_help().startswith("usage: " + command)


def test_run_window_uses_utc_today(cli, eutils_server) -> None:
    assert cli("run", "--no-send").code == 0
    params = eutils_server.requests("esearch")[0].params
    assert params["maxdate"] == datetime.now(UTC).strftime("%Y/%m/%d")


def test_known_records_are_judged_at_a_second_feeds_own_threshold(cli, eutils_server, db, feeds_dir) -> None:
    assert cli("run", "--no-send", "--feed", "wbc-ms").code == 0
    (feeds_dir / "cryo-year.toml").write_text(
        'name = "cryo-year"\nquery = "cryotherapy[tiab]"\nlong_term_threshold_weeks = 52\n')
    eutils_server.reset_log()
    result = cli("run", "--no-send", "--feed", "cryo-year")
    assert result.code == 0, result.err
    assert eutils_server.requests("efetch") == []
    with session_scope(db) as s:
        judged = dict(s.execute(select(Classification.threshold_weeks, func.count())
                                .group_by(Classification.threshold_weeks)).all())
    assert judged == {26.0: count(db, ArticleRow), 52.0: count(db, ArticleRow)}


def test_a_run_marks_an_earlier_run_whose_process_is_gone_as_interrupted(cli, eutils_server, db) -> None:
    import socket
    import subprocess
    import sys

    assert cli("run", "--no-send").code == 0
    # A run row left "running" by a process that no longer exists on this host (kill -9).
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with session_scope(db) as s:
        first = s.execute(select(Run)).scalars().first()
        dead = Run(feed_id=first.feed_id, trigger="manual", period=first.period,
                   window_start=first.window_start, window_end=first.window_end,
                   holder=f"{socket.gethostname()}:{gone.pid}", started_at=first.started_at)
        s.add(dead)
        s.flush()
        dead_id = dead.id
    assert cli("run", "--no-send").code == 0
    with session_scope(db) as s:
        row = s.get(Run, dead_id)
        assert row.status == "interrupted" and row.finished_at is not None
        assert str(gone.pid) in row.error
        assert s.execute(select(func.count()).select_from(Run).where(Run.status == "running")).scalar_one() == 0


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--since", "2026-13-01"], "argument --since: '2026-13-01' is not a date (YYYY-MM-DD)"),
    (["articles", "list", "--limit", "0"], "argument --limit: '0': must be 1 or more"),
    (["classify", "--input", "-", "--threshold-weeks", "nan"],
     "argument --threshold-weeks: 'nan' is not a finite number of weeks"),
    (["classify", "--input", "-", "--threshold-weeks", "0"],
     "argument --threshold-weeks: '0': must be more than 0 weeks"),
    (["recheck", "--older-than-days", "-1"], "argument --older-than-days: '-1': must be 0 or more days"),
    (["health", "--max-age", "soon"], "argument --max-age: 'soon' is not a number of seconds"),
])
def test_bad_arguments_are_refused_naming_the_option_and_value(args, message, capsys) -> None:
    from monitor.cli import main

    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
