"""Parse + classify + store throughput, stage by stage, against Biopython's Entrez.read alone.

    .venv/bin/python benchmarks/bench_pipeline.py [--records 20000] [--batch 500] [--no-postgres]

The same bytes (real fixture records replicated under new PMIDs, cut into EFetch-sized
PubmedArticleSet documents of --batch records) go through:

  Bio.Entrez.read            the reference: parsing alone
  parse                      monitor.pubmed.parse.parse_batch
  classify                   monitor.classify.classify_article (threshold 26 weeks)
  store SQLite / PostgreSQL  upsert + classification, one transaction per batch, as a run does

CPU seconds are printed beside wall seconds: on a shared 2-core machine CPU time is the number
to trust. The target (issue 8): parse + classify + store on SQLite >= 3x the records/s of
Entrez.read alone.
"""

from __future__ import annotations

import argparse
import io
import os
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
from monitor.store import repo  # noqa: E402
from monitor.store.db import make_engine, session_scope, upgrade  # noqa: E402

PG_URL = os.environ.get("LITMON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def documents(n: int, batch: int) -> list[bytes]:
    base = real_records()
    docs = []
    for start in range(0, n, batch):
        parts = [HEADER]
        for i in range(start, min(n, start + batch)):
            parts.append(_PMID.sub(rb"\g<1>%d\g<2>" % (70_000_000 + i), base[i % len(base)], count=1))
        parts.append(b"</PubmedArticleSet>\n")
        docs.append(b"".join(parts))
    return docs


def timed(fn):  # type: ignore[no-untyped-def]
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def store(url: str, batches: list[tuple]) -> None:  # type: ignore[type-arg]
    engine = make_engine(url)
    upgrade(engine)
    for articles, results in batches:
        with session_scope(engine) as s:
            repo.upsert_articles(s, articles)
            repo.save_classifications(s, [(a.pmid, r) for a, r in zip(articles, results, strict=True)])
    engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()

    from Bio import Entrez
    from Bio.Entrez import Parser

    Entrez.local_cache = tempfile.mkdtemp(prefix="bench-entrez-")
    Parser.urlopen = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no network"))  # type: ignore[assignment]

    docs = documents(args.records, args.batch)
    n = args.records
    print(f"{n:,} records in {len(docs)} documents of {args.batch} ({sum(map(len, docs)) / 1e6:.0f} MB)")

    _, bio_cpu, bio_wall = timed(lambda: [Entrez.read(io.BytesIO(d), validate=False) for d in docs])
    parsed, parse_cpu, parse_wall = timed(lambda: [parse_batch(d).articles for d in docs])
    assert sum(len(p) for p in parsed) == n
    results, cls_cpu, cls_wall = timed(
        lambda: [[classify_article(a, threshold_weeks=26.0) for a in p] for p in parsed])
    batches = list(zip(parsed, results, strict=True))

    rows = [("Bio.Entrez.read (reference)", bio_cpu, bio_wall), ("parse", parse_cpu, parse_wall),
            ("classify", cls_cpu, cls_wall)]
    with tempfile.TemporaryDirectory() as tmp:
        _, c, w = timed(lambda: store(f"sqlite:///{tmp}/bench.db", batches))
        rows.append(("store SQLite", c, w))
    if not args.no_postgres:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"litmon_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
            _, c, w = timed(lambda: store(url, batches))
            rows.append(("store PostgreSQL", c, w))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    print()
    print("| stage | CPU s | records/s (CPU) | wall s | records/s (wall) |")
    print("|---|---:|---:|---:|---:|")
    for name, c, w in rows:
        print(f"| {name} | {c:.2f} | {n / c:,.0f} | {w:.2f} | {n / w:,.0f} |")
    total_cpu = parse_cpu + cls_cpu + rows[3][1]
    total_wall = parse_wall + cls_wall + rows[3][2]
    print(f"| parse + classify + store SQLite | {total_cpu:.2f} | {n / total_cpu:,.0f} | "
          f"{total_wall:.2f} | {n / total_wall:,.0f} |")
    print(f"\nratio to Entrez.read alone: {bio_cpu / total_cpu:.2f}x (CPU), "
          f"{bio_wall / total_wall:.2f}x (wall); target >= 3x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
