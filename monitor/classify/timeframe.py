"""Planned follow-up from a registered trial's outcome time frames (ClinicalTrials.gov).

A registration states each outcome's time frame in a short phrase ("12 months", "Week 16",
"Baseline, 3, 6 and 12 months", "2 year/end of study", "Baseline (single timepoint only)").
The longest one is the planned follow-up: it decides the long-term verdict directly, and the
outcome it belongs to is the evidence. Pure functions; the quantity patterns are the
classifier's own (``followup.QTY_RE``, ``LABEL_RE``), so "twelve weeks" reads the same here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .core import CLASSIFIER_VERSION, Classification, TimePoint, classify
from .followup import _UNIT_NAMES, LABEL_RE, QTY_RE, WEEKS_PER, _value

_KIND_ORDER = {"primary": 0, "secondary": 1, "other": 2}
_KIND_LABEL = {"primary": "Primary outcome", "secondary": "Secondary outcome", "other": "Other outcome"}


@dataclass(frozen=True)
class Outcome:
    kind: str  # primary | secondary | other
    measure: str
    time_frame: str = ""
    description: str = ""


def time_frame_weeks(text: str) -> float | None:
    """The latest time point a time-frame phrase names, in weeks; None when it names none."""
    if not text:
        return None
    best: float | None = None
    for m in QTY_RE.finditer(text):
        got = _value(m)
        unit = _UNIT_NAMES.get(m.group("unit").lower()) or _UNIT_NAMES.get(m.group("unit"))
        if got is None or unit is None:
            continue
        weeks = got[0] * WEEKS_PER[unit]
        best = weeks if best is None else max(best, weeks)
    for m in LABEL_RE.finditer(text):
        word = m.group("u").lower()
        unit = next((u for u in ("day", "week", "month", "year") if u in word), "day")
        nums = [int(n) for n in [m.group("n"), *re.findall(r"\d{1,3}", m.group("more") or "")]]
        weeks = max(nums) * WEEKS_PER[unit]
        best = weeks if best is None else max(best, weeks)
    return round(best, 1) if best is not None else None


def evidence_for(outcome: Outcome) -> str:
    return f"{_KIND_LABEL.get(outcome.kind, 'Outcome')}: {outcome.measure} — time frame: {outcome.time_frame}"


def classify_trial(title: str, summary: str, outcomes: Sequence[Outcome], *,
                   threshold_weeks: float = 26.0, design: str | None = None,
                   enrollment: int | None = None, registry_id: str | None = None) -> Classification:
    """The classifier's verdict for a registered trial, with the follow-up read from the
    outcome time frames. The rest of the profile (domains, relevance) comes from the text."""
    outcome_text = "\n".join(f"{_KIND_LABEL.get(o.kind, 'Outcome')}: {o.measure}. {o.description}"
                             for o in outcomes)
    base = classify(title, f"{summary}\n{outcome_text}", (), (), threshold_weeks)
    timed = [(w, o) for o in outcomes if (w := time_frame_weeks(o.time_frame)) is not None]
    registry = tuple(dict.fromkeys([*(x for x in [registry_id] if x), *base.registry_ids]))
    changes: dict[str, object] = {"registry_ids": registry, "version": CLASSIFIER_VERSION}
    if design:
        changes["design"] = design
    if enrollment is not None:
        changes["sample_size"] = enrollment
    if timed:
        weeks, outcome = max(timed, key=lambda t: (t[0], -_KIND_ORDER.get(t[1].kind, 9)))
        changes.update(
            long_term="yes" if weeks >= threshold_weeks else "no",
            longest_followup_weeks=weeks,
            evidence=evidence_for(outcome),
            reason=f"registered outcome time frame: {outcome.time_frame}",
            time_points=tuple(TimePoint(w, o.time_frame, "outcome-period") for w, o in timed),
            post_treatment_assessment=None,
        )
    elif outcomes:
        changes.update(long_term="unclear", longest_followup_weeks=None, evidence=None,
                       reason="no time point in the registered outcome time frames",
                       time_points=())
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
