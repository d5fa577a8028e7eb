"""Shared set-up for the report, export and browser tests (no tests here).

Stored records are judged by the real classifier, as `litmon run` does.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from monitor.store.db import session_scope
from monitor.store.models import ArticleRow, FeedArticle

HOSTILE_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)>"

@pytest.fixture
def classifier() -> str:
    """Report, export and browser tests classify with the real classifier (`litmon run`'s own);
    the fixture names that choice for the tests that ask for it."""
    return "real"


def set_title(engine: Any, pmid: str, title: str) -> None:
    """Replace a stored record's title as if the record had said so."""
    with session_scope(engine) as session:
        row = session.get(ArticleRow, pmid)
        record = dict(row.record)
        record["title"] = title
        session.execute(update(ArticleRow).where(ArticleRow.pmid == pmid)
                        .values(record=record, title=title))


def week_pmids(engine: Any) -> list[str]:
    with session_scope(engine) as session:
        return sorted(session.execute(select(FeedArticle.pmid)).scalars())
