"""Feed definitions: one ``feeds/<name>.toml`` a feed, loaded and checked strictly.

Every problem names the file, the key and the value, because a feed file is edited by hand
and a typo must not silently turn a feed off.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class FeedError(Exception):
    """A feed file is malformed; the message names file, key and value."""


@dataclass(frozen=True)
class DigestOptions:
    max_items: int = 25
    send_when_empty: bool = False
    subject_prefix: str = ""


@dataclass(frozen=True)
class TrialsQuery:
    """A ClinicalTrials.gov v2 search (Essie syntax): query.cond, query.intr, query.term."""

    condition: str = ""
    intervention: str = ""
    term: str = ""


@dataclass(frozen=True)
class PreprintsQuery:
    """A Europe PMC search; litmon adds SRC:PPR (preprints only) and the date window."""

    query: str = ""


@dataclass(frozen=True)
class Feed:
    name: str
    query: str
    title: str = ""
    schedule: str = "0 6 * * *"  # cron, UTC
    report_schedule: str = "0 7 * * 1"  # cron, UTC: weekly report
    recipients: tuple[str, ...] = ()
    long_term_threshold_weeks: float = 26.0
    digest: DigestOptions = field(default_factory=DigestOptions)
    path: Path | None = None
    trials: TrialsQuery | None = None  # [trials]: also watch ClinicalTrials.gov
    preprints: PreprintsQuery | None = None  # [preprints]: also watch Europe PMC preprints

    @property
    def display_title(self) -> str:
        return self.title or self.name

    def trigger(self) -> CronTrigger:
        return cron_trigger(self.schedule)

    def report_trigger(self) -> CronTrigger:
        return cron_trigger(self.report_schedule)

    def period_for(self, when: datetime) -> datetime:
        """The schedule slot a moment belongs to: the latest fire time at or before it.

        A run started by hand belongs to the same period as the scheduled run it follows,
        so running twice in one period never makes a second digest.
        """
        return last_fire_time(self.trigger(), when)


_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(expr: str) -> CronTrigger:
    """A standard 5-field cron expression, in UTC.

    APScheduler 3 numbers weekdays from Monday = 0, while cron (and every crontab a user has
    seen) uses Sunday = 0 or 7; ``CronTrigger.from_crontab("0 6 * * 1")`` fires on Tuesdays.
    The weekday field is therefore translated to names before APScheduler sees it.
    """
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(parts)}")
    minute, hour, day, month, dow = parts
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_cron_weekdays(dow), timezone=UTC)


def _cron_weekdays(field: str) -> str:
    if field == "*":
        return "*"
    days: set[int] = set()
    for token in field.split(","):
        base, _, step_text = token.partition("/")
        step = int(step_text) if step_text.isdigit() else None
        if step_text and step is None or step == 0:
            raise ValueError(f"bad step in weekday field {field!r}")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            lo, hi = _weekday(a, field), _weekday(b, field)
            if hi == 0 and lo > 0:
                hi = 7  # "5-0" / "fri-sun": up to Sunday
        else:
            lo = hi = _weekday(base, field)
            if step:
                hi = 6
        if lo > hi:
            raise ValueError(f"weekday range {base!r} runs backwards")
        days.update(d % 7 for d in range(lo, hi + 1, step or 1))
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def _weekday(text: str, field: str) -> int:
    low = text.lower()
    if low.isdigit() and 0 <= int(low) <= 7:
        return int(low)
    if low[:3] in _DOW_NAMES and len(low) == 3:
        return _DOW_NAMES.index(low[:3])
    raise ValueError(f"weekday {text!r} in {field!r} is not 0-7 or sun..sat")


def last_fire_time(trigger: CronTrigger, when: datetime) -> datetime:
    """Latest fire time ≤ ``when`` (UTC). CronTrigger only walks forward, so search back."""
    when = when.astimezone(UTC).replace(microsecond=0)
    span_days = 1
    while span_days <= 800:
        start = when.replace(second=0) - timedelta(days=span_days)
        last = None
        t = trigger.get_next_fire_time(None, start)
        while t is not None and t <= when:
            last = t
            t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
        if last is not None:
            return last.astimezone(UTC)
        span_days *= 4
    raise FeedError(f"schedule never fires within two years before {when:%Y-%m-%d}")


_TOP_KEYS = {
    "name", "title", "query", "schedule", "report_schedule", "recipients",
    "long_term_threshold_weeks", "digest", "trials", "preprints",
}
_DIGEST_KEYS = {"max_items", "send_when_empty", "subject_prefix"}
_TRIALS_KEYS = {"condition", "intervention", "term"}
_PREPRINTS_KEYS = {"query"}


def load_feed(path: Path) -> Feed:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FeedError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise FeedError(f"{path}: not valid TOML: {exc}") from exc
    return feed_from_mapping(data, path)


def feed_from_mapping(data: dict[str, Any], path: Path) -> Feed:
    def bad(key: str, value: Any, why: str) -> FeedError:
        return FeedError(f"{path}: key '{key}' = {value!r}: {why}")

    for key in data:
        if key not in _TOP_KEYS:
            raise bad(key, data[key], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")

    name = data.get("name", path.stem)
    if not isinstance(name, str) or not NAME.match(name):
        raise bad("name", name, "use lowercase letters, digits and '-' (at most 63)")
    if name != path.stem:
        raise bad("name", name, f"must match the file name '{path.stem}'")

    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise bad("query", query, "required: a PubMed search term")
    if query.count("(") != query.count(")"):
        raise bad("query", query, "unbalanced parentheses")
    if query.count('"') % 2:
        raise bad("query", query, "unbalanced double quotes")

    title = data.get("title", "")
    if not isinstance(title, str):
        raise bad("title", title, "must be a string")

    schedules = {}
    for key, default in (("schedule", "0 6 * * *"), ("report_schedule", "0 7 * * 1")):
        expr = data.get(key, default)
        if not isinstance(expr, str):
            raise bad(key, expr, "must be a cron string like '0 6 * * *' (UTC)")
        try:
            cron_trigger(expr)
        except ValueError as exc:
            raise bad(key, expr, f"not a valid cron expression ({exc})") from None
        schedules[key] = expr

    recipients = data.get("recipients", [])
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list):
        raise bad("recipients", recipients, "must be a list of email addresses")
    for address in recipients:
        if not isinstance(address, str) or not _ADDRESS.match(address):
            raise bad("recipients", address, "not an email address")
    if len(set(a.lower() for a in recipients)) != len(recipients):
        raise bad("recipients", recipients, "an address is listed twice")

    threshold = data.get("long_term_threshold_weeks", 26)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 1 <= threshold <= 1040:
        raise bad("long_term_threshold_weeks", threshold, "must be a number of weeks from 1 to 1040")

    digest_raw = data.get("digest", {})
    if not isinstance(digest_raw, dict):
        raise bad("digest", digest_raw, "must be a table: [digest]")
    for key in digest_raw:
        if key not in _DIGEST_KEYS:
            raise bad(f"digest.{key}", digest_raw[key],
                      f"unknown key (known: {', '.join(sorted(_DIGEST_KEYS))})")
    max_items = digest_raw.get("max_items", 25)
    if isinstance(max_items, bool) or not isinstance(max_items, int) or not 1 <= max_items <= 500:
        raise bad("digest.max_items", max_items, "must be a whole number from 1 to 500")
    send_when_empty = digest_raw.get("send_when_empty", False)
    if not isinstance(send_when_empty, bool):
        raise bad("digest.send_when_empty", send_when_empty, "must be true or false")
    prefix = digest_raw.get("subject_prefix", "")
    if not isinstance(prefix, str) or "\n" in prefix or "\r" in prefix:
        raise bad("digest.subject_prefix", prefix, "must be one line of text")

    trials = _optional_table(data, "trials", _TRIALS_KEYS, bad)
    if trials is not None and not any(trials.values()):
        raise bad("trials", trials, "give at least one of condition, intervention, term")
    preprints = _optional_table(data, "preprints", _PREPRINTS_KEYS, bad)
    if preprints is not None and not preprints.get("query"):
        raise bad("preprints.query", preprints.get("query"), "required: a Europe PMC search")

    return Feed(
        name=name,
        title=title.strip(),
        query=" ".join(query.split()),
        schedule=schedules["schedule"],
        report_schedule=schedules["report_schedule"],
        recipients=tuple(recipients),
        long_term_threshold_weeks=float(threshold),
        digest=DigestOptions(max_items=max_items, send_when_empty=send_when_empty,
                             subject_prefix=prefix),
        path=path,
        trials=TrialsQuery(**trials) if trials is not None else None,
        preprints=PreprintsQuery(**preprints) if preprints is not None else None,
    )


def _optional_table(data: dict[str, Any], table: str, known: set[str], bad: Any) -> dict[str, str] | None:
    """An optional table of one-line strings, strictly: unknown keys and non-strings are errors."""
    if table not in data:
        return None
    raw = data[table]
    if not isinstance(raw, dict):
        raise bad(table, raw, f"must be a table: [{table}]")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key not in known:
            raise bad(f"{table}.{key}", value, f"unknown key (known: {', '.join(sorted(known))})")
        if not isinstance(value, str) or "\n" in value.strip() or "\r" in value:
            raise bad(f"{table}.{key}", value, "must be one line of text")
        if value.count('"') % 2 or value.count("(") != value.count(")"):
            raise bad(f"{table}.{key}", value, "unbalanced quotes or parentheses")
        out[key] = " ".join(value.split())
    return out


def load_feeds(directory: Path) -> list[Feed]:
    """Every feed in ``directory``; the first bad file stops the load with its error."""
    feeds, errors = load_feeds_collecting(directory)
    if errors:
        raise errors[0]
    return feeds


def load_feeds_collecting(directory: Path) -> tuple[list[Feed], list[FeedError]]:
    """Every good feed and every error — for `litmon feeds check` and reloads."""
    if not directory.is_dir():
        return [], [FeedError(f"{directory}: feeds directory does not exist (LITMON_FEEDS_DIR)")]
    feeds: list[Feed] = []
    errors: list[FeedError] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            feeds.append(load_feed(path))
        except FeedError as exc:
            errors.append(exc)
    return feeds, errors


def select(feeds: list[Feed], name: str | None) -> list[Feed]:
    if name is None:
        return feeds
    for feed in feeds:
        if feed.name == name:
            return [feed]
    known = ", ".join(f.name for f in feeds) or "none"
    raise FeedError(f"no feed named {name!r} (feeds: {known})")


def now_utc() -> datetime:
    return datetime.now(UTC)
