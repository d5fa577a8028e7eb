"""The weekly HTML report of a feed, its Atom feed and the index pages, written under reports/.

``write_report(engine, settings, feed, week)`` writes, each file atomically (temp + rename):

    reports/<feed>/<week>.html   one self-contained page: inline CSS and SVG, no script, a strict
                                 Content-Security-Policy, readable on a phone and on paper
    reports/<feed>/latest.html   a copy of the newest week written (a copy, not a symlink:
                                 static servers and file systems that refuse links still serve it)
    reports/<feed>/index.html    every week written, newest first
    reports/<feed>/feed.xml      Atom: the newest studies, ids urn:litmon:<feed>:pmid:<pmid>
    reports/index.html           every feed with a report

A week is ISO 8601 (``2026-W48``, Monday to Sunday, UTC); its studies are those whose
``FeedArticle.first_seen_at`` falls in it. The headline, evidence map and charts describe every
study the feed had seen by the end of that week, so an old week rewritten later says what was
known then.

Size: a page must stay readable and small for a feed of 10,000 studies. So the evidence map has
two parts — a domain × follow-up band table that aggregates every study (11 × 4 numbers however
large the feed), and a per-study matrix of at most ``MAP_STUDY_LIMIT`` rows: the week's new
studies first, then the studies with the longest follow-up. The week's list shows the first
``FULL_STUDY_LIMIT`` studies in full (abstract included) and the rest as one line each.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from markupsafe import Markup
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.feeds import Feed
from monitor.render import (
    PUBMED_URL,
    StudyView,
    domain_label,
    domain_labels,
    highlight,
    jinja_env,
    load_studies,
    one_line,
    order_for_reading,
    record_url,
    weeks_text,
)
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Classification, FeedArticle, FeedRow, ReportRow, utcnow
from monitor.studies import group_for_digest, lead_key, study_ids

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
ATOM_NS = "http://www.w3.org/2005/Atom"
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")

MAP_STUDY_LIMIT = 40
FULL_STUDY_LIMIT = 200
ATOM_LIMIT = 50
SHORT_WEEKS = 4.0  # below this a follow-up is "short" whatever the feed's threshold

# The domains and their order come from the classifier's vocabulary (classify/domains.toml);
# these are the fallback while it is absent. Keys found in data but in neither are appended.
DEFAULT_DOMAINS = {
    "fatigue": "Fatigue",
    "pain": "Pain",
    "mood": "Mood (depression, anxiety)",
    "mobility": "Mobility, gait and balance",
    "spasticity": "Spasticity",
    "quality_of_life": "Quality of life",
    "sleep": "Sleep",
    "cognition": "Cognition",
    "disability": "Disability and MS impact",
    "inflammation_oxidative_stress": "Inflammation and oxidative stress",
    "adverse_events": "Adverse events and safety",
}
# Column heads of the study-by-study map, where eleven columns must fit a phone.
SHORT_DOMAIN_LABELS = {
    "fatigue": "fatigue", "pain": "pain", "mood": "mood", "mobility": "mobility",
    "spasticity": "spasticity", "quality_of_life": "QoL", "sleep": "sleep",
    "cognition": "cognition", "disability": "disability",
    "inflammation_oxidative_stress": "inflammation", "adverse_events": "adverse events",
}
VERDICTS = (  # key, label, css class (colour + pattern)
    ("yes", "long-term", "v-yes"),
    ("unclear", "unclear", "v-unclear"),
    ("no", "short-term", "v-no"),
    (None, "not judged", "v-none"),
)


class ReportError(ValueError):
    """A bad week string or similar user input."""


# -- weeks ------------------------------------------------------------------------------------

def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def current_week(now: datetime | None = None) -> str:
    return iso_week((now or datetime.now(UTC)).astimezone(UTC).date())


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """[Monday 00:00 UTC, next Monday 00:00 UTC) of an ISO week like ``2026-W48``."""
    m = WEEK.match(week)
    if not m:
        raise ReportError(f"week {week!r}: use the ISO form YYYY-Www, e.g. 2026-W48")
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ReportError(f"week {week!r}: {m.group(1)} has no week {m.group(2)}") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- follow-up bands --------------------------------------------------------------------------

@dataclass(frozen=True)
class Band:
    key: str  # long | medium | short | unknown
    label: str
    short: str  # for narrow table headers
    symbol: str  # shape as well as colour, so the map reads in grey print and for colour-blind eyes


def bands(threshold: float) -> tuple[Band, ...]:
    short = min(SHORT_WEEKS, threshold)
    return (
        Band("long", f"≥ {threshold:g} weeks", f"≥ {threshold:g} wk", "●"),
        Band("medium", f"{short:g}–{threshold:g} weeks", f"{short:g}–{threshold:g} wk", "◑"),
        Band("short", f"< {short:g} weeks", f"< {short:g} wk", "○"),
        Band("unknown", "no time point found", "none found", "?"),
    )


def band_of(weeks: float | None, threshold: float) -> str:
    if weeks is None:
        return "unknown"
    if weeks >= threshold:
        return "long"
    if weeks >= min(SHORT_WEEKS, threshold):
        return "medium"
    return "short"


# Follow-up histogram bins: (label, lower weeks inclusive, upper weeks exclusive).
FOLLOWUP_BINS = (
    ("< 1 wk", 0.0, 1.0),
    ("1–4 wk", 1.0, 4.0),
    ("1–3 mo", 4.0, 13.0),
    ("3–6 mo", 13.0, 26.0),
    ("6–12 mo", 26.0, 52.0),
    ("1–2 yr", 52.0, 104.0),
    ("≥ 2 yr", 104.0, float("inf")),
)


# -- what every study of the feed contributes to the aggregates -------------------------------

@dataclass(frozen=True)
class StudyFacts:
    """One study (all its records: trial registration, preprint, paper) as the aggregates see it."""

    pmid: str  # the record that stands for the study: its publication when there is one
    title: str  # plain text
    year: int | None
    long_term: str | None
    followup_weeks: float | None
    domains: tuple[str, ...]
    retracted: bool
    has_notice: bool
    first_seen: datetime
    url: str = ""
    source: str = "pubmed"  # of the record ``pmid``
    members: tuple[str, ...] = ()  # every record of the study in the feed, ``pmid`` first


# A study's verdict is the strongest any of its records shows.
_VERDICT_RANK = {"yes": 0, "unclear": 1, "no": 2, None: 3}


def feed_facts(session: Any, feed_id: int, threshold: float, until: datetime) -> list[StudyFacts]:
    """One StudyFacts per study of the feed, its records merged (``monitor.studies`` links them).

    Light columns only (no record JSON): this runs over every record of the feed.
    """
    records = _record_facts(session, feed_id, threshold, until)
    study_of = study_ids(session, [f.pmid for f in records])
    groups: dict[str, list[StudyFacts]] = {}
    for f in records:
        groups.setdefault(study_of[f.pmid], []).append(f)
    return [_merge(group) for group in groups.values()]


def _merge(group: list[StudyFacts]) -> StudyFacts:
    if len(group) == 1:
        return group[0]
    lead = min(group, key=lambda f: lead_key(f.source, f.pmid))  # as a digest chooses
    weeks = [f.followup_weeks for f in group if f.followup_weeks is not None]
    return StudyFacts(
        pmid=lead.pmid, title=lead.title, year=lead.year,
        long_term=min((f.long_term for f in group), key=lambda v: _VERDICT_RANK.get(v, 3)),
        followup_weeks=max(weeks) if weeks else None,
        domains=tuple(dict.fromkeys(d for f in group for d in f.domains)),
        # A retracted paper withdraws the study's results; its registration is not evidence.
        retracted=lead.retracted, has_notice=any(f.has_notice for f in group),
        first_seen=min(f.first_seen for f in group), url=lead.url, source=lead.source,
        members=(lead.pmid, *sorted(f.pmid for f in group if f is not lead)),
    )


def _record_facts(session: Any, feed_id: int, threshold: float, until: datetime) -> list[StudyFacts]:
    """One StudyFacts per record of the feed seen before ``until``."""
    q = (
        select(FeedArticle.pmid, FeedArticle.first_seen_at, ArticleRow.title, ArticleRow.pub_year,
               ArticleRow.retracted, ArticleRow.has_notice, Classification.long_term,
               Classification.longest_followup_weeks, Classification.outcome_domains,
               ArticleRow.source, ArticleRow.doi)
        .join(ArticleRow, ArticleRow.pmid == FeedArticle.pmid)  # type: ignore[arg-type]
        .outerjoin(Classification, and_(Classification.pmid == FeedArticle.pmid,
                                        Classification.threshold_weeks == float(threshold)))
        .where(FeedArticle.feed_id == feed_id, FeedArticle.first_seen_at < until,  # type: ignore[arg-type]
               ArticleRow.deleted.is_(False))  # type: ignore[attr-defined]
    )
    out = []
    for (pmid, seen, title, year, retracted, notice, verdict, weeks, domains, source,
         doi) in session.execute(q):
        out.append(StudyFacts(pmid, title or "", year, verdict, weeks, tuple(domains or ()),
                              bool(retracted), bool(notice), _aware(seen) or until,
                              url=record_url(source or "pubmed", pmid, doi),
                              source=source or "pubmed", members=(pmid,)))
    return out


def domain_catalogue() -> dict[str, str]:
    """Domain key -> label, in the classifier's vocabulary order."""
    return domain_labels() or dict(DEFAULT_DOMAINS)


def domain_order(facts: Iterable[Any]) -> list[str]:
    """Known domains in reading order, then any other key a study has (anything with .domains)."""
    seen = dict.fromkeys(domain_catalogue())
    for f in facts:
        for d in f.domains:
            seen.setdefault(d)
    return list(seen)


def label_of_domain(key: str) -> str:
    return domain_catalogue().get(key) or domain_label(key)


def short_label_of_domain(key: str) -> str:
    return SHORT_DOMAIN_LABELS.get(key) or label_of_domain(key)


# -- the page's parts -------------------------------------------------------------------------

@dataclass
class Headline:
    total: int
    long_term: int
    unclear: int
    short_term: int
    not_judged: int
    retracted: int
    longest: StudyFacts | None
    week_new: int
    week_long_term: int


def headline(facts: Sequence[StudyFacts], week_studies: Sequence[StudyView]) -> Headline:
    counted = [f for f in facts if not f.retracted]
    with_weeks = [f for f in counted if f.followup_weeks is not None]
    longest = max(with_weeks, key=lambda f: (f.followup_weeks, f.pmid), default=None)
    verdicts = Counter(f.long_term for f in counted)
    return Headline(
        total=len(counted), long_term=verdicts["yes"], unclear=verdicts["unclear"],
        short_term=verdicts["no"], not_judged=verdicts[None],
        retracted=len(facts) - len(counted), longest=longest,
        week_new=len(week_studies),
        week_long_term=sum(1 for s in week_studies if s.is_long_term and not s.retracted),
    )


@dataclass
class MapRow:
    key: str
    label: str
    counts: dict[str, int]  # band -> studies
    total: int
    percent: dict[str, float]


def evidence_table(facts: Sequence[StudyFacts], domains: Sequence[str], threshold: float) -> list[MapRow]:
    counts = {d: Counter() for d in domains}  # type: dict[str, Counter[str]]
    for f in facts:
        if f.retracted:
            continue
        band = band_of(f.followup_weeks, threshold)
        for d in f.domains:
            counts.setdefault(d, Counter())[band] += 1
    rows = []
    for d in domains:
        c = counts.get(d, Counter())
        total = sum(c.values())
        rows.append(MapRow(
            key=d, label=label_of_domain(d),
            counts={b.key: c[b.key] for b in bands(threshold)}, total=total,
            percent={b.key: (100.0 * c[b.key] / total if total else 0.0) for b in bands(threshold)},
        ))
    return rows


@dataclass
class MatrixRow:
    pmid: str
    url: str
    label: str  # "Miller 2016"
    title: str
    band: str
    followup: str
    domains: frozenset[str]
    new: bool
    retracted: bool
    notice: bool


def evidence_matrix(facts: Sequence[StudyFacts], week_pmids: Sequence[str],
                    first_authors: dict[str, str], threshold: float) -> tuple[list[MatrixRow], int]:
    """At most MAP_STUDY_LIMIT rows: this week's studies, then the longest follow-ups so far.

    Studies without any outcome domain add nothing to a domain map and are left out.
    Returns the rows and how many studies with a domain were left out by the limit.
    """
    with_domains = {f.pmid: f for f in facts if f.domains}
    chosen: list[str] = [p for p in week_pmids if p in with_domains][:MAP_STUDY_LIMIT]
    rest = sorted((f for p, f in with_domains.items() if p not in set(chosen)),
                  key=lambda f: (f.retracted, -(f.followup_weeks if f.followup_weeks is not None else -1),
                                 -(f.year or 0), f.pmid))
    chosen += [f.pmid for f in rest[: MAP_STUDY_LIMIT - len(chosen)]]
    week = set(week_pmids)
    rows = []
    for pmid in chosen:
        f = with_domains[pmid]
        who = first_authors.get(pmid) or f"PMID {pmid}"
        rows.append(MatrixRow(
            pmid=pmid, url=f.url, label=f"{who} {f.year or ''}".strip(), title=f.title,
            band=band_of(f.followup_weeks, threshold),
            followup=weeks_text(f.followup_weeks), domains=frozenset(f.domains),
            new=pmid in week, retracted=f.retracted, notice=f.has_notice,
        ))
    return rows, len(with_domains) - len(rows)


def first_authors(session: Any, pmids: Sequence[str]) -> dict[str, str]:
    """'Miller' for each PMID, read from the stored record (only for the map's rows)."""
    out: dict[str, str] = {}
    for part in repo.chunks(list(pmids)):
        for pmid, record in session.execute(
            select(ArticleRow.pmid, ArticleRow.record).where(ArticleRow.pmid.in_(part))  # type: ignore[attr-defined]
        ):
            authors = (record or {}).get("authors") or []
            if authors:
                a = authors[0]
                out[pmid] = one_line(a.get("last_name") or a.get("collective_name") or "")
    return out


# -- charts (geometry here, drawing in report_charts.html) ------------------------------------

@dataclass
class Bar:
    x: float
    width: float
    label: str
    total: int
    segments: list[dict[str, Any]]  # {y, height, cls, count, name}
    show_label: bool = True


@dataclass
class Chart:
    width: int
    height: int
    plot_top: float
    plot_bottom: float
    plot_left: float
    plot_right: float
    ticks: list[dict[str, Any]]  # {y, value}
    bars: list[Bar]
    max_value: int


def _ticks(max_value: int) -> list[int]:
    if max_value <= 0:
        return [0]
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000):
        if max_value / step <= 5:
            break
    top = step * -(-max_value // step)
    return list(range(0, top + 1, step))


def _chart(groups: list[tuple[str, list[tuple[str, str, int]]]], *, width: int = 640,
           height: int = 230, label_every: int = 1) -> Chart:
    """Stacked bars: groups of (label, [(css class, name, count), ...])."""
    left, right, top, bottom = 40.0, width - 8.0, 12.0, height - 34.0
    max_total = max((sum(c for _, _, c in segs) for _, segs in groups), default=0)
    ticks = _ticks(max_total)
    scale_max = ticks[-1] or 1
    slot = (right - left) / max(1, len(groups))
    bar_w = max(2.0, slot * 0.72)
    bars = []
    for i, (label, segs) in enumerate(groups):
        x = left + i * slot + (slot - bar_w) / 2
        y = bottom
        drawn = []
        for cls, name, count in segs:
            if not count:
                continue
            h = (bottom - top) * count / scale_max
            y -= h
            drawn.append({"y": round(y, 2), "height": round(h, 2), "cls": cls, "count": count,
                          "name": name})
        bars.append(Bar(x=round(x, 2), width=round(bar_w, 2), label=label,
                        total=sum(c for _, _, c in segs), segments=drawn,
                        show_label=(i % label_every == 0) or i == len(groups) - 1))
    return Chart(width=width, height=height, plot_top=top, plot_bottom=bottom, plot_left=left,
                 plot_right=right, max_value=max_total, bars=bars,
                 ticks=[{"y": round(bottom - (bottom - top) * t / scale_max, 2), "value": t}
                        for t in ticks])


def years_chart(facts: Sequence[StudyFacts]) -> tuple[Chart | None, list[dict[str, Any]], int]:
    """Studies per publication year by verdict; also the rows of its data table."""
    per_year: dict[int, Counter[str | None]] = {}
    no_year = 0
    for f in facts:
        if f.year is None:
            no_year += 1
            continue
        per_year.setdefault(f.year, Counter())[f.long_term] += 1
    if not per_year:
        return None, [], no_year
    first, last = min(per_year), max(per_year)
    years = list(range(max(first, last - 59), last + 1))  # at most 60 bars; older ones folded in
    if first < years[0]:
        folded: Counter[str | None] = Counter()
        for y in range(first, years[0] + 1):
            folded.update(per_year.pop(y, Counter()))
        per_year[years[0]] = folded
    groups = []
    table = []
    for y in years:
        c = per_year.get(y, Counter())
        label = str(y) if not (y == years[0] and first < y) else f"≤{y}"
        groups.append((label, [(cls, name, c[key]) for key, name, cls in VERDICTS]))
        if sum(c.values()):
            table.append({"year": label, "counts": [c[key] for key, _, _ in VERDICTS],
                          "total": sum(c.values())})
    every = 1 if len(years) <= 12 else (2 if len(years) <= 24 else 5)
    chart = _chart(groups, label_every=every)
    return chart, table, no_year


def followup_chart(facts: Sequence[StudyFacts], threshold: float) -> tuple[Chart, list[dict[str, Any]]]:
    counts = Counter()  # type: Counter[str]
    for f in facts:
        if f.retracted or f.followup_weeks is None:
            label = "none" if not f.retracted else ""
        else:
            label = next(b for b, lo, hi in FOLLOWUP_BINS if lo <= f.followup_weeks < hi)
        if label:
            counts[label] += 1
    groups = []
    table = []
    for label, lo, _hi in FOLLOWUP_BINS:
        band = band_of(lo, threshold)
        groups.append((label, [(f"b-{band}", label, counts[label])]))
        table.append({"label": label, "count": counts[label], "band": band})
    groups.append(("none found", [("b-unknown", "none found", counts["none"])]))
    table.append({"label": "none found", "count": counts["none"], "band": "unknown"})
    return _chart(groups), table


# -- one study in the week's list -------------------------------------------------------------

def abstract_with_evidence(study: StudyView) -> tuple[list[tuple[str | None, Markup]], bool]:
    """The abstract's sections, the evidence sentence marked in the first section holding it."""
    out: list[tuple[str | None, Markup]] = []
    found = False
    for label, text in study.abstract_sections:
        if not found and study.evidence:
            marked = highlight(str(text), study.evidence)
            if "<mark>" in marked:
                found = True
                out.append((label, marked))
                continue
        out.append((label, text))
    return out, found


# -- assembling and writing -------------------------------------------------------------------

@dataclass
class WeekStudies:
    pmids: list[str]
    first_seen: dict[str, datetime]


def week_studies(session: Any, feed_id: int, start: datetime, end: datetime) -> WeekStudies:
    rows = session.execute(
        select(FeedArticle.pmid, FeedArticle.first_seen_at)
        .where(FeedArticle.feed_id == feed_id, FeedArticle.first_seen_at >= start,  # type: ignore[arg-type]
               FeedArticle.first_seen_at < end)  # type: ignore[arg-type]
        .order_by(FeedArticle.first_seen_at, FeedArticle.pmid)
    ).all()
    return WeekStudies([p for p, _ in rows], {p: _aware(s) or start for p, s in rows})


def report_context(session: Any, feed: Feed, feed_row: FeedRow, week: str,
                   *, now: datetime | None = None) -> dict[str, Any]:
    """Everything report.html needs for ``week`` of ``feed``."""
    start, end = week_bounds(week)
    threshold = feed.long_term_threshold_weeks
    assert feed_row.id is not None
    new = week_studies(session, feed_row.id, start, end)
    # The week's records, one item per study (a trial and its paper are one), as in a digest.
    studies = order_for_reading(group_for_digest(session, feed_row.id, new.pmids, threshold, None))
    facts = feed_facts(session, feed_row.id, threshold, end)
    domains = domain_order(facts)
    lead_of = {m: f.pmid for f in facts for m in f.members}
    ordered_pmids = list(dict.fromkeys(lead_of.get(s.pmid, s.pmid) for s in studies))
    candidate = [f.pmid for f in facts if f.domains]
    # First authors only for the rows the matrix can show (the week's, then the longest).
    authors = first_authors(session, ordered_pmids[:MAP_STUDY_LIMIT] + _longest(facts, candidate))
    matrix, matrix_hidden = evidence_matrix(facts, ordered_pmids, authors, threshold)
    years, years_table, no_year = years_chart(facts)
    follow, follow_table = followup_chart(facts, threshold)
    full = studies[:FULL_STUDY_LIMIT]
    return {
        "feed": feed,
        "title": feed.display_title,
        "week": week,
        "week_start": start.date(),
        "week_end": (end - timedelta(days=1)).date(),
        "threshold": threshold,
        "threshold_text": weeks_text(threshold),
        "bands": bands(threshold),
        "head": headline(facts, studies),
        "domains": [(d, label_of_domain(d), short_label_of_domain(d)) for d in domains],
        "evidence_rows": evidence_table(facts, domains, threshold),
        "matrix": matrix,
        # Columns no row uses would only widen the table on a phone; the table above lists them.
        "matrix_domains": [(d, label_of_domain(d), short_label_of_domain(d))
                           for d in domains if any(d in m.domains for m in matrix)],
        "matrix_hidden": matrix_hidden,
        "matrix_limit": MAP_STUDY_LIMIT,
        "years": years,
        "years_table": years_table,
        "no_year": no_year,
        "verdicts": VERDICTS,
        "followup": follow,
        "followup_table": follow_table,
        "studies": [
            {"s": s, "abstract": abstract_with_evidence(s), "flag": s.relevance_text,
             "domains": [label_of_domain(d) for d in s.domains],
             "first_seen": min((new.first_seen[p] for p in (s.pmid, *(h.record_id for h in s.history))
                                if p in new.first_seen), default=None)}
            for s in full
        ],
        "more_studies": studies[FULL_STUDY_LIMIT:],
        "written_at": (now or datetime.now(UTC)).astimezone(UTC),
        "csp": CSP,
        "css": _css(),
    }


def _longest(facts: Sequence[StudyFacts], pmids: Sequence[str]) -> list[str]:
    wanted = set(pmids)
    ranked = sorted((f for f in facts if f.pmid in wanted),
                    key=lambda f: -(f.followup_weeks if f.followup_weeks is not None else -1))
    return [f.pmid for f in ranked[:MAP_STUDY_LIMIT]]


def _css() -> Markup:
    env = jinja_env()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, "report.css")
    return Markup(source)  # our own file, not record text


def render_report(context: dict[str, Any]) -> str:
    return jinja_env().get_template("report.html").render(**context)


def atomic_write(path: Path, text: str) -> None:
    """Readers (a static server, a browser) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a web server running as another user must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(engine: Engine, settings: Settings, feed: Feed, week: str | None = None,
                 *, now: datetime | None = None) -> Path:
    """Write ``week`` (default: the current ISO week) of ``feed``, and refresh latest.html,
    the feed's index.html and feed.xml, and reports/index.html. Returns the week's path."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    week = week or current_week(now)
    week_bounds(week)  # refuse a bad week before touching anything
    feed_dir = settings.reports_dir / feed.name
    path = feed_dir / f"{week}.html"
    with session_scope(engine) as session:
        feed_row = repo.ensure_feed(session, feed.name, feed.display_title, feed.query)
        session.flush()
        context = report_context(session, feed, feed_row, week, now=now)
        atomic_write(path, render_report(context))
        _record(session, feed_row, week, path, context["head"].week_new, now)
        weeks = _written_weeks(session, feed_row)
        newest = weeks[0]["week"] if weeks else week
        newest_path = feed_dir / f"{newest}.html"
        if newest_path.exists():
            atomic_write(feed_dir / "latest.html", newest_path.read_text(encoding="utf-8"))
        atomic_write(feed_dir / "index.html", render_feed_index(feed, weeks, now))
        atomic_write(feed_dir / "feed.xml", atom_feed(session, feed, feed_row, settings))
        atomic_write(settings.reports_dir / "index.html", render_feeds_index(session, now))
    return path


def _record(session: Any, feed_row: FeedRow, week: str, path: Path, count: int, now: datetime) -> None:
    inserted = repo.insert_ignore(session, ReportRow, [{
        "feed_id": feed_row.id, "week": week, "path": str(path), "item_count": count,
        "written_at": now,
    }])
    if not inserted:
        row = session.execute(select(ReportRow).where(
            ReportRow.feed_id == feed_row.id, ReportRow.week == week)).scalar_one()  # type: ignore[arg-type]
        row.path, row.item_count, row.written_at = str(path), count, now
        session.add(row)
    session.flush()


def _written_weeks(session: Any, feed_row: FeedRow) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ReportRow).where(ReportRow.feed_id == feed_row.id)  # type: ignore[arg-type]
    ).scalars().all()
    out = []
    for row in sorted(rows, key=lambda r: r.week, reverse=True):
        start, end = week_bounds(row.week)
        out.append({"week": row.week, "start": start.date(), "end": (end - timedelta(days=1)).date(),
                    "count": row.item_count, "written_at": _aware(row.written_at)})
    return out


def render_feed_index(feed: Feed, weeks: list[dict[str, Any]], now: datetime) -> str:
    return jinja_env().get_template("index.html").render(
        feed=feed, title=feed.display_title, weeks=weeks, written_at=now, csp=CSP, css=_css())


def render_feeds_index(session: Any, now: datetime) -> str:
    latest = session.execute(
        select(ReportRow.feed_id, func.max(ReportRow.week), func.count())
        .group_by(ReportRow.feed_id)
    ).all()
    feeds = []
    for feed_id, week, count in latest:
        row = session.get(FeedRow, feed_id)
        if row is None:
            continue
        feeds.append({"name": row.name, "title": row.title or row.name, "latest": week,
                      "weeks": int(count)})
    feeds.sort(key=lambda f: f["name"])
    return jinja_env().get_template("index_feeds.html").render(
        feeds=feeds, written_at=now, csp=CSP, css=_css())


# -- Atom -------------------------------------------------------------------------------------

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str | None) -> str:
    return _XML_BAD.sub("", text or "")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def entry_id(feed_name: str, pmid: str) -> str:
    return f"urn:litmon:{feed_name}:pmid:{pmid}"


def atom_summary(s: StudyView) -> str:
    parts = [s.verdict_text + (f" ({s.followup_text})" if s.longest_followup_weeks is not None else "")]
    if s.evidence:
        parts.append(f"Evidence: “{one_line(s.evidence)}”")
    profile = ", ".join(x for x in (s.design_label, f"n = {s.sample_size}" if s.sample_size else None) if x)
    if profile:
        parts.append(f"Design: {profile}")
    if s.domain_names:
        parts.append("Outcomes: " + ", ".join(s.domain_names))
    if s.retracted:
        parts.insert(0, "RETRACTED")
    elif s.notices:
        parts.append("Notices: " + "; ".join(s.notices))
    return ". ".join(p.rstrip(".") for p in parts) + "."


def atom_feed(session: Any, feed: Feed, feed_row: FeedRow, settings: Settings) -> str:
    """The feed's newest ``ATOM_LIMIT`` studies as Atom (RFC 4287). Same input, same bytes."""
    rows = session.execute(
        select(FeedArticle.pmid, FeedArticle.first_seen_at)
        .where(FeedArticle.feed_id == feed_row.id)  # type: ignore[arg-type]
        .order_by(FeedArticle.first_seen_at.desc(), FeedArticle.pmid.desc())  # type: ignore[attr-defined]
        .limit(ATOM_LIMIT)
    ).all()
    seen = {p: _aware(s) for p, s in rows}
    studies = load_studies(session, [p for p, _ in rows], feed.long_term_threshold_weeks)
    base = (settings.report_url or "").rstrip("/")
    ET.register_namespace("", ATOM_NS)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            node.text = _xml_text(text)
        return node

    root = ET.Element(f"{{{ATOM_NS}}}feed")
    el(root, "id", f"urn:litmon:{feed.name}")
    el(root, "title", f"{feed.display_title} — new studies", type="text")
    el(root, "subtitle", "New studies found by litmon, with the long-term follow-up verdict",
       type="text")
    updated = max((t for t in seen.values() if t), default=None) or _aware(feed_row.created_at) or utcnow()
    el(root, "updated", _stamp(updated))
    author = el(root, "author")
    el(author, "name", "litmon")
    el(root, "link", href=f"{base}/{feed.name}/feed.xml" if base else "feed.xml", rel="self",
       type="application/atom+xml")
    el(root, "link", href=f"{base}/{feed.name}/latest.html" if base else "latest.html",
       rel="alternate", type="text/html")
    el(root, "generator", "litmon")
    for s in studies:
        entry = el(root, "entry")
        el(entry, "id", entry_id(feed.name, s.pmid))
        el(entry, "title", s.title_text or f"PMID {s.pmid}", type="text")
        when = _stamp(seen.get(s.pmid) or updated)
        el(entry, "updated", when)
        el(entry, "published", when)
        el(entry, "link", href=PUBMED_URL.format(pmid=s.pmid), rel="alternate", type="text/html")
        if s.doi_url:
            el(entry, "link", href=s.doi_url, rel="related", type="text/html")
        if s.authors:
            el(el(entry, "author"), "name", s.authors)
        el(entry, "summary", atom_summary(s), type="text")
        el(entry, "category", term=f"long-term:{s.long_term or 'not-judged'}", label=s.verdict_text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
