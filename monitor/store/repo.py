"""Queries and writes the rest of litmon uses. Each function works inside the caller's session;
the caller decides where a transaction begins and ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
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


def _dialect_insert(dialect: Any, model: type[SQLModel]) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    if dialect.name == "postgresql":
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
    stmt = _dialect_insert(session.get_bind().dialect, model).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return len(session.execute(stmt, rows).all())


class _Plan:
    """One INSERT compiled for a dialect, and how each of its parameters is bound."""

    def __init__(self, stmt: Any, dialect: Any, keys: tuple[str, ...]) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
        self.sql: str = compiled.string
        self.names: list[str] = list(compiled.positiontup or ())
        # SQLAlchemy's own conversion of each value (DATE and DateTime to text, bool to int, JSON
        # to text ...), the function its execute would call for the same parameter.
        self.processors = [compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                           for n in self.names]
        # Columns left out of the rows (article.source): the column's scalar default, as an
        # execute would put in.
        self.defaults: dict[str, Any] = {}
        for name in self.names:
            if name not in keys:
                default = stmt.table.c[name].default
                if default is None or not default.is_scalar:
                    raise ValueError(f"{name}: no value and no scalar default")
                self.defaults[name] = default.arg
        per_row = max(1, len(self.names))
        self.page = min(dialect.insertmanyvalues_page_size,
                        dialect.insertmanyvalues_max_parameters // per_row)
        group = "(" + ", ".join("?" * len(self.names)) + ")"
        head, found, tail = self.sql.partition(f" VALUES {group}")
        self.multi: tuple[str, str, str] | None = (head + " VALUES ", group, tail) if found else None


def _execute_rows_by_sqlalchemy(session: Session, build: Any,
                                rows: list[dict[str, Any]], constants: dict[str, Any], *,
                                returning: bool = False) -> list[Any]:
    """``_execute_rows`` the plain way: SQLAlchemy's execute, one parameter dict per row."""
    result = session.execute(build(session.get_bind().dialect), [row | constants for row in rows])
    return list(result.all()) if returning else []


@lru_cache(maxsize=64)
def _plan(build: Any, dialect: Any, keys: tuple[str, ...]) -> _Plan:
    return _Plan(build(dialect), dialect, keys)


def _execute_rows(session: Session, build: Any, rows: list[dict[str, Any]],
                  constants: dict[str, Any], *, returning: bool = False) -> list[Any]:
    """Execute the INSERT ``build(dialect)`` for ``rows`` (dicts of the same keys), each row
    completed by ``constants``; the rows RETURNING gave, if ``returning``.

    PostgreSQL: SQLAlchemy's executemany, as it was. SQLite (positional ``?`` parameters), a
    speed trick: the same statement, compiled once per process (cached by ``build``, a
    module-level function, and the row's keys), executed on the driver; each value is converted by the processor SQLAlchemy's execute would use, but the
    constants (the batch's one timestamp) once per batch instead of once per row, and without
    SQLAlchemy's per-row parameter dicts (construct_params), which cost about as much CPU as
    SQLite's own work. With RETURNING, the rows go as one multi-row VALUES per page, as
    SQLAlchemy's insertmanyvalues would send them (sqlite3's executemany returns no rows);
    without, as one executemany. tests/test_store.py checks that the stored rows are the same.
    """
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    if dialect.paramstyle != "qmark":
        return _execute_rows_by_sqlalchemy(session, build, rows, constants,
                                           returning=returning)
    plan = _plan(build, dialect, tuple(rows[0]) + tuple(constants))
    # Per parameter: (None, value) for a constant, converted here once; (name, processor or
    # None) for a value of the row. Processors take None too, as in SQLAlchemy (JSON: 'null').
    spec: list[tuple[str | None, Any]] = []
    for name, process in zip(plan.names, plan.processors, strict=True):
        if name in constants or name in plan.defaults:
            value = constants[name] if name in constants else plan.defaults[name]
            spec.append((None, value if process is None else process(value)))
        else:
            spec.append((name, process))
    params = [
        tuple(
            arg if name is None else row[name] if arg is None else arg(row[name])
            for name, arg in spec
        )
        for row in rows
    ]
    if not returning:
        connection.exec_driver_sql(plan.sql, params)
        return []
    if plan.multi is None:
        raise ValueError(f"{build.__name__}: cannot send as multi-row VALUES: {plan.sql}")
    head, group, tail = plan.multi
    out: list[Any] = []
    for start in range(0, len(params), plan.page):
        page = params[start : start + plan.page]
        sql = head + ", ".join([group] * len(page)) + tail
        out.extend(connection.exec_driver_sql(sql, tuple(v for p in page for v in p)).all())
    return out


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


def _article_values(article: Article, digest: str, record: str) -> dict[str, Any]:
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
    }


def _article_insert(dialect: Any) -> Any:
    stmt = _dialect_insert(dialect, ArticleRow).values(record=bindparam("record", type_=_JSONText()))
    return stmt.on_conflict_do_nothing().returning(ArticleRow.pmid)


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
            fresh.append(_article_values(article, digest, record))
        elif article.version < old[0] or old[1] == digest:
            result.unchanged.append(pmid)
        else:
            values = _article_values(article, digest, record)
            values["updated_at"] = now
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
    inserted = {p for (p,) in _execute_rows(session, _article_insert, fresh,
                                            {"created_at": now, "updated_at": now},
                                            returning=True)}
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
        }
        for pmid, result in items
    ]
    # Keyed by (pmid, threshold): one article judged twice in a batch keeps the last judgement.
    unique = list({(r["pmid"], r["threshold_weeks"]): r for r in rows}.values())
    _execute_rows(session, _classification_upsert, unique, {"classified_at": now})


_CLASSIFICATION_CONFLICT = ["pmid", "threshold_weeks"]
# Every column but the key and the conflict target, read off the table (a column added to the
# model is updated too, without a second list to keep in step).
_CLASSIFICATION_UPDATE = [c.name for c in Classification.__table__.columns  # type: ignore[attr-defined]
                          if c.name != "id" and c.name not in _CLASSIFICATION_CONFLICT]


def _classification_upsert(dialect: Any) -> Any:
    """INSERT ... ON CONFLICT (pmid, threshold_weeks) DO UPDATE every other column."""
    ins = _dialect_insert(dialect, Classification)
    return ins.on_conflict_do_update(index_elements=_CLASSIFICATION_CONFLICT,
                                     set_={c: ins.excluded[c] for c in _CLASSIFICATION_UPDATE})


def classification_for(session: Session, pmid: str, threshold_weeks: float) -> Classification | None:
    return session.execute(
        select(Classification).where(
            Classification.pmid == pmid, Classification.threshold_weeks == float(threshold_weeks)  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()


# -- feed links -------------------------------------------------------------------------------

def link_to_feed(session: Session, feed_id: int, pmids: Iterable[str], run_id: int | None) -> int:
    """Link the PMIDs to the feed (once: the first link stays); how many links are new."""
    batch = {"feed_id": feed_id, "first_seen_at": utcnow(), "first_run_id": run_id,
             "digest_id": None}
    return len(_execute_rows(session, _feed_link_insert,
                             [{"pmid": p} for p in pmids], batch, returning=True))


def _feed_link_insert(dialect: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the key: counts rows really inserted, as
    insert_ignore does."""
    stmt = _dialect_insert(dialect, FeedArticle).on_conflict_do_nothing()
    return stmt.returning(*FeedArticle.__table__.primary_key.columns)  # type: ignore[attr-defined]


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
