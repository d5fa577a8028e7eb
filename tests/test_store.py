"""The store: migrations agree with the models, articles are stored once, SQLite writers wait."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from monitor.pubmed.parse import parse_batch
from monitor.store import repo
from monitor.store.db import current_revision, head_revision, make_engine, session_scope, upgrade
from monitor.store.models import ArticleRow, metadata

DATA = Path(__file__).parent / "data" / "pubmed"


def test_migrations_produce_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_upgrade_is_safe_to_repeat(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_articles_are_stored_once_and_replaced_only_by_newer_or_revised_records(engine: Engine) -> None:
    articles = list(parse_batch((DATA / "pubmed2.xml").read_bytes()).articles)
    assert len(articles) == 2
    with session_scope(engine) as s:
        first = repo.upsert_articles(s, articles)
    assert sorted(first.new) == sorted(a.pmid for a in articles) and not first.updated
    with session_scope(engine) as s:
        again = repo.upsert_articles(s, articles)
    assert again.new == [] and again.updated == [] and len(again.unchanged) == 2

    revised = dataclasses.replace(articles[0], title="A corrected title")
    older = dataclasses.replace(articles[1], version=0, title="An older version")
    with session_scope(engine) as s:
        third = repo.upsert_articles(s, [revised, older])
    assert third.updated == [revised.pmid]
    assert third.unchanged == [older.pmid]
    with session_scope(engine) as s:
        assert s.execute(select(func.count()).select_from(ArticleRow)).scalar_one() == 2
        stored = repo.load_articles(s, [revised.pmid, older.pmid])
    assert stored[revised.pmid].title == "A corrected title"
    assert stored[older.pmid] == articles[1]  # round-trips through the JSON column unchanged


def test_sqlite_second_writer_waits_for_the_first_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    eng = make_engine(url)
    upgrade(eng)
    holding = threading.Event()
    released_at: list[float] = []

    def hold_write_lock() -> None:
        with eng.begin() as conn:  # BEGIN IMMEDIATE: takes the write lock now
            conn.execute(text("INSERT INTO lease (name, holder, acquired_at, expires_at) "
                              "VALUES ('x', 'a', '2026-01-01', '2026-01-01')"))
            holding.set()
            time.sleep(1.0)
            released_at.append(time.monotonic())

    t = threading.Thread(target=hold_write_lock)
    t.start()
    holding.wait(5)
    other = make_engine(url)
    with other.begin() as conn:  # a reader-then-writer would fail at once without IMMEDIATE
        conn.execute(text("SELECT count(*) FROM lease")).scalar_one()
        conn.execute(text("INSERT INTO lease (name, holder, acquired_at, expires_at) "
                          "VALUES ('y', 'b', '2026-01-01', '2026-01-01')"))
        got_lock_at = time.monotonic()
    t.join()
    assert got_lock_at >= released_at[0]
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM lease")).scalar_one() == 2
    eng.dispose()
    other.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    eng.dispose()


def test_insert_ignore_counts_only_rows_really_inserted(engine: Engine) -> None:
    from datetime import UTC, datetime

    from monitor.store.models import Lease

    now = datetime.now(UTC)

    def lease(name: str) -> dict[str, object]:
        return {"name": name, "holder": "h", "acquired_at": now, "expires_at": now}

    with session_scope(engine) as s:
        assert repo.insert_ignore(s, Lease, [lease("a")]) == 1
        assert repo.insert_ignore(s, Lease, [lease("a"), lease("b"), lease("c")]) == 2
        assert repo.insert_ignore(s, Lease, [lease("c")]) == 0


def test_record_hash_is_sha256_of_the_canonical_json_of_to_json() -> None:
    """Stored hashes stay valid: the one-pass canonical JSON is the documented two-step form."""
    import hashlib
    import json

    from monitor.pubmed.parse import PubMedParseError
    from monitor.records import canonical_json

    articles = []
    for path in sorted(DATA.rglob("*.xml")):
        try:
            articles += parse_batch(path.read_bytes()).articles
        except PubMedParseError:
            continue  # the fixtures of broken input
    assert len(articles) > 40
    for a in articles:
        two_step = json.dumps(a.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        assert canonical_json(a) == two_step
        assert repo.record_hash(a) == hashlib.sha256(two_step.encode()).hexdigest()
        assert repo.record_hash(a, a.to_json()) == repo.record_hash(a, two_step) == repo.record_hash(a)


def test_canonical_json_is_the_json_modules_text_for_every_kind_of_value() -> None:
    """orjson writes records (canonical_json_bytes): its text must be the json module's, byte for
    byte, for every code point, control characters, big ints, dates, nested records; values off
    its fast path (a datetime, an int past 64 bits, a lone surrogate) fall back to the json
    module, with its result or its error."""
    import json
    from datetime import date, datetime, timedelta, timezone

    import pytest

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
        canonical_json,
        canonical_json_bytes,
    )

    def two_step(value: object) -> str:
        is_record = dataclasses.is_dataclass(value) and not isinstance(value, type)
        data = dataclasses.asdict(value) if is_record else value  # type: ignore[call-overload]
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          default=lambda v: v.isoformat())

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    odd = "".join(map(chr, range(0x20))) + "\x7f\u2028\u2029\ufeff\"\\/<>&'😀"
    values: list[object] = [
        Article(pmid="1"),
        Article(pmid=odd, title=every, keywords=(every[:3000], odd), languages=("eng",)),
        Article(pmid="2", version=2**63 - 1, pub_date=PubDate(year=-(2**63), month=0,
                                                             season="Spring", medline_date=odd)),
        Article(pmid="3", version=2**64, pub_date=PubDate(year=10**30)),
        Article(pmid="4", electronic_date=date(1, 1, 1), date_revised=date(9999, 12, 31),
                history=(HistoryDate("entrez", date(999, 5, 6)), HistoryDate("pubmed", date(2020, 2, 29)))),
        Article(pmid="5", electronic_date=datetime(2020, 1, 2, 3, 4, 5, 6,  # a datetime is a date
                                                   tzinfo=timezone(timedelta(hours=5, seconds=3)))),
        Article(pmid="6", kind="book", version=True),  # a bool where an int is declared
        Article(pmid="7", issue={"b": 1, "a": [1, 2], "é": None}),  # type: ignore[arg-type]
        Article(pmid="8", mesh=(MeshHeading("D", "U", True, (MeshQualifier(odd, "Q", True),)),),
                authors=(Author(last_name="Ünïcødé", affiliations=("a", "b\u2028c")),
                         Author(collective_name="Group")),
                abstract=(AbstractSection("t <i>x</i>", "L", "METHODS"), AbstractSection("")),
                publication_types=(PublicationType("Journal Article", "D016428"),),
                comments_corrections=(CommentCorrection("RetractionIn", "src", "123"),)),
        Author(last_name="x"), PubDate(year=2020), {"b": 1, "a": "ü"}, [1, "x", None],
    ]
    for value in values:
        expected = two_step(value)
        assert canonical_json(value) == expected
        assert canonical_json_bytes(value) == expected.encode("utf-8")
    surrogate = Article(pmid="9", title="lone \ud800")
    assert canonical_json(surrogate) == two_step(surrogate)
    with pytest.raises(UnicodeEncodeError):
        canonical_json_bytes(surrogate)
    with pytest.raises(TypeError):
        canonical_json(Article(pmid="10", issue=object()))  # type: ignore[arg-type]


def test_sqlite_fast_inserts_store_what_sqlalchemys_execute_stores(tmp_path: Path, monkeypatch: object) -> None:
    """On SQLite the hot INSERTs go to the driver with values converted by SQLAlchemy's own
    processors (repo._execute_rows): every stored value, as SQLite keeps it, is the one the plain
    execute stores, on insert and on update (classifications replaced, links kept)."""
    from datetime import UTC, datetime

    import pytest

    from monitor.classify import classify_article

    articles = list(parse_batch((DATA / "pubmed1.xml").read_bytes()).articles)
    revised = [dataclasses.replace(a, title=a.title + " (revised)") for a in articles[::2]]
    mp = pytest.MonkeyPatch()
    mp.setattr(repo, "utcnow", lambda: datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC))
    dumps = []
    try:
        for fast in (True, False):
            if not fast:
                mp.setattr(repo, "_execute_rows", repo._execute_rows_by_sqlalchemy)
            engine = make_engine(f"sqlite:///{tmp_path}/{fast}.db")
            upgrade(engine)
            counts = []
            for batch, threshold in ((articles, 26.0), (revised, 52.0), (articles, 26.0)):
                with session_scope(engine) as s:
                    feed = repo.ensure_feed(s, f"f{threshold}", "F", "q").id
                    got = repo.upsert_articles(s, batch)
                    repo.save_classifications(
                        s, [(a.pmid, classify_article(a, threshold_weeks=threshold)) for a in batch])
                    linked = repo.link_to_feed(s, feed, [a.pmid for a in batch], None)
                    counts.append((got.new, got.updated, got.unchanged, linked))
            with engine.connect() as conn:
                dumps.append((counts, {
                    t: conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY rowid").all()
                    for t in ("article", "classification", "feed_article")
                }))
            engine.dispose()
    finally:
        mp.undo()
    assert dumps[0][1]["article"] and dumps[0][1]["classification"]
    assert dumps[0] == dumps[1]


def test_stored_record_is_the_hashed_json_and_reads_back(engine: Engine) -> None:
    articles = list(parse_batch((DATA / "pubmed1.xml").read_bytes()).articles)
    with session_scope(engine) as s:
        assert len(repo.upsert_articles(s, articles).new) == len(articles)
    with session_scope(engine) as s:
        rows = s.execute(select(ArticleRow.pmid, ArticleRow.record, ArticleRow.record_hash)).all()
    by_pmid = {a.pmid: a for a in articles}
    assert len(rows) == len(articles)
    for pmid, record, digest in rows:
        assert record == by_pmid[pmid].to_json() | {}  # a dict again, equal field by field
        assert digest == repo.record_hash(by_pmid[pmid])


def test_records_another_writer_stored_meanwhile_count_as_updated_or_unchanged(
    engine: Engine, monkeypatch: object
) -> None:
    """The existence check misses rows a concurrent writer commits just before our INSERT: the
    rows it skips (ON CONFLICT DO NOTHING) are compared again, not counted as new."""
    import pytest

    articles = list(parse_batch((DATA / "pubmed2.xml").read_bytes()).articles)
    with session_scope(engine) as s:
        repo.upsert_articles(s, articles)
    revised = dataclasses.replace(articles[0], title="A corrected title")
    real_chunks = repo.chunks
    calls: list[int] = []

    def blind_first(items, size=repo.CHUNK):  # type: ignore[no-untyped-def]
        calls.append(1)
        return iter(()) if len(calls) == 1 else real_chunks(items, size)

    mp = pytest.MonkeyPatch()
    mp.setattr(repo, "chunks", blind_first)
    try:
        with session_scope(engine) as s:
            got = repo.upsert_articles(s, [revised, articles[1]])
    finally:
        mp.undo()
    assert got.new == [] and got.updated == [revised.pmid] and got.unchanged == [articles[1].pmid]
    with session_scope(engine) as s:
        assert repo.load_articles(s, [revised.pmid])[revised.pmid].title == "A corrected title"
