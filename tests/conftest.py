"""Shared fixtures: a fresh database (SQLite and PostgreSQL), the stand-in E-utilities server,
and a way to run the CLI in-process with its own environment.

PostgreSQL: LITMON_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
names a server where the test user may CREATE DATABASE; each test gets a new database that is
dropped afterwards. Tests marked ``postgres`` fail (not skip) when the server does not answer, so
CI cannot go green without having tested PostgreSQL. ``-m "not postgres"`` leaves them out.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from monitor.commands import Context
from monitor.store.db import make_engine, upgrade

pytest_plugins = ["tests.standin.fixtures", "tests.smtp_fixtures", "tests.standin.sources_fixtures"]

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
PG_URL = os.environ.get(
    "LITMON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_admin() -> Engine:
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'litmon.db'}"
        return
    name = f"litmon_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with the schema migrated to head."""
    eng = make_engine(database_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def feeds_dir(tmp_path: Path) -> Path:
    """A feeds directory holding a copy of the shipped default feed."""
    d = tmp_path / "feeds"
    d.mkdir()
    (d / "wbc-ms.toml").write_text((REPO / "feeds" / "wbc-ms.toml").read_text())
    return d


@pytest.fixture
def litmon_env(tmp_path: Path, database_url: str, feeds_dir: Path, eutils_server) -> dict[str, str]:
    """LITMON_* settings pointing at the fresh database, the stand-in server and tmp dirs."""
    return {
        "LITMON_DATABASE_URL": database_url,
        "LITMON_DATA_DIR": str(tmp_path / "data"),
        "LITMON_EUTILS_URL": eutils_server.url,
        "LITMON_FEEDS_DIR": str(feeds_dir),
        "LITMON_REPORTS_DIR": str(tmp_path / "reports"),
        "LITMON_OUTBOX_DIR": str(tmp_path / "outbox"),
        "LITMON_NCBI_EMAIL": "tests@example.org",
        "LITMON_NCBI_TOOL": "litmon-tests",
    }


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(litmon_env: dict[str, str]):
    """Run ``litmon ARGS...`` in-process with ``litmon_env`` (plus overrides)."""
    from monitor.cli import main

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        ctx = Context(environ={**litmon_env, **(env or {})}, stdout=out, stderr=err)
        try:
            code = main(list(args), ctx=ctx)
        finally:
            if "engine" in ctx.__dict__:
                ctx.engine.dispose()
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
