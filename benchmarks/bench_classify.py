"""Classify 10,000 abstracts (the dev set replicated) on one core and print the rate.

    python benchmarks/bench_classify.py [--n 10000]
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
    for r in batch:
        classify(r.title, r.abstract, r.mesh)
    dt = time.perf_counter() - t0
    print(f"{args.n} abstracts in {dt:.2f} s: {args.n / dt:,.0f} abstracts/s "
          f"({1000 * dt / args.n:.3f} ms each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
