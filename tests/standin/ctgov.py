"""A stand-in for ClinicalTrials.gov API v2 ``GET /api/v2/studies``.

Two modes. *Recorded*: ``CtgovStandin.recorded()`` serves the real recorded pages
(tests/data/clinicaltrials/biomcp__search_phelan_*) by their own ``nextPageToken`` chain; the
token of the last recorded page is answered with an empty ``studies`` page and no token (the
API allows an empty page). *Studies*: ``add_study(study_json)`` and the server pages them
itself (``pageSize``, ``nextPageToken`` absent on the last page, ``totalCount`` on the first
page only with ``countTotal=true``), honouring ``filter.advanced=AREA[LastUpdatePostDate]
RANGE[date,MAX]``. Unknown page tokens answer HTTP 400 as the real API does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.standin.jsonhttp import JsonStandin

DATA = Path(__file__).resolve().parents[1] / "data" / "clinicaltrials"
RECORDED_PAGES = ("biomcp__search_phelan_limit5_20260811.json", "biomcp__search_phelan_next_20260811.json")
_RANGE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),\s*MAX\]")


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


class CtgovStandin(JsonStandin):
    def __init__(self) -> None:
        super().__init__()
        self.pages: list[dict[str, Any]] | None = None
        self.studies: dict[str, dict[str, Any]] = {}

    @classmethod
    def recorded(cls) -> CtgovStandin:
        s = cls()
        s.pages = [load(n) for n in RECORDED_PAGES]
        return s

    def add_study(self, study: dict[str, Any]) -> str:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        with self.lock:
            self.studies[nct] = study
        return nct

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        if not path.endswith("/studies"):
            return 404, {"message": f"no such endpoint {path}"}
        token = params.get("pageToken")
        with self.lock:
            if self.pages is not None:
                return self._recorded(token)
            return self._paged(params, token)

    def _recorded(self, token: str | None) -> tuple[int, Any]:
        assert self.pages is not None
        if token is None:
            return 200, self.pages[0]
        for i, page in enumerate(self.pages):
            if page.get("nextPageToken") == token:
                return 200, self.pages[i + 1] if i + 1 < len(self.pages) else {"studies": []}
        return 400, {"message": f"invalid pageToken {token}"}

    def _paged(self, params: dict[str, str], token: str | None) -> tuple[int, Any]:
        studies = sorted(self.studies.values(), key=lambda s: s["protocolSection"]["identificationModule"]["nctId"])
        m = _RANGE.search(params.get("filter.advanced", ""))
        if m:
            studies = [s for s in studies
                       if s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] >= m.group(1)]
        size = max(1, min(int(params.get("pageSize", "10")), 1000))
        start = 0
        if token is not None:
            if not token.startswith("tok-") or not token[4:].isdigit():
                return 400, {"message": f"invalid pageToken {token}"}
            start = int(token[4:])
        page: dict[str, Any] = {"studies": studies[start : start + size]}
        if params.get("countTotal") == "true" and token is None:
            page["totalCount"] = len(studies)
        if start + size < len(studies):
            page["nextPageToken"] = f"tok-{start + size}"
        return 200, page
