"""Queries and writes the rest of litmon uses. Each function works inside the caller's session;
the caller decides where a transaction begins and ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

from monitor.records import Article, canonical_json_bytes
from monitor.store.models import (
    ArticleRow,
    Classification,
    FeedArticle,
    FeedRow,
    Run,
    utcnow,
)

# SQLite allows 32,766 bound parameters; PostgreSQL 65,535. Stay well below both.
CHUNK = 900


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert(session: Session, model: type[SQLModel]) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were really inserted.

    One statement, executed for many rows (compiled once, batched by SQLAlchemy's
    insertmanyvalues); counted with RETURNING, because psycopg reports rowcount -1 here.
    """
    if not rows:
        return 0
    table = model.__table__  # type: ignore[attr-defined]
    stmt = _insert(session, model).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return len(session.execute(stmt, rows).all())


def upsert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]],
                conflict: list[str]) -> None:
    """INSERT ... ON CONFLICT (conflict columns) DO UPDATE every other given column."""
    if not rows:
        return
    ins = _insert(session, model)
    update_cols = [c for c in rows[0] if c not in conflict]
    stmt = ins.on_conflict_do_update(
        index_elements=conflict, set_={c: ins.excluded[c] for c in update_cols}
    )
    session.execute(stmt, rows)


# -- feeds ------------------------------------------------------------------------------------

def ensure_feed(session: Session, name: str, title: str, query: str) -> FeedRow:
    insert_ignore(session, FeedRow, [{"name": name, "title": title, "query": query,
                                      "created_at": utcnow()}])
    row = session.exec(select(FeedRow).where(FeedRow.name == name)).scalar_one()  # type: ignore[call-overload]
    if row.title != title or row.query != query:
        row.title, row.query = title, query
        session.add(row)
    return row


def feed_by_name(session: Session, name: str) -> FeedRow | None:
    return session.exec(select(FeedRow).where(FeedRow.name == name)).scalar_one_or_none()  # type: ignore[call-overload]


# -- articles ---------------------------------------------------------------------------------

def record_hash(article: Article, record: str | dict[str, Any] | None = None) -> str:
    """sha256 of the canonical JSON of the record (pass ``record``, its canonical JSON text
    or its ``to_json()`` dict, if already serialised)."""
    if isinstance(record, str):
        return hashlib.sha256(record.encode("utf-8")).hexdigest()
    return hashlib.sha256(canonical_json_bytes(article if record is None else record)).hexdigest()


def stored_pmids(session: Session, pmids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(list(pmids)):
        found.update(session.execute(select(ArticleRow.pmid).where(ArticleRow.pmid.in_(part))).scalars())  # type: ignore[attr-defined]
    return found


def _verbatim(text: str) -> str:
    return text


class _JSONText(TypeDecorator[Any]):
    """A JSON column bound from text that already is JSON: the record is serialised once
    (``canonical_json``), and that one text is both hashed and stored. Reads are plain JSON."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":  # psycopg: sent as json, the text as it is
            from psycopg.types.json import Json

            return lambda text: Json(text, _verbatim)
        return None  # SQLite keeps JSON as text


def _article_values(article: Article, digest: str, record: str, now: Any) -> dict[str, Any]:
    return {
        "pmid": article.pmid,
        "version": article.version,
        "title": article.title_text,
        "journal": article.journal_abbrev or article.journal,
        "pub_year": article.year,
        "pub_date_text": article.pub_date.text or None,
        "entrez_date": article.entrez_date,
        "doi": article.doi,
        "pmcid": article.pmcid,
        "status": article.status,
        "retracted": article.is_retracted,
        "has_notice": bool(article.corrections),
        "deleted": False,
        "record": record,
        "record_hash": digest,
        "created_at": now,
        "updated_at": now,
    }


@dataclass
class UpsertResult:
    new: list[str]
    updated: list[str]
    unchanged: list[str]

    @property
    def changed(self) -> list[str]:
        return self.new + self.updated


def upsert_articles(session: Session, articles: Sequence[Article], *, _retry: bool = True) -> UpsertResult:
    """Store each article once per PMID; replace a stored one only by a newer or revised record.

    Per batch: one SELECT of (version, hash) per 900 PMIDs, one executemany INSERT for the new
    records and one UPDATE for the changed ones; each record serialised to JSON once.
    """
    result = UpsertResult([], [], [])
    if not articles:
        return result
    latest: dict[str, Article] = {}
    for article in articles:  # one batch may, rarely, hold two versions of one PMID
        prev = latest.get(article.pmid)
        if prev is None or article.version >= prev.version:
            latest[article.pmid] = article
    existing: dict[str, tuple[int, str]] = {}
    for part in chunks(list(latest)):
        for pmid, version, digest in session.execute(
            select(ArticleRow.pmid, ArticleRow.version, ArticleRow.record_hash).where(
                ArticleRow.pmid.in_(part)  # type: ignore[attr-defined]
            )
        ):
            existing[pmid] = (version, digest)
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    now = utcnow()
    sha256 = hashlib.sha256
    for pmid, article in latest.items():
        data = canonical_json_bytes(article)
        digest = sha256(data).hexdigest()
        record = data.decode("utf-8")
        old = existing.get(pmid)
        if old is None:
            fresh.append(_article_values(article, digest, record, now))
        elif article.version < old[0] or old[1] == digest:
            result.unchanged.append(pmid)
        else:
            values = _article_values(article, digest, record, now)
            del values["created_at"]
            values["b_pmid"] = values.pop("pmid")
            changed.append(values)
            result.updated.append(pmid)
    if changed:
        table = ArticleRow.__table__  # type: ignore[attr-defined]
        session.execute(
            update(table).where(table.c.pmid == bindparam("b_pmid"))
            .values(record=bindparam("record", type_=_JSONText())),
            changed,
        )
    if not fresh:
        return result
    stmt = _insert(session, ArticleRow).values(record=bindparam("record", type_=_JSONText()))
    stmt = stmt.on_conflict_do_nothing().returning(ArticleRow.pmid)
    inserted = {p for (p,) in session.execute(stmt, fresh)}
    result.new.extend(v["pmid"] for v in fresh if v["pmid"] in inserted)
    lost = [latest[v["pmid"]] for v in fresh if v["pmid"] not in inserted]
    if lost and _retry:  # another process stored them a moment ago: compare with its rows
        again = upsert_articles(session, lost, _retry=False)
        result.new += again.new
        result.updated += again.updated
        result.unchanged += again.unchanged
    else:
        result.unchanged += [a.pmid for a in lost]
    return result


def mark_deleted(session: Session, pmids: Sequence[str]) -> int:
    count = 0
    for part in chunks(list(pmids)):
        res = session.execute(
            update(ArticleRow).where(ArticleRow.pmid.in_(part), ArticleRow.deleted.is_(False))  # type: ignore[attr-defined]
            .values(deleted=True, updated_at=utcnow())
        )
        count += res.rowcount or 0  # type: ignore[attr-defined]
    return count


def load_articles(session: Session, pmids: Sequence[str]) -> dict[str, Article]:
    out: dict[str, Article] = {}
    for part in chunks(list(pmids)):
        for pmid, record in session.execute(
            select(ArticleRow.pmid, ArticleRow.record).where(ArticleRow.pmid.in_(part))  # type: ignore[attr-defined]
        ):
            out[pmid] = Article.from_json(record)
    return out


# -- classifications --------------------------------------------------------------------------

def save_classification(session: Session, pmid: str, result: Any) -> None:
    """Insert or replace the classification of ``pmid`` at ``result.threshold_weeks``."""
    save_classifications(session, [(pmid, result)])


def save_classifications(session: Session, items: Sequence[tuple[str, Any]]) -> None:
    """Insert or replace many classifications in one statement."""
    now = utcnow()
    rows = [
        {
            "pmid": pmid,
            "threshold_weeks": float(result.threshold_weeks),
            "version": result.version,
            "long_term": result.long_term,
            "longest_followup_weeks": result.longest_followup_weeks,
            "evidence": result.evidence,
            "reason": result.reason,
            "design": result.design,
            "sample_size": result.sample_size,
            "relevance": result.relevance,
            "outcome_domains": list(result.outcome_domains),
            "registry_ids": list(result.registry_ids),
            "details": result.to_json(),
            "classified_at": now,
        }
        for pmid, result in items
    ]
    # Keyed by (pmid, threshold): one article judged twice in a batch keeps the last judgement.
    unique = list({(r["pmid"], r["threshold_weeks"]): r for r in rows}.values())
    upsert_rows(session, Classification, unique, ["pmid", "threshold_weeks"])


def classification_for(session: Session, pmid: str, threshold_weeks: float) -> Classification | None:
    return session.execute(
        select(Classification).where(
            Classification.pmid == pmid, Classification.threshold_weeks == float(threshold_weeks)  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()


# -- feed links -------------------------------------------------------------------------------

def link_to_feed(session: Session, feed_id: int, pmids: Iterable[str], run_id: int | None) -> int:
    now = utcnow()
    rows = [{"feed_id": feed_id, "pmid": p, "first_seen_at": now, "first_run_id": run_id,
             "digest_id": None} for p in pmids]
    return insert_ignore(session, FeedArticle, rows)


def linked_pmids(session: Session, feed_id: int, pmids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(list(pmids)):
        found.update(session.execute(
            select(FeedArticle.pmid).where(FeedArticle.feed_id == feed_id, FeedArticle.pmid.in_(part))  # type: ignore[arg-type,attr-defined]
        ).scalars())
    return found


# -- runs -------------------------------------------------------------------------------------

def last_run(session: Session, feed_id: int, status: str | None = None) -> Run | None:
    q = select(Run).where(Run.feed_id == feed_id)  # type: ignore[arg-type]
    if status:
        q = q.where(Run.status == status)  # type: ignore[arg-type]
    return session.execute(q.order_by(Run.started_at.desc(), Run.id.desc()).limit(1)).scalar_one_or_none()  # type: ignore[attr-defined,union-attr]


def feed_counts(session: Session, feed_id: int, threshold_weeks: float) -> dict[str, int]:
    """Articles linked to a feed, and how many of them are long-term yes / no / unclear."""
    total = session.execute(
        select(func.count()).select_from(FeedArticle).where(FeedArticle.feed_id == feed_id)  # type: ignore[arg-type]
    ).scalar_one()
    rows = session.execute(
        select(Classification.long_term, func.count())
        .join(FeedArticle, FeedArticle.pmid == Classification.pmid)  # type: ignore[arg-type]
        .where(FeedArticle.feed_id == feed_id,  # type: ignore[arg-type]
               Classification.threshold_weeks == float(threshold_weeks))
        .group_by(Classification.long_term)
    ).all()
    counts = {"articles": int(total), "yes": 0, "no": 0, "unclear": 0}
    for verdict, n in rows:
        counts[verdict] = counts.get(verdict, 0) + int(n)
    return counts
