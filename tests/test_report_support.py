"""Shared set-up for the report, export and browser tests (no tests here).

``classifier`` uses the real classifier when ``monitor.classify.classify_article`` exists and a
small deterministic stand-in otherwise, so these tests do not wait for the classifier to land
and still see every verdict, band and domain the report has to draw.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, update

from monitor.records import Article
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, FeedArticle

HOSTILE_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)>"

_SPAN = re.compile(r"\b(\d{1,3})[- ](day|week|month|year)s?\b", re.I)
_TO_WEEKS = {"day": 1 / 7, "week": 1.0, "month": 4.345, "year": 52.18}
_DOMAINS = {
    "fatigue": ("fatigue",), "pain": ("pain",), "mood": ("depress", "anxiety", "mood"),
    "mobility": ("walk", "gait", "mobility"), "quality_of_life": ("quality of life",),
    "spasticity": ("spastic",), "sleep": ("sleep",), "cognition": ("cognit", "memory"),
    "disability": ("disabilit", "edss"), "inflammation_oxidative_stress": ("inflamm", "oxidative", "cytokine"),
    "adverse_events": ("adverse", "side effect", "safety"),
}


@dataclass
class StandinResult:
    threshold_weeks: float
    long_term: str
    longest_followup_weeks: float | None
    evidence: str | None
    reason: str | None
    design: str | None
    sample_size: int | None
    relevance: str | None
    outcome_domains: tuple[str, ...] = ()
    registry_ids: tuple[str, ...] = ()
    version: str = "standin-1"
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def standin_classify(article: Article, threshold_weeks: float = 26.0) -> StandinResult:
    text = article.abstract_text
    best: tuple[float, str] | None = None
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for m in _SPAN.finditer(sentence):
            weeks = int(m.group(1)) * _TO_WEEKS[m.group(2).lower()]
            if best is None or weeks > best[0]:
                best = (weeks, sentence.split(": ", 1)[-1].strip())
    low = (article.title_text + " " + text).lower()
    domains = tuple(k for k, words in _DOMAINS.items() if any(w in low for w in words))
    n = re.search(r"\b(\d{2,5}) (?:patients|participants|subjects)\b", text)
    registry = tuple(sorted(set(re.findall(r"\bNCT\d{8}\b", text))))
    if best is None:
        verdict = "unclear" if text else "no"
    else:
        verdict = "yes" if best[0] >= threshold_weeks else "no"
    return StandinResult(
        threshold_weeks=threshold_weeks, long_term=verdict,
        longest_followup_weeks=best[0] if best else None,
        evidence=best[1] if best else None, reason="stand-in classifier",
        design="randomised-trial" if "randomi" in low else ("systematic-review" if "review" in low else None),
        sample_size=int(n.group(1)) if n else None,
        relevance="other-cold-treatment" if "cold" in low and "cryo" not in low else "relevant",
        outcome_domains=domains, registry_ids=registry,
    )


def _real_classifier() -> Any | None:
    try:
        from monitor.classify import classify_article  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return None
    return classify_article


@pytest.fixture
def classifier(monkeypatch: pytest.MonkeyPatch) -> str:
    """Make `litmon run` classify with the real classifier, or the stand-in until it exists."""
    if _real_classifier() is not None:
        return "real"
    import monitor.runs

    monkeypatch.setattr(monitor.runs, "_default_classifier",
                        lambda: lambda article, threshold: standin_classify(article, threshold))
    return "standin"


def set_title(engine: Any, pmid: str, title: str) -> None:
    """Replace a stored record's title as if the record had said so."""
    with session_scope(engine) as session:
        row = session.get(ArticleRow, pmid)
        record = dict(row.record)
        record["title"] = title
        session.execute(update(ArticleRow).where(ArticleRow.pmid == pmid)
                        .values(record=record, title=title))


def week_pmids(engine: Any) -> list[str]:
    with session_scope(engine) as session:
        return sorted(session.execute(select(FeedArticle.pmid)).scalars())
