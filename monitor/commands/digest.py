"""Digest commands: preview (render without sending) and send (deliver what is pending)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from monitor.commands import CommandError, Context


def register(sub: Any) -> None:
    dg = sub.add_parser("digest", help="email digests: preview and send",
                        description="Each successful run opens one digest per feed and period "
                        "(an outbox row); these commands show and deliver them.")
    dg_sub = dg.add_subparsers(dest="digest_command", metavar="COMMAND", title="commands")
    dg.set_defaults(group_parser=dg)

    pv = dg_sub.add_parser(
        "preview", help="render the next digest (or a past one) without sending it",
        description="Without --period: what the next digest would hold now (the feed's articles "
        "no digest has announced yet). With --period: the stored digest of that period "
        "('latest' for the newest). Nothing is sent or changed.",
    )
    pv.add_argument("--feed", metavar="NAME", help="the feed (needed when there is more than one)")
    pv.add_argument("--period", metavar="PERIOD",
                    help="a stored digest's period, e.g. 2026-11-25T06:00Z, or 'latest'")
    pv.add_argument("--format", choices=("text", "html", "eml"), default="text",
                    help="text part, HTML part, or the whole message (default text)")
    pv.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    pv.set_defaults(func=cmd_preview)

    sd = dg_sub.add_parser(
        "send", help="deliver pending digests (SMTP, or .eml files in the outbox)",
        description="Deliver every digest that is due: by SMTP when LITMON_SMTP_HOST is set, "
        "else as .eml (+ .html) files in LITMON_OUTBOX_DIR. Temporary failures (4xx, "
        "connection errors) are retried later with backoff; permanent ones (5xx) are marked "
        "failed and shown by `litmon status`. Exit status 1 if any digest failed.",
    )
    sd.add_argument("--feed", metavar="NAME", help="only this feed's digests")
    sd.add_argument("--retry-failed", action="store_true",
                    help="first put failed digests back to pending (after fixing the cause)")
    sd.set_defaults(func=cmd_send)


def cmd_preview(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.digest import (
        find_digest,
        make_message,
        message_id_for,
        preview_next,
        stored_content,
    )
    from monitor.store.db import session_scope

    feeds = ctx.feeds(args.feed)
    if len(feeds) > 1:
        raise CommandError("more than one feed: choose one with --feed NAME "
                           f"({', '.join(f.name for f in feeds)})")
    feed = feeds[0]
    with session_scope(ctx.db) as session:
        if args.period:
            digest = find_digest(session, feed, args.period)
            if digest is None:
                raise CommandError(f"feed {feed.name!r} has no digest for period {args.period!r}")
            content = stored_content(session, feed, digest)
            message_id = digest.message_id
        else:
            content = preview_next(session, feed)
            message_id = message_id_for(feed.name, "preview", 0, ctx.settings.mail_from)
    built = make_message(ctx.settings, content, message_id=message_id)
    data: bytes
    if args.format == "eml":
        data = built.as_bytes()
    elif args.format == "html":
        data = built.html.encode("utf-8")
    else:
        data = f"Subject: {built.subject}\n\n{built.text}".encode()
    if args.output:
        from monitor.mail import write_atomically

        write_atomically(Path(args.output), data)
        ctx.warn(f"wrote {args.output} ({content.total} studies)")
    else:
        ctx.print(data.decode("utf-8").replace("\r\n", "\n").rstrip("\n"))
    return 0


def cmd_send(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.digest import retry_failed

    feeds = ctx.feeds(args.feed)
    if args.retry_failed:
        ctx.print(f"{retry_failed(ctx.db, feeds)} failed digest(s) put back to pending")
    failed = send_pending(ctx, [f.name for f in feeds], quiet=False)
    return 1 if failed else 0


def send_pending(ctx: Context, feed_names: list[str], *, quiet: bool = True) -> int:
    """Deliver the due digests of these feeds, print one line each; returns how many failed."""
    from monitor.digest import deliver_pending

    feeds = [f for f in ctx.feeds() if f.name in feed_names]
    outcomes = deliver_pending(ctx.db, ctx.settings, feeds)
    for outcome in outcomes:
        ctx.print(outcome.line())
    if not outcomes and not quiet:
        ctx.print("no digest is due")
    return sum(1 for o in outcomes if o.status == "failed")
