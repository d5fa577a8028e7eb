"""What digests, reports and exports show of one study, and the safe way to show it.

One ``StudyView`` per study, built from the stored record and its classification, so an email
and a report say the same thing about the same study. Record text reaches HTML only through
``sanitize_inline`` (nh3 allow-list: i, b, sup, sub, u) and Jinja2 autoescaping, which is on for
every template whatever its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import nh3
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from monitor.records import INLINE_TAGS, Article

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
DOI_URL = "https://doi.org/{doi}"
PMC_URL = "https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"
TRIAL_URL = "https://clinicaltrials.gov/study/{nct_id}"
PREPRINT_URL = "https://europepmc.org/article/PPR/{ppr_id}"

SOURCE_LABELS = {
    "pubmed": "PubMed",
    "trial": "ClinicalTrials.gov",
    "preprint": "Preprint (Europe PMC)",
    "import": "Imported",
}


def record_url(source: str, record_id: str, doi: str | None = None) -> str:
    """Where a reader opens the record: PubMed, ClinicalTrials.gov, Europe PMC or the DOI."""
    if source == "trial":
        return TRIAL_URL.format(nct_id=record_id)
    if source == "preprint":
        return PREPRINT_URL.format(ppr_id=record_id)
    if source == "import" and not record_id.isdigit():
        return DOI_URL.format(doi=doi) if doi else ""
    return PUBMED_URL.format(pmid=record_id)

DESIGN_LABELS = {
    "randomised-trial": "randomised trial",
    "non-randomised-trial": "non-randomised trial",
    "cohort": "cohort study",
    "case-control": "case-control study",
    "cross-sectional": "cross-sectional study",
    "case-series": "case series / report",
    "systematic-review": "systematic review / meta-analysis",
    "narrative-review": "narrative review",
    "protocol": "study protocol",
    "lab-animal": "lab / animal study",
    "other": "other design",
}


def sanitize_inline(markup: str | None) -> Markup:
    """Keep only PubMed's inline tags, without attributes; escape or drop everything else."""
    if not markup:
        return Markup("")
    cleaned = nh3.clean(markup, tags=set(INLINE_TAGS), attributes={}, url_schemes=set(),
                        strip_comments=True)
    return Markup(cleaned)


# C0 and C1 controls, DEL, the Unicode line/paragraph separators and the bidirectional
# embedding/override/isolate marks (which can make a title read backwards in a mail client).
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def one_line(text: str | None) -> str:
    """Text safe for a single line (and for an email header after encoding): no line breaks,
    control characters or bidi overrides; runs of white space become one space."""
    if not text:
        return ""
    return " ".join(_NOT_ONE_LINE.sub(" ", text).split())


@lru_cache(maxsize=1)
def domain_labels() -> dict[str, str]:
    """Domain key -> display label, in the order of the classifier's vocabulary file."""
    from monitor.classify.domains import vocabulary

    return vocabulary().labels()


def domain_label(key: str) -> str:
    return domain_labels().get(key) or key.replace("-", " ").replace("_", " ")


def weeks_text(weeks: float | None) -> str:
    """'2 weeks', '6 months', '5 years' — the unit a reader would use."""
    if weeks is None:
        return "no time point found"
    if weeks >= 104:
        years = weeks / 52.18
        return f"{years:.0f} years" if abs(years - round(years)) < 0.05 else f"{years:.1f} years"
    if weeks >= 8:
        months = weeks / 4.345
        return f"{months:.0f} months" if abs(months - round(months)) < 0.05 else f"{months:.1f} months"
    if weeks < 1:
        days = weeks * 7
        return f"{days:.0f} day{'s' if round(days) != 1 else ''}"
    return f"{weeks:.0f} week{'s' if round(weeks) != 1 else ''}" if abs(weeks - round(weeks)) < 0.05 else f"{weeks:.1f} weeks"


@dataclass(frozen=True)
class HistoryEntry:
    """Another record of the same study, as a digest lists it under the study."""

    source: str
    record_id: str
    url: str
    title: str
    date_text: str
    announced: bool = False  # announced to this feed's readers in an earlier digest

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)

    @property
    def line(self) -> str:
        text = f"{self.source_label} {self.record_id}"
        if self.date_text:
            text += f" ({self.date_text})"
        if self.announced:
            text += ", announced earlier"
        return text


@dataclass(frozen=True)
class StudyView:
    pmid: str
    title_html: Markup
    title_text: str
    authors: str  # "Miller E, Kostka J, Dugué B" / "Miller E, Kostka J, et al."
    journal: str
    date_text: str
    year: int | None
    pubmed_url: str
    doi_url: str | None
    pmc_url: str | None
    doi: str | None
    pmcid: str | None
    long_term: str | None  # yes | no | unclear | None (not judged)
    longest_followup_weeks: float | None
    followup_text: str
    evidence: str | None
    reason: str | None
    design: str | None
    design_label: str | None
    sample_size: int | None
    domains: tuple[str, ...]
    domain_names: tuple[str, ...]
    relevance: str | None
    relevance_note: str | None
    registry_ids: tuple[str, ...]
    retracted: bool
    notices: tuple[str, ...]  # e.g. ("ErratumIn: Mult Scler. 2020;26(3):400",)
    deleted: bool
    abstract_sections: tuple[tuple[str | None, Markup], ...] = field(default=())
    first_seen: date | None = None
    entrez_date: date | None = None
    # One study, many records (monitor.studies): where this record came from, the study's
    # other records (registration, preprint, publication) and, when a record of the same
    # study was announced before, what is new about this one.
    source: str = "pubmed"
    study_id: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    update_note: str | None = None
    # A re-check found a retraction, notice or deletion after the study was announced.
    newly_flagged: bool = False

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)

    @property
    def is_update(self) -> bool:
        return self.update_note is not None

    @property
    def is_long_term(self) -> bool:
        return self.long_term == "yes"

    @property
    def is_other_treatment(self) -> bool:
        return self.relevance == "other-cold-treatment"

    @property
    def relevance_text(self) -> str | None:
        """The warning a reader needs when the record is not about whole-body cryotherapy."""
        if self.relevance == "other-cold-treatment":
            # The classifier's note names the treatment: "cooling garment/vest, not whole-body
            # cryotherapy".
            note = self.relevance_note or "not whole-body cryotherapy"
            return f"Other cold treatment: {note}"
        if self.relevance == "not-about-cold":
            return "Mentions no cold treatment; it matched the search words only"
        return None

    @property
    def verdict_text(self) -> str:
        return {
            "yes": "Long-term follow-up",
            "no": "No long-term follow-up",
            "unclear": "Follow-up unclear",
        }.get(self.long_term or "", "Not yet judged")


def authors_short(article: Article, limit: int = 3) -> str:
    names = [a.short for a in article.authors if a.short]
    if not names:
        return ""
    if len(names) > limit:
        return ", ".join(names[:limit]) + ", et al."
    return ", ".join(names)


def study_view(article: Article, classification: Any | None, *, deleted: bool = False,
               first_seen: date | None = None, source: str = "pubmed") -> StudyView:
    c = classification
    details: dict[str, Any] = (getattr(c, "details", None) or {}) if c is not None else {}
    domains = tuple(getattr(c, "outcome_domains", None) or ()) if c is not None else ()
    notices = tuple(
        f"{n.ref_type}: {n.ref_source}".strip(": ") for n in article.corrections
    )
    design = getattr(c, "design", None) if c is not None else None
    followup = getattr(c, "longest_followup_weeks", None) if c is not None else None
    return StudyView(
        pmid=article.pmid,
        title_html=sanitize_inline(article.title),
        title_text=one_line(article.title_text),
        authors=authors_short(article),
        journal=article.journal_abbrev or article.journal or "",
        date_text=article.pub_date.text or (article.electronic_date.isoformat() if article.electronic_date else ""),
        year=article.year,
        pubmed_url=record_url(source, article.pmid, article.doi),
        doi_url=DOI_URL.format(doi=article.doi) if article.doi else None,
        pmc_url=PMC_URL.format(pmcid=article.pmcid) if article.pmcid else None,
        doi=article.doi,
        pmcid=article.pmcid,
        long_term=getattr(c, "long_term", None) if c is not None else None,
        longest_followup_weeks=followup,
        followup_text=weeks_text(followup) if c is not None else "",
        evidence=getattr(c, "evidence", None) if c is not None else None,
        reason=getattr(c, "reason", None) if c is not None else None,
        design=design,
        design_label=DESIGN_LABELS.get(design or "", design),
        sample_size=getattr(c, "sample_size", None) if c is not None else None,
        domains=domains,
        domain_names=tuple(domain_label(d) for d in domains),
        relevance=getattr(c, "relevance", None) if c is not None else None,
        relevance_note=details.get("relevance_note"),
        registry_ids=tuple(getattr(c, "registry_ids", None) or ()) if c is not None else (),
        retracted=article.is_retracted,
        notices=notices,
        deleted=deleted,
        abstract_sections=tuple((s.label, sanitize_inline(s.text)) for s in article.abstract),
        first_seen=first_seen,
        entrez_date=article.entrez_date,
        source=source,
    )


def order_for_reading(studies: Iterable[StudyView]) -> list[StudyView]:
    """Long-term follow-up first (longest first), then unclear, then the rest; newest first within."""
    rank = {"yes": 0, "unclear": 1, "no": 2}
    return sorted(
        studies,
        key=lambda s: (rank.get(s.long_term or "", 3), -(s.longest_followup_weeks or 0),
                       -(int(s.pmid) if s.pmid.isdigit() else 0)),
    )


def highlight(text: str, needle: str | None) -> Markup:
    """``text`` (safe inline HTML) with the first occurrence of ``needle`` (plain) in <mark>."""
    safe = sanitize_inline(text)
    if not needle:
        return safe
    target = str(escape(needle))
    at = str(safe).find(target)
    if at < 0:
        return safe
    s = str(safe)
    return Markup(s[:at] + "<mark>" + s[at:at + len(target)] + "</mark>" + s[at + len(target):])


@lru_cache(maxsize=1)
def jinja_env() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor", "templates"),
        # Explicitly on for every template: select_autoescape looks at the last suffix only.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["weeks"] = weeks_text
    env.filters["inline"] = sanitize_inline
    env.filters["one_line"] = one_line
    return env


def load_studies(session: Any, pmids: Sequence[str], threshold_weeks: float) -> list[StudyView]:
    """StudyViews for these PMIDs (order kept), with their classification at the threshold."""
    from sqlalchemy import and_, select

    from monitor.store.models import ArticleRow, Classification
    from monitor.store.repo import chunks

    rows: dict[str, StudyView] = {}
    for part in chunks(list(pmids)):
        q = select(ArticleRow, Classification).outerjoin(
            Classification, and_(Classification.pmid == ArticleRow.pmid,
                                 Classification.threshold_weeks == float(threshold_weeks))
        ).where(ArticleRow.pmid.in_(part))  # type: ignore[attr-defined]
        for art, cls in session.execute(q).all():
            rows[art.pmid] = study_view(Article.from_json(art.record), cls, deleted=art.deleted,
                                        source=art.source or "pubmed")
    return [rows[p] for p in pmids if p in rows]
