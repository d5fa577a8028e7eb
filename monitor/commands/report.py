"""Report commands: `litmon report` (weekly HTML, Atom, indexes) and `litmon export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.commands import CommandError, Context

FORMATS = ("csv", "ris", "bibtex", "jsonl")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="write the weekly HTML report, Atom feed and index pages",
        description="Write reports/<feed>/<week>.html (one self-contained page: the week's new "
        "studies, the long-term headline, the evidence map and charts), refresh latest.html, "
        "index.html and feed.xml of the feed, and reports/index.html. A week is an ISO week "
        "(UTC); its studies are those first seen in it. Default: every feed, the current week.",
    )
    p.add_argument("--feed", metavar="NAME", help="only this feed")
    p.add_argument("--week", metavar="YYYY-Www", type=_week,
                   help="the ISO week to write, e.g. 2026-W48 (default: the current week)")
    p.set_defaults(func=cmd_report)

    e = sub.add_parser(
        "export", help="export a feed's studies as CSV, RIS, BibTeX or JSON lines",
        description="Every study of the feed with its verdict: CSV for spreadsheets (one column "
        "per outcome domain), RIS and BibTeX for Zotero, EndNote and other reference managers, "
        "JSON lines for scripts. Written to stdout unless --output is given.",
    )
    e.add_argument("--feed", metavar="NAME", required=True, help="the feed to export")
    e.add_argument("--format", choices=FORMATS, required=True, help="output format")
    e.add_argument("--output", "-o", metavar="FILE", default="-",
                   help="write to FILE (atomically) instead of stdout")
    e.set_defaults(func=cmd_export)


def _week(text: str) -> str:
    from monitor.report import ReportError, week_bounds

    try:
        week_bounds(text)
    except ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.report import write_report

    feeds = ctx.feeds(args.feed)
    engine = ctx.db
    for feed in feeds:
        path = write_report(engine, ctx.settings, feed, args.week)
        ctx.print(f"{feed.name}: wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace, ctx: Context) -> int:
    import io

    from monitor.export import export_feed
    from monitor.report import atomic_write

    feed = ctx.feeds(args.feed)[0]
    engine = ctx.db
    if args.output == "-":
        count = export_feed(engine, feed, args.format, ctx.stdout)
    else:
        # Built in memory, then renamed into place: a failed export leaves no half file.
        buffer = io.StringIO(newline="")
        count = export_feed(engine, feed, args.format, buffer)
        try:
            atomic_write(Path(args.output), buffer.getvalue())
        except OSError as exc:
            raise CommandError(f"--output {args.output}: {exc.strerror}") from None
    print(f"exported {count} studies of {feed.name} as {args.format}", file=ctx.stderr or sys.stderr)
    return 0
