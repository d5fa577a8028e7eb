"""Command-line commands, one module per area; each module has ``register(subparsers)``.

The handlers are thin: they parse, call the library, print. ``Context`` reads the settings and
opens the database lazily, so ``--help`` and ``feeds check`` work without a database.
"""

from __future__ import annotations

import sys
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

from monitor.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from monitor.feeds import Feed
    from monitor.pubmed.client import EutilsClient


class CommandError(Exception):
    """A user-facing failure: printed as 'litmon: error: ...' with exit status 2."""


class Context:
    def __init__(self, environ: dict[str, str] | None = None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self._environ = environ
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env(self._environ)

    @cached_property
    def engine(self) -> Engine:
        from monitor.store.db import make_engine

        return make_engine(self.settings.effective_database_url)

    @cached_property
    def db(self) -> Engine:
        """The engine with the schema brought up to date (migrations are safe to repeat)."""
        from monitor.store.db import upgrade

        upgrade(self.engine)
        return self.engine

    def feeds(self, name: str | None = None) -> list[Feed]:
        from monitor.feeds import load_feeds, select

        feeds = load_feeds(self.settings.feeds_dir)
        if not feeds:
            raise CommandError(f"no feed files (*.toml) in {self.settings.feeds_dir} (LITMON_FEEDS_DIR)")
        return select(feeds, name)

    def client(self) -> EutilsClient:
        from monitor.pubmed.client import EutilsClient

        s = self.settings
        return EutilsClient(
            s.eutils_url, api_key=s.ncbi_api_key, tool=s.ncbi_tool, email=s.ncbi_email,
            read_timeout=s.http_timeout, deadline=s.http_deadline,
            max_attempts=s.http_max_attempts, backoff_base=s.http_backoff,
        )

    def print(self, *args: Any) -> None:
        print(*args, file=self.stdout)

    def warn(self, *args: Any) -> None:
        print(*args, file=self.stderr)
