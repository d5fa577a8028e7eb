"""Throughput of monitor.pubmed.parse vs Biopython's Entrez.read on the same bytes.

Builds one PubmedArticleSet of >= 20,000 records by replicating the real records of the
fixtures in tests/data/pubmed (every PubmedArticle, with the PMID rewritten so each is
unique), then times both parsers on it and prints records/s and the ratio.

    .venv/bin/python benchmarks/bench_parse.py [--records N] [--repeat R]

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

from monitor.pubmed.parse import parse_batch  # noqa: E402

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


def build(n: int) -> bytes:
    base = real_records()
    parts = [HEADER]
    for i in range(n):
        rec = base[i % len(base)]
        parts.append(_PMID.sub(rb"\g<1>%d\g<2>" % (60_000_000 + i), rec, count=1))
        parts.append(b"\n")
    parts.append(b"</PubmedArticleSet>\n")
    return b"".join(parts)


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
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from Bio import Entrez
    from Bio.Entrez import Parser

    def no_network(*a: object, **k: object) -> None:
        raise RuntimeError("Biopython tried the network")

    Entrez.local_cache = tempfile.mkdtemp(prefix="bench-entrez-")
    Parser.urlopen = no_network  # type: ignore[assignment]

    doc = build(args.records)
    print(f"document: {args.records} records, {len(doc) / 1e6:.1f} MB "
          f"(from {len(real_records())} distinct real records)")

    ours = parse_batch(doc)
    assert len(ours.articles) == args.records
    bio = Entrez.read(io.BytesIO(doc), validate=False)
    assert len(bio["PubmedArticle"]) == args.records
    del ours, bio

    c_ours, w_ours = best_of(args.repeat, lambda: parse_batch(doc))
    c_bio, w_bio = best_of(args.repeat, lambda: Entrez.read(io.BytesIO(doc), validate=False))
    n = args.records
    for name, c, w in (
        ("monitor.pubmed.parse.parse_batch", c_ours, w_ours),
        ("Bio.Entrez.read (validate=False)", c_bio, w_bio),
    ):
        print(f"{name}: cpu {c:6.2f} s = {n / c:6.0f} records/s | wall {w:6.2f} s = {n / w:6.0f} records/s")
    print(f"ratio (ours / Biopython): cpu {c_bio / c_ours:.2f}x | wall {w_bio / w_ours:.2f}x")

if __name__ == "__main__":
    main()
