"""Study profile: design, sample size and trial-registry ids."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .text import WORDNUM_LONG, parse_number

_I = re.IGNORECASE

DESIGNS = (
    "randomised-trial", "non-randomised-trial", "cohort", "case-control", "cross-sectional",
    "case-series", "systematic-review", "narrative-review", "protocol", "lab-animal", "other",
)

# -- registry ids ----------------------------------------------------------------------

_REGISTRY = re.compile(
    r"\b(?P<nct>NCT\s?\d{8})\b"
    r"|\b(?P<isrctn>ISRCTN\s?\d{8})\b"
    r"|\b(?P<actrn>ACTRN\s?\d{14})\b"
    r"|\bEudra\s?CT(?:\s*(?:no\.?|number|nr\.?|id))?\s*[:#]?\s*(?P<eudract>\d{4}-\d{6}-\d{2})\b"
    r"|\b(?P<ctri>CTRI/\d{4}/\d{2,3}/\d{6})\b"
    r"|\b(?P<drks>DRKS\s?\d{8})\b"
    r"|\b(?P<chictr>ChiCTR[-A-Z]*\d{6,}(?:-\d+)?)\b"
    r"|\b(?P<irct>IRCT\d{6,}N\d+)\b"
    r"|\b(?P<umin>UMIN\d{9})\b"
    r"|\b(?P<ntr>NTR\d{3,5})\b"
    r"|\b(?P<pactr>PACTR\d{15})\b",
    _I,
)


def registry_ids(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for m in _REGISTRY.finditer(text):
        key = m.lastgroup
        raw = m.group(key or 0)
        if key == "eudract":
            ident = f"EudraCT {raw}"
        elif key == "chictr":
            ident = "ChiCTR" + raw[6:].upper()
        else:
            ident = re.sub(r"\s+", "", raw).upper()
        if ident not in out:
            out.append(ident)
    return tuple(out)


# -- design ------------------------------------------------------------------------------

_PT_MAP = (
    ("clinical trial protocol", "protocol"),
    ("systematic review", "systematic-review"),
    ("meta-analysis", "systematic-review"),
    ("randomized controlled trial", "randomised-trial"),
    ("case reports", "case-series"),
    ("review", "narrative-review"),
    ("clinical trial", "non-randomised-trial"),
    ("controlled clinical trial", "non-randomised-trial"),
    ("observational study", "cohort"),
    ("editorial", "other"),
    ("comment", "other"),
    ("letter", "other"),
    ("news", "other"),
    ("practice guideline", "other"),
    ("guideline", "other"),
)

_T_SYSREV = re.compile(r"\bsystematic(?:al)?\s+(?:literature\s+)?review|\bmeta-?analys[ie]s\b|\bpooled analysis of (?:\w+ )?(?:trials|studies)", _I)
_T_PROTOCOL = re.compile(
    r"\b(?:study|trial) protocol\b|\bthis protocol\b|\bprotocol (?:for|of) a\b|\bwill be (?:randomi[sz]ed|recruited|enrolled|allocated|assessed|followed)",
    _I,
)
_T_RCT = re.compile(
    r"\brandomi[sz]ed(?:,?\s+(?:\w+[- ])?(?:blind\w*|placebo[- ]controlled|controlled|crossover|cross-over|parallel|pilot|clinical|multicent\w*|sham[- ]controlled|open[- ]label)\b)*,?\s+(?:\w+\s+)?(?:trial|study)\b"
    r"|\brandomly\s+(?:assigned|allocated|divided)|\bwere\s+randomi[sz]ed\b|\brandomi[sz]ation\s+of\b|\bRCT\b",
    _I,
)
_T_NONRAND = re.compile(
    r"\bnon-?randomi[sz]ed\b|\bsingle[- ]arm\b|\bopen[- ]label\b|\bpilot (?:study|trial)\b|\bquasi-?experimental\b"
    r"|\bpre-?(?:test)?[- /]?post-?(?:test)?\b|\bbefore[- ]and[- ]after\b|\bclinical trial\b|\buncontrolled (?:study|trial)\b|\bfeasibility (?:study|trial)\b",
    _I,
)
_T_CASECONTROL = re.compile(r"\bcase[- ]control\b", _I)
_T_CROSS = re.compile(
    r"\bcross[- ]sectional\b|\becological (?:study|analysis|design)\b|\bspatial (?:data )?analysis\b|"
    r"\b(?:online |web-based |national |postal )?survey\b|\bquestionnaire (?:study|survey)\b|\bprevalence study\b|\bDelphi\b",
    _I,
)
_T_CASE = re.compile(
    r"\bcase report\b|\bcase series\b|\bwe (?:report|present|describe) (?:a|an|the|two|three) (?:case|patient)|\b\d+-year-old (?:man|woman|boy|girl|male|female|patient|child)\b|\breport of (?:a|two|three) cases?\b",
    _I,
)
_T_COHORT = re.compile(
    r"\bcohort\b|\blongitudinal\b|\bfollow[- ]up study\b|\bprospective(?:ly)?\b|\bretrospective(?:ly)?\b|\bregistry\b|\bregister\b|\bdatabase\b|\bchart review\b|\bmedical records\b",
    _I,
)
_T_ANIMAL = re.compile(
    r"\b(?:mice|mouse|rats?|murine|rodents?|rabbits|piglets|pigs|porcine|canine model|dogs were|sheep|zebrafish|in vitro|cell lines?|cultured cells|xenograft)\b",
    _I,
)
_T_HUMAN = re.compile(
    r"\b(?:patients|participants|volunteers|subjects|women|men|children|adults|persons|people|individuals)\b",
    _I,
)
_T_NARRATIVE = re.compile(r"\b(?:this|we|the present) review\b|\bnarrative review\b|\bwe review\b|\breview of the literature\b|\bliterature review\b", _I)

_HUMAN_MESH = {"female", "male", "adult", "aged", "middle aged", "child", "infant", "adolescent",
               "young adult", "aged, 80 and over", "child, preschool", "infant, newborn",
               "pregnancy", "patients", "physicians", "students"}
_ANIMAL_MESH = {"mice", "rats", "dogs", "rabbits", "swine", "sheep", "cattle", "mice, inbred c57bl",
                "rats, sprague-dawley", "rats, wistar", "disease models, animal", "animals", "zebrafish",
                "cell line", "cells, cultured", "cell line, tumor", "macaca mulatta", "guinea pigs"}


def design_of(text: str, mesh: Sequence[str], publication_types: Sequence[str]) -> str:
    mesh_l = {m.lower() for m in mesh}
    pts = [p.lower() for p in publication_types]
    has_humans = "humans" in mesh_l
    # publication types first
    for key, design in _PT_MAP:
        if any(p == key or p.startswith(key + ",") for p in pts):
            if design == "narrative-review" and _T_SYSREV.search(text):
                return "systematic-review"
            if design == "non-randomised-trial" and _T_RCT.search(text):
                return "randomised-trial"
            if design == "cohort" and _T_CROSS.search(text):
                return "cross-sectional"
            if design == "cohort" and _T_CASECONTROL.search(text):
                return "case-control"
            return design
    if any(p.startswith("clinical trial") or p.endswith(" trial") for p in pts):
        return "randomised-trial" if _T_RCT.search(text) else "non-randomised-trial"
    # strong text cues
    if _T_SYSREV.search(text):
        return "systematic-review"
    if _T_PROTOCOL.search(text):
        return "protocol"
    if mesh_l and not has_humans and (mesh_l & _ANIMAL_MESH or not mesh_l & _HUMAN_MESH):
        return "lab-animal"
    if not mesh_l and _T_ANIMAL.search(text) and not _T_HUMAN.search(text):
        return "lab-animal"
    if _T_RCT.search(text) and not re.search(r"\bnon-?randomi[sz]ed\b", text, _I):
        return "randomised-trial"
    if _T_CASECONTROL.search(text) or "case-control studies" in mesh_l:
        return "case-control"
    if _T_CROSS.search(text) or mesh_l & {"cross-sectional studies", "population surveillance"}:
        return "cross-sectional"
    if _T_CASE.search(text):
        return "case-series"
    if _T_NONRAND.search(text):
        return "non-randomised-trial"
    if _T_COHORT.search(text) or mesh_l & {"cohort studies", "longitudinal studies", "follow-up studies",
                                           "prospective studies", "retrospective studies"}:
        return "cohort"
    if _T_NARRATIVE.search(text):
        return "narrative-review"
    if "surveys and questionnaires" in mesh_l:
        return "cross-sectional"
    return "other"


# -- sample size -------------------------------------------------------------------------

_PEOPLE = (
    r"(?:patients|participants|subjects|women|men|children|adults|individuals|volunteers|cases|"
    r"persons|people|residents|students|infants|newborns|neonates|adolescents|boys|girls|"
    r"athletes|smokers|veterans|mothers|pairs|respondents|physicians|nurses|survivors|donors|"
    r"controls|eyes|procedures|consecutive|healthy|elderly|older|outpatients|inpatients|"
    r"pregnant|premenopausal|postmenopausal|obese|MS|eligible|trauma|cancer|hemodialysis|"
    r"dialysis|chronic|sedentary|female|male|community|nursing|English-speaking|trained|young)"
)
_NUMTOK = rf"(?:\d{{1,3}}(?:[ ,]\d{{3}})+|\d+|{WORDNUM_LONG})"
_DIGTOK = r"(?:\d{1,3}(?:[ ,]\d{3})+|\d+)"
_TOTAL = re.compile(
    rf"\b(?:a\s+total\s+of|total\s+of|overall,?|altogether,?|in\s+all,?)\s+(?P<n>{_NUMTOK})\s+(?:[\w-]+\s+){{0,3}}?{_PEOPLE}\b"
    rf"|\b(?P<n2>{_NUMTOK})\s+(?:[\w,-]+\s+){{0,4}}?{_PEOPLE}[\w\s,()-]{{0,60}}?\b(?:were|was)\s+(?:\w+\s+)?(?:enrolled|included|randomi[sz]ed|recruited|studied|analy[sz]ed|evaluated|examined|assessed|identified|investigated|surveyed|allocated|assigned|treated)\b"
    rf"|\b(?:enrolled|included|recruited|randomi[sz]ed|studied|analy[sz]ed|evaluated|examined|investigated|surveyed|reviewed)\s+(?P<n3>{_NUMTOK})\s+(?:[\w,-]+\s+){{0,4}}?{_PEOPLE}\b"
    rf"|\brandomi[sz]ation\s+of\s+(?P<n4>{_NUMTOK})\b",
    _I,
)
_ANY_PEOPLE = re.compile(
    rf"(?<![\w.%/])(?P<n>{_DIGTOK})\s+(?:[\w-]+\s+){{0,3}}?{_PEOPLE}\b(?!\s*%)", _I
)
_N_EQ = re.compile(r"\b[nN]\s*=\s*(?P<n>\d{1,3}(?:[ ,]\d{3})+|\d+)\b(?!\s*%|\.\d)")
_NOT_COUNT_LEFT = re.compile(r"(?:\bof|\bin|\bfor|\bvs\.?|\bversus|\band|\bor|/|%|\bthan)\s*$", _I)


def _num(text: str) -> int | None:
    t = text.strip()
    if t[0].isdigit():
        t = re.sub(r"[ ,]", "", t)
    v = parse_number(t)
    if v is None or v != int(v) or v <= 0:
        return None
    return int(v)


_WORD_START = re.compile(
    rf"(?:^|(?<=[.:;]\s)|(?<=\n))(?P<n>{WORDNUM_LONG})\s+(?:[\w-]+\s+){{0,3}}?{_PEOPLE}\b", _I
)


def sample_size(text: str) -> int | None:
    """The study's total number of subjects, if stated."""
    if not any(c.isdigit() for c in text) and not _WORD_START.search(text):
        return None
    for m in _TOTAL.finditer(text):
        raw = m.group("n") or m.group("n2") or m.group("n3") or m.group("n4")
        v = _num(raw) if raw else None
        if v is not None and not (1900 <= v <= 2030 and raw.isdigit() and len(raw) == 4):
            return v
    cands: list[int] = []
    for m in _WORD_START.finditer(text):
        v = _num(m.group("n"))
        if v is not None:
            cands.append(v)
    for m in _ANY_PEOPLE.finditer(text):
        raw = m.group("n")
        left = text[max(0, m.start() - 12): m.start()]
        if _NOT_COUNT_LEFT.search(left):
            continue
        v = _num(raw)
        if v is not None and not (1900 <= v <= 2030 and len(raw) == 4):
            cands.append(v)
    if cands:
        return max(cands)
    eqs = [_num(m.group("n")) for m in _N_EQ.finditer(text)]
    vals = [v for v in eqs if v]
    if vals:
        return max(vals)
    return None
