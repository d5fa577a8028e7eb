"""Study profile: design, sample size and trial-registry ids."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

from .fastre import Headed, digit_starts, lc, lower, match_at, positions, words_of
from .text import NUMBER_WORDS, SECTION_LABEL, WORDNUM_LONG, parse_number, split_sentences

_I = re.IGNORECASE

DESIGNS = (
    "randomised-trial", "non-randomised-trial", "cohort", "case-control", "cross-sectional",
    "case-series", "systematic-review", "narrative-review", "protocol", "lab-animal", "other",
)

# -- registry ids ----------------------------------------------------------------------

_REGISTRY = Headed(
    r"\b(?P<nct>nct\s?\d{8})\b"
    r"|\b(?P<isrctn>isrctn\s?\d{8})\b"
    r"|\b(?P<actrn>actrn\s?\d{14})\b"
    r"|\beudra\s?ct(?:\s*(?:no\.?|number|nr\.?|id))?\s*[:#]?\s*(?P<eudract>\d{4}-\d{6}-\d{2})\b"
    r"|\b(?P<ctri>ctri/\d{4}/\d{2,3}/\d{6})\b"
    r"|\b(?P<drks>drks\s?\d{8})\b"
    r"|\b(?P<chictr>chictr[-a-z]*\d{6,}(?:-\d+)?)\b"
    r"|\b(?P<irct>irct\d{6,}n\d+)\b"
    r"|\b(?P<umin>umin\d{9})\b"
    r"|\b(?P<ntr>ntr\d{3,5})\b"
    r"|\b(?P<pactr>pactr\d{15})\b",
    ("nct", "isrctn", "actrn", "eudra", "ctri/", "drks", "chictr", "irct", "umin", "ntr", "pactr"),
)


def registry_ids(
    text: str, low: str | None = None, firsts: set[str] | None = None
) -> tuple[str, ...]:
    """Trial-registry ids in ``text`` (``low``: the same lower-cased, ``firsts``:
    ``fastre.first3s(fastre.words_of(low))``, when at hand; every branch of _REGISTRY
    begins with \\b before a letter, so its heads may be gated by ``firsts``)."""
    out: list[str] = []
    for m in _REGISTRY.finditer(lower(text) if low is None else low, firsts):
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
    # a search of the literature by a stated method, like a systematic review (NLM's
    # "Scoping Review" type; "Review" alone stays narrative)
    ("scoping review", "systematic-review"),
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

# Matched on lower-cased text, tried only where one of the listed heads occurs (fastre):
# every match of each pattern starts with one of its heads.
_T_SYSREV = Headed(
    r"\bsystematic(?:al)?\s+(?:literature\s+)?review|\bmeta-?analys[ie]s\b|"
    r"\bpooled analysis of (?:\w+ )?(?:trials|studies)|\b(?:scoping|umbrella)\s+review",
    ("systematic", "meta", "pooled analysis", "scoping", "umbrella"),
)
_T_PROTOCOL = Headed(
    r"\b(?:study|trial) protocol\b|\bthis protocol\b|\bprotocol (?:for|of) a\b|"
    r"\bwill be (?:randomi[sz]ed|recruited|enrolled|allocated|assessed|followed)",
    ("study protocol", "trial protocol", "this protocol", "protocol for a", "protocol of a",
     "will be"),
)
_T_RCT = Headed(
    r"\brandomi[sz]ed(?:,?\s+(?:\w+[- ])?(?:blind\w*|placebo[- ]controlled|controlled|crossover|"
    r"cross-over|parallel|pilot|clinical|multicent\w*|sham[- ]controlled|open[- ]label)\b)*,?\s+"
    r"(?:\w+\s+)?(?:trial|study)\b"
    r"|\brandomly\s+(?:assigned|allocated|divided)|\bwere\s+randomi[sz]ed\b|"
    r"\brandomi[sz]ation\s+of\b|\brct\b",
    ("random", "were", "rct"),
)
_NONRAND_WORD = Headed(r"\bnon-?randomi[sz]ed\b", ("non",))
_T_NONRAND = Headed(
    r"\bnon-?randomi[sz]ed\b|\bsingle[- ]arm\b|\bopen[- ]label\b|\bpilot (?:study|trial)\b|"
    r"\bquasi-?experimental\b|\bpre-?(?:test)?[- /]?post-?(?:test)?\b|\bbefore[- ]and[- ]after\b|"
    r"\bclinical trial\b|\buncontrolled (?:study|trial)\b|\bfeasibility (?:study|trial)\b",
    ("non", "single", "open", "pilot", "quasi", "pre", "before", "clinical trial",
     "uncontrolled", "feasibility"),
)
_T_CASECONTROL = Headed(r"\bcase[- ](?:control|referent)\b", ("case",))
_T_CROSS = Headed(
    r"\bcross[- ]sectional\b|\becological (?:study|analysis|design)\b|"
    r"\bspatial (?:data )?analysis\b|\b(?:online |web-based |national |postal )?survey\b|"
    r"\bquestionnaire (?:study|survey)\b|\bprevalence study\b|\bdelphi\b",
    ("cross", "ecological", "spatial", "online ", "web-based ", "national ", "postal ",
     "survey", "questionnaire ", "prevalence study", "delphi"),
)
_T_CASE = Headed(
    r"\bcase report\b|\bcase series\b|\bwe (?:report|present|describe) (?:a|an|the|two|three) "
    r"(?:case|patient)|\breport of (?:a|two|three) cases?\b",
    ("case ", "we ", "report of"),
)
_T_CASE_AGE = re.compile(
    r"\b\d+-year-old (?:man|woman|boy|girl|male|female|patient|child)\b"
)  # run only where "-year-old " occurs
_T_COHORT = Headed(
    r"\bcohort\b|\blongitudinal\b|\bfollow[- ]up study\b|\bprospective(?:ly)?\b|"
    r"\bretrospective(?:ly)?\b|\bregistry\b|\bregister\b|\bdatabase\b|\bchart review\b|"
    r"\bmedical records\b",
    ("cohort", "longitudinal", "follow", "prospective", "retrospective", "regist", "database",
     "chart review", "medical records"),
)
_ANIMAL_WORDS = (
    "mice", "mouse", "rat", "murine", "rodent", "rabbits", "piglets", "pigs", "porcine",
    "canine model", "dogs were", "sheep", "zebrafish", "in vitro", "cell line", "cultured cells",
    "xenograft",
)
_T_ANIMAL = Headed(
    r"\b(?:mice|mouse|rats?|murine|rodents?|rabbits|piglets|pigs|porcine|canine model|dogs were|"
    r"sheep|zebrafish|in vitro|cell lines?|cultured cells|xenograft)\b",
    _ANIMAL_WORDS,
)
_HUMAN_WORDS = (
    "patients", "participants", "volunteers", "subjects", "women", "men", "children", "adults",
    "persons", "people", "individuals",
)
_T_HUMAN = Headed(r"\b(?:" + "|".join(_HUMAN_WORDS) + r")\b", _HUMAN_WORDS)
_T_NARRATIVE = Headed(
    r"\b(?:this|we|the present) review\b|\bnarrative review\b|\bwe review\b|"
    r"\breview of the literature\b|\bliterature review\b",
    ("this review", "we review", "the present review", "narrative review",
     "review of the literature", "literature review"),
)


def _is_case(low: str, firsts: set[str] | None = None) -> bool:
    if _T_CASE.found(low, firsts):
        return True
    return "-year-old " in low and _T_CASE_AGE.search(low) is not None

_HUMAN_MESH = {"female", "male", "adult", "aged", "middle aged", "child", "infant", "adolescent",
               "young adult", "aged, 80 and over", "child, preschool", "infant, newborn",
               "pregnancy", "patients", "physicians", "students"}
_ANIMAL_MESH = {"mice", "rats", "dogs", "rabbits", "swine", "sheep", "cattle", "mice, inbred c57bl",
                "rats, sprague-dawley", "rats, wistar", "disease models, animal", "animals", "zebrafish",
                "cell line", "cells, cultured", "cell line, tumor", "macaca mulatta", "guinea pigs"}


def _comma_cuts(p: str) -> list[int]:
    """len(p) and the position of every comma in ``p``."""
    if "," not in p:
        return [len(p)]
    return [len(p), *(i for i, c in enumerate(p) if c == ",")]


def design_of(
    text: str, mesh: Sequence[str], publication_types: Sequence[str], low: str | None = None,
    firsts: set[str] | None = None, mesh_l: set[str] | None = None,
) -> str:
    """The study design; ``low`` is ``text`` lower-cased (fastre.lower), ``firsts``
    ``fastre.first3s(fastre.words_of(low))``, when at hand (every branch of the design
    patterns begins with \\b before a letter, so the heads may be gated by it)."""
    if low is None:
        low = lower(text)
    f = firsts
    if mesh_l is None:  # (the MeSH headings lower-cased, when at hand)
        mesh_l = {m.lower() for m in mesh}
    pts = [p.lower() for p in publication_types]
    has_humans = "humans" in mesh_l
    # publication types first
    # a key matches a type equal to it or beginning with it and a comma: the type and its
    # pieces before each comma, as a set, tell it with one look-up per key
    named = {p[:i] for p in pts for i in _comma_cuts(p)}
    for key, design in _PT_MAP if pts else ():
        if key in named:
            if design == "narrative-review" and _T_SYSREV.found(low, f):
                return "systematic-review"
            if design == "non-randomised-trial" and _T_RCT.found(low, f):
                return "randomised-trial"
            if design == "cohort" and _T_CROSS.found(low, f):
                return "cross-sectional"
            if design == "cohort" and _T_CASECONTROL.found(low, f):
                return "case-control"
            return design
    if any(p.startswith("clinical trial") or p.endswith(" trial") for p in pts):
        return "randomised-trial" if _T_RCT.found(low, f) else "non-randomised-trial"
    # strong text cues
    if _T_SYSREV.found(low, f):
        return "systematic-review"
    if _T_PROTOCOL.found(low, f):
        return "protocol"
    if mesh_l and not has_humans and (mesh_l & _ANIMAL_MESH or not mesh_l & _HUMAN_MESH):
        return "lab-animal"
    if not mesh_l and _T_ANIMAL.found(low, f) and not _T_HUMAN.found(low, f):
        return "lab-animal"
    if _T_RCT.found(low, f) and not _NONRAND_WORD.found(low, f):
        return "randomised-trial"
    if _T_CASECONTROL.found(low, f) or "case-control studies" in mesh_l:
        return "case-control"
    if _T_CROSS.found(low, f) or mesh_l & {"cross-sectional studies", "population surveillance"}:
        return "cross-sectional"
    if _is_case(low, f):
        return "case-series"
    if _T_NONRAND.found(low, f):
        return "non-randomised-trial"
    if _T_COHORT.found(low, f) or mesh_l & {"cohort studies", "longitudinal studies", "follow-up studies",
                                           "prospective studies", "retrospective studies"}:
        return "cohort"
    if _T_NARRATIVE.found(low, f):
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
# "were/was (word) enrolled": what the second branch of _TOTAL ends with
_WERE_VERB = (
    r"(?:were|was)\s+(?:\w+\s+)?(?:enrolled|included|randomi[sz]ed|recruited|studied|"
    r"analy[sz]ed|evaluated|examined|assessed|identified|investigated|surveyed|allocated|"
    r"assigned|treated)\b"
)
_TOTAL = re.compile(
    rf"\b(?:a\s+total\s+of|total\s+of|overall,?|altogether,?|in\s+all,?)\s+(?P<n>{_NUMTOK})\s+(?:[\w-]+\s+){{0,3}}?{_PEOPLE}\b"
    rf"|\b(?<!-)(?P<n2>{_NUMTOK})\s+(?:[\w,-]+\s+){{0,4}}?{_PEOPLE}[\w\s,()-]{{0,60}}?\b{_WERE_VERB}"
    rf"|\b(?:enrolled|included|recruited|randomi[sz]ed|studied|analy[sz]ed|evaluated|examined|investigated|surveyed|reviewed)\s+(?P<n3>{_NUMTOK})\s+(?:[\w,-]+\s+){{0,4}}?{_PEOPLE}\b"
    rf"|\brandomi[sz]ation\s+of\s+(?P<n4>{_NUMTOK})\b",
    _I,
)
_ANY_PEOPLE = re.compile(
    rf"(?<![\w.%/-])(?P<n>{_DIGTOK})\s+(?:[\w-]+\s+){{0,3}}?{_PEOPLE}\b(?!\s*%)", _I
)
_N_EQ = re.compile(r"\b[nN]\s*=\s*(?P<n>\d{1,3}(?:[ ,]\d{3})+|\d+)\b(?!\s*%|\.\d)")
_NOT_COUNT_LEFT = re.compile(r"(?:\bof|\bin|\bfor|\bvs\.?|\bversus|\band|\bor|/|%|\bthan)\s*$", _I)


def _n_eq_starts(text: str) -> list[int]:
    """Where an _N_EQ match can start: the "n"/"N" before each "=" and the white space
    before it. (Found from the "=" signs with str.find: the pattern's leading \\b makes
    re try it at every character of the text, slowly.)"""
    out: list[int] = []
    q = text.find("=")
    while q != -1:
        j = q - 1
        while j >= 0 and text[j].isspace():  # (re's \\s is str.isspace)
            j -= 1
        if j >= 0 and text[j] in "nN":
            out.append(j)
        q = text.find("=", q + 1)
    return out


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


# lower-case copies (fastre.lc) of the case-insensitive patterns, run on the lower-cased text:
# the same matches, faster; the numbers they capture read the same lower-cased
_TOTAL_L, _ANY_PEOPLE_L, _WORD_START_L, _NOT_COUNT_LEFT_L = map(
    lc, (_TOTAL, _ANY_PEOPLE, _WORD_START, _NOT_COUNT_LEFT))
_WERE_VERB_L = re.compile(_WERE_VERB)  # (lower case; begins with a literal, so re scans fast)

# Where a match of _TOTAL / _ANY_PEOPLE / _WORD_START can start (on lower-cased text): a
# digit run, or a word that is a number word or the first word of a "total"/verb branch.
# Each such word is followed by a non-word character in any match, so it is a whole word
# of the text: a set look-up (fastre.words_of) tells whether to look for it at all.
_TOTAL_WORDS = frozenset((
    "total", "overall", "altogether", "enrolled", "included", "recruited", "randomized",
    "randomised", "randomization", "randomisation", "studied", "analyzed", "analysed",
    "evaluated", "examined", "investigated", "surveyed", "reviewed", *NUMBER_WORDS,
))  # "a total of" matches where "total of" does, with the same number
_NUMBER_WORDS = frozenset(NUMBER_WORDS)
_IN_ALL = re.compile(r"in(?=\s+all)")
_DIGIT = re.compile(r"\d")


def _has_digit(text: str) -> bool:
    if _DIGIT.search(text):
        return True
    return not text.isascii() and any(c.isdigit() for c in text)


# The characters a match of the second branch of _TOTAL (a number, some words, the
# people, more words, "were enrolled") may hold before its "were"/"was": \w, \s, ",()-".
# ASCII ones to a space, every other ASCII character to "|" (non-ASCII text: no such test)
_COUNT_SPAN = bytes(
    32 if chr(c).isalnum() or chr(c) in "_,()-" or chr(c).isspace() else ord("|")
    for c in range(128)
) + bytes(range(128, 256))


def _leads_before(low: str, leads: list[int], ends: list[int], span: bytes) -> list[int]:
    """The ``leads`` followed by one of ``ends`` (ascending) with only characters that
    ``span`` (a bytes.translate table) turns into spaces in between (any, when ``low`` is
    not ASCII)."""
    if not ends or not leads:
        return []
    last = ends[-1]
    if not low.isascii():
        return [p for p in leads if p < last]
    stops = low.encode("ascii").translate(span)
    out = []
    for p in leads:
        if p >= last:
            continue
        q = ends[bisect_right(ends, p)]  # the first end after p: a stop before it is
        if stops.find(b"|", p, q) == -1:  # before every later one too
            out.append(p)
    return out


def _count_leads(low: str, leads: list[int]) -> list[int]:
    """The ``leads`` (where a number begins) at which the second branch of _TOTAL may match:
    one followed by a "were/was <verb>" (_WERE_VERB) with none of the characters that
    branch cannot hold in between. That branch is the costly one to try (up to five
    words, sixty people words, sixty more characters, at every number), and most numbers
    of an abstract (a percentage, a p-value, a year in brackets) fail this at once."""
    verbs = [q for q in positions(low, ("were", "was")) if _WERE_VERB_L.match(low, q)]
    return _leads_before(low, leads, verbs, _COUNT_SPAN)


# The same for _ANY_PEOPLE ("40 (\\w|-)+ ... patients"): between the number and the people
# word only \\w, \\s, "," (in "1,234") and "-"
_PEOPLE_SPAN = bytes(
    32 if chr(c).isalnum() or chr(c) in "_,-" or chr(c).isspace() else ord("|")
    for c in range(128)
) + bytes(range(128, 256))
# the people words of _PEOPLE, lower-cased, by their first word (a whole word of the text:
# each is preceded by white space and followed by \\b or "-" in a match)
_PEOPLE_WORDS = tuple(re.findall(r"[\w-]+", _PEOPLE.lower()))
_PEOPLE_BY_WORD = {w.split("-")[0]: w for w in _PEOPLE_WORDS}


def _people_leads(low: str, words: set[str], digits: list[int]) -> list[int]:
    """The digit runs at which _ANY_PEOPLE may match: followed by one of the people words
    with only what the pattern may hold in between."""
    here = [_PEOPLE_BY_WORD[w] for w in words.intersection(_PEOPLE_BY_WORD)]
    return _leads_before(low, digits, positions(low, here), _PEOPLE_SPAN)


def _total_starts(low: str, words: set[str], digits: list[int]) -> list[int]:
    """Where a _TOTAL_L match may start: a number (a digit run or a number word) before
    a verb (_count_leads), a "total" or verb word, "in" before "all"."""
    heads = _TOTAL_WORDS.intersection(words)
    numbers = heads.intersection(_NUMBER_WORDS)
    leads = digits
    if numbers:
        heads -= numbers
        leads = sorted({*digits, *positions(low, numbers)})
    starts = set(_count_leads(low, leads))
    if not heads and "all" not in words:
        return sorted(starts)
    starts.update(positions(low, heads))
    if "all" in words:
        starts.update(m.start() for m in _IN_ALL.finditer(low))
    return sorted(starts)


def _word_starts(text: str, low: str, words: set[str]) -> list[re.Match[str]]:
    # a match starts with a number word, the whole first word there: try only where one of
    # those in the text occurs (its look-behind then keeps the sentence starts)
    present = _NUMBER_WORDS.intersection(words)
    if not present:
        return []
    return list(match_at(_WORD_START_L, low, positions(low, present)))


_SHARE_WORDS = re.compile(r"\b(?:percent|per cent|vs|versus)\b")


def _is_share(m: re.Match[str]) -> bool:
    """A match (on lower-cased text) that reads a share, not a count: "eighty-four percent of
    the eligible population"; or two numbers compared: "arm 2 vs arm 3 women"."""
    return _SHARE_WORDS.search(m.group(0)) is not None


# A structured abstract's background: the numbers of people there are the world's ("about
# 600,000 children live on the streets"), not the study's.
_BACKGROUND_SECTION = re.compile(
    r"(?m)^(?:BACKGROUND|INTRODUCTION|CONTEXT|RATIONALE)(?: AND (?:AIMS?|OBJECTIVES?|PURPOSE))?:"
    rf".*?(?=^{SECTION_LABEL}:|\Z)",
    re.S,
)


def _background_spans(text: str) -> list[tuple[int, int]]:
    if ":" not in text:
        return []
    return [m.span() for m in _BACKGROUND_SECTION.finditer(text)]


def sample_size(
    text: str, low: str | None = None, words: set[str] | None = None,
    digits: list[int] | None = None,
) -> int | None:
    """The study's total number of subjects, if stated (``low``: ``text`` lower-cased,
    ``words``: ``fastre.words_of(low)`` or a superset, ``digits``:
    ``fastre.digit_starts(low)``, when at hand)."""
    if low is None:
        low = lower(text)
    if words is None:
        words = words_of(low)
    word_starts: list[re.Match[str]] | None = None
    if digits is None:
        digits = digit_starts(low)
    if not digits and not _has_digit(text):
        word_starts = _word_starts(text, low, words)
        if not word_starts:
            return None
    for m in match_at(_TOTAL_L, low, _total_starts(low, words, digits)):
        if _is_share(m):
            continue
        raw = m.group("n") or m.group("n2") or m.group("n3") or m.group("n4")
        v = _num(raw) if raw else None
        if v is not None and not (1900 <= v <= 2030 and raw.isdigit() and len(raw) == 4):
            return v
    if word_starts is None:
        word_starts = _word_starts(text, low, words)
    background = _background_spans(text)

    def in_background(pos: int) -> bool:
        return any(a <= pos < b for a, b in background)

    cands: list[int] = []
    for m in word_starts:
        if _is_share(m) or in_background(m.start()):
            continue
        v = _num(m.group("n"))
        if v is not None:
            cands.append(v)
    for m in match_at(_ANY_PEOPLE_L, low, _people_leads(low, words, digits)):
        raw = m.group("n")
        left = low[max(0, m.start() - 12): m.start()]
        if _NOT_COUNT_LEFT_L.search(left) or _is_share(m) or in_background(m.start()):
            continue
        v = _num(raw)
        if v is not None and not (1900 <= v <= 2030 and len(raw) == 4):
            cands.append(v)
    if cands:
        return max(cands)
    if "=" not in text:
        return None
    eqs = [(m, v) for m in match_at(_N_EQ, text, _n_eq_starts(text)) if (v := _num(m.group("n")))]
    if not eqs:
        return None
    return max(max(v for _, v in eqs), _arms_total(text, eqs))


# What says that one sentence's "n =" values are the arms of one study: "randomised to
# control (n = 18) or WBC (n = 33)" (a verb of allocation in the sentence), or "the GM
# (n = 45) or SM (n = 66) groups" (a group or arm next to every value).
_ALLOCATED = re.compile(r"randomi[sz]|assigned|allocated|divided", re.I)
_ARM_WORD = re.compile(r"\b(?:groups?|arms?)\b", re.I)


def _arms_total(text: str, eqs: list[tuple[re.Match[str], int]]) -> int:
    """The largest sum of the "n =" values that stand in one sentence (split_sentences) as a
    study's arms (0 if none): the study's size when only its arms are counted. Values of
    different sentences are never added (one may be a subgroup of another)."""
    best = 0
    for start, end in split_sentences(text):
        run = [(m, v) for m, v in eqs if start <= m.start() < end]
        if len(run) > 1 and (_ALLOCATED.search(text, start, end) or all(
            _ARM_WORD.search(text, max(start, m.start() - 50), min(end, m.end() + 50))
            for m, _ in run
        )):
            best = max(best, sum(v for _, v in run))
    return best
