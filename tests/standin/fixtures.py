"""pytest fixtures for the stand-in E-utilities server.

Use from tests/conftest.py with ``pytest_plugins = ["tests.standin.fixtures"]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.standin.eutils import PUBMED_DIR, EutilsStandin

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def eutils_corpus() -> EutilsStandin:
    """The real corpus parsed once per session (not started; do not mutate)."""
    return EutilsStandin(data=PUBMED_DIR)


@pytest.fixture
def eutils_server(eutils_corpus: EutilsStandin) -> Iterator[EutilsStandin]:
    """A fresh stand-in server with the full real corpus; ``.url`` ends in ``/``."""
    server = EutilsStandin(data=None)
    for pmid, rec in eutils_corpus.records.items():
        server.records[pmid] = type(rec)(rec.pmid, rec.xml, rec.entry_date, rec.version)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def empty_eutils_server() -> Iterator[EutilsStandin]:
    """A stand-in server with no records (add them with ``add_records``)."""
    server = EutilsStandin(data=None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def eutils_subprocess() -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Start ``python -m tests.standin.eutils`` in another process; returns (process, url).

    Extra arguments are passed to the command line (e.g. ``"--cap", "50"``). Processes are
    terminated at the end of the test. Control it over HTTP under ``<url>_standin/``.
    """
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.standin.eutils", "--port", "0", *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("EUTILS_URL="):
            proc.kill()
            raise RuntimeError(f"stand-in server did not start: {line!r}")
        return proc, line.split("=", 1)[1]

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
