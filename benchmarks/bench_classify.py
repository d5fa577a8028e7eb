"""Classify 10,000 abstracts (the dev set replicated) on one core and print the rate.

    python benchmarks/bench_classify.py [--n 10000] [--abstracts JSON]

Prints wall-clock and CPU time (process_time): on a shared, loaded machine the wall clock
can be several times the CPU time, so the CPU figure is the one to compare across runs.
The goal is 10,000 abstracts in < 5 s on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_classifier import DEFAULT_ABSTRACTS, load_records  # noqa: E402

from monitor.classify import classify  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="classifier throughput")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--abstracts", type=Path, default=DEFAULT_ABSTRACTS)
    args = ap.parse_args(argv)
    records = list(load_records(args.abstracts).values())
    batch = [records[i % len(records)] for i in range(args.n)]
    classify(batch[0].title, batch[0].abstract, batch[0].mesh)  # warm caches (vocabulary)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for r in batch:
        classify(r.title, r.abstract, r.mesh)
    cpu = time.process_time() - c0
    dt = time.perf_counter() - t0
    per10k = 10_000 * cpu / args.n
    print(f"{args.n} abstracts: wall {dt:.2f} s, CPU {cpu:.2f} s on one core: "
          f"{args.n / cpu:,.0f} abstracts/s ({1000 * cpu / args.n:.3f} ms each, CPU)")
    print(f"10,000 abstracts: {per10k:.2f} s CPU (goal < 5 s): "
          f"{'met' if per10k < 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
