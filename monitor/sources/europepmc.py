"""Europe PMC preprints (REST ``search``, ``SRC:PPR``), read into ``Article`` records.

Facts relied on (/work/shared/docs/eutils.md §8): ``GET search?query=...&format=json&
resultType=core&pageSize=N&cursorMark=*``; each page carries ``nextCursorMark`` until the
results are finished, when it is absent (a page with no results, or a cursor equal to the one
sent, also ends the loop). ``resultType=core`` gives ``abstractText``, ``authorList``,
``keywordList`` and ``commentCorrectionList``.

A preprint is stored as an article row keyed by its Europe PMC id (``PPR...``, source
"preprint"), so it is classified, linked to feeds, digested and reported like a PubMed record.
Europe PMC links a preprint to its published version through ``commentCorrectionList``
entries with a MED id; those become ``CommentCorrection`` entries (``ref_type`` as given) and
``monitor.studies`` links the two records.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from monitor.records import (
    AbstractSection,
    Article,
    Author,
    CommentCorrection,
    HistoryDate,
    PubDate,
)
from monitor.sources.http import JsonClient, SourceError

DEFAULT_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
PAGE_SIZE = 100
MAX_PAGES = 500

_TAGS = re.compile(r"<(/?)(i|b|sup|sub|u)>", re.I)
_ANY_TAG = re.compile(r"<[^>]{0,200}>")


def safe_inline(text: str | None) -> str:
    """Europe PMC text (may carry <i>, <sup>, <h4>, <p> ...) as a safe inline fragment."""
    if not text:
        return ""
    marked = _TAGS.sub(lambda m: f"\x00{m.group(1)}{m.group(2).lower()}\x01", text)
    plain = html.unescape(_ANY_TAG.sub(" ", marked))
    escaped = html.escape(" ".join(plain.split()), quote=False)
    return escaped.replace("\x00", "<").replace("\x01", ">")


def _iso(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def parse_result(r: dict[str, Any]) -> Article:
    """One Europe PMC search result (lite or core) as an Article keyed by its Europe PMC id."""
    ident = str(r.get("id") or "")
    if not ident:
        raise ValueError("Europe PMC result without an id")
    authors: list[Author] = []
    for a in ((r.get("authorList") or {}).get("author")) or ():
        if a.get("collectiveName"):
            authors.append(Author(collective_name=a["collectiveName"]))
        else:
            authors.append(Author(last_name=a.get("lastName"), fore_name=a.get("firstName"),
                                  initials=a.get("initials")))
    if not authors and r.get("authorString"):
        for name in str(r["authorString"]).rstrip(".").split(", ")[:50]:
            last, _, initials = name.rpartition(" ")
            authors.append(Author(last_name=last or name, initials=initials if last else None))
    comments = tuple(
        CommentCorrection(ref_type=str(c.get("type") or ""), ref_source=str(c.get("reference") or ""),
                          pmid=str(c["id"]) if c.get("source") == "MED" and c.get("id") else None)
        for c in ((r.get("commentCorrectionList") or {}).get("commentCorrection")) or ()
    )
    published = _iso(r.get("firstPublicationDate"))
    indexed = _iso(r.get("firstIndexDate")) or published
    server = ((r.get("bookOrReportDetails") or {}).get("publisher")) or "Preprint"
    keywords = tuple(safe_inline(k) for k in ((r.get("keywordList") or {}).get("keyword")) or ())
    abstract = safe_inline(r.get("abstractText"))
    year = published.year if published else (int(r["pubYear"]) if str(r.get("pubYear", "")).isdigit() else None)
    return Article(
        pmid=ident,
        kind="preprint",
        title=safe_inline(r.get("title")),
        abstract=(AbstractSection(abstract),) if abstract else (),
        authors=tuple(authors),
        journal=server,
        journal_abbrev=f"{server} (preprint)",
        pub_date=PubDate(year=year, month=published.month if published else None,
                         day=published.day if published else None),
        doi=r.get("doi"),
        pmcid=r.get("pmcid"),
        keywords=keywords,
        history=(HistoryDate("entrez", indexed),) if indexed else (),
        comments_corrections=comments,
        status="preprint",
    )


class EuropePmcClient(JsonClient):
    name = "Europe PMC"

    def __init__(self, base_url: str = DEFAULT_URL, **kwargs: Any) -> None:
        kwargs.setdefault("rate", 5.0)
        super().__init__(base_url, **kwargs)

    def search(self, query: str, *, since: date | None = None, until: date | None = None,
               preprints_only: bool = True, page_size: int = PAGE_SIZE,
               result_type: str = "core") -> Iterator[list[dict[str, Any]]]:
        """The raw results of every page, following nextCursorMark to the end."""
        q = f"({query})"
        if preprints_only:
            q += " AND SRC:PPR"
        if since is not None:
            q += f" AND FIRST_IDATE:[{since:%Y-%m-%d} TO {(until or date(2999, 12, 31)):%Y-%m-%d}]"
        params = {"query": q, "format": "json", "resultType": result_type,
                  "pageSize": str(page_size), "cursorMark": "*"}
        for _ in range(MAX_PAGES):
            page = self.get_json("search", params)
            results = ((page.get("resultList") or {}).get("result")) if isinstance(page, dict) else None
            if not isinstance(results, list):
                raise SourceError(f"Europe PMC answered something that is not a search page: {str(page)[:200]!r}")
            yield results
            nxt = page.get("nextCursorMark")
            if not nxt or not results or nxt == params["cursorMark"]:
                return
            params["cursorMark"] = nxt
        raise SourceError(f"Europe PMC: more than {MAX_PAGES} pages; narrow the preprints query")

    def preprints(self, query: str, **kwargs: Any) -> Iterator[list[Article]]:
        for results in self.search(query, **kwargs):
            yield [parse_result(r) for r in results if r.get("id")]
