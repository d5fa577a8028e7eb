"""One study, many records: link a trial registration, a preprint and the PubMed publication(s)
of the same study, and show them in a digest as one item with its history.

Every record lives in the ``article`` table (PubMed records by PMID, preprints by Europe PMC id
``PPR...``, trials by NCT id; ``article.source`` says which). Records that are the same study
share a ``study_link.study_id``; a record with no row is a study of its own. Two records are
linked when they share a DOI or PMCID, when one names the other's registry id (the classifier's
``registry_ids``), when a trial lists a PMID among its references, when Europe PMC says a
preprint was published as a PMID, or — for a preprint and a publication only — when their
titles are the same (preprints keep their DOI from the preprint server, so the journal version
has another DOI; a long identical title is the signal left).

Digests group by study: records of one study that arrive together are one item; a record whose
study was announced to the feed before is shown as an *update* ("now published", "results of
registered trial ..."), never as a new study.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select, update

from monitor.records import Article
from monitor.render import HistoryEntry, StudyView, load_studies, record_url
from monitor.store import repo
from monitor.store.models import (
    ArticleRow,
    Classification,
    FeedArticle,
    StudyLink,
    TrialRow,
    utcnow,
)

# Shown first when a study has several records in one digest.
_SOURCE_RANK = {"pubmed": 0, "import": 1, "preprint": 2, "trial": 3}
_MIN_TITLE = 40  # shorter titles are too often shared by different studies


def normal_title(title: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", title.lower()).split())


# -- linking ----------------------------------------------------------------------------------

def study_ids(session: Any, record_ids: Sequence[str]) -> dict[str, str]:
    """record id -> study id (a record without a link is its own study)."""
    out = {r: r for r in record_ids}
    for part in repo.chunks(list(record_ids)):
        for rec, study in session.execute(
            select(StudyLink.record_id, StudyLink.study_id).where(StudyLink.record_id.in_(part))  # type: ignore[attr-defined]
        ):
            out[rec] = study
    return out


def members(session: Any, studies: Iterable[str]) -> dict[str, list[str]]:
    """study id -> its record ids (the study id itself included when it is a record)."""
    wanted = sorted(set(studies))
    out: dict[str, list[str]] = {s: [s] for s in wanted}
    for part in repo.chunks(wanted):
        for rec, study in session.execute(
            select(StudyLink.record_id, StudyLink.study_id).where(StudyLink.study_id.in_(part))  # type: ignore[attr-defined]
        ):
            if rec not in out[study]:
                out[study].append(rec)
    return out


def link_records(session: Any, record_ids: Sequence[str]) -> int:
    """Link each of these stored records to the stored records of the same study.

    Returns how many links were made. Safe to repeat.
    """
    made = 0
    index = _Index(session)
    for rec_id in record_ids:
        row = session.get(ArticleRow, rec_id)
        if row is None:
            continue
        for other, reason in _candidates(session, row, index).items():
            if other != rec_id and _union(session, rec_id, other, reason):
                made += 1
    return made


def _union(session: Any, a: str, b: str, reason: str) -> bool:
    ids = study_ids(session, [a, b])
    sa, sb = ids[a], ids[b]
    if sa == sb:
        return False
    # A study id is always one of its records' ids, so every id here can have a row.
    target, other = sorted((sa, sb))
    session.execute(update(StudyLink).where(StudyLink.study_id == other)  # type: ignore[arg-type]
                    .values(study_id=target))
    now = utcnow()
    named = sorted({a, b, target, other})
    repo.insert_ignore(session, StudyLink, [
        {"record_id": r, "study_id": target, "linked_by": reason, "linked_at": now} for r in named])
    session.execute(update(StudyLink).where(StudyLink.record_id.in_(named))  # type: ignore[attr-defined]
                    .values(study_id=target))
    return True


class _Index:
    """What a batch of records is matched against that has no SQL index: the PMIDs trials list
    as their results and the PMIDs preprints were published as. Read once per batch."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._trial_refs: dict[str, list[str]] | None = None
        self._published: dict[str, list[str]] | None = None

    @property
    def trial_refs(self) -> dict[str, list[str]]:
        if self._trial_refs is None:
            self._trial_refs = {}
            for nct, refs in self.session.execute(select(TrialRow.nct_id, TrialRow.reference_pmids)):
                for pmid in refs or ():
                    self._trial_refs.setdefault(str(pmid), []).append(nct)
        return self._trial_refs

    @property
    def published(self) -> dict[str, list[str]]:
        if self._published is None:
            self._published = {}
            for ppr, record in self.session.execute(select(ArticleRow.pmid, ArticleRow.record)
                                                    .where(ArticleRow.source == "preprint")):  # type: ignore[arg-type]
                for pmid in _published_pmids(Article.from_json(record)):
                    self._published.setdefault(pmid, []).append(ppr)
        return self._published


def _candidates(session: Any, row: ArticleRow, index: _Index) -> dict[str, str]:
    found: dict[str, str] = {}
    article = Article.from_json(row.record)
    source = row.source or "pubmed"

    def add(ids: Iterable[str], reason: str) -> None:
        for i in ids:
            if i != row.pmid:
                found.setdefault(i, reason)

    if row.doi:
        add(session.execute(select(ArticleRow.pmid).where(
            func.lower(ArticleRow.doi) == row.doi.lower())).scalars(), "doi")
    if row.pmcid:
        add(session.execute(select(ArticleRow.pmid).where(ArticleRow.pmcid == row.pmcid)).scalars(), "pmcid")
    # Registry ids named in this record's text: the trial record itself, when stored.
    named = set()
    for ids in session.execute(select(Classification.registry_ids).where(Classification.pmid == row.pmid)).scalars():
        named.update(ids or ())
    if named:
        add(repo.stored_pmids(session, sorted(named)), "registry")
    if source == "trial":
        # Records whose text names this trial, and the PMIDs the registration lists.
        for pmid, ids in session.execute(select(Classification.pmid, Classification.registry_ids)):
            if row.pmid in (ids or ()):
                add([pmid], "registry")
        trial = session.get(TrialRow, row.pmid)
        if trial is not None and trial.reference_pmids:
            add(repo.stored_pmids(session, list(trial.reference_pmids)), "pmid")
    if source in ("pubmed", "import"):
        add(index.trial_refs.get(row.pmid, ()), "pmid")
        add(index.published.get(row.pmid, ()), "preprint")
    if source == "preprint":
        add(repo.stored_pmids(session, sorted(_published_pmids(article))), "preprint")
    if source in ("pubmed", "import", "preprint") and len(row.title) >= _MIN_TITLE:
        others = ("preprint",) if source != "preprint" else ("pubmed", "import")
        want = normal_title(row.title)
        first = row.title.strip()[:24].lower()
        for pmid, title in session.execute(
            select(ArticleRow.pmid, ArticleRow.title).where(
                ArticleRow.source.in_(others),  # type: ignore[attr-defined]
                func.lower(func.substr(ArticleRow.title, 1, 24)) == first)
        ):
            if normal_title(title) == want:
                add([pmid], "title")
    return found


def _published_pmids(article: Article) -> set[str]:
    """PMIDs Europe PMC names as the published version of a preprint."""
    return {c.pmid for c in article.comments_corrections if c.pmid and c.pmid.isdigit()}


# -- digests ----------------------------------------------------------------------------------

def group_for_digest(session: Any, feed_id: int | None, pmids: Sequence[str], threshold_weeks: float,
                     digest_id: int | None) -> list[StudyView]:
    """One StudyView per study among ``pmids``, with the study's other records as history.

    ``digest_id``: the digest being shown (None: the next one). A record of the same study
    announced to this feed by an earlier digest makes the item an update.
    """
    if not pmids:
        return []
    study_of = study_ids(session, list(pmids))
    groups: dict[str, list[str]] = {}
    for p in pmids:
        groups.setdefault(study_of[p], []).append(p)
    all_members = members(session, groups)
    if not any(len(ms) > 1 for ms in all_members.values()):
        return load_studies(session, list(pmids), threshold_weeks)
    everything = list(dict.fromkeys([*pmids, *(m for ms in all_members.values() for m in ms)]))
    views = {v.pmid: v for v in load_studies(session, everything, threshold_weeks)}
    announced = _announced_earlier(session, feed_id, everything, digest_id)
    out: list[StudyView] = []
    for study, here in groups.items():
        here_views = [views[p] for p in here if p in views]
        if not here_views:
            continue
        primary = min(here_views, key=lambda v: (_SOURCE_RANK.get(v.source, 9), -_numeric(v.pmid)))
        others = [views[m] for m in all_members[study] if m in views and m != primary.pmid]
        history = tuple(
            HistoryEntry(source=v.source, record_id=v.pmid, url=record_url(v.source, v.pmid, v.doi),
                         title=v.title_text, date_text=v.date_text, announced=v.pmid in announced)
            for v in sorted(others, key=lambda v: (v.entrez_date or _FAR, v.pmid))
        )
        earlier = [v for v in others if v.pmid in announced and v.pmid not in here]
        out.append(dataclasses.replace(primary, study_id=study, history=history,
                                       update_note=_update_note(primary, earlier)))
    return out


_FAR = date(9999, 1, 1)


def _numeric(text: str) -> int:
    digits = re.sub(r"\D", "", text)
    return int(digits) if digits else 0


def _announced_earlier(session: Any, feed_id: int | None, record_ids: Sequence[str],
                       digest_id: int | None) -> set[str]:
    if feed_id is None:
        return set()
    out: set[str] = set()
    for part in repo.chunks(list(record_ids)):
        q = select(FeedArticle.pmid).where(FeedArticle.feed_id == feed_id,  # type: ignore[arg-type]
                                           FeedArticle.pmid.in_(part),  # type: ignore[attr-defined]
                                           FeedArticle.digest_id.is_not(None))  # type: ignore[union-attr]
        if digest_id is not None:
            q = q.where(FeedArticle.digest_id < digest_id)  # type: ignore[operator]
        out.update(session.execute(q).scalars())
    return out


def _update_note(primary: StudyView, earlier: list[StudyView]) -> str | None:
    if not earlier:
        return None
    kinds = {v.source for v in earlier}
    if primary.source in ("pubmed", "import") and "preprint" in kinds:
        pre = next(v for v in earlier if v.source == "preprint")
        return f"Update: the preprint announced earlier ({pre.pmid}) is now published"
    if primary.source in ("pubmed", "import", "preprint") and "trial" in kinds:
        trial = next(v for v in earlier if v.source == "trial")
        what = "Results paper" if primary.source != "preprint" else "Preprint"
        return f"Update: {what} for registered trial {trial.pmid}, announced earlier"
    labels = ", ".join(f"{v.source_label} {v.pmid}" for v in earlier)
    return f"Update to a study announced earlier ({labels})"
