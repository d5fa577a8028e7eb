"""classify(): the long-term-outcomes verdict and the study profile of one record."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import followup as fu
from .domains import outcome_domains
from .fastre import (
    HeadSet,
    digit_starts,
    first3s,
    glued_firsts,
    lower,
    match_at,
    positions,
    words_of,
)
from .profile import design_of, registry_ids, sample_size
from .relevance import relevance_of

if TYPE_CHECKING:
    from monitor.records import Article

CLASSIFIER_VERSION = "1.4.0"

_I = re.IGNORECASE


@dataclass(frozen=True)
class TimePoint:
    weeks: float
    phrase: str
    kind: str  # follow-up | outcome-period | post-treatment | treatment | assessment | in-hospital

    def to_json(self) -> dict[str, Any]:
        return {"weeks": self.weeks, "phrase": self.phrase, "kind": self.kind}


@dataclass(frozen=True)
class Classification:
    version: str
    threshold_weeks: float
    long_term: str  # "yes" | "no" | "unclear"
    longest_followup_weeks: float | None
    time_points: tuple[TimePoint, ...]
    post_treatment_assessment: bool | None
    evidence: str | None
    reason: str
    design: str
    sample_size: int | None
    registry_ids: tuple[str, ...]
    outcome_domains: tuple[str, ...]
    relevance: str
    relevance_note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "long_term": self.long_term,
            "longest_followup_weeks": self.longest_followup_weeks,
            "evidence": self.evidence,
            "reason": self.reason,
            "time_points": [t.to_json() for t in self.time_points],
            "post_treatment_assessment": self.post_treatment_assessment,
            "design": self.design,
            "sample_size": self.sample_size,
            "registry_ids": list(self.registry_ids),
            "outcome_domains": list(self.outcome_domains),
            "relevance": self.relevance,
            "relevance_note": self.relevance_note,
            "threshold_weeks": self.threshold_weeks,
            "version": self.version,
        }


# -- statements and signals used when no time point is found ------------------------------
# Matched against lower-cased text without IGNORECASE and without a leading \b per branch:
# Python's re then skips quickly to candidate first letters (about 30x faster here).


def _lower_re(pattern: str) -> re.Pattern[str]:
    body = pattern.replace("Kaplan", "kaplan").replace("Cox", "cox").replace("WBC", "wbc")
    body = re.sub(r"(^|\|)\\b", r"\1", body)
    return re.compile(r"(?<![a-z])(?:" + body + ")")


_LONG_TERM_STATEMENT = _lower_re(
    r"\blong[- ]?term (?:follow[- ]?up|outcomes?|results?|effects?|efficacy|benefits?|survival|"
    r"safety|data|functional outcomes?|function|sequelae|prognosis|recurrence|durability|success|"
    r"evaluation|assessment|observation|response|remission)\b",
)
_OWN_STUDY = _lower_re(
    r"\b(?:was|were|are|is|have been|had been)\s+(?:\w+\s+)?(?:assessed|evaluated|analy[sz]ed|"
    r"examined|investigated|compared|measured|recorded|reported|studied|followed|documented|"
    r"obtained|collected|determined|available|observed|reviewed)\b|\b(?:we|our|this study|the "
    r"present study|the aim|aims?|objectives?|purpose)\b|\bto (?:assess|evaluate|analy[sz]e|"
    r"examine|investigate|compare|determine|report|describe|study)\b|\b(?:at|during|after|with) "
    r"(?:a |the )?long[- ]?term follow[- ]?up\b|\bpredicted\b|\bshowed\b|\bremained\b",
)
_BACKGROUND = _lower_re(
    r"\b(?:unknown|unclear|remains?|little is known|lacking|lack of|needed|should|future|no data|"
    r"not known|few studies|limited data|has not been|have not been|is not|are not|uncertain|"
    r"warrant\w*|may|might|could|whether|important|depends?)\b|"
    r"\b(?:studies|trials|research|literature|reports)\s+(?:have|has)\s+(?:shown|demonstrated|"
    r"suggested|reported|found)\b|\b(?:has|have)\s+been\s+(?:shown|demonstrated|reported)\b",
)
_BEFORE_AFTER_ONLY = _lower_re(
    r"\bbefore and (?:immediately )?after (?:the\s+)?(?:\w+\s+){0,3}?(?:treatment|intervention|"
    r"therapy|program(?:me)?|training|sessions?|series|cycle|cryotherapy|WBC|course|procedure|"
    r"exposure|stimulation)\b|\b(?:pre|prior)[- ]?(?:and|/)\s?post[- ]?(?:treatment|intervention|"
    r"test|training)\b|\bat (?:the )?(?:beginning|start) and (?:at )?(?:the )?end of\b|"
    r"\bpre-?test[- /]post-?test\b",
)
_OVER_TIME = _lower_re(
    r"\bsurviv(?:al|ed|ors?)\b|(?<!hospital )(?<!in-hospital )(?<!operative )(?<!perioperative )"
    r"(?<!postoperative )(?<!30-day )mortality\b|\bdied\b|\brecurrence\b|\brelapses?\b|"
    r"\bprognos(?:is|tic)\b|\bfollow[- ]?up\b|\bfollowed[- ]up\b|\blongitudinal\w*\b|"
    r"\blong[- ]?term\b|\bprogression\b|\bdecline\b|"
    r"\binfection rates?\b|\bre-?admissions?\b|\brepeat(?:ed)? (?:biops\w+|measurements?|"
    r"assessments?|examinations?|imaging|scans?)\b|\bKaplan|\bCox\b|\bhazard ratio|\blife[- ]table|"
    r"\bcumulative\b|\bprospective cohort\b|\bdeveloped\b|"
    # ("subsequent analyses" are steps of the statistics, not a later time)
    r"\bsubsequent\w*\b(?!\s+(?:\w+\s+)?(?:analy[sz]\w*|regression|models?|tests?)\b)",
)
_SHORT_TERM = _lower_re(
    r"\bin-?hospital\b|\bhospital mortality\b|\bintra-?operative\w*|\bperi-?operative\w*|"
    r"\bperi-?procedural\b|\bshort[- ]term\b|\bat discharge\b|\buntil discharge\b|"
    r"\blength of (?:hospital )?stay\b|\bhospital stay\b|\b(?:before|prior to) discharge\b|"
    r"\bshort-? (?:and|or) long[- ]?term\b|\bduring (?:the )?(?:procedure|operation|"
    r"surgery|hospitali[sz]ation|session|admission|insertion)\b|\bimmediately after\b|"
    r"\bat (?:the time of )?(?:insertion|presentation|admission|delivery|birth)\b|\bone[- ]time\b|"
    r"\bsingle (?:visit|measurement|assessment|session|examination|time point|occasion)\b|"
    r"\bscreening\b|\bprevalence\b|\bsensitivity\b|\bspecificity\b|\baccuracy\b|"
    r"\bsuccess rate\b|\bcross[- ]sectional\b|\bearly (?:results?|outcomes?|post-?operative|"
    r"complications?|h(?:a)?emodynamic)\b",
)
_MESH_OVER = {
    "follow-up studies", "longitudinal studies", "survival analysis", "survival rate",
    "disease-free survival", "kaplan-meier estimate", "proportional hazards models",
    "disease progression", "recurrence", "neoplasm recurrence, local", "mortality",
    "cause of death", "incidence", "prognosis",
}
# MeSH headings that say the subjects themselves were followed (a subset of _MESH_OVER)
_MESH_FOLLOWED = {
    "follow-up studies", "longitudinal studies", "survival analysis", "survival rate",
    "disease-free survival", "kaplan-meier estimate", "proportional hazards models",
}
# Headings indexers give to many records with no follow-up of their own (a single postoperative
# X-ray, one blood count, two assessments in one dosing interval): like _WEAK_OVER they add
# weight to other evidence of outcomes over time, and never decide alone.
_MESH_WEAK_OVER = {"follow-up studies", "incidence", "prognosis"}
_MESH_SHORT = {
    "hospital mortality", "length of stay", "intraoperative care", "monitoring, intraoperative",
    "cross-sectional studies", "sensitivity and specificity", "prevalence", "perioperative period",
    "perioperative care", "intraoperative complications", "predictive value of tests",
}

# Where each pattern can match: every match starts with one of these (lower-case) heads.
_LONG_TERM_HEADS = ("long",)
_BEFORE_AFTER_HEADS = ("before and", "pre", "prior", "at ")
_OVER_TIME_HEADS = (
    "surviv", "mortality", "died", "recurrence", "relapse", "prognos", "follow", "long",
    "progression", "decline", "infection rate", "readmission", "re-admission", "repeat",
    "kaplan", "cox", "hazard ratio", "life", "cumulative", "prospective cohort", "developed",
    "subsequent",
)
_SHORT_TERM_HEADS = (
    "in-hospital", "inhospital", "hospital ", "intra", "peri", "short", "at ",
    "until discharge", "length of", "before discharge", "prior to discharge", "during ",
    "immediately after", "one-time", "one time", "single ", "screening", "prevalence",
    "sensitivity", "specificity", "accuracy", "success rate", "cross", "early ",
)
_BACKGROUND_HEADS = (
    "unknown", "unclear", "remain", "little is known", "lack", "needed", "should", "future",
    "no data", "not known", "few studies", "limited data", "has", "have", "is not", "are not",
    "uncertain", "warrant", "may", "might", "could", "whether", "important", "depend",
    "studies", "trials", "research", "literature", "reports",
)

# the same, indexed for _SentenceScan
_LONG_TERM_HEADSET, _BEFORE_AFTER_HEADSET, _OVER_TIME_HEADSET, _SHORT_TERM_HEADSET = map(
    HeadSet, (_LONG_TERM_HEADS, _BEFORE_AFTER_HEADS, _OVER_TIME_HEADS, _SHORT_TERM_HEADS))

_WEAK_OVER = {"develo"}  # _norm("developed")

_KIND_RANK = {
    "follow-up": 0, "post-treatment": 1, "outcome-period": 2, "assessment": 3,
    "in-hospital": 4, "treatment": 5,
}


def _fmt_weeks(w: float) -> str:
    if w >= 104:
        v, u = w / 52.18, "year"
    elif w >= 4.2:
        v, u = w / 4.345, "month"
    elif w >= 2:
        v, u = w, "week"
    elif w >= 1 / 7:
        v, u = w * 7, "day"
    else:
        v, u = w * 168, "hour"
    r = round(v, 1)
    txt = f"{r:g}"
    return f"{txt} {u}{'' if r == 1 else 's'}"


def classify(
    title: str,
    abstract: str,
    mesh: Sequence[str] = (),
    publication_types: Sequence[str] = (),
    threshold_weeks: float = 26.0,
) -> Classification:
    """Judge one record: does it look at long-term outcomes? (see LABELING.md)."""
    title = title or ""
    abstract = abstract or ""
    full = f"{title}\n{abstract}"
    low = lower(full)  # lower-cased once; the profile patterns run on it
    words = words_of(low)  # its words, to skip patterns whose first word is absent
    mesh_l = {m.lower() for m in mesh}
    firsts = first3s(words)  # their first three letters, to skip heads of no word
    design = design_of(full, mesh, publication_types, low, firsts, mesh_l)
    sents = fu.sentences_of(title, abstract)

    abstract_low = low[len(title) + 1:]
    digits = digit_starts(abstract_low)  # shared by time points and sample size
    # built once, for the time points and the no-time-point cues (neither for lab studies)
    index = None if design == "lab-animal" else fu.SentenceIndex(sents, abstract_low)
    hits = [] if index is None else fu.find_hits(
        sents, abstract_low, words, digits, firsts, index)
    treat_len = fu.treatment_length(hits)
    if design == "cross-sectional" and any(h.kind == "follow-up" for h in hits):
        # "an observational, cross-sectional, and longitudinal analysis ... with a median
        # follow-up of 117 months": subjects followed up are a cohort, whatever else it did
        design = "cohort"

    # -- follow-up counted from the end of treatment: add the treatment length ----------
    scored: list[tuple[float, fu.Hit, str]] = []
    for h in hits:
        weeks = h.weeks
        note = ""
        if h.after_end_of_treatment and treat_len:
            weeks = h.weeks + treat_len
            note = f" after the end of a {_fmt_weeks(treat_len)} treatment"
        scored.append((round(weeks, 1), h, note))

    time_points: list[TimePoint] = []
    seen: set[tuple[float, str]] = set()
    for weeks, h, _ in scored:
        key = (weeks, h.phrase)
        if key not in seen:
            seen.add(key)
            time_points.append(TimePoint(weeks, h.phrase, h.kind))

    long_term: str
    longest: float | None = None
    evidence: str | None = None
    reason: str
    post: bool | None = None

    if scored:
        best = max(scored, key=lambda t: (t[0], -_KIND_RANK.get(t[1].kind, 9), -t[1].sentence))
        weeks, h, note = best
        longest = weeks
        evidence = fu.evidence_text(sents[h.sentence])
        long_term = "yes" if weeks >= threshold_weeks else "no"
        label = {
            "follow-up": "follow-up", "post-treatment": "assessment",
            "outcome-period": "outcome over", "assessment": "assessment at",
            "in-hospital": "hospital course up to", "treatment": "end of treatment at",
        }[h.kind]
        central = " (central value)" if h.central else ""
        reason = f"{label} {_fmt_weeks(h.weeks)}{note}{central}: “{h.phrase}”"
        kinds = {x.kind for x in hits}
        non_treat = [w for w, x, _ in scored if x.kind != "treatment"]
        if "post-treatment" in kinds:
            post = True
        elif kinds == {"treatment"}:
            post = False
        elif non_treat and (treat_len is None or max(non_treat) > treat_len):
            post = True
        else:
            post = False
    else:
        long_term, evidence, reason, post = _no_time_point(
            sents, design, mesh_l, abstract_low, words, firsts, low, index
        )

    relevance = relevance_of(full, low, firsts)
    body = abstract or title
    body_low = low[len(title) + 1:] if abstract else low[: len(title)]
    return Classification(
        version=CLASSIFIER_VERSION,
        threshold_weeks=threshold_weeks,
        long_term=long_term,
        longest_followup_weeks=longest,
        time_points=tuple(time_points),
        post_treatment_assessment=post,
        evidence=evidence,
        reason=reason,
        design=design,
        sample_size=sample_size(body, body_low, words, digits if abstract else None),
        registry_ids=registry_ids(full, low, firsts),
        outcome_domains=outcome_domains(full, low=low, words=words, firsts=firsts),
        relevance=relevance[0],
        relevance_note=relevance[1],
    )


class _SentenceScan:
    """``pattern.finditer(s.low)`` for every sentence ``s`` at once, trying the pattern only
    where one of its heads occurs: the heads are looked for once in the whole lower-cased
    abstract (``abstract_low``) and the occurrences shared out to the sentences.

    ``firsts``, ``glued``: the first three characters of every word of ``low``, the
    lower-cased text the abstract was cut from, and of every place in it where a letter is
    glued to a digit (fastre.first3s and fastre.glued_firsts), when at hand: the patterns
    begin with ``(?<![a-z])`` and a letter, so in the abstract only the heads beginning so
    are looked for. So too in the title, when its lower-cased text is a piece of ``low``
    after a space (so that its words are words of ``low``); else it is searched for all.
    ``index``: fu.SentenceIndex(sents, abstract_low), when at hand."""

    def __init__(
        self, sents: list[fu.Sentence], abstract_low: str | None, firsts: set[str] | None = None,
        glued: set[str] | None = None, low: str | None = None,
        index: fu.SentenceIndex | None = None,
    ) -> None:
        self.sents = sents
        self.index = index if index is not None else fu.SentenceIndex(sents, abstract_low)
        self.firsts = firsts
        self.glued = glued or set()
        self.title_gated = False
        if firsts is not None and low is not None and sents and sents[0].is_title:
            t = sents[0].low
            p = low.find(t)
            self.title_gated = p == 0 or (p > 0 and low[p - 1].isspace())

    def finditer(
        self, pattern: re.Pattern[str], heads: tuple[str, ...] | HeadSet
    ) -> list[list[re.Match[str]]]:
        if not isinstance(heads, HeadSet):
            heads = HeadSet(heads)
        here = heads.present(self.firsts, self.glued)
        abstract = self.index.low
        every = here if self.title_gated else heads.heads
        local = self.index.share(lambda low: positions(low, here if low is abstract else every))
        return [list(match_at(pattern, s.low, ps)) if ps else []
                for s, ps in zip(self.sents, local, strict=True)]


def _no_time_point(
    sents: list[fu.Sentence], design: str, mesh_l: set[str], abstract_low: str | None = None,
    words: set[str] | None = None, firsts: set[str] | None = None, low: str | None = None,
    index: fu.SentenceIndex | None = None,
) -> tuple[str, str | None, str, bool | None]:
    """(long_term, evidence, reason, post_treatment_assessment) when no time point is found.

    ``abstract_low``: the abstract lower-cased (fastre.lower), ``words``, ``firsts``: the
    words (fastre.words_of) of the text it was cut from and their first three letters,
    ``low``: that text lower-cased, ``index``: fu.SentenceIndex(sents, abstract_low), when
    at hand."""
    if design == "lab-animal":
        return "no", None, "laboratory/animal study: times are lab read-outs", None
    if words is not None and firsts is not None and abstract_low is not None:
        if low is not None:  # (the glued places of the title too: it is gated as well)
            scan = _SentenceScan(sents, abstract_low, firsts, glued_firsts(low, words), low, index)
        else:
            scan = _SentenceScan(sents, abstract_low, firsts, glued_firsts(abstract_low, words),
                                 index=index)
    else:
        scan = _SentenceScan(sents, abstract_low, index=index)
    for s, ms in zip(sents, scan.finditer(_LONG_TERM_STATEMENT, _LONG_TERM_HEADSET), strict=True):
        if not ms or (s.is_title and s.text.rstrip().endswith("?")):
            continue
        m = ms[0]
        if _OWN_STUDY.search(s.low) and not _BACKGROUND.search(s.low):
            return "yes", fu.evidence_text(s), f"states that {m.group(0).lower()} was assessed", None
    for s, ms in zip(sents, scan.finditer(_BEFORE_AFTER_ONLY, _BEFORE_AFTER_HEADSET), strict=True):
        if ms:
            return ("no", fu.evidence_text(s),
                    "assessed only before and after the intervention", False)
    if design == "cross-sectional":
        return "no", None, "cross-sectional design: no follow-up", None
    if design == "narrative-review":
        return "no", None, "narrative review: no subjects followed", None
    if design == "systematic-review":
        return "unclear", None, "review: follow-up of pooled studies not stated", None
    if design == "protocol":
        return "unclear", None, "protocol: follow-up time not stated", None
    over_time = scan.finditer(_OVER_TIME, _OVER_TIME_HEADSET)
    if design in ("case-series",) and not any(over_time):
        return "no", None, "case report/series with no follow-up", None
    # distinct kinds of evidence, so that one word repeated does not outvote the rest
    # (a sentence's background cue matters only where it has an over-time word)
    over_kinds: set[str] = set()
    for s, ms in zip(sents, over_time, strict=True):
        if not ms or s.is_title:
            continue
        kinds = {_norm(m.group(0)) for m in ms}
        if not kinds <= over_kinds and not _BACKGROUND.search(s.low):  # (only if it adds)
            over_kinds |= kinds
    over_weak = over_kinds & _WEAK_OVER
    short_kinds = {
        _norm(m.group(0))
        for s, ms in zip(sents, scan.finditer(_SHORT_TERM, _SHORT_TERM_HEADSET), strict=True)
        if not s.is_title
        for m in ms
    }
    over_kinds -= _WEAK_OVER  # words of many senses: they add weight, never decide alone
    if (design == "case-control" and not over_kinds and not mesh_l & _MESH_FOLLOWED
            and any(not s.is_title for s in sents)):
        # cases and controls compared, the exposure looked back on, and neither the abstract
        # nor a follow-up MeSH heading tells of outcomes over time: no follow-up of subjects
        return "no", None, "case-control design: no follow-up of subjects", None
    mesh_over = mesh_l & _MESH_OVER
    mesh_weak = mesh_over & _MESH_WEAK_OVER
    over = len(over_kinds) + len(mesh_over - mesh_weak)
    if over or (over_weak and mesh_weak):  # (weak words of the text and the indexer agreeing)
        over += len(over_weak) + len(mesh_weak)
    short = len(short_kinds) + len(mesh_l & _MESH_SHORT)
    if over > short:
        return "unclear", None, "no time point found", None
    return "no", None, "no time point found", None


_NON_AZ = re.compile(r"[^a-z]")


def _norm(word: str) -> str:
    return _NON_AZ.sub("", word.lower())[:6]


def classify_article(article: Article, threshold_weeks: float = 26.0) -> Classification:
    """classify() applied to a parsed PubMed record."""
    return classify(
        article.title_text,
        article.abstract_text,
        mesh=[h.descriptor for h in article.mesh],
        publication_types=[p.name for p in article.publication_types],
        threshold_weeks=threshold_weeks,
    )
