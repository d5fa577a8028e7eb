"""``litmon import``: seed a feed with studies found by hand, from a PubMed export (MEDLINE
format: PubMed's "Save → PubMed format" .txt and the citation-manager .nbib; read with
Biopython's ``Bio.Medline``) or a RIS file (``rispy``).

Records are stored, classified and linked to the feed like a run's records, and announced in
the feed's next digest. A PMID already stored is not stored again (the stored record, fetched
from PubMed, is the better one) — it is only linked to the feed. A RIS entry without a PMID is
kept under ``ris-<hash>`` (source "import") unless a stored record has its DOI.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from monitor.feeds import Feed
from monitor.records import (
    AbstractSection,
    Article,
    Author,
    CommentCorrection,
    HistoryDate,
    MeshHeading,
    MeshQualifier,
    PubDate,
    PublicationType,
)
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow


class ImportError_(Exception):  # noqa: N801 - ImportError is a builtin
    """The file cannot be read as MEDLINE or RIS; the message names the file."""


@dataclass
class ImportSummary:
    path: str
    read: int = 0
    new: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)  # already stored: linked only
    linked: int = 0

    def text(self) -> str:
        return (f"{self.path}: {self.read} records read, {len(self.new)} stored, "
                f"{len(self.known)} already stored, {self.linked} added to the feed")


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
# MEDLINE comment/correction fields -> PubMed XML RefType
_CC_FIELDS = {"RIN": "RetractionIn", "ROF": "RetractionOf", "EIN": "ErratumIn", "EFR": "ErratumFor",
              "ECI": "ExpressionOfConcernIn", "ECF": "ExpressionOfConcernFor", "CIN": "CommentIn",
              "CON": "CommentOn", "UIN": "UpdateIn", "UOF": "UpdateOf", "CRI": "CorrectedandRepublishedIn",
              "RPI": "RepublishedIn"}
_PMID_IN = re.compile(r"PMID:\s*(\d+)")


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _pub_date(text: str | None) -> PubDate:
    if not text:
        return PubDate()
    parts = text.split()
    if parts and parts[0].isdigit() and len(parts[0]) == 4:
        month = _MONTHS.get(parts[1][:3].lower()) if len(parts) > 1 else None
        if len(parts) == 1 or (month and len(parts) == 2) or (month and len(parts) == 3 and parts[2].isdigit()):
            return PubDate(year=int(parts[0]), month=month,
                           day=int(parts[2]) if len(parts) == 3 else None)
    return PubDate(medline_date=text)


def _ymd(text: str | None) -> date | None:
    m = re.match(r"(\d{4})/?(\d{2})/?(\d{2})", text or "")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
    except ValueError:
        return None


def _mesh(term: str) -> MeshHeading:
    descriptor, *quals = term.split("/")
    return MeshHeading(
        descriptor=descriptor.lstrip("*"), major=descriptor.startswith("*"),
        qualifiers=tuple(MeshQualifier(q.lstrip("*"), major=q.startswith("*")) for q in quals))


def medline_article(rec: dict[str, Any]) -> Article:
    """One Bio.Medline record as an Article."""
    fau, au = _list(rec.get("FAU")), _list(rec.get("AU"))
    authors = []
    for i, short in enumerate(au):
        last, _, fore = (fau[i] if i < len(fau) else "").partition(", ")
        initials = short.rpartition(" ")[2] if " " in short else None
        authors.append(Author(last_name=last or short.rpartition(" ")[0] or short,
                              fore_name=fore or None, initials=initials))
    doi = next((x[:-6].strip() for x in _list(rec.get("LID")) + _list(rec.get("AID")) if x.endswith("[doi]")), None)
    history = []
    for key, status in (("EDAT", "entrez"), ("CRDT", "pubmed")):
        d = _ymd(_list(rec.get(key))[0] if rec.get(key) else None)
        if d:
            history.append(HistoryDate(status, d))
    comments = []
    for key, ref_type in _CC_FIELDS.items():
        for text in _list(rec.get(key)):
            m = _PMID_IN.search(text)
            comments.append(CommentCorrection(ref_type, _PMID_IN.sub("", text).strip(" ."), m.group(1) if m else None))
    abstract = (rec.get("AB") or "").strip()
    return Article(
        pmid=str(rec["PMID"]).strip(),
        title=html.escape((rec.get("TI") or "").strip(), quote=False),
        abstract=(AbstractSection(html.escape(abstract, quote=False)),) if abstract else (),
        authors=tuple(authors),
        journal=rec.get("JT"),
        journal_abbrev=rec.get("TA"),
        volume=rec.get("VI"),
        issue=rec.get("IP"),
        pages=rec.get("PG"),
        pub_date=_pub_date(rec.get("DP")),
        doi=doi,
        pmcid=rec.get("PMC"),
        publication_types=tuple(PublicationType(p) for p in _list(rec.get("PT"))),
        mesh=tuple(_mesh(t) for t in _list(rec.get("MH"))),
        keywords=tuple(html.escape(k, quote=False) for k in _list(rec.get("OT"))),
        languages=tuple(_list(rec.get("LA"))),
        history=tuple(history),
        comments_corrections=tuple(comments),
        status=rec.get("STAT"),
        date_revised=_ymd(rec.get("LR")),
    )


def _ris_pmid(entry: dict[str, Any]) -> str | None:
    for key in ("accession_number", "id"):
        value = str(entry.get(key) or "").strip()
        if value.isdigit():
            return value
    for text in _list(entry.get("notes")) + _list(entry.get("note")) + _list(entry.get("urls")):
        m = _PMID_IN.search(text) or re.search(r"pubmed(?:\.ncbi\.nlm\.nih\.gov/|/)(\d+)", text)
        if m:
            return m.group(1)
    return None


def ris_article(entry: dict[str, Any]) -> Article:
    """One rispy entry as an Article (key: its PMID, else ``ris-`` + a hash of DOI or title)."""
    title = (entry.get("title") or entry.get("primary_title") or "").strip()
    doi = (entry.get("doi") or "").strip() or None
    pmid = _ris_pmid(entry)
    if pmid is None:
        basis = (doi or title).lower().encode()
        pmid = "ris-" + hashlib.sha256(basis).hexdigest()[:16]
    authors = []
    for name in _list(entry.get("authors")) + _list(entry.get("first_authors")):
        last, _, fore = name.partition(",")
        fore = fore.strip()
        authors.append(Author(last_name=last.strip(), fore_name=fore or None,
                              initials="".join(w[0] for w in fore.replace("-", " ").split()) or None))
    year_text = str(entry.get("year") or entry.get("publication_year") or "")
    year = int(year_text[:4]) if year_text[:4].isdigit() else None
    pages = "-".join(p for p in (entry.get("start_page"), entry.get("end_page")) if p) or None
    abstract = (entry.get("abstract") or entry.get("notes_abstract") or "").strip()
    return Article(
        pmid=pmid,
        title=html.escape(title, quote=False),
        abstract=(AbstractSection(html.escape(abstract, quote=False)),) if abstract else (),
        authors=tuple(authors),
        journal=entry.get("journal_name") or entry.get("secondary_title") or entry.get("alternate_title3"),
        journal_abbrev=entry.get("alternate_title1") or entry.get("alternate_title2"),
        volume=entry.get("volume"),
        issue=entry.get("number"),
        pages=pages,
        pub_date=PubDate(year=year),
        doi=doi,
        keywords=tuple(html.escape(k, quote=False) for k in _list(entry.get("keywords"))),
        languages=tuple(_list(entry.get("language"))),
    )


def read_file(path: Path, fmt: str = "auto") -> list[Article]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ImportError_(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if fmt == "auto":
        head = text.lstrip()[:10]
        fmt = "medline" if head.startswith("PMID-") else "ris" if re.match(r"TY {2}- ", head) else ""
        if not fmt:
            raise ImportError_(f"{path}: neither a MEDLINE file (starts with 'PMID- ') nor RIS ('TY  - ')")
    try:
        if fmt == "medline":
            from Bio import Medline

            records = [r for r in Medline.parse(io.StringIO(text)) if r.get("PMID")]
            return [medline_article(r) for r in records]
        import rispy

        return [ris_article(e) for e in rispy.loads(text) if e.get("title") or e.get("primary_title")]
    except (ValueError, KeyError, TypeError) as exc:
        raise ImportError_(f"{path}: not a readable {fmt.upper()} file ({exc})") from None


def import_file(engine: Engine, feed: Feed, path: Path, *, fmt: str = "auto") -> ImportSummary:
    """Store, classify and link to ``feed`` the records of one export file."""
    from monitor.classify import classify_article
    from monitor.studies import link_records

    articles = list({a.pmid: a for a in read_file(path, fmt)}.values())
    summary = ImportSummary(str(path), read=len(articles))
    threshold = feed.long_term_threshold_weeks
    with session_scope(engine) as session:
        feed_row = repo.ensure_feed(session, feed.name, feed.display_title, feed.query)
        assert feed_row.id is not None
        stored = repo.stored_pmids(session, [a.pmid for a in articles])
        fresh: list[Article] = []
        targets: list[str] = []
        for a in articles:
            if a.pmid in stored:
                summary.known.append(a.pmid)
                targets.append(a.pmid)
                continue
            same_doi = None
            if a.doi and not a.pmid.isdigit():
                same_doi = session.execute(select(ArticleRow.pmid).where(
                    func.lower(ArticleRow.doi) == a.doi.lower()).limit(1)).scalar_one_or_none()
            if same_doi is not None:
                summary.known.append(same_doi)
                targets.append(same_doi)
            else:
                fresh.append(a)
                targets.append(a.pmid)
        upserted = repo.upsert_articles(session, fresh)
        summary.new.extend(upserted.new)
        not_pubmed = [a.pmid for a in fresh if not a.pmid.isdigit()]
        if not_pubmed:
            session.execute(update(ArticleRow).where(ArticleRow.pmid.in_(not_pubmed))  # type: ignore[attr-defined]
                            .values(source="import"))
        for a in fresh:
            repo.save_classification(session, a.pmid, classify_article(a, threshold_weeks=threshold))
        for pmid, article in repo.load_articles(session, [p for p in summary.known
                                                          if repo.classification_for(session, p, threshold) is None]).items():
            repo.save_classification(session, pmid, classify_article(article, threshold_weeks=threshold))
        summary.linked = repo.link_to_feed(session, feed_row.id, list(dict.fromkeys(targets)), None)
        link_records(session, [a.pmid for a in fresh])
    return summary
