"""Backfill benchmark: `litmon run` against the stand-in E-utilities server.

    .venv/bin/python benchmarks/bench_backfill.py                     # 20,000 records at 3 req/s
    .venv/bin/python benchmarks/bench_backfill.py --records 100000 --no-rate-limit   # memory

The stand-in serves the real recorded records of tests/data/pubmed, replicated under new PMIDs
with entry dates spread over 2000-2026 (so ESearch must split windows below its 9,999 cap). With
a rate limit the stand-in answers 429 to a 4th request within any second, as NCBI does.
`litmon run` runs as a child process: its peak RSS is the child's own high-water mark (VmHWM),
which it writes to a file as it exits. Not getrusage(RUSAGE_CHILDREN).ru_maxrss: on Linux that
keeps the memory map the child had before exec, and a child started by vfork (subprocess does)
has this script's map then, stand-in and all — at 100,000 records over a gigabyte that
`litmon run` never used.

Prints: records, requests by kind, 429s received, wall time, the rate-limit floor
(requests ÷ allowed rate) and the ratio, the child's CPU time (user + system, all threads:
near the wall time, the run is CPU-bound, not waiting for the rate limit — on a shared machine
read both), peak RSS, records/s.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.standin.eutils import PUBMED_DIR, EutilsStandin  # noqa: E402

_OWN_IDS = re.compile(rb'(<(?:ArticleId IdType="(?:doi|pmc)"|ELocationID EIdType="doi"[^>]*)>)([^<]+)(</)')


def build_server(records: int, rate_limit: int | None) -> EutilsStandin:
    """A stand-in holding ``records`` copies of the real records under new PMIDs."""
    source = EutilsStandin(data=PUBMED_DIR)
    originals = sorted(source.records)
    server = EutilsStandin(data=None)
    first, span = date(2000, 1, 1), (date(2026, 6, 30) - date(2000, 1, 1)).days
    for i in range(records):
        new_pmid = str(50_000_000 + i)
        source.clone(originals[i % len(originals)], new_pmid,
                     entry_date=first + timedelta(days=(i * 7919) % span))
        record = source.records.pop(new_pmid)
        # Copies get their own DOI and PMCID too: real records do not share them, and shared
        # ones would make every copy one "study" (monitor/studies.py links them).
        record.xml = _OWN_IDS.sub(rb"\g<1>\g<2>.%d\g<3>" % i, record.xml)
        server.records[new_pmid] = record
    server.rate_limit = rate_limit
    return server


# Run in the child before `litmon run`: at exit, write the child's peak RSS (kB) to a file.
_REPORT_PEAK = """
import atexit, os
def _report_peak():
    status = open('/proc/self/status').read()
    kb = status.split('VmHWM:')[1].split()[0]
    with open(os.environ['LITMON_BENCH_PEAK_FILE'], 'w') as f:
        f.write(kb)
atexit.register(_report_peak)
"""

# Run in the child before `litmon run`: wraps the phases of a run so that each prints the
# process's RSS and peak RSS (VmHWM) from /proc/self/status, in MB, to stderr.
_TRACE_RSS = """
import functools, sys, time
def _rss():
    f = dict(line.split(':', 1) for line in open('/proc/self/status'))
    return int(f['VmRSS'].split()[0]) // 1024, int(f['VmHWM'].split()[0]) // 1024
_T0 = time.perf_counter()
def _traced(owner, name):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def wrapper(*a, **k):
        try:
            return inner(*a, **k)
        finally:
            rss, peak = _rss()
            print(f'rss {time.perf_counter() - _T0:7.1f}s after {name:<20} {rss:5d} MB (peak {peak} MB)',
                  file=sys.stderr, flush=True)
    setattr(owner, name, wrapper)
import monitor.runs, monitor.digest, monitor.studies, monitor.store.repo as repo
import monitor.pubmed.client as client
for owner, names in ((client.EutilsClient, ('search', 'fetch')),
                     (monitor.runs, ('_fetch_and_store', '_store_batch', '_finish_success', '_classify_missing',
                                     'after_success')),
                     (monitor.digest, ('content_for', 'subject_for')),
                     (repo, ('stored_pmids', 'upsert_articles', 'save_classifications',
                             'link_to_feed')),
                     (monitor.studies, ('link_records', 'group_for_digest'))):
    for name in names:
        _traced(owner, name)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=200,
                    help="LITMON_FETCH_BATCH_SIZE (default 200, as litmon's own default)")
    ap.add_argument("--rate", type=int, default=3, help="requests/s the stand-in allows (default 3)")
    ap.add_argument("--no-rate-limit", action="store_true", help="stand-in and client unthrottled")
    ap.add_argument("--database-url", help="default: a fresh SQLite file")
    ap.add_argument("--trace-rss", action="store_true",
                    help="the child prints its RSS (and peak) before and after each phase")
    args = ap.parse_args()

    t0 = time.perf_counter()
    server = build_server(args.records, None if args.no_rate_limit else args.rate)
    server.start()
    print(f"stand-in ready with {len(server.records):,} records in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "LITMON_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
            "LITMON_DATA_DIR": tmp,
            "LITMON_EUTILS_URL": server.url,
            "LITMON_FEEDS_DIR": str(REPO / "feeds"),
            "LITMON_OUTBOX_DIR": f"{tmp}/outbox",
            "LITMON_REPORTS_DIR": f"{tmp}/reports",
            "LITMON_FETCH_BATCH_SIZE": str(args.batch),
            "LITMON_NCBI_EMAIL": "bench@example.org",
            "LITMON_LOOKBACK_START": "1999-01-01",
            "PYTHONPATH": str(REPO),
        }
        peak_file = Path(tmp) / "peak-rss-kb"
        env["LITMON_BENCH_PEAK_FILE"] = str(peak_file)
        setup = _REPORT_PEAK
        if args.no_rate_limit:
            # The CLI always paces like NCBI wants; for the memory run, lift pacing in-process.
            setup += "import monitor.pubmed.client as c; c._PACER.wait = lambda *a, **k: 0.0\n"
        if args.trace_rss:
            setup += _TRACE_RSS
        # `python -m monitor run --no-send`, with the setup first.
        cmd = [sys.executable, "-c", setup + "import sys\nfrom monitor.cli import main\n"
               "sys.exit(main(['run', '--no-send']))\n"]
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak_kb = int(peak_file.read_text()) if peak_file.exists() else float("nan")
        # CPU time is per process and not skewed like ru_maxrss (see the docstring).
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
    server.stop()
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, sep="\n")
        print("litmon run failed", file=sys.stderr)
        return 1
    kinds = Counter(e.endpoint for e in server.requests())
    total = sum(kinds.values())
    print(proc.stdout.strip())
    if args.trace_rss:
        print("\n".join(line for line in proc.stderr.splitlines() if line.startswith("rss ")))
    print()
    print("| records | ESearch | EFetch | 429s | wall s | floor s | wall/floor | CPU s | peak RSS MB | records/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    floor = total / args.rate if not args.no_rate_limit else float("nan")
    ratio = wall / floor if not args.no_rate_limit else float("nan")
    print(f"| {args.records:,} | {kinds.get('esearch', 0)} | {kinds.get('efetch', 0)} | "
          f"{server.rate_limited} | {wall:.1f} | {floor:.1f} | {ratio:.2f} | {cpu:.1f} | {peak_kb / 1024:.0f} | "
          f"{args.records / wall:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
