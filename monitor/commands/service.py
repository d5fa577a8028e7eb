"""Service commands: serve (the scheduler) and health (for container health checks)."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.commands import CommandError, Context
from monitor.commands.args import amount


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="run the scheduler in the foreground (the container's command)",
        description="Apply migrations, then schedule every feed's runs and weekly reports (cron, "
        "UTC) and retry pending digests. Feeds whose last successful run is older than their "
        "latest schedule slot run at once (catch-up). One scheduler is active per database; a "
        "second `litmon serve` waits as a standby and takes over within about "
        "LITMON_LEASE_SECONDS after the first one dies. SIGHUP (or editing a feed file) reloads "
        "the feeds; a broken file keeps its previous definition. SIGTERM/SIGINT finish the "
        "current unit of work, release the lease and exit 0 within "
        "LITMON_SHUTDOWN_GRACE_SECONDS.",
    )
    p.set_defaults(func=cmd_serve)

    h = sub.add_parser(
        "health", help="exit 0 if the database answers and the service's heartbeat is fresh",
        description="Check that the database answers and that `litmon serve` on this host (or, "
        "if none ran here, any host) wrote its heartbeat within --max-age seconds (default 3 × "
        "LITMON_HEARTBEAT_SECONDS). Exit status 0 when healthy, 1 otherwise with the reason.",
    )
    h.add_argument("--max-age", type=amount("seconds", zero_ok=False), metavar="SECONDS",
                   help="oldest acceptable heartbeat (default 3 × LITMON_HEARTBEAT_SECONDS)")
    h.add_argument("--quiet", "-q", action="store_true", help="print only problems")
    h.set_defaults(func=cmd_health)




def cmd_serve(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.service import Service

    service = Service(ctx.engine, ctx.settings, ctx.client)
    try:
        return service.serve_forever()
    finally:
        ctx.engine.dispose()


def cmd_health(args: argparse.Namespace, ctx: Context) -> int:
    from monitor.service import check_health

    try:
        engine = ctx.engine
    except Exception as exc:  # noqa: BLE001 - a bad URL is a health failure, not a traceback
        raise CommandError(f"cannot open the database: {exc}") from None
    health = check_health(engine, ctx.settings, max_age=args.max_age)
    if not args.quiet:
        for line in health.lines:
            ctx.print(line)
    if health.ok:
        if not args.quiet:
            ctx.print("healthy")
        return 0
    for reason in health.reasons:
        ctx.print(f"unhealthy: {reason}")
    return 1
