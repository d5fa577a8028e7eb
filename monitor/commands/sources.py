"""Commands about records from other places: re-check stored records, import export files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from monitor.commands import CommandError, Context
from monitor.commands.args import amount


def register(sub: Any) -> None:
    rc = sub.add_parser(
        "recheck", help="re-check stored PubMed records for retractions, corrections, deletions",
        description="Fetch stored PubMed records again by PMID (in batches) and store revisions. "
        "A record that became retracted, got an erratum or expression of concern, or was "
        "deleted by PubMed is flagged: the next digest of every feed that announced it lists "
        "it under 'Corrections and retractions', and reports show the notice.",
    )
    rc.add_argument("--feed", metavar="NAME", help="only the records of this feed")
    rc.add_argument("--older-than-days", metavar="N", type=amount("days", zero_ok=True), default=0.0,
                    help="only records not checked in the last N days (default 0: all)")
    rc.set_defaults(func=cmd_recheck)

    im = sub.add_parser(
        "import", help="import a PubMed MEDLINE/.nbib or RIS export file into a feed",
        description="Read records found by hand from a PubMed export (MEDLINE format, .nbib or "
        ".txt) or a RIS file (.ris), store and classify them, and link them to the feed; they "
        "are announced in its next digest. PMIDs already stored are not stored twice.",
    )
    im.add_argument("file", metavar="FILE", type=Path, help="the export file")
    im.add_argument("--feed", metavar="NAME", help="the feed to link them to (needed with more than one)")
    im.add_argument("--format", choices=("auto", "medline", "ris"), default="auto",
                    help="file format (default: from the contents)")
    im.set_defaults(func=cmd_import)




def cmd_recheck(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.pubmed.client import EutilsError
    from monitor.recheck import recheck

    names = [f.name for f in ctx.feeds(args.feed)] if args.feed else None
    try:
        summary = recheck(ctx.db, ctx.client(), feed_names=names, older_than_days=args.older_than_days,
                          batch_size=ctx.settings.fetch_batch_size)
    except EutilsError as exc:
        raise CommandError(f"re-check stopped: {exc}") from None
    ctx.print(summary.text())
    return 0


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.sources.imports import ImportError_, import_file

    feeds = ctx.feeds(args.feed)
    if len(feeds) > 1:
        raise CommandError("more than one feed: choose one with --feed NAME "
                           f"({', '.join(f.name for f in feeds)})")
    try:
        summary = import_file(ctx.db, feeds[0], args.file, fmt=args.format)
    except ImportError_ as exc:
        raise CommandError(str(exc)) from None
    ctx.print(summary.text())
    return 0
