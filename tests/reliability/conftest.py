"""Shared pieces of the fault-matrix suite: real ``litmon`` processes and what they left behind.

Every test here drives ``python -m monitor ...`` as a subprocess in its own process group (so a
SIGKILL takes the whole group, as ``docker kill`` would), against the stand-in E-utilities server
(a thread in the test process, reachable on loopback), a real SMTP server (aiosmtpd) and a fresh
SQLite file or PostgreSQL database (``database_url`` from tests/conftest.py).

Options (give the ``tests/reliability`` path on the command line for them to be known; the
environment variables work everywhere):

  --soak-steps N / LITMON_SOAK_STEPS   steps of the randomised soak (default 200)
  --soak-seed S  / LITMON_SOAK_SEED    its seed (default 20261125)
  --reliability-slow / LITMON_RELIABILITY_SLOW=1   the slow variants too: the soak on
      PostgreSQL at full length (else a quarter), the service DST test on PostgreSQL for all
      four DST days (else one)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, Classification, Digest, FeedArticle, FeedRow, Run

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOAK_STEPS = 200
DEFAULT_SOAK_SEED = 20261125


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("litmon reliability")
    group.addoption("--soak-steps", type=int, default=None,
                    help=f"steps of the randomised soak (default {DEFAULT_SOAK_STEPS}; env LITMON_SOAK_STEPS)")
    group.addoption("--soak-seed", type=int, default=None,
                    help="seed of the randomised soak (env LITMON_SOAK_SEED)")
    group.addoption("--reliability-slow", action="store_true", default=False,
                    help="also run the slow variants of the fault matrix (env LITMON_RELIABILITY_SLOW=1)")


def _option(config: pytest.Config, name: str) -> Any:
    try:
        return config.getoption(name)
    except ValueError:  # this conftest was not an initial one: the option is unknown
        return None


def soak_steps(config: pytest.Config) -> int:
    value = _option(config, "--soak-steps")
    return int(value if value is not None else os.environ.get("LITMON_SOAK_STEPS", DEFAULT_SOAK_STEPS))


def soak_seed(config: pytest.Config) -> int:
    value = _option(config, "--soak-seed")
    return int(value if value is not None else os.environ.get("LITMON_SOAK_SEED", DEFAULT_SOAK_SEED))


def slow_enabled(config: pytest.Config) -> bool:
    return bool(_option(config, "--reliability-slow")) or os.environ.get("LITMON_RELIABILITY_SLOW") == "1"


# -- processes ----------------------------------------------------------------------------------

class Litmon:
    """One ``python -m monitor ARGS`` in its own process group, output to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args, self.log_path = args, log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in wait/kill
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            self.proc.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL the whole process group (what ``docker kill`` / an OOM kill does)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._log.close()

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            pytest.fail(f"litmon {' '.join(self.args)} still running after {timeout:g} s:\n{self.text()}")
        finally:
            self._log.close()

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.text().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                value = {"event": line}
            out.append(value if isinstance(value, dict) else {"event": line})
        return out

    def saw(self, event: str, **fields: Any) -> bool:
        return any(e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
                   for e in self.events())


@pytest.fixture
def rel_env(litmon_env: dict[str, str]) -> dict[str, str]:
    """The environment of a litmon subprocess: the fixtures' LITMON_* and quick failure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITMON_")}
    return {
        **env, **litmon_env,
        "PYTHONUNBUFFERED": "1",
        "LITMON_LOG_FORMAT": "json",
        # 58 records of the corpus entered PubMed since then: runs stay small.
        "LITMON_LOOKBACK_START": "2025-06-01",
        "LITMON_HTTP_BACKOFF": "0.05",
        "LITMON_HTTP_TIMEOUT": "5",
        "LITMON_HTTP_DEADLINE": "20",
        "LITMON_LEASE_SECONDS": "5",
        "LITMON_HEARTBEAT_SECONDS": "1",
        "LITMON_SHUTDOWN_GRACE_SECONDS": "15",
        "LITMON_DIGEST_RETRY_SECONDS": "1",
    }


@pytest.fixture
def litmon(rel_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Litmon]]:
    """Start ``litmon ARGS`` with ``rel_env`` plus overrides; every process is killed at the end."""
    procs: list[Litmon] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Litmon:
        proc = Litmon(list(args), {**rel_env, **(env or {})}, tmp_path / f"litmon-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.running():
            proc.kill_group()


@pytest.fixture
def db(engine: Engine) -> Engine:
    """tests/conftest.py's ``engine`` (schema at head) under this suite's name: the litmon
    subprocesses share its database."""
    return engine


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               proc: Litmon | None = None, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and not proc.running():
            pytest.fail(f"litmon exited ({proc.proc.returncode}) while waiting for {what}:\n{proc.text()}")
        time.sleep(interval)
    detail = f"\n{proc.text()}" if proc is not None else ""
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}{detail}")


# -- what the database holds --------------------------------------------------------------------

def count(engine: Engine, model: Any) -> int:
    with session_scope(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def stored_pmids(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        return list(s.execute(select(ArticleRow.pmid)).scalars())


def runs(engine: Engine) -> list[Run]:
    with session_scope(engine) as s:
        return list(s.execute(select(Run).order_by(Run.id)).scalars())


def digests(engine: Engine) -> list[Digest]:
    with session_scope(engine) as s:
        return list(s.execute(select(Digest).order_by(Digest.id)).scalars())


def feed_rows(engine: Engine) -> dict[str, FeedRow]:
    with session_scope(engine) as s:
        return {f.name: f for f in s.execute(select(FeedRow)).scalars()}


def assert_no_partial_records(engine: Engine) -> None:
    """Each stored article has its classification and its feed link: one batch, one commit."""
    with session_scope(engine) as s:
        articles = set(s.execute(select(ArticleRow.pmid)).scalars())
        judged = set(s.execute(select(Classification.pmid)).scalars())
        linked = set(s.execute(select(FeedArticle.pmid)).scalars())
    assert articles == judged, f"articles without classification: {sorted(articles - judged)[:5]}"
    assert articles == linked, f"articles not linked to a feed: {sorted(articles - linked)[:5]}"


def assert_one_digest_per_period(engine: Engine) -> None:
    with session_scope(engine) as s:
        per = s.execute(select(Digest.feed_id, Digest.period, func.count())
                        .group_by(Digest.feed_id, Digest.period)).all()
    assert all(n == 1 for _, _, n in per), per
