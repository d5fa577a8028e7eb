"""Exports of a feed's studies: CSV (spreadsheets), RIS and BibTeX (reference managers), JSONL.

Every format is written from the same ``StudyView`` plus the stored ``Article`` (for what a
citation needs and a view leaves out: every author, volume, issue, pages, keywords), so an
export says what the report says. Studies come in the order they were first seen, read in
chunks so a large feed never sits in memory as ORM objects.

RIS follows the RIS spec as Zotero and EndNote read it (``TY  - JOUR`` ... ``ER  - ``, one
``AU`` per author, ``SP``/``EP`` from MEDLINE's abbreviated page ranges); BibTeX escapes the
characters TeX treats specially, so any title survives a round trip, and gives each entry a
unique key like ``miller2016whole``.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from monitor.feeds import Feed
from monitor.records import Article, plain
from monitor.render import StudyView, one_line, study_view
from monitor.report import domain_order
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Classification, FeedArticle

FORMATS = ("csv", "ris", "bibtex", "jsonl")
CHUNK = 500


class ExportError(ValueError):
    pass


def feed_records(engine: Engine, feed: Feed) -> Iterator[tuple[Article, StudyView, Any]]:
    """(article, view, first_seen) for every study of the feed, oldest first."""
    threshold = float(feed.long_term_threshold_weeks)
    with session_scope(engine) as session:
        feed_row = repo.feed_by_name(session, feed.name)
        if feed_row is None:
            return
        order = session.execute(
            select(FeedArticle.pmid, FeedArticle.first_seen_at)
            .where(FeedArticle.feed_id == feed_row.id)  # type: ignore[arg-type]
            .order_by(FeedArticle.first_seen_at, FeedArticle.pmid)
        ).all()
        for i in range(0, len(order), CHUNK):
            part = order[i : i + CHUNK]
            seen = dict(part)
            rows = session.execute(
                select(ArticleRow, Classification)
                .outerjoin(Classification, and_(Classification.pmid == ArticleRow.pmid,
                                                Classification.threshold_weeks == threshold))
                .where(ArticleRow.pmid.in_(list(seen)))  # type: ignore[attr-defined]
            ).all()
            by_pmid = {art.pmid: (art, cls) for art, cls in rows}
            for pmid, first_seen in part:
                if pmid not in by_pmid:
                    continue
                art, cls = by_pmid[pmid]
                article = Article.from_json(art.record)
                yield article, study_view(article, cls, deleted=art.deleted), first_seen


def export_feed(engine: Engine, feed: Feed, fmt: str, out: TextIO) -> int:
    """Write every study of ``feed`` to ``out`` in ``fmt``; returns how many."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    records = feed_records(engine, feed)
    if fmt == "csv":
        return write_csv(records, out)
    if fmt == "ris":
        return write_ris(records, out)
    if fmt == "bibtex":
        return write_bibtex(records, out)
    return write_jsonl(records, out)


# -- shared pieces ----------------------------------------------------------------------------

def page_range(pages: str | None) -> tuple[str | None, str | None]:
    """MEDLINE pages to (start, end): '123-30' -> ('123', '130'); 'e1234' -> ('e1234', None)."""
    if not pages:
        return None, None
    first = pages.split(",")[0].strip()
    m = re.match(r"^([A-Za-z]*)(\d+)\s*[-–]\s*([A-Za-z]*)(\d+)$", first)
    if not m:
        return (first or None), None
    prefix, start, prefix2, end = m.groups()
    if len(end) < len(start):  # MEDLINE drops the leading digits the end shares with the start
        end = start[: len(start) - len(end)] + end
    return prefix + start, (prefix2 or prefix) + end


def full_author(a: Any) -> str:
    """'Miller, Elżbieta' (or the group's name), the form reference managers parse best."""
    if a.collective_name:
        return one_line(a.collective_name)
    last = one_line(a.last_name)
    first = one_line(a.fore_name or a.initials)
    suffix = one_line(a.suffix)
    name = f"{last}, {first}" if first else last
    return f"{name}, {suffix}" if suffix else name


def abstract_plain(article: Article) -> str:
    return " ".join(one_line(line) for line in article.abstract_text.splitlines() if line.strip())


def keywords_of(article: Article) -> list[str]:
    words = [one_line(plain(k)) for k in article.keywords]
    words += [one_line(m.descriptor) for m in article.mesh]
    return [w for w in dict.fromkeys(words) if w]


def verdict_note(s: StudyView) -> str:
    parts = [f"litmon: {s.verdict_text}"]
    if s.longest_followup_weeks is not None:
        parts.append(f"longest follow-up {s.followup_text}")
    if s.evidence:
        parts.append(f"evidence: {one_line(s.evidence)}")
    if s.retracted:
        parts.insert(0, "RETRACTED")
    return "; ".join(parts)


# -- CSV --------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "pmid", "title", "authors", "journal", "year", "volume", "issue", "pages", "doi", "pmcid",
    "pubmed_url", "first_seen", "long_term", "longest_followup_weeks", "followup", "evidence",
    "design", "sample_size", "relevance", "domains", "registry_ids", "retracted", "notices",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str):
        value = one_line(value)
        if value.startswith(_FORMULA):
            return "'" + value
    return value


def write_csv(records: Iterator[tuple[Article, StudyView, Any]], out: TextIO) -> int:
    rows = list(records)
    # One column per outcome domain, in the report's order, so a spreadsheet can filter on it.
    domains = domain_order(s for _, s, _ in rows)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(CSV_COLUMNS) + [f"domain_{d}" for d in domains])
    for article, s, first_seen in rows:
        values = [
            s.pmid, s.title_text, "; ".join(full_author(a) for a in article.authors),
            article.journal or s.journal, s.year, article.volume, article.issue, article.pages,
            s.doi, s.pmcid, s.pubmed_url, first_seen.date().isoformat() if first_seen else None,
            s.long_term, None if s.longest_followup_weeks is None else round(s.longest_followup_weeks, 2),
            s.followup_text, s.evidence, s.design, s.sample_size, s.relevance,
            "; ".join(s.domains), "; ".join(s.registry_ids), "yes" if s.retracted else "no",
            "; ".join(s.notices),
        ]
        values += ["yes" if d in s.domains else "" for d in domains]
        writer.writerow(["" if v is None else _cell(v) for v in values])
    return len(rows)


# -- RIS --------------------------------------------------------------------------------------

def _ris_line(tag: str, value: Any) -> str:
    text = one_line(str(value)) if value is not None else ""
    return f"{tag}  - {text}\r\n" if text else ""


def ris_entry(article: Article, s: StudyView) -> str:
    start, end = page_range(article.pages)
    lines = [_ris_line("TY", "JOUR")]
    lines += [_ris_line("AU", full_author(a)) for a in article.authors]
    lines += [
        _ris_line("TI", s.title_text),
        _ris_line("T2", article.journal or s.journal),
        _ris_line("JO", article.journal_abbrev or article.journal),
        _ris_line("PY", s.year),
        _ris_line("DA", _ris_date(article) if article.pub_date.year else None),
        _ris_line("VL", article.volume),
        _ris_line("IS", article.issue),
        _ris_line("SP", start),
        _ris_line("EP", end),
        _ris_line("SN", article.issn),
        _ris_line("DO", s.doi),
        _ris_line("AN", s.pmid),
        _ris_line("AB", abstract_plain(article)),
    ]
    lines += [_ris_line("KW", k) for k in keywords_of(article)]
    lines += [_ris_line("UR", s.pubmed_url), _ris_line("DB", "PubMed"), _ris_line("N1", verdict_note(s))]
    lines.append("ER  - \r\n")
    return "".join(lines)


def _ris_date(article: Article) -> str:
    d = article.pub_date
    return "/".join([str(d.year or ""), f"{d.month:02d}" if d.month else "",
                     f"{d.day:02d}" if d.day and d.month else "", ""])


def write_ris(records: Iterator[tuple[Article, StudyView, Any]], out: TextIO) -> int:
    count = 0
    for article, s, _ in records:
        out.write(ris_entry(article, s))
        out.write("\r\n")
        count += 1
    return count


# -- BibTeX -----------------------------------------------------------------------------------

_TEX = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%",
    "#": r"\#", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
}
_TEX_RE = re.compile(r"[\\{}$&%#_^~]")
_STOP = frozenset(
    "a an the of in on for and or to with by at from is are was were does do effect effects "
    "study analysis".split()
)


def tex_escape(text: str | None) -> str:
    """Text as a BibTeX value: TeX's special characters escaped, braces always balanced.

    BibTeX counts ``\\{`` and ``\\}`` when it matches braces, so an unmatched brace in a title
    would swallow the rest of the entry; those become ``\\textbraceleft{}`` and the like.
    """
    text = one_line(text)
    table = _TEX if _braces_match(text) else {
        **_TEX, "{": r"\textbraceleft{}", "}": r"\textbraceright{}"}
    return _TEX_RE.sub(lambda m: table[m.group(0)], text)


def _braces_match(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _ascii_word(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


def bibtex_key(article: Article, s: StudyView, used: set[str]) -> str:
    first = article.authors[0] if article.authors else None
    name = _ascii_word((first.last_name or first.collective_name or "") if first else "") or "anon"
    words = [_ascii_word(w) for w in re.split(r"[\s\-/:]+", s.title_text)]
    word = next((w for w in words if w and w not in _STOP and not w.isdigit()), "")
    base = f"{name[:20]}{s.year or ''}{word[:20]}" or f"pmid{s.pmid}"
    key, n = base, 0
    while key in used:
        n += 1
        key = base + _suffix(n)
    used.add(key)
    return key


def _suffix(n: int) -> str:
    letters = ""
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(ord("a") + r) + letters
    return letters


def bibtex_entry(article: Article, s: StudyView, key: str) -> str:
    start, end = page_range(article.pages)
    pages = f"{start}--{end}" if start and end else start
    fields: list[tuple[str, str | None]] = [
        ("author", " and ".join(tex_escape(full_author(a)) if not a.collective_name
                                else "{" + tex_escape(a.collective_name) + "}" for a in article.authors) or None),
        ("title", "{" + tex_escape(s.title_text) + "}" if s.title_text else None),
        ("journal", tex_escape(article.journal or s.journal) or None),
        ("year", str(s.year) if s.year else None),
        ("volume", tex_escape(article.volume) or None),
        ("number", tex_escape(article.issue) or None),
        ("pages", tex_escape(pages) or None),
        ("issn", tex_escape(article.issn) or None),
        ("doi", tex_escape(s.doi) or None),
        ("pmid", s.pmid),
        ("url", s.pubmed_url),
        ("abstract", tex_escape(abstract_plain(article)) or None),
        ("keywords", tex_escape(", ".join(keywords_of(article))) or None),
        ("note", tex_escape(verdict_note(s))),
    ]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@article{{{key},\n{body}\n}}\n"


def write_bibtex(records: Iterator[tuple[Article, StudyView, Any]], out: TextIO) -> int:
    used: set[str] = set()
    count = 0
    for article, s, _ in records:
        out.write(bibtex_entry(article, s, bibtex_key(article, s, used)))
        out.write("\n")
        count += 1
    return count


# -- JSON lines -------------------------------------------------------------------------------

def write_jsonl(records: Iterator[tuple[Article, StudyView, Any]], out: TextIO) -> int:
    count = 0
    for article, s, first_seen in records:
        start, end = page_range(article.pages)
        out.write(json.dumps({
            "pmid": s.pmid, "title": s.title_text,
            "authors": [full_author(a) for a in article.authors],
            "journal": article.journal, "journal_abbrev": article.journal_abbrev, "year": s.year,
            "volume": article.volume, "issue": article.issue, "pages": article.pages,
            "doi": s.doi, "pmcid": s.pmcid, "pubmed_url": s.pubmed_url,
            "first_seen": first_seen.isoformat() if first_seen else None,
            "long_term": s.long_term, "longest_followup_weeks": s.longest_followup_weeks,
            "evidence": s.evidence, "reason": s.reason, "design": s.design,
            "sample_size": s.sample_size, "relevance": s.relevance, "domains": list(s.domains),
            "registry_ids": list(s.registry_ids), "retracted": s.retracted,
            "notices": list(s.notices), "deleted": s.deleted,
            "page_start": start, "page_end": end,
        }, ensure_ascii=False) + "\n")
        count += 1
    return count
