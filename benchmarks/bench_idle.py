"""What `litmon serve` costs while it waits: CPU % and memory (RSS) over an idle stretch.

    .venv/bin/python benchmarks/bench_idle.py [--seconds 30] [--database-url URL]

Starts the stand-in E-utilities server and `litmon serve` on a fresh SQLite file (or the given
database), lets the start-up catch-up run finish, then samples the process for ``--seconds``
while it only renews its lease and writes heartbeats (at the default 15 s heartbeat, or
``--heartbeat-seconds``). Target: under 1 % CPU and under 120 MB RSS.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPU_TARGET = 1.0
RSS_TARGET_MB = 120.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="idle stretch to measure (default 30)")
    parser.add_argument("--heartbeat-seconds", type=float, default=15.0,
                        help="LITMON_HEARTBEAT_SECONDS for the service (default 15, as shipped)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="litmon-bench-idle-") as tmp:
        tmpdir = Path(tmp)
        feeds = tmpdir / "feeds"
        feeds.mkdir()
        (feeds / "wbc-ms.toml").write_text((REPO / "feeds" / "wbc-ms.toml").read_text())
        eutils = subprocess.Popen([sys.executable, "-m", "tests.standin.eutils", "--port", "0"],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert eutils.stdout is not None
        url = eutils.stdout.readline().strip().split("=", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LITMON_")}
        env.update({
            "LITMON_DATA_DIR": str(tmpdir / "data"), "LITMON_FEEDS_DIR": str(feeds),
            "LITMON_REPORTS_DIR": str(tmpdir / "reports"), "LITMON_EUTILS_URL": url,
            "LITMON_NCBI_EMAIL": "bench@example.org", "LITMON_LOG_FORMAT": "json",
            "LITMON_HEARTBEAT_SECONDS": str(args.heartbeat_seconds),
            "LITMON_LOOKBACK_START": "2025-06-01",
        })
        if args.database_url:
            env["LITMON_DATABASE_URL"] = args.database_url
        log_path = tmpdir / "serve.log"
        with open(log_path, "wb") as log:
            serve = subprocess.Popen([sys.executable, "-m", "monitor", "serve"], cwd=REPO, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        try:
            # Wait for the start-up work (catch-up run, digest, report) to finish.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                text = log_path.read_text(errors="replace")
                if '"feed run finished"' in text or '"feed run failed"' in text:
                    break
                if serve.poll() is not None:
                    print(text, file=sys.stderr)
                    return 2
                time.sleep(0.2)
            time.sleep(5)  # the digest and report that follow the run
            cpu0, t0 = cpu_seconds(serve.pid), time.monotonic()
            peak = rss_mb(serve.pid)
            while time.monotonic() - t0 < args.seconds:
                time.sleep(1)
                peak = max(peak, rss_mb(serve.pid))
            cpu1, t1 = cpu_seconds(serve.pid), time.monotonic()
        finally:
            serve.send_signal(signal.SIGTERM)
            code = serve.wait(60)
            eutils.terminate()
            eutils.wait(10)

    cpu_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
    print(f"litmon serve idle for {t1 - t0:.0f} s (heartbeat every {args.heartbeat_seconds:g} s, "
          f"{'SQLite' if not args.database_url else 'given database'}):")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| CPU | {cpu_pct:.2f} % | < {CPU_TARGET:g} % |")
    print(f"| RSS (peak while idle) | {peak:.0f} MB | < {RSS_TARGET_MB:g} MB |")
    print(f"| exit status after SIGTERM | {code} | 0 |")
    ok = cpu_pct < CPU_TARGET and peak < RSS_TARGET_MB and code == 0
    print("within targets" if ok else "OUTSIDE TARGETS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
