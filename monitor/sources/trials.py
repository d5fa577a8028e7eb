"""ClinicalTrials.gov (API v2): search a feed's trials query, read each study's registry facts
and outcome time frames, and store them.

Facts relied on (/work/shared/docs/eutils.md §8): ``GET studies`` with ``query.cond``,
``query.intr``, ``query.term``; ``filter.advanced=AREA[LastUpdatePostDate]RANGE[date,MAX]`` for
"updated since"; paging by ``pageToken`` = the previous ``nextPageToken``, which is absent on
the last page; a page may have an empty ``studies`` array; later pages repeat the same
parameters. Outcome time frames are ``protocolSection.outcomesModule.{primary,secondary,
other}Outcomes[].timeFrame``.

A trial is stored twice over, on purpose: ``trial`` keeps the registry facts, and an article
row keyed by the NCT id (source "trial") carries it through feeds, classification, digests and
reports like any other record.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from monitor.classify.timeframe import Outcome, classify_trial
from monitor.records import AbstractSection, Article, Author, HistoryDate, PubDate
from monitor.sources.http import JsonClient, SourceError

DEFAULT_URL = "https://clinicaltrials.gov/api/v2/"
PAGE_SIZE = 100
MAX_PAGES = 500  # a runaway token loop must end


@dataclass(frozen=True)
class Trial:
    nct_id: str
    title: str
    status: str | None
    start_date: str | None
    primary_completion_date: str | None
    completion_date: str | None
    first_posted: str | None
    last_update_posted: str | None
    enrollment: int | None
    enrollment_type: str | None
    has_results: bool
    summary: str
    conditions: tuple[str, ...]
    interventions: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    reference_pmids: tuple[str, ...]  # publications of this trial's results (RESULT / DERIVED)
    design: str | None
    sponsor: str | None
    raw: dict[str, Any]

    @property
    def record_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()

    def outcomes_json(self) -> list[dict[str, str]]:
        return [{"kind": o.kind, "measure": o.measure, "time_frame": o.time_frame,
                 "description": o.description} for o in self.outcomes]


def judge_trial(trial: Trial, threshold_weeks: float) -> Any:
    """The classification of a registered trial: follow-up from its outcome time frames."""
    return classify_trial(trial.title, trial.summary, trial.outcomes, threshold_weeks=threshold_weeks,
                          design=trial.design, enrollment=trial.enrollment, registry_id=trial.nct_id)


def _date(struct: Any) -> str | None:
    return struct.get("date") if isinstance(struct, dict) else None


def parse_study(study: dict[str, Any]) -> Trial:
    """One v2 study object (as in ``studies[]`` or ``GET studies/{nctId}``)."""
    p = study.get("protocolSection") or {}
    ident = p.get("identificationModule") or {}
    status = p.get("statusModule") or {}
    design = p.get("designModule") or {}
    nct = ident.get("nctId")
    if not nct:
        raise ValueError("study without protocolSection.identificationModule.nctId")
    outcomes: list[Outcome] = []
    om = p.get("outcomesModule") or {}
    for kind in ("primary", "secondary", "other"):
        for o in om.get(f"{kind}Outcomes") or ():
            outcomes.append(Outcome(kind, (o.get("measure") or "").strip(),
                                    (o.get("timeFrame") or "").strip(), (o.get("description") or "").strip()))
    refs = ((p.get("referencesModule") or {}).get("references")) or ()
    ref_pmids = tuple(str(r["pmid"]) for r in refs
                      if r.get("pmid") and str(r.get("type", "")).upper() in ("RESULT", "DERIVED"))
    enrol = design.get("enrollmentInfo") or {}
    info = design.get("designInfo") or {}
    study_type = str(design.get("studyType") or "").upper()
    if study_type == "INTERVENTIONAL":
        kind = "randomised-trial" if str(info.get("allocation") or "").upper() == "RANDOMIZED" else "non-randomised-trial"
    elif study_type == "OBSERVATIONAL":
        kind = "cohort"
    else:
        kind = None
    arms = p.get("armsInterventionsModule") or {}
    return Trial(
        nct_id=nct,
        title=ident.get("briefTitle") or ident.get("officialTitle") or nct,
        status=status.get("overallStatus"),
        start_date=_date(status.get("startDateStruct")),
        primary_completion_date=_date(status.get("primaryCompletionDateStruct")),
        completion_date=_date(status.get("completionDateStruct")),
        first_posted=_date(status.get("studyFirstPostDateStruct")),
        last_update_posted=_date(status.get("lastUpdatePostDateStruct")),
        enrollment=int(enrol["count"]) if str(enrol.get("count", "")).isdigit() else None,
        enrollment_type=enrol.get("type"),
        has_results=bool(study.get("hasResults")),
        summary=((p.get("descriptionModule") or {}).get("briefSummary") or "").strip(),
        conditions=tuple((p.get("conditionsModule") or {}).get("conditions") or ()),
        interventions=tuple(i.get("name", "") for i in arms.get("interventions") or () if i.get("name")),
        outcomes=tuple(outcomes),
        reference_pmids=ref_pmids,
        design=kind,
        sponsor=((p.get("sponsorCollaboratorsModule") or {}).get("leadSponsor") or {}).get("name"),
        raw=study,
    )


def _iso(text: str | None) -> date | None:
    if not text:
        return None
    parts = text.split("-")
    try:
        return date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)
    except (ValueError, IndexError):
        return None


def trial_article(trial: Trial) -> Article:
    """The trial as a record feeds, digests and reports can show (key: the NCT id)."""
    sections = []
    if trial.summary:
        sections.append(AbstractSection(html.escape(trial.summary, quote=False), "Summary"))
    for o in trial.outcomes:
        label = {"primary": "Primary outcome", "secondary": "Secondary outcome"}.get(o.kind, "Other outcome")
        text = o.measure + (f" — time frame: {o.time_frame}" if o.time_frame else "")
        sections.append(AbstractSection(html.escape(text, quote=False), label))
    posted = _iso(trial.first_posted)
    status = (trial.status or "").replace("_", " ").lower()
    return Article(
        pmid=trial.nct_id,
        kind="trial",
        title=html.escape(trial.title, quote=False),
        abstract=tuple(sections),
        authors=(Author(collective_name=trial.sponsor),) if trial.sponsor else (),
        journal="ClinicalTrials.gov",
        journal_abbrev="ClinicalTrials.gov" + (f" ({status})" if status else ""),
        pub_date=PubDate(year=posted.year, month=posted.month, day=posted.day) if posted else PubDate(),
        history=(HistoryDate("entrez", posted),) if posted else (),
        status=trial.status,
        date_revised=_iso(trial.last_update_posted),
    )


class TrialsClient(JsonClient):
    name = "ClinicalTrials.gov"

    def __init__(self, base_url: str = DEFAULT_URL, **kwargs: Any) -> None:
        kwargs.setdefault("rate", 0.8)  # about 50 requests a minute is the commonly cited limit
        super().__init__(base_url, **kwargs)

    def search(self, *, condition: str | None = None, intervention: str | None = None,
               term: str | None = None, updated_since: date | None = None,
               page_size: int = PAGE_SIZE) -> Iterator[list[Trial]]:
        """Every matching study, a page at a time, following nextPageToken to the end."""
        params: dict[str, str] = {"format": "json", "countTotal": "true", "pageSize": str(page_size)}
        if condition:
            params["query.cond"] = condition
        if intervention:
            params["query.intr"] = intervention
        if term:
            params["query.term"] = term
        if updated_since is not None:
            params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{updated_since:%Y-%m-%d},MAX]"
        seen_tokens: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.get_json("studies", params)
            if not isinstance(page, dict) or not isinstance(page.get("studies", []), list):
                raise SourceError(f"ClinicalTrials.gov answered something that is not a studies page: {str(page)[:200]!r}")
            yield [parse_study(s) for s in page.get("studies") or ()]
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen_tokens:
                raise SourceError(f"ClinicalTrials.gov repeated page token {token!r}")
            seen_tokens.add(token)
            params.pop("countTotal", None)  # the first page only
            params["pageToken"] = token
        raise SourceError(f"ClinicalTrials.gov: more than {MAX_PAGES} pages; narrow the trials query")
