"""Parse + classify + store throughput, stage by stage, against Biopython's Entrez.read alone.

    .venv/bin/python benchmarks/bench_pipeline.py [--records 20000] [--batch 500] [--no-postgres]
                                                  [--overlap [--workers 2]]

The same bytes (real fixture records replicated under new PMIDs, DOIs and PMCIDs, cut into
EFetch-sized PubmedArticleSet documents of --batch records) go through:

  Bio.Entrez.read            the reference: parsing alone (each result dropped after its document)
  parse                      monitor.pubmed.parse.parse_batch
  classify                   monitor.classify.classify_article (threshold 26 weeks)
  store SQLite / PostgreSQL  what a run writes per batch (monitor.runs.store_parsed): records,
                             classifications, feed links, deletions, study links; one
                             transaction per batch

Like a run (monitor/runs.py), the documents go one at a time through parse, classify and store,
so only one batch is in memory; each stage's CPU and wall time is summed over the documents.
Engines are created and migrated before the clock starts (once per process, not per record).
Nothing else stays alive between stages: before, the reference's 5,000 parsed documents and
all parsed batches were kept, and the garbage collector's passes over them were charged to
the later stages.

CPU seconds are printed beside wall seconds: on a shared 2-core machine CPU time is the number
to trust. For PostgreSQL the server's CPU is not counted (another process). The target
(issue 8): parse + classify + store on SQLite >= 3x the records/s of Entrez.read alone.

--overlap (an experiment, not how litmon runs): parse + classify in --workers forked processes
(each takes whole documents, hands back pickled batches), the main process stores them in
order. Reported as wall time for the whole pipeline and CPU time of all processes together.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_parse import _PMID, HEADER, real_records  # noqa: E402

from monitor.classify import classify_article  # noqa: E402
from monitor.pubmed.parse import parse_batch  # noqa: E402
from monitor.records import ParsedBatch  # noqa: E402
from monitor.runs import store_parsed  # noqa: E402
from monitor.store import repo  # noqa: E402
from monitor.store.db import make_engine, session_scope, upgrade  # noqa: E402

PG_URL = os.environ.get("LITMON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# The DOI and PMCID of a record (ArticleId, ELocationID): each copy gets its own, or the run's
# study linking (monitor.studies.link_records) would rightly take all copies of one record for
# one study and grow it without end, which no real feed does.
_IDS = re.compile(rb'(<(?:ArticleId IdType="(?:doi|pmc)"|ELocationID EIdType="doi"[^>]*)>)([^<]+)(<)')


def copy_of(record: bytes, i: int, first: bool) -> bytes:
    """Record ``i`` of the replicated set: a new PMID, and (after the first copy of each real
    record) DOIs and PMCIDs of its own."""
    record = _PMID.sub(rb"\g<1>%d\g<2>" % (70_000_000 + i), record, count=1)
    return record if first else _IDS.sub(rb"\g<1>\g<2>.c%d\g<3>" % i, record)


def documents(n: int, batch: int) -> list[bytes]:
    base = real_records()
    docs = []
    for start in range(0, n, batch):
        parts = [HEADER]
        for i in range(start, min(n, start + batch)):
            parts.append(copy_of(base[i % len(base)], i, i < len(base)))
        parts.append(b"</PubmedArticleSet>\n")
        docs.append(b"".join(parts))
    return docs


def timed(fn):  # type: ignore[no-untyped-def]
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


class Store:
    """An engine migrated before timing starts, and the feed the records are linked to."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        upgrade(self.engine)
        with session_scope(self.engine) as s:
            self.feed_id = repo.ensure_feed(s, "bench", "bench", "bench").id

    def batch(self, articles, results) -> None:  # type: ignore[no-untyped-def]
        """What a run writes for one batch (monitor.runs.store_parsed), one transaction."""
        with session_scope(self.engine) as s:
            store_parsed(s, self.feed_id, None, ParsedBatch(articles=tuple(articles)), results)

    def close(self) -> None:
        self.engine.dispose()


def _parse_and_classify(doc: bytes):  # type: ignore[no-untyped-def]
    articles = parse_batch(doc).articles
    return articles, [classify_article(a, threshold_weeks=26.0) for a in articles]


def overlapped(docs: list[bytes], url: str, workers: int) -> tuple[float, float, float]:
    """(wall s, CPU s of all processes, CPU s of the main process) for the overlapped pipeline."""
    import multiprocessing
    import resource

    store = Store(url)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0, w0 = time.process_time(), time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for articles, results in pool.imap(_parse_and_classify, docs):
            store.batch(articles, results)
        pool.close()
        pool.join()
    wall, main_cpu = time.perf_counter() - w0, time.process_time() - c0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    store.close()
    return wall, main_cpu + child, main_cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--overlap", action="store_true", help="also time the overlapped experiment")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from Bio import Entrez
    from Bio.Entrez import Parser

    Entrez.local_cache = tempfile.mkdtemp(prefix="bench-entrez-")
    Parser.urlopen = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no network"))  # type: ignore[assignment]

    docs = documents(args.records, args.batch)
    n = args.records
    print(f"{n:,} records in {len(docs)} documents of {args.batch} ({sum(map(len, docs)) / 1e6:.0f} MB)")

    gc.collect()
    _, bio_cpu, bio_wall = timed(lambda: [len(Entrez.read(io.BytesIO(d), validate=False)) for d in docs])
    gc.collect()

    tmp = tempfile.TemporaryDirectory()
    stores: dict[str, Store] = {}
    admin = pg_name = None
    (_, setup_cpu, setup_wall) = timed(lambda: stores.update(sqlite=Store(f"sqlite:///{tmp.name}/bench.db")))
    if not args.no_postgres:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        pg_name = f"litmon_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        stores["postgresql"] = Store(make_url(PG_URL).set(database=pg_name).render_as_string(hide_password=False))

    totals = {k: [0.0, 0.0] for k in ("parse", "classify", "sqlite", "postgresql")}

    def add(stage: str, c: float, w: float) -> None:
        totals[stage][0] += c
        totals[stage][1] += w

    count = 0
    try:
        for d in docs:
            articles, c, w = timed(lambda d=d: parse_batch(d).articles)
            add("parse", c, w)
            count += len(articles)
            results, c, w = timed(lambda a=articles: [classify_article(x, threshold_weeks=26.0) for x in a])
            add("classify", c, w)
            for kind, st in stores.items():
                _, c, w = timed(lambda st=st, a=articles, r=results: st.batch(a, r))
                add(kind, c, w)
        assert count == n
        overlap = None
        if args.overlap:
            overlap = overlapped(docs, f"sqlite:///{tmp.name}/overlap.db", args.workers)
    finally:
        for st in stores.values():
            st.close()
        tmp.cleanup()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))

    rows = [("Bio.Entrez.read (reference)", bio_cpu, bio_wall),
            ("parse", *totals["parse"]), ("classify", *totals["classify"]),
            ("store SQLite", *totals["sqlite"])]
    if "postgresql" in stores:
        rows.append(("store PostgreSQL", *totals["postgresql"]))
    print(f"(SQLite engine + migrations, once, not counted: {setup_cpu:.2f} s CPU)")
    print()
    print("| stage | CPU s | records/s (CPU) | ms/record (CPU) | wall s | records/s (wall) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, c, w in rows:
        print(f"| {name} | {c:.2f} | {n / c:,.0f} | {c / n * 1e3:.3f} | {w:.2f} | {n / w:,.0f} |")
    total_cpu = sum(totals[k][0] for k in ("parse", "classify", "sqlite"))
    total_wall = sum(totals[k][1] for k in ("parse", "classify", "sqlite"))
    print(f"| parse + classify + store SQLite | {total_cpu:.2f} | {n / total_cpu:,.0f} | "
          f"{total_cpu / n * 1e3:.3f} | {total_wall:.2f} | {n / total_wall:,.0f} |")
    print(f"\nratio to Entrez.read alone: {bio_cpu / total_cpu:.2f}x (CPU), "
          f"{bio_wall / total_wall:.2f}x (wall); target >= 3x")
    if overlap is not None:
        wall, cpu, main_cpu = overlap
        print(f"\noverlapped ({args.workers} workers parse + classify, main stores in SQLite): "
              f"wall {wall:.2f} s = {n / wall:,.0f} records/s ({bio_wall / wall:.2f}x Entrez wall); "
              f"CPU {cpu:.2f} s all processes = {n / cpu:,.0f} records/s ({bio_cpu / cpu:.2f}x Entrez CPU), "
              f"main process {main_cpu:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
