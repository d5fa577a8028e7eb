"""Throughput of monitor.pubmed.parse vs Biopython's Entrez.read on the same bytes.

Builds >= 20,000 records by replicating the real records of the fixtures in tests/data/pubmed
(every PubmedArticle, with the PMID rewritten so each is unique), cut into EFetch-sized
PubmedArticleSet documents of --batch records (0: one document, which parse_batch streams),
then times both parsers on them and prints records/s and the ratio. For reference it also
times libxml2 alone: building the tree with the parser options and chunking parse_batch uses,
no records made.

    .venv/bin/python benchmarks/bench_parse.py [--records N] [--batch B] [--repeat R]

Biopython finds the DTD named in the DOCTYPE in its bundled set (pubmed_190101.dtd here);
Entrez.local_cache points at a temporary directory and its urlopen is disabled, so nothing
touches the network.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from monitor.pubmed.parse import (  # noqa: E402
    _FEED_CHUNK,
    _RECORD_TAGS,
    SAFE_PARSER_OPTIONS,
    parse_batch,
)

DATA = ROOT / "tests" / "data" / "pubmed"
HEADER = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN"'
    b' "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">\n<PubmedArticleSet>\n'
)
_RECORD = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>", re.DOTALL)
_PMID = re.compile(rb'(<MedlineCitation[^>]*>\s*<PMID Version="\d+">)\d+(</PMID>)')


def real_records() -> list[bytes]:
    records: list[bytes] = []
    for path in sorted(DATA.rglob("*")):
        if not path.name.endswith((".xml", ".xml.gz")):
            continue
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        records += _RECORD.findall(data)
    return records


def build(n: int, start: int = 0) -> bytes:
    base = real_records()
    parts = [HEADER]
    for i in range(start, start + n):
        rec = base[i % len(base)]
        parts.append(_PMID.sub(rb"\g<1>%d\g<2>" % (60_000_000 + i), rec, count=1))
        parts.append(b"\n")
    parts.append(b"</PubmedArticleSet>\n")
    return b"".join(parts)


def build_documents(n: int, batch: int) -> list[bytes]:
    if batch <= 0:
        return [build(n)]
    return [build(min(batch, n - start), start) for start in range(0, n, batch)]


def libxml2_alone(doc: bytes) -> None:
    """The tree parse_batch's in-memory path builds, and nothing else."""
    parser = etree.XMLPullParser(events=("start",), tag=_RECORD_TAGS, **SAFE_PARSER_OPTIONS)
    for start in range(0, len(doc), _FEED_CHUNK):
        parser.feed(doc[start : start + _FEED_CHUNK])
        for _ in parser.read_events():
            pass
    parser.close()


def best_of(repeat: int, fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(CPU seconds, wall seconds), best of ``repeat`` runs. CPU time is the number to trust
    on a shared machine: wall time also counts other processes' turns on the CPU."""
    cpu, wall = [], []
    for _ in range(repeat):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=200, help="records per document (0: one)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from Bio import Entrez
    from Bio.Entrez import Parser

    def no_network(*a: object, **k: object) -> None:
        raise RuntimeError("Biopython tried the network")

    Entrez.local_cache = tempfile.mkdtemp(prefix="bench-entrez-")
    Parser.urlopen = no_network  # type: ignore[assignment]

    docs = build_documents(args.records, args.batch)
    print(f"{len(docs)} document(s), {args.records} records, {sum(map(len, docs)) / 1e6:.1f} MB "
          f"(from {len(real_records())} distinct real records)")

    assert sum(len(parse_batch(d).articles) for d in docs) == args.records
    assert sum(len(Entrez.read(io.BytesIO(d), validate=False)["PubmedArticle"]) for d in docs) == args.records

    # each result is dropped at once, as in a run: only one document's records live at a time
    c_ours, w_ours = best_of(args.repeat, lambda: [len(parse_batch(d).articles) for d in docs])
    c_bio, w_bio = best_of(
        args.repeat, lambda: [len(Entrez.read(io.BytesIO(d), validate=False)) for d in docs]
    )
    c_lib, w_lib = best_of(args.repeat, lambda: [libxml2_alone(d) for d in docs])
    n = args.records
    for name, c, w in (
        ("monitor.pubmed.parse.parse_batch", c_ours, w_ours),
        ("Bio.Entrez.read (validate=False)", c_bio, w_bio),
        ("libxml2 tree alone (reference)", c_lib, w_lib),
    ):
        print(f"{name}: cpu {c:6.2f} s = {n / c:6.0f} records/s = {c / n * 1e3:.3f} ms/record"
              f" | wall {w:6.2f} s = {n / w:6.0f} records/s")
    print(f"ratio (ours / Biopython): cpu {c_bio / c_ours:.2f}x | wall {w_bio / w_ours:.2f}x")

if __name__ == "__main__":
    main()
