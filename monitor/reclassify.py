"""Judge stored articles again after the classifier changed, and count what changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from monitor.feeds import Feed
from monitor.progress import NoProgress, Progress
from monitor.store import repo
from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Classification, FeedArticle, FeedRow


@dataclass
class ReclassifySummary:
    examined: int = 0
    recomputed: int = 0
    verdict_changed: int = 0
    followup_changed: int = 0
    version: str = ""

    def text(self) -> str:
        return (f"reclassified {self.recomputed} of {self.examined} stored judgements with classifier "
                f"{self.version}: {self.verdict_changed} long-term verdicts changed, "
                f"{self.followup_changed} follow-up figures changed")


def reclassify(engine: Engine, feeds: Sequence[Feed], *, only_feed: bool = False,
               everything: bool = False, stream: TextIO | None = None,
               batch: int = 500) -> ReclassifySummary:
    from monitor.classify import CLASSIFIER_VERSION, classify_article
    from monitor.sources.trials import judge_trial

    summary = ReclassifySummary(version=CLASSIFIER_VERSION)
    thresholds = {f.long_term_threshold_weeks for f in feeds} or {26.0}
    for threshold in sorted(thresholds):
        with session_scope(engine) as session:
            q = select(ArticleRow.pmid, Classification.version, Classification.long_term,
                       Classification.longest_followup_weeks).outerjoin(
                Classification, and_(Classification.pmid == ArticleRow.pmid,
                                     Classification.threshold_weeks == threshold))
            if only_feed:
                names = [f.name for f in feeds if f.long_term_threshold_weeks == threshold]
                q = q.join(FeedArticle, FeedArticle.pmid == ArticleRow.pmid).join(
                    FeedRow, FeedRow.id == FeedArticle.feed_id).where(FeedRow.name.in_(names))
            rows = session.execute(q.order_by(ArticleRow.pmid)).all()
        summary.examined += len(rows)
        todo = [r for r in rows if everything or r.version != CLASSIFIER_VERSION]
        bar = Progress(f"reclassify (≥{threshold:g} weeks)", len(todo), stream=stream) if todo and stream else NoProgress()
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            with session_scope(engine) as session:
                articles = repo.load_articles(session, [r.pmid for r in part])
                trials = _trials(session, [r.pmid for r in part])
                for row in part:
                    article = articles.get(row.pmid)
                    if article is None:
                        continue
                    if row.pmid in trials:  # a registration is judged by its outcome time frames
                        result = judge_trial(trials[row.pmid], threshold)
                    else:
                        result = classify_article(article, threshold_weeks=threshold)
                    repo.save_classification(session, row.pmid, result)
                    summary.recomputed += 1
                    if row.long_term is not None and row.long_term != result.long_term:
                        summary.verdict_changed += 1
                    if row.version is not None and row.longest_followup_weeks != result.longest_followup_weeks:
                        summary.followup_changed += 1
            bar.advance(len(part))
    return summary


def _trials(session: Any, ids: Sequence[str]) -> dict[str, Any]:
    from monitor.sources.trials import parse_study
    from monitor.store.models import TrialRow

    found = session.execute(select(TrialRow.nct_id, TrialRow.record).where(TrialRow.nct_id.in_(ids)))
    return {nct: parse_study(record) for nct, record in found}
