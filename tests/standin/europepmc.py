"""A stand-in for the Europe PMC REST ``GET search``.

*Recorded*: ``EuropePmcStandin.recorded()`` serves the ten real consecutive pages of
tests/data/europepmc/pyeuropepmc__fetch_10pages_cancer.json by their ``nextCursorMark``
chain (``cursorMark=*`` first); the last recorded page's cursor is answered with the real
zero-result page (no ``nextCursorMark``), which ends the results. *Results*:
``add_result(result_json)`` and the server pages them itself by ``pageSize`` with its own
cursor marks, dropping ``nextCursorMark`` on the last page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.standin.jsonhttp import JsonStandin

DATA = Path(__file__).resolve().parents[1] / "data" / "europepmc"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


class EuropePmcStandin(JsonStandin):
    def __init__(self) -> None:
        super().__init__()
        self.pages: list[dict[str, Any]] | None = None
        self.results: dict[str, dict[str, Any]] = {}

    @classmethod
    def recorded(cls) -> EuropePmcStandin:
        s = cls()
        s.pages = load("pyeuropepmc__fetch_10pages_cancer.json")
        return s

    def add_result(self, result: dict[str, Any]) -> str:
        with self.lock:
            self.results[result["id"]] = result
        return result["id"]

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        if not path.endswith("/search"):
            return 404, {"errCode": 404, "errMsg": f"no such endpoint {path}"}
        if "query" not in params:
            return 400, {"errCode": 400, "errMsg": "query is required"}
        cursor = params.get("cursorMark", "*")
        with self.lock:
            if self.pages is not None:
                return self._recorded(cursor)
            return self._paged(params, cursor)

    def _recorded(self, cursor: str) -> tuple[int, Any]:
        assert self.pages is not None
        if cursor == "*":
            return 200, self.pages[0]
        for i, page in enumerate(self.pages):
            if page.get("nextCursorMark") == cursor:
                return 200, self.pages[i + 1] if i + 1 < len(self.pages) else load("pyeuropepmc__search_no_results.json")
        return 400, {"errCode": 400, "errMsg": f"invalid cursorMark {cursor}"}

    def _paged(self, params: dict[str, str], cursor: str) -> tuple[int, Any]:
        results = sorted(self.results.values(), key=lambda r: r["id"])
        size = max(1, min(int(params.get("pageSize", "25")), 1000))
        start = 0 if cursor == "*" else int(cursor.removeprefix("cm-"))
        page: dict[str, Any] = {"version": "6.9", "hitCount": len(results),
                                "request": {"queryString": params["query"], "cursorMark": cursor,
                                            "pageSize": size},
                                "resultList": {"result": results[start : start + size]}}
        if start + size < len(results):
            page["nextCursorMark"] = f"cm-{start + size}"
        return 200, page
