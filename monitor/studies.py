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
import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from monitor.records import Article
from monitor.render import HistoryEntry, StudyView, load_studies, order_for_reading, record_url
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


def lead_key(source: str | None, record_id: str) -> tuple[int, int]:
    """Sort key of the record that stands for its study (smallest first): the publication,
    then the preprint, then the registration; among equals the newest (highest) id."""
    return _SOURCE_RANK.get(source or "pubmed", 9), -_numeric(record_id)
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

    Returns how many links were made. Safe to repeat. A batch costs a few indexed queries
    (DOIs, PMCIDs, registry ids of the whole batch at once), never a scan per record: a
    backfill of tens of thousands of records must stay linear.
    """
    made = 0
    index = _Index(session)
    rows = _batch_rows(session, record_ids)
    found = _batch_candidates(session, rows, index)
    for row in rows:
        for other, reason in found.get(row.pmid, {}).items():
            if other != row.pmid and _union(session, row.pmid, other, reason):
                made += 1
    return made


# The batch's ids as one expanding parameter: the statement is compiled once and cached, and
# the values are not coerced into a bound parameter each (``in_(list)`` costs ~1 µs a value).
_IDS = bindparam("ids", expanding=True)


def _batch_rows(session: Any, record_ids: Sequence[str]) -> list[Any]:
    rows: list[Any] = []
    for part in repo.chunks(list(dict.fromkeys(record_ids))):
        rows.extend(session.execute(
            select(ArticleRow.pmid, ArticleRow.source, ArticleRow.doi, ArticleRow.pmcid, ArticleRow.title)
            .where(ArticleRow.pmid.in_(_IDS)), {"ids": part}  # type: ignore[attr-defined]
        ).all())
    return rows


def _lookup(session: Any, column: Any, values: set[str]) -> dict[str, list[str]]:
    """value (lower-cased) -> stored record ids with that value, case-insensitively, by index."""
    out: dict[str, list[str]] = {}
    variants = sorted(values | {v.lower() for v in values} | {v.upper() for v in values})
    for part in repo.chunks(variants):
        for pmid, value in session.execute(select(ArticleRow.pmid, column).where(column.in_(_IDS)),
                                           {"ids": part}):
            out.setdefault(value.lower(), []).append(pmid)
    return out


def _union(session: Any, a: str, b: str, reason: str) -> bool:
    ids = study_ids(session, [a, b])
    sa, sb = ids[a], ids[b]
    if sa == sb:
        return False
    # A study id is always one of its records' ids, so every id here can have a row.
    target, other = sorted((sa, sb))
    # Core-style updates: no ORM objects of StudyLink are loaded to synchronise.
    session.execute(update(StudyLink).where(StudyLink.study_id == other)  # type: ignore[arg-type]
                    .values(study_id=target).execution_options(synchronize_session=False))
    now = utcnow()
    named = sorted({a, b, target, other})
    repo.insert_ignore(session, StudyLink, [
        {"record_id": r, "study_id": target, "linked_by": reason, "linked_at": now} for r in named])
    session.execute(update(StudyLink).where(StudyLink.record_id.in_(named))  # type: ignore[attr-defined]
                    .values(study_id=target).execution_options(synchronize_session=False))
    return True


class _Index:
    """What a batch of records is matched against that has no SQL index: the PMIDs trials list
    as their results and the PMIDs preprints were published as. Read once per batch."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._trial_refs: dict[str, list[str]] | None = None
        self._published: dict[str, list[str]] | None = None
        self._naming: dict[str, list[str]] | None = None
        self._titles: dict[tuple[str, ...], dict[str, list[tuple[str, str]]]] = {}

    @property
    def naming(self) -> dict[str, list[str]]:
        """registry id -> records whose text names it (read only when a batch holds trials)."""
        if self._naming is None:
            self._naming = {}
            for pmid, ids in self.session.execute(select(Classification.pmid, Classification.registry_ids)):
                for rid in ids or ():
                    self._naming.setdefault(rid, []).append(pmid)
        return self._naming

    def titles(self, sources: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
        """First 24 lower-cased title characters -> (record id, title), for these sources."""
        if sources not in self._titles:
            table: dict[str, list[tuple[str, str]]] = {}
            if self.session.execute(select(ArticleRow.pmid).where(
                    ArticleRow.source.in_(sources)).limit(1)).first() is not None:  # type: ignore[attr-defined]
                for pmid, title in self.session.execute(select(ArticleRow.pmid, ArticleRow.title)
                                                        .where(ArticleRow.source.in_(sources))):  # type: ignore[attr-defined]
                    table.setdefault(title.strip()[:24].lower(), []).append((pmid, title))
            self._titles[sources] = table
        return self._titles[sources]

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


def _batch_candidates(session: Any, rows: list[Any], index: _Index) -> dict[str, dict[str, str]]:
    """record id -> {other record id: why they are the same study} for a batch of rows."""
    found: dict[str, dict[str, str]] = {r.pmid: {} for r in rows}

    def add(rec: str, ids: Iterable[str], reason: str) -> None:
        for i in ids:
            if i != rec:
                found[rec].setdefault(i, reason)

    by_doi = _lookup(session, ArticleRow.doi, {r.doi for r in rows if r.doi})
    by_pmcid = _lookup(session, ArticleRow.pmcid, {r.pmcid for r in rows if r.pmcid})
    named: dict[str, set[str]] = {}
    for part in repo.chunks([r.pmid for r in rows]):
        for pmid, ids in session.execute(select(Classification.pmid, Classification.registry_ids)
                                         .where(Classification.pmid.in_(_IDS)), {"ids": part}):  # type: ignore[attr-defined]
            named.setdefault(pmid, set()).update(ids or ())
    all_named = sorted(set().union(*named.values())) if named else []
    stored_named = repo.stored_pmids(session, all_named) if all_named else set()
    for row in rows:
        source = row.source or "pubmed"
        if row.doi:
            add(row.pmid, by_doi.get(row.doi.lower(), ()), "doi")
        if row.pmcid:
            add(row.pmid, by_pmcid.get(row.pmcid.lower(), ()), "pmcid")
        # Registry ids named in this record's text: the trial record itself, when stored.
        add(row.pmid, sorted(named.get(row.pmid, set()) & stored_named), "registry")
        if source == "trial":
            # Records whose text names this trial, and the PMIDs the registration lists.
            add(row.pmid, index.naming.get(row.pmid, ()), "registry")
            trial = session.get(TrialRow, row.pmid)
            if trial is not None and trial.reference_pmids:
                add(row.pmid, repo.stored_pmids(session, list(trial.reference_pmids)), "pmid")
        if source in ("pubmed", "import"):
            add(row.pmid, index.trial_refs.get(row.pmid, ()), "pmid")
            add(row.pmid, index.published.get(row.pmid, ()), "preprint")
        if source == "preprint":
            record = session.execute(select(ArticleRow.record).where(ArticleRow.pmid == row.pmid)).scalar_one()
            add(row.pmid, repo.stored_pmids(session, sorted(_published_pmids(Article.from_json(record)))),
                "preprint")
        if source in ("pubmed", "import", "preprint") and len(row.title) >= _MIN_TITLE:
            others = ("preprint",) if source != "preprint" else ("pubmed", "import")
            same_start = index.titles(others).get(row.title.strip()[:24].lower(), ())
            if same_start:  # (most records have none: no normalising for nothing)
                want = normal_title(row.title)
                for pmid, title in same_start:
                    if normal_title(title) == want:
                        add(row.pmid, [pmid], "title")
    return found


def _published_pmids(article: Article) -> set[str]:
    """PMIDs Europe PMC names as the published version of a preprint."""
    return {c.pmid for c in article.comments_corrections if c.pmid and c.pmid.isdigit()}


# -- digests ----------------------------------------------------------------------------------

def group_for_digest(session: Any, feed_id: int | None, pmids: Sequence[str], threshold_weeks: float,
                     digest_id: int | None, *, grouped: bool = False) -> list[StudyView]:
    """One StudyView per study among ``pmids``, with the study's other records as history.

    ``digest_id``: the digest being shown (None: the next one). A record of the same study
    announced to this feed by an earlier digest makes the item an update. When no study has
    more than one record the views are plain ones (no study id), unless ``grouped`` (``pmids``
    are part of a digest that has such a study).
    """
    if not pmids:
        return []
    study_of = study_ids(session, list(pmids))
    groups: dict[str, list[str]] = {}
    for p in pmids:
        groups.setdefault(study_of[p], []).append(p)
    all_members = members(session, groups)
    if not grouped and not any(len(ms) > 1 for ms in all_members.values()):
        return load_studies(session, list(pmids), threshold_weeks)
    everything = list(dict.fromkeys([*pmids, *(m for ms in all_members.values() for m in ms)]))
    views = {v.pmid: v for v in load_studies(session, everything, threshold_weeks)}
    announced = _announced_earlier(session, feed_id, everything, digest_id)
    out: list[StudyView] = []
    for study, here in groups.items():
        here_views = [views[p] for p in here if p in views]
        if not here_views:
            continue
        primary = min(here_views, key=lambda v: lead_key(v.source, v.pmid))
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
_READING_RANK = {"yes": 0, "unclear": 1, "no": 2}  # as monitor.render.order_for_reading


@dataclass(frozen=True)
class DigestCounts:
    """Figures of a whole digest, of which only the first studies may be loaded."""

    total: int  # studies (a study with several records counts once)
    long_term: int  # studies whose shown record has long-term follow-up
    updates: int  # studies announced to the feed before (a new record of a known study)


def first_for_digest(session: Any, feed_id: int | None, pmids: Sequence[str], threshold_weeks: float,
                     digest_id: int | None, limit: int, *,
                     scope: Any | None = None) -> tuple[list[StudyView], DigestCounts]:
    """The first ``limit`` studies of ``group_for_digest(...)`` in reading order, and the counts
    of all of them, without loading every record.

    A first backfill puts a hundred thousand records in one digest; building a StudyView (the
    record's JSON parsed, its abstract sanitised) for each would take gigabytes and minutes, for
    an email that shows 25. The order needs only each study's shown record, its source and its
    classification's verdict and follow-up, read here a chunk at a time; records that are a
    study of their own (nearly all) are ranked in a bounded heap as they stream. StudyViews are
    then built for the chosen studies only, by ``group_for_digest`` itself, so they are the same
    items in the same order as the full list's first ``limit``.

    ``scope``: a SELECT of exactly the record ids in ``pmids`` (a digest's rows of
    ``feed_article``). With it the light columns and study links are read in one query each,
    joined to it, instead of in chunks of ids bound as parameters (a first digest of 10,000
    records: 140 ms → 87 ms in benchmarks/bench_report.py).
    """
    pmids = list(pmids)
    if not pmids:
        return [], DigestCounts(0, 0, 0)
    threshold = float(threshold_weeks)
    linked = _linked_studies(session, pmids, scope)  # only records with a study_link row
    # The studies of linked records, with their records here in the order of ``pmids``, and
    # where each study first appears (the tie-break order_for_reading keeps from the input).
    groups: dict[str, list[str]] = {}
    first_at: dict[str, int] = {}
    for i, p in enumerate(pmids):
        study = linked.get(p)
        if study is not None:
            groups.setdefault(study, []).append(p)
            first_at.setdefault(study, i)
    top: list[tuple[tuple[int, float, int], int, str]] = []  # a max-heap by negated key
    total = long_term = updates = 0

    def offer(key: tuple[int, float, int], at: int, study: str) -> None:
        item = ((-key[0], -key[1], -key[2]), -at, study)
        if len(top) < limit:
            heapq.heappush(top, item)
        elif item > top[0]:
            heapq.heapreplace(top, item)

    if scope is not None:
        at = {p: i for i, p in enumerate(pmids) if p not in linked}
        for pmid, _source, verdict, weeks in _light_rows(session, (), threshold, scope):
            if pmid in at:
                total += 1
                long_term += verdict == "yes"
                offer(_reading_key(pmid, verdict, weeks), at[pmid], pmid)
    else:
        for start in range(0, len(pmids), repo.CHUNK):
            part = pmids[start : start + repo.CHUNK]
            at = {p: start + j for j, p in enumerate(part) if p not in linked}
            if not at:
                continue
            for pmid, _source, verdict, weeks in _light_rows(session, list(at), threshold):
                total += 1
                long_term += verdict == "yes"
                offer(_reading_key(pmid, verdict, weeks), at[pmid], pmid)
    everyone: dict[str, list[str]] = {}
    if groups:
        everyone = members(session, groups)
        extra = sorted({m for ms in everyone.values() for m in ms} - set(pmids))
        grouped = [p for here in groups.values() for p in here]
        light = {row[0]: row for row in _light_rows(session, [*grouped, *extra], threshold)}
        announced = _announced_earlier(session, feed_id, list(light), digest_id)
        for study, here in groups.items():
            here_rows = [light[p] for p in here if p in light]
            if not here_rows:
                continue
            primary = min(here_rows, key=lambda r: lead_key(r[1], r[0]))
            here_set = set(here)
            total += 1
            long_term += primary[2] == "yes"
            updates += any(m in light and m != primary[0] and m in announced and m not in here_set
                           for m in everyone[study])
            offer(_reading_key(primary[0], primary[2], primary[3]), first_at[study], study)
    chosen = {study for _key, _at, study in top}
    subset = [p for p in pmids if linked.get(p, p) in chosen]
    shown = order_for_reading(group_for_digest(session, feed_id, subset, threshold_weeks, digest_id,
                                               grouped=any(len(ms) > 1 for ms in everyone.values())))
    return shown, DigestCounts(total, long_term, updates)


def _reading_key(pmid: str, verdict: str | None, weeks: float | None) -> tuple[int, float, int]:
    return (_READING_RANK.get(verdict or "", 3), -(weeks or 0), -(int(pmid) if pmid.isdigit() else 0))


def _linked_studies(session: Any, record_ids: Sequence[str], scope: Any | None = None) -> dict[str, str]:
    """record id -> study id, for the records that have a study_link row only (of
    ``record_ids``, or of the ids ``scope`` selects)."""
    out: dict[str, str] = {}
    if scope is not None:
        rows = session.execute(select(StudyLink.record_id, StudyLink.study_id)
                               .where(StudyLink.record_id.in_(scope)))  # type: ignore[attr-defined]
        return {record: study for record, study in rows}
    for part in repo.chunks(list(record_ids)):
        for record, study in session.execute(
            select(StudyLink.record_id, StudyLink.study_id).where(StudyLink.record_id.in_(part))  # type: ignore[attr-defined]
        ):
            out[record] = study
    return out


def _light_rows(session: Any, record_ids: Sequence[str], threshold: float,
                scope: Any | None = None) -> Iterable[Any]:
    """(record id, source, verdict, longest follow-up weeks) of the stored records among these
    (or among the ids ``scope`` selects)."""
    q = (select(ArticleRow.pmid, ArticleRow.source, Classification.long_term,
                Classification.longest_followup_weeks)
         .outerjoin(Classification, and_(Classification.pmid == ArticleRow.pmid,
                                         Classification.threshold_weeks == threshold)))
    if scope is not None:
        yield from session.execute(q.where(ArticleRow.pmid.in_(scope)))  # type: ignore[attr-defined]
        return
    for part in repo.chunks(list(record_ids)):
        yield from session.execute(q.where(ArticleRow.pmid.in_(part)))  # type: ignore[attr-defined]


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
