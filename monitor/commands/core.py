"""Core commands: run, feeds check, articles list, status, db upgrade, classify, reclassify."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from monitor.commands import CommandError, Context
from monitor.commands.args import amount, iso_date, whole_number


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run every feed (or one) now: search PubMed, store what is new, send digests",
        description="Search PubMed for each feed's query from its watermark (minus the overlap) "
        "to today, fetch only records not stored yet, classify and store them, then open and "
        "send the feed's digest for the current period. Exit status 1 if any feed failed.",
    )
    p.add_argument("--feed", metavar="NAME", help="run only this feed")
    p.add_argument("--since", metavar="YYYY-MM-DD", type=iso_date,
                   help="search from this entry date instead of the watermark (a backfill)")
    p.add_argument("--no-send", action="store_true", help="store and open digests, but do not send them")
    p.set_defaults(func=cmd_run)

    feeds = sub.add_parser("feeds", help="feed definitions (feeds/*.toml)",
                           description="Commands about the feed files in LITMON_FEEDS_DIR.")
    feeds_sub = feeds.add_subparsers(dest="feeds_command", metavar="COMMAND", title="commands")
    feeds.set_defaults(group_parser=feeds)
    check = feeds_sub.add_parser("check", help="validate every feed file and list the feeds",
                                 description="Load every feeds/*.toml strictly; report each problem "
                                 "with file, key and value. Exit status 1 if any file is bad.")
    check.set_defaults(func=cmd_feeds_check)

    articles = sub.add_parser("articles", help="stored articles",
                              description="Commands about stored articles.")
    articles_sub = articles.add_subparsers(dest="articles_command", metavar="COMMAND", title="commands")
    articles.set_defaults(group_parser=articles)
    lst = articles_sub.add_parser("list", help="list stored articles with their long-term verdict",
                                  description="Newest first: PMID, year, verdict, longest follow-up, title.")
    lst.add_argument("--feed", metavar="NAME", help="only articles of this feed")
    lst.add_argument("--limit", metavar="N", type=whole_number, default=20, help="at most N rows (default 20)")
    lst.add_argument("--long-term", choices=("yes", "no", "unclear"), help="only this verdict")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=cmd_articles_list)

    st = sub.add_parser("status", help="feeds, last run, watermark, counts, pending digests",
                        description="One block per feed: last run and its result, watermark, "
                        "articles stored and long-term verdict counts, digests by state. A run "
                        "whose process is gone (killed, crashed) is marked interrupted. Exit "
                        "status 1 if a feed's last run failed or was interrupted, a digest failed "
                        "or a feed file is bad.")
    st.set_defaults(func=cmd_status)

    db = sub.add_parser("db", help="database schema", description="Database schema commands.")
    db_sub = db.add_subparsers(dest="db_command", metavar="COMMAND", title="commands")
    db.set_defaults(group_parser=db)
    up = db_sub.add_parser("upgrade", help="apply database migrations (safe to repeat)",
                           description="Bring the schema of LITMON_DATABASE_URL to the latest "
                           "revision. Every command that writes does this too.")
    up.set_defaults(func=cmd_db_upgrade)

    cl = sub.add_parser(
        "classify", help="judge abstracts from a JSONL file (no database)",
        description="Read one JSON object per line ({id, title, abstract[, mesh, publication_types]}) "
        "and write each with long_term, longest_followup_weeks, evidence and the study profile.",
    )
    cl.add_argument("--input", "-i", default="-", metavar="IN.jsonl", help="input file, - for stdin (default)")
    cl.add_argument("--output", "-o", default="-", metavar="OUT.jsonl", help="output file, - for stdout (default)")
    cl.add_argument("--threshold-weeks", type=amount("weeks", zero_ok=False), default=26.0, metavar="N",
                    help="follow-up at or beyond N weeks counts as long-term (default 26)")
    cl.set_defaults(func=cmd_classify)

    rc = sub.add_parser("reclassify", help="judge stored articles again with this classifier version",
                        description="Recompute every stored classification (or one feed's) and "
                        "report how many verdicts changed.")
    rc.add_argument("--feed", metavar="NAME", help="only articles of this feed")
    rc.add_argument("--all", action="store_true",
                    help="also those already judged by the current classifier version")
    rc.set_defaults(func=cmd_reclassify)






# -- run --------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.progress import Progress
    from monitor.runs import run_feed

    feeds = ctx.feeds(args.feed)
    engine = ctx.db
    client = ctx.client()
    failed = 0
    for feed in feeds:
        report = run_feed(engine, ctx.settings, feed, client, since=args.since,
                          progress=lambda label, total: Progress(label, total, stream=ctx.stderr))
        ctx.print(report.summary())
        if not report.ok or report.source_errors:  # a failed source is asked again next run
            failed += 1
    if not args.no_send:
        failed += _send_pending(ctx, [f.name for f in feeds])
    return 1 if failed else 0


def _send_pending(ctx: Context, feed_names: list[str]) -> int:
    """Deliver pending digests of these feeds (one line each); returns how many failed."""
    from monitor.commands.digest import send_pending

    return send_pending(ctx, feed_names)


# -- feeds ------------------------------------------------------------------------------------

def cmd_feeds_check(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.feeds import load_feeds_collecting

    feeds, errors = load_feeds_collecting(ctx.settings.feeds_dir)
    for feed in feeds:
        to = ", ".join(feed.recipients) or "no recipients"
        ctx.print(f"ok   {feed.path}: {feed.name} — schedule '{feed.schedule}' UTC, "
                  f"report '{feed.report_schedule}' UTC, long-term ≥ {feed.long_term_threshold_weeks:g} "
                  f"weeks, {to}")
    for error in errors:
        ctx.print(f"FAIL {error}")
    if not feeds and not errors:
        ctx.print(f"no feed files (*.toml) in {ctx.settings.feeds_dir}")
        return 1
    return 1 if errors else 0


# -- articles ---------------------------------------------------------------------------------

def cmd_articles_list(args: argparse.Namespace, ctx: Context) -> int:
    from sqlalchemy import and_, select

    from monitor.store.db import session_scope
    from monitor.store.models import ArticleRow, Classification, FeedArticle, FeedRow

    threshold = 26.0
    feed_id = None
    with session_scope(ctx.db) as session:
        if args.feed:
            feed = ctx.feeds(args.feed)[0]
            threshold = feed.long_term_threshold_weeks
            row = session.execute(select(FeedRow).where(FeedRow.name == feed.name)).scalar_one_or_none()
            if row is None:
                raise CommandError(f"feed {feed.name!r} has not run yet: `litmon run --feed {feed.name}`")
            feed_id = row.id
        q = (
            select(ArticleRow, Classification)
            .outerjoin(Classification, and_(Classification.pmid == ArticleRow.pmid,
                                            Classification.threshold_weeks == threshold))
        )
        if feed_id is not None:
            q = q.join(FeedArticle, and_(FeedArticle.pmid == ArticleRow.pmid,
                                         FeedArticle.feed_id == feed_id))
        if args.long_term:
            q = q.where(Classification.long_term == args.long_term)
        q = q.order_by(ArticleRow.entrez_date.desc().nulls_last(), ArticleRow.pmid.desc()).limit(args.limit)
        rows = session.execute(q).all()
    if args.json:
        for art, cls in rows:
            ctx.print(json.dumps({
                "pmid": art.pmid, "year": art.pub_year, "title": art.title, "journal": art.journal,
                "doi": art.doi, "long_term": cls.long_term if cls else None,
                "longest_followup_weeks": cls.longest_followup_weeks if cls else None,
                "evidence": cls.evidence if cls else None, "design": cls.design if cls else None,
            }, ensure_ascii=False))
        return 0
    if not rows:
        ctx.print("no articles stored yet" + (f" for feed {args.feed}" if args.feed else ""))
        return 0
    ctx.print(f"{'PMID':<10} {'year':<4}  {'long-term':<9}  {'follow-up':<10}  title")
    for art, cls in rows:
        verdict = cls.long_term if cls else "-"
        follow = _weeks(cls.longest_followup_weeks) if cls else "-"
        flag = " [RETRACTED]" if art.retracted else (" [deleted]" if art.deleted else "")
        ctx.print(f"{art.pmid:<10} {art.pub_year or '':<4}  {verdict:<9}  {follow:<10}  "
                  f"{_clip(art.title, 90)}{flag}")
    return 0


def _weeks(value: float | None) -> str:
    if value is None:
        return "none found"
    if value >= 104:
        return f"{value / 52.18:.1f} years"
    if value >= 8:
        return f"{value / 4.345:.1f} months"
    return f"{value:.1f} weeks"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- status -----------------------------------------------------------------------------------

def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from monitor.feeds import load_feeds_collecting
    from monitor.interrupted import mark_interrupted
    from monitor.store import repo
    from monitor.store.db import session_scope
    from monitor.store.models import Digest, FeedRow

    feeds, errors = load_feeds_collecting(ctx.settings.feeds_dir)
    for error in errors:
        ctx.print(f"feed file problem: {error}")
    from monitor.config import _redact

    ctx.print(f"database: {_redact(ctx.settings.effective_database_url)}")
    problems = 0
    engine = ctx.db
    try:
        # A run whose process died (kill -9, OOM) is not "running": say it was interrupted.
        # This process runs no feed, so a row with its own pid is a dead process's.
        mark_interrupted(engine, lease_seconds=ctx.settings.lease_seconds, own_pid_gone=True)
    except SQLAlchemyError as exc:  # a read-only database user: report what is there
        ctx.print(f"could not mark interrupted runs: {type(exc).__name__}")
    with session_scope(engine) as session:
        for feed in feeds:
            ctx.print(f"\n{feed.name} — {feed.display_title}")
            row = session.execute(select(FeedRow).where(FeedRow.name == feed.name)).scalar_one_or_none()
            if row is None:
                ctx.print("  never run")
                continue
            last = repo.last_run(session, row.id)
            if last is not None:
                when = f"{last.started_at:%Y-%m-%d %H:%M} UTC"
                ctx.print(f"  last run:  #{last.id} {last.status} at {when}, window "
                          f"{last.window_start}..{last.window_end}: {last.found} found, "
                          f"{last.new} new, {last.updated} updated")
                if last.status in ("failed", "interrupted"):
                    # The feed's latest run did not finish; a later success would be "last".
                    problems += 1
                    ctx.print(f"  error:     {last.error}")
                elif last.status == "running":
                    ctx.print(f"  running in: {last.holder or 'an unknown process'}")
                elif last.error:  # succeeded, but a trials/preprints source failed
                    problems += 1
                    ctx.print(f"  source failed (asked again next run): {last.error}")
            ctx.print(f"  watermark: {row.watermark or 'none (first run searches all years)'}")
            if row.last_success_at:
                ctx.print(f"  last success: {row.last_success_at:%Y-%m-%d %H:%M} UTC")
            counts = repo.feed_counts(session, row.id, feed.long_term_threshold_weeks)
            ctx.print(f"  articles:  {counts['articles']} (long-term: {counts['yes']} yes, "
                      f"{counts['no']} no, {counts['unclear']} unclear)")
            digests = dict(session.execute(
                select(Digest.status, func.count()).where(Digest.feed_id == row.id).group_by(Digest.status)
            ).all())
            if digests:
                ctx.print("  digests:   " + ", ".join(f"{n} {s}" for s, n in sorted(digests.items())))
                failed = session.execute(
                    select(Digest).where(Digest.feed_id == row.id, Digest.status == "failed")
                    .order_by(Digest.created_at.desc()).limit(3)
                ).scalars().all()
                for d in failed:
                    problems += 1
                    ctx.print(f"  FAILED digest {d.period}: {d.last_error}")
    return 1 if problems or errors else 0


# -- db ---------------------------------------------------------------------------------------

def cmd_db_upgrade(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.store.db import current_revision, upgrade

    before = current_revision(ctx.engine)
    upgrade(ctx.engine)
    after = current_revision(ctx.engine)
    if before == after:
        ctx.print(f"database is up to date (revision {after})")
    else:
        ctx.print(f"database upgraded from {before or 'empty'} to revision {after}")
    return 0


# -- classify ---------------------------------------------------------------------------------

def cmd_classify(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.classify.jsonl import classify_jsonl

    if args.threshold_weeks <= 0:
        raise CommandError(f"--threshold-weeks {args.threshold_weeks:g}: must be more than 0")
    try:
        inp = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"--input {args.input}: {exc.strerror}") from None
    try:
        if args.output == "-":
            count = classify_jsonl(inp, ctx.stdout, args.threshold_weeks)
        else:
            out_path = Path(args.output)
            tmp = out_path.with_name(out_path.name + ".part")
            with open(tmp, "w", encoding="utf-8") as out:
                count = classify_jsonl(inp, out, args.threshold_weeks)
            tmp.replace(out_path)  # no half-written output file on failure
    except ValueError as exc:
        raise CommandError(f"{args.input}: {exc}") from None
    finally:
        if inp is not sys.stdin:
            inp.close()
    ctx.warn(f"classified {count} records")
    return 0


def cmd_reclassify(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.reclassify import reclassify

    feeds = ctx.feeds(args.feed) if args.feed else ctx.feeds()
    summary = reclassify(ctx.db, feeds, only_feed=args.feed is not None, everything=args.all,
                         stream=ctx.stderr)
    ctx.print(summary.text())
    return 0
