"""litmon's command line. Each area's commands live in monitor/commands/<area>.py."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.commands import CommandError, Context
from monitor.config import ConfigError
from monitor.feeds import FeedError

# Each module adds its subcommands with register(subparsers).
COMMAND_MODULES = (
    "monitor.commands.core",
    "monitor.commands.report",
    "monitor.commands.digest",
    "monitor.commands.service",
    "monitor.commands.sources",
)

DESCRIPTION = """\
litmon watches PubMed for new studies on a topic (by default: whole-body cryotherapy in
multiple sclerosis), keeps every record, judges whether each study looks at long-term
outcomes, and tells people: email digests, weekly HTML reports.

Settings come from LITMON_* environment variables (see the README); feeds from feeds/*.toml.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litmon", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"litmon {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `litmon feeds` and the like: show the group's help rather than a traceback.
        (getattr(args, "group_parser", None) or parser).print_help()
        return 2
    ctx = ctx or Context()
    try:
        _setup_logging(ctx, args.verbose)
        return int(args.func(args, ctx) or 0)
    except (ConfigError, FeedError, CommandError) as exc:
        print(f"litmon: error: {exc}", file=ctx.stderr)
        return 2
    except KeyboardInterrupt:
        print("litmon: interrupted", file=ctx.stderr)
        return 130


def _setup_logging(ctx: Context, verbose: bool) -> None:
    from monitor.logs import configure

    try:
        settings = ctx.settings
        fmt, level = settings.log_format, settings.log_level
    except ConfigError:
        raise
    configure(fmt=fmt, level="DEBUG" if verbose else level, stream=ctx.stderr)
    for var in settings.extra:
        logging.getLogger("litmon").warning("unknown setting %s is ignored (a typo?)", var)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
