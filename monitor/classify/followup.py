"""Follow-up extraction: every time point at which a study assessed its subjects.

The rule implemented is tests/data/eval/LABELING.md. A *quantity* ("6 months", "1- and
3-year", "2.6 ± 1.6 years", "twelve weeks") is found anywhere in the text; its sentence
context then decides whether it is an assessment time (kept, with a *kind*) or something
else (an age, a disease history, a recruitment span, a washout, a dose schedule, a lab
read-out ... dropped). Quantities with no recognisable assessment context are dropped too:
the classifier prefers missing a number to inventing one.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from operator import add, attrgetter, itemgetter
from typing import NamedTuple

from .fastre import Candidates, ascii_digit_starts, lc, lower, match_at, positions
from .text import WORDNUM, parse_number, split_sentences, strip_label

WEEKS_PER = {
    "decade": 521.8,
    "year": 52.18,
    "month": 4.345,
    "week": 1.0,
    "day": 1 / 7,
    "hour": 1 / 168,
    "minute": 1 / 10080,
}

_UNIT_NAMES = {
    "decade": "decade", "decades": "decade",
    "year": "year", "years": "year", "yr": "year", "yrs": "year",
    "month": "month", "months": "month", "mo": "month", "mos": "month", "mth": "month",
    "mths": "month",
    "week": "week", "weeks": "week", "wk": "week", "wks": "week",
    "day": "day", "days": "day", "d": "day",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour", "h": "hour",
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
}

_I = re.IGNORECASE

_NUM = (
    rf"(?:\d+(?:\.\d+)?(?:\s+and\s+a\s+half)?|{WORDNUM}(?:\s+and\s+a\s+half)?"
    r"|an?(?=\s+(?:year|month|week|day|decade)s?\b))"
)
_SEP = r"(?:\s*[-\u2010\u2011\u2013\u2014]?\s*(?:,\s*(?:and|or)\s+|,\s*|and\s+|or\s+|to\s+|&\s*|[-\u2010\u2011\u2013\u2014]\s*))"
_UNIT = (
    r"(?P<unit>decades?|years?|yrs?|months?|mos|mo|mths?|weeks?|wks?|days?|hours?|hrs?"
    r"|minutes?|mins?|(?<=[\d\s\-\u2010\u2011\u2013])(?-i:h|d))(?![A-Za-z])"
)
QTY_RE = re.compile(
    rf"(?<![\w.,/])(?:(?P<c1>{_NUM})\s*(?:\u00b1|\+/-|\+/\u2212|\+-)\s*\d+(?:\.\d+)?"
    rf"|(?P<c2>{_NUM})\s*\((?P<par>[^()]{{1,40}})\)"
    rf"|(?P<nums>{_NUM}(?:{_SEP}{_NUM})*))"
    rf"\s*[-\u2010\u2011\u2013]?\s*{_UNIT}",
    _I,
)
_NUM_RE = re.compile(_NUM, _I)
_NUM_LOW = lc(_NUM_RE)
# Where a QTY_RE match can start (looked for in the lower-cased sentence): a digit, a number
# word, or "a"/"an" before a unit. Single digits and number words spelt out as literal
# alternatives give the scan a first-character set, so it is cheap.
_NUMBER_HEADS = (
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "zero", "one",
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)
QTY_FAST = Candidates(
    QTY_RE,
    "|".join("0123456789") + "|" + "|".join(_NUMBER_HEADS)
    + r"|a(?=n?\s+(?:year|month|week|day|decade))",
)

# Study-time labels: "week 12", "day 1, 3 and 5", "postoperative days (POD) 1, 3, and 5".
LABEL_RE = re.compile(
    r"(?<![\w-])(?P<u>(?:post-?operative\s+|post-?op\s+)?(?:days?|weeks?|months?|years?)|POD)"
    r"\s*(?:\((?:[A-Z]{2,5})\)\s*)?(?P<n>\d{1,3})"
    r"(?P<more>(?:\s*(?:,\s*(?:and|or)?|and|or|to|&|[-\u2013\u2010])\s*\d{1,3}\b)*)"
    r"(?!\s*(?:%|/|[.,]\d|\d|mg|kg|patients?|subjects?|participants?|cases?))",
    _I,
)
_LABEL_NUMS = re.compile(r"\d{1,3}")
_COMPOUND_LEFT = re.compile(r"\d\s*$")
_COMPOUND_RIGHT = re.compile(r"\s*(?:months?|weeks?|days?|hours?)\b", _I)
_LABEL_HEADS = ("post", "day", "week", "month", "year", "pod")  # every LABEL_RE match starts so

ANNUAL_RE = re.compile(
    rf"(?<![\w.])(?P<n>\d+|{WORDNUM})\s+(?:annual|yearly)\s+(?:follow[- ]?ups?|visits?|"
    r"assessments?|examinations?|surveys?|interviews?|evaluations?|waves?)",
    _I,
)
_MON = r"(?P<{g}>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?:\d{{1,2}},?\s+)?"
FU_END_RE = re.compile(
    r"(?:last (?:date of )?follow[- ]?up|follow[- ]?up (?:was )?(?:until|to|through|till|ended"
    r"|closed|completed|censored)|followed (?:up )?(?:until|to|through|till)|censored (?:at|on|in)"
    r"|(?:data|follow[- ]?up) cut[- ]?off)[^.;]{0,25}?\b(?:" + _MON.format(g="m") + r")?"
    r"(?P<y>(?:19|20)\d\d)\b",
    _I,
)
STUDY_START_RE = re.compile(
    r"\b(?:between|from|since|during|in)\s+(?:" + _MON.format(g="m") + r")?(?P<y>(?:19|20)\d\d)\b",
    _I,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
AGES_RE = re.compile(
    r"\baged?\s+(?P<a>\d+(?:\.\d+)?)(?:\s*(?:\u00b1|\+/-)\s*\d+(?:\.\d+)?)?\s*(?:years?|yrs?)?"
    r"\s+at\s+(?:their|the)\s+(?:first|initial|baseline|index|1st)\b[^;]{0,80}?\band\s+"
    r"(?P<b>\d+(?:\.\d+)?)(?:\s*(?:\u00b1|\+/-)\s*\d+(?:\.\d+)?)?\s*(?:years?|yrs?)\s+at\s+"
    r"(?:their|the)\s+(?:second|last|final|latest|follow[- ]?up|repeat|2nd)\b",
    _I,
)

# -- context patterns (right = text after the quantity, left = text before it) ------------

_R_AGE = re.compile(
    r"^[\s\u2010\u2011-]*(?:olds?\b|of age\b|of life\b|in age\b|(?:or|and) (?:older|over|above|"
    r"younger|less|under)\b|of (?:his|her|their) li)",
    _I,
)
_R_PRIOR = re.compile(
    r"^[\s\u2010\u2011-]*(?:(?:\w+\s+)?history\b|(?:disease |symptom |illness )?duration\b|ago\b|"
    r"before\b|prior to\b|preceding\b|earlier\b|previously\b|in practice\b|experience\b|"
    r"(?:of|in)\s+(?:\w+\s+){0,2}?(?:experience|practice|service|employment|smoking|disease|"
    r"illness|symptoms?|diabetes|infertility|use|usage|exposure|residence|career|seniority)\b|"
    r"'?s?\s*(?:of\s+)?experience\b|pack|in the (?:past|previous|last|preceding)\b)",
    _I,
)
_WASHOUT = re.compile(r"wash-?\s?out|run-?in\b|lead-?in\b", _I)
_L_LAB = re.compile(
    r"\b(?:incubat\w*|cultur\w*|stored|frozen|freez\w*|centrifug\w*|transfect\w*|in vitro|"
    r"mice|mouse|rats?|murine|pups|rabbits|piglets|sacrific\w*|euthani[sz]\w*|harvested|"
    r"passag\w*|seeded|plated|cells were)\b[^;]{0,60}$",
    _I,
)
_GEST = re.compile(
    r"^[\s']*(?:of\s+)?(?:gestation|pregnancy|gestational|amenorrh|postmenstrual|post-?conception)"
    r"|gestational age[^;]{0,40}$|gestation[^;]{0,25}$|trimester[^;]{0,25}$",
    _I,
)
_L_PAST = re.compile(
    r"\b(?:past|previous|prior|preceding|last|recent|lifetime)\s+(?:\w+\s+)?$", _I
)
_L_EXPOSURE = re.compile(
    r"(?:history of|disease duration|symptom duration|duration of (?!follow|treat|therap|the "
    r"(?:intervention|study|programme|program|trial|follow)|intervention|training|supplement)"
    r"[\w\s-]{0,30}?|\bsince\b|\bfor more than|\bsuffer\w* (?:from [\w\s-]{0,20})?for|"
    r"\bsmok\w* for|\busers? (?:for|of)|\bdiagnosed (?:for|since)|\bliv\w* (?:with [\w\s-]{0,20})?for|"
    r"\bduration)[^a-z;]{0,20}$",
    _I,
)
_L_PROCESS = re.compile(
    r"(?:half-?life|doubling time|life[- ]expectancy|turnaround|waiting time|wait\w* list|"
    r"\bdelay|time to (?:treatment|diagnosis|surgery|referral|presentation)|door-to|onset-to|"
    r"\bCI\b|confidence interval)[^;]{0,40}$",
    _I,
)
# The value of a survival / time-to-event statistic is a result, not an assessment time:
# "median survival was 31 weeks", "survival in group 2 was 15 weeks".
_L_SURVIVAL_VALUE = re.compile(
    r"\b(?:median\s+|mean\s+)?(?:survival(?:\s+time)?|time to (?:death|progression|recurrence|"
    r"relapse))(?:\s+(?:in|for|of)\s+[^;.%]{0,30}?)?\s+(?:was|were|is|of)\s+"
    r"(?:about\s+|approximately\s+|only\s+)?$",
    _I,
)
# An intake or treatment window, not an assessment: "enrolled within the first 200 days
# after the incident", "received treatment within 30 days after diagnosis".
_L_INTAKE_WINDOW = re.compile(
    r"\b(?:included|enrol?led|recruited|admitted|present(?:ed|ing)|referred|eligible|"
    r"registered|randomi[sz]\w*|screened|seen|received|receiving|started|initiated|began|"
    r"underwent|treated|operated|hospitali[sz]ed)\b[^;.]{0,60}?\bwithin\s+(?:the\s+)?"
    r"(?:first\s+)?$",
    _I,
)
_R_PERIOD = re.compile(
    r"^[\s\u2010\u2011-]*(?:(?:study|recruitment|enrol?lment|inclusion|accrual|calendar|"
    r"retrospective|review|data collection|observation(?:al)?)\s+)?(?:period|span|window|"
    r"retrospective (?:review|analysis|chart|study|audit|cohort))\b",
    _I,
)
_R_OBS_PERIOD = re.compile(r"^[\s\u2010\u2011-]*(?:observation|follow[- ]?up)\s+period\b", _I)
_L_SPAN = re.compile(
    r"(?:\bover\s+(?:an?|the)\s*$|\b(?:over|during|in|within)\s+(?:a|the)\s+(?:\w+\s+)?period\s+of\s*$|"
    r"\b(?:recruit\w*|enrol?l\w*|accru\w*|review\w*|identified|admitted|presenting|presented|"
    r"consecutive\w*|screened|registered|operated|collected|retrieved|seen|referred|sampl\w*|"
    r"conducted|included|evaluated|treated at|performed at)\b[^;]{0,50}?"
    r"\b(?:over|during|throughout|across|in)\s+(?:an?\s+|the\s+)?(?:(?:period|span|total)\s+of\s+)?$)",
    _I,
)
_L_FOLLOWISH = re.compile(
    r"follow|monitor|observ|surveil|treat|therap|intervention|training|supplement|program", _I
)
_L_SCHEDULE = re.compile(
    r"\b(?:every|each|per|once|twice|thrice|times|q)\s*(?:a\s+|an\s+|other\s+|single\s+)?$", _I
)
_R_SCHEDULE = re.compile(
    r"^[\s\u2010\u2011-]*(?:ly\s+)?(?:intervals?\b|apart\b|cycles?\b|/|per\s|a\s+(?:day|week)\b|"
    r"each\b|daily\b|dose)",
    _I,
)
_R_SESSION = re.compile(
    r"^[\s\u2010\u2011-]*(?:\w+[\s-]+){0,2}?(?:sessions?|exposures?|bouts?|infusions?|"
    r"stays?\s+in|immersions?|treatments? (?:at|in)|application)",
    _I,
)
_L_SESSION = re.compile(
    r"(?:infus\w*|inject\w*|inhal\w*|exposure|exposed|sessions?|lasting|bolus|"
    r"immers\w*|chamber|cryo\w*|°C|applied|application)[^;]{0,25}$",
    _I,
)
_L_A_DOSE = re.compile(
    r"(?:times?|once|twice|thrice|sessions?|doses?|days?|hours?|mg|g|tablets?|per|mL)\s*$", _I
)
# positive contexts
_R_POST_TREAT = re.compile(
    r"^[\s\u2010\u2011-]*(?:(?:after|following|post|from|since|of|within)\s+(?:the\s+)?"
    r"(?:end|completion|cessation|termination|discontinuation|stopping|withdrawal|conclusion)\b|"
    r"(?:after|following|of)\s+(?:stopping|discontinuing|completing|ending|finishing|cessation|"
    r"the last|the final)\b|post[- ]?(?:treatment|intervention|therapy|training|programme|program|"
    r"cryotherapy|rehabilitation)\b|(?:after|following)\s+(?:the\s+)?treatment (?:ended|stopped))",
    _I,
)
_R_AFTER_TREAT = re.compile(
    r"^[\s\u2010\u2011-]*(?:after|following)\s+(?:the\s+)?(?:treatment|intervention|therapy|"
    r"training|program(?:me)?|sessions?|cryotherapy|WBC|course|rehabilitation)\b(?!\s+(?:initiation|start|onset))",
    _I,
)
_END_OF_TREAT_IN_SENT = re.compile(
    r"\bafter\s+(?:the\s+)?(?:\w+\s+){0,3}?(?:sessions?|treatment|intervention|therapy|"
    r"program(?:me)?|training|course|cycle|cryotherapy|WBC)\b|\bat the end of (?:the\s+)?"
    r"(?:\w+\s+)?(?:treatment|intervention|therapy|program|training|study period)|"
    r"post-?treatment|post-?intervention|after (?:it|treatment) ended",
    _I,
)
_R_FOLLOW = re.compile(
    r"^[\s\u2010\u2011-]*(?:of\s+|post[- ]?\w+\s+)?(?:follow[- ]?ups?\b|followup|FU\b|"
    r"(?:observation|surveillance|monitoring)\b|(?:clinical |telephone |postal )?follow)",
    _I,
)
_R_OUTCOME = re.compile(
    r"^[\s\u2010\u2011-]*(?:[A-Za-z]+[\s\u2010\u2011-]+){0,3}?(?:survival|mortality|deaths?|"
    r"recurrences?|relapses?|re-?admissions?|reoperations?|re-?interventions?|patency|salvage|"
    r"outcomes?|results?|risks?|incidence|rates?|event[- ]free|prognosis|complications?|failures?|"
    r"success|remission|retention|re-?bleeding|bleeding|morbidity|efficacy|effects?|cure|response|"
    r"progression|persistence|adherence|abstinence|survivors?|cumulative|durability|sequelae|"
    r"visits?|assessments?|evaluations?|examinations?|re-?assessment|endpoints?|end-?points?)\b",
    _I,
)
_R_AFTER = re.compile(
    r"^[\s\u2010\u2011-]*(?:after\b|later\b|thereafter\b|afterwards?\b|following\b|"
    r"post[- ]?(?:operative(?:ly)?|op|surgery|surgical|discharge|injury|partum|transplant\w*|"
    r"procedure|procedural|stroke|infarction|treatment|intervention|randomi[sz]ation|"
    r"vaccination|baseline|diagnosis|delivery|implantation|implementation|admission)\b|"
    r"postoperatively\b|"
    r"postpartum\b|from\s+(?:baseline|randomi[sz]ation|enrol?lment|inclusion|diagnosis|surgery)\b|"
    r"since\s+(?:baseline|surgery|diagnosis|randomi[sz]ation|treatment)\b)",
    _I,
)
_L_AGE = re.compile(
    r"\b(?:aged?|ages|age range|age group)\b(?P<mid>[^;]{0,80})$",
    _I,
)
_AGE_BLOCK = re.compile(
    r"follow|after|later|since|during|until|within|treat|period|surviv|"
    r"mortalit|\bat\s+(?!the time\b|diagnosis|presentation|onset|baseline|surgery|their|entry|"
    r"enrol|inclusion|admission|death|first|the\s+(?:first|second))|\bwere\s+\w+ed\b",
    _I,
)
_L_POP_CMP = re.compile(
    r"(?:\b(?:children|boys|girls|infants|adults|women|men|patients|participants|subjects|"
    r"persons|people|individuals|residents|those|adolescents|neonates|newborns|population|"
    r"PICT participants)\s*(?:>|<|\u2265|\u2264|>\s*or\s*=|<\s*or\s*=|>=|<=|older than|"
    r"younger than|over|under|above|below|less than|greater than|more than)|"
    r"\b(?:older|younger) than)\s*$",
    _I,
)
_L_RANGE_OF_PREV = re.compile(
    r"(?:\(\s*(?:range|IQR|interquartile range)?\s*[:=,]?|\b(?:range|ranging|ranged|IQR|"
    r"interquartile range)\s*[:=,]?\s*(?:from|of|between)?)\s*$",
    _I,
)
_L_FOLLOW = re.compile(
    r"\b(?:follow(?:ed)?[- ]?ups?|followups?|followed|FU|observation period|monitored|"
    r"surveillance|re-?evaluated|re-?assessed|re-?examined|tracked)\b"
    r"(?P<mid>[^;]{0,100}|[^;]{0,50};\s*(?:mean|median)[,:]?\s*)$",
    _I,
)
_L_FOLLOW2 = re.compile(
    r"\b(?:annually|yearly|every\s+\w+\s+\w+|assessed|evaluated|measured|examined|interviewed|"
    r"surveyed|contacted|monitored|observed|tracked|recorded|studied)\b[^;]{0,40}?"
    r"\b(?:for|over|until|up to|through|throughout)\s+(?:a\s+|an\s+|the\s+)?"
    r"(?:period\s+of\s+|total\s+of\s+|further\s+|additional\s+)?$",
    _I,
)
# "the effect persisted for six months", "the benefit was maintained for 6 months": how long
# an outcome lasted, which is a time it was assessed at (LABELING.md). Not how long something
# was kept up on purpose ("maintained on insulin for", "remained in hospital with"): ``mid``,
# the words between, must not say so (_PERSIST_BLOCK), nor may the verb's subject be the
# treatment ("the treatment lasted for 2 weeks" is a treatment length: _PERSIST_SUBJECT).
_L_PERSIST = re.compile(
    r"\b(?:persist(?:ed|s|ing)?|lasted|lasts|maintained|sustained|remained|retained|preserved|"
    r"still\s+(?:present|evident|significant|observed|seen|detectable|apparent))\b"
    r"(?P<mid>[^;.]{0,30}?)\b(?:for|over|until|up to|through|throughout|beyond)\s+"
    r"(?:a\s+|an\s+|the\s+)?(?:period\s+of\s+|total\s+of\s+|further\s+|additional\s+|"
    r"at\s+least\s+|up\s+to\s+)?$",
    _I,
)
_PERSIST_BLOCK = re.compile(r"\b(?:on|in hospital|hospitali[sz]ed|admitted|with|under)\b", _I)
# the words for a treatment (_R_TREAT, _PERSIST_SUBJECT)
_TREAT_NOUNS = (r"treatments?|therapy|therapies|interventions?|program(?:me)?s?|training|course|"
                r"regimens?|supplementation|cryotherapy|cryostimulation|WBC")
_PERSIST_SUBJECT = re.compile(
    rf"\b(?:{_TREAT_NOUNS}|sessions?|exposure|stay|hospitali[sz]ation|admission|procedure|"
    r"operation|surgery|infusion)\s+"
    r"(?:(?:period|phase|duration)\s+)?(?:(?:has|have|had|was|were|is|are)\s+)?(?:been\s+)?$",
    _I,
)
_CENTRAL_WORD = re.compile(r"\b(?:mean|median|average)\b", _I)
_R_TREAT = re.compile(
    r"^[\s\u2010\u2011-]*(?:(?:of|in)\s+(?:\w+[\s-]+){0,3}?|(?:[A-Za-z]+[\s,\u2010\u2011-]+){0,4}?)"
    rf"(?:{_TREAT_NOUNS}|trials?|exercises?|rehabilitation|sessions|cycles?|administration|"
    r"diet|dosing|medication|prophylaxis|protocol)\b",
    _I,
)
# "a 52-week, double-blind trial": the length of a trial, its design words after a comma
# (without the comma, _R_TREAT reads it). Only after "a", "an", "this", "the", "our", so
# that a clause after a comma ("followed for 6 months, trial participants ...") is not.
_R_TRIAL_AFTER_COMMA = re.compile(
    r"^\s*,\s*(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*[\s,]+){0,5}?(?:trials?|study|studies)\b", _I
)
_L_ARTICLE = re.compile(r"\b(?:a|an|this|the|our)\s+$", _I)
_L_TREAT = re.compile(
    r"\b(?:treated|treatment|received|receiving|supplemented|supplementation|trained|training|"
    r"administered|given|took|taking|exercised|exercise|underwent|undergoing|participated|"
    r"attended|intervention|therapy|program(?:me)?|course|sessions?|visits|usual care|placebo|"
    r"daily|weekly|cryotherapy|cryostimulation|WBC|randomi[sz]ed)\b[^;]{0,60}?"
    r"\b(?:for|over|during|lasting|throughout)\s+(?:a\s+|an\s+|the\s+)?"
    r"(?:total\s+of\s+|period\s+of\s+|further\s+|additional\s+)?$"
    r"|(?:treatment|intervention|therapy|program(?:me)?|training)\s+(?:duration|length|period)"
    r"[^;]{0,20}$",
    _I,
)
_L_HOSPITAL = re.compile(
    r"\b(?:length of (?:hospital )?stay|hospital stay|LOS|hospitali[sz]ation|hospitali[sz]ed|"
    r"ICU stay|intensive care unit stay|hospital course)\b[^;]{0,60}$",
    _I,
)
_L_AT = re.compile(
    r"(?:\b(?:at|by|after|until|till|through|up\s+to|beyond|on)|\bfrom\s+(?:baseline|randomi[sz]ation|"
    r"enrol?ment|surgery|diagnosis|admission|inclusion|entry)\s+to)\s+(?:(?:least|most|approximately|"
    r"about|around|roughly|nearly|almost|the|a|an|mean|median|minimum|maximum|average|of|last|"
    r"final|their|each|time|point|points|baseline|and|discharge|inclusion|entry|enrol?l?ment|"
    r"randomi[sz]ation|admission|surgery)[\s,:]+)*$",
    _I,
)
_L_WITHIN = re.compile(r"\bwithin\s+(?:the\s+(?:first\s+)?)?$", _I)
_OUTCOME_WORDS = re.compile(
    r"\b(?:die[ds]?|death|mortality|readmi\w*|recurr\w*|relaps\w*|complication\w*|infection\w*|"
    r"events?|reoperat\w*|surviv\w*|failure|occurr\w*|progress\w*|return\w*|resum\w*|healed|"
    r"healing|cured?|rupture\w*|fracture\w*|bleed\w*|stroke|admission|remission|outcomes?|"
    r"extubat\w*|discharged)\b",
    _I,
)
_L_OVER = re.compile(
    r"\b(?:over|during|throughout|across)\s+(?:the\s+|a\s+|an\s+)?(?:first|next|following|"
    r"subsequent|entire|whole|initial|total|ensuing|ensuing)?\s*$",
    _I,
)
_L_INTERVAL = re.compile(r"\binterval\b[^;]{0,80}$", _I)
_R_PAREN_RANGE = re.compile(
    r"^\s*\(\s*(?:range[:,]?\s*|IQR[:,]?\s*)?(?P<lo>\d+(?:\.\d+)?)\s*[-\u2013\u2010]\s*"
    r"(?P<hi>\d+(?:\.\d+)?)\s*\)"
)
_SESSION_COUNT = re.compile(r"\b(?:\d+|" + WORDNUM + r")\s+(?:\w+\s+)?sessions?\b", _I)


# the context patterns run on the lower-cased sentence (_classify, _is_central_followup)
_R_AGE, _R_PRIOR, _WASHOUT, _L_LAB, _GEST, _L_PAST, _L_EXPOSURE, _L_PROCESS = map(
    lc, (_R_AGE, _R_PRIOR, _WASHOUT, _L_LAB, _GEST, _L_PAST, _L_EXPOSURE, _L_PROCESS))
_L_SURVIVAL_VALUE, _L_INTAKE_WINDOW, _R_PERIOD, _R_OBS_PERIOD, _L_SPAN, _L_FOLLOWISH = map(
    lc, (_L_SURVIVAL_VALUE, _L_INTAKE_WINDOW, _R_PERIOD, _R_OBS_PERIOD, _L_SPAN, _L_FOLLOWISH))
_L_SCHEDULE, _R_SCHEDULE, _R_SESSION, _L_SESSION, _L_A_DOSE, _R_POST_TREAT = map(
    lc, (_L_SCHEDULE, _R_SCHEDULE, _R_SESSION, _L_SESSION, _L_A_DOSE, _R_POST_TREAT))
_R_AFTER_TREAT, _END_OF_TREAT_IN_SENT, _R_FOLLOW, _R_OUTCOME, _R_AFTER, _L_AGE = map(
    lc, (_R_AFTER_TREAT, _END_OF_TREAT_IN_SENT, _R_FOLLOW, _R_OUTCOME, _R_AFTER, _L_AGE))
_AGE_BLOCK, _L_POP_CMP, _L_RANGE_OF_PREV, _L_FOLLOW, _L_FOLLOW2, _CENTRAL_WORD = map(
    lc, (_AGE_BLOCK, _L_POP_CMP, _L_RANGE_OF_PREV, _L_FOLLOW, _L_FOLLOW2, _CENTRAL_WORD))
_R_TREAT, _L_TREAT, _L_HOSPITAL, _L_AT, _L_WITHIN, _OUTCOME_WORDS, _L_OVER, _L_INTERVAL = map(
    lc, (_R_TREAT, _L_TREAT, _L_HOSPITAL, _L_AT, _L_WITHIN, _OUTCOME_WORDS, _L_OVER,
          _L_INTERVAL))
_L_PERSIST, _PERSIST_BLOCK, _PERSIST_SUBJECT, _R_TRIAL_AFTER_COMMA, _L_ARTICLE = map(
    lc, (_L_PERSIST, _PERSIST_BLOCK, _PERSIST_SUBJECT, _R_TRIAL_AFTER_COMMA, _L_ARTICLE))



class _Gated:
    """A context pattern behind cheap gates, tried only where they pass. Same result as
    ``pattern.search``: a leading \\b makes re try the pattern at every position, slowly.

    ``gate`` (plain literals, so re skips to them fast) finds a piece that every match
    contains. ``ends``, for a left-context pattern anchored at the end of its window: every
    match ends with one of these, then nothing but white space (``\\s``, which is what
    ``str.rstrip()`` strips), so the window stripped of it must end so too."""

    __slots__ = ("pattern", "gate", "ends")

    def __init__(
        self, pattern: re.Pattern[str], gate: str | None = None, ends: tuple[str, ...] = ()
    ) -> None:
        self.pattern = pattern
        self.gate = re.compile(gate) if gate is not None else None
        self.ends = ends

    def search(self, text: str) -> re.Match[str] | None:
        if self.ends and not text.rstrip().endswith(self.ends):
            return None
        if self.gate is not None and self.gate.search(text) is None:
            return None
        return self.pattern.search(text)


# gates: every alternative of the pattern (lower-cased) contains one of the literals (a
# whole word of it followed by \b, where it is short and common inside words); ends:
# the last words of the alternatives (the look-ups read them off the pattern's tail)
_A_THE = ("a", "an", "the")
_L_EXPOSURE = _Gated(  # type: ignore[assignment]
    _L_EXPOSURE, r"history of|duration|since|for more than|suffer|smok|user|diagnosed|liv")
_L_POP_CMP = _Gated(  # type: ignore[assignment]
    _L_POP_CMP, "[<>\u2265\u2264]|than|over|under|above|below",
    ends=("<", ">", "\u2265", "\u2264", "=", "than", "over", "under", "above", "below"))
_L_TREAT = _Gated(  # type: ignore[assignment]
    _L_TREAT, r"for|over|during|lasting|throughout|duration|length|period")
_L_PROCESS = _Gated(  # type: ignore[assignment]
    _L_PROCESS, r"half|doubling|life[- ]expectancy|turnaround|wait|delay|time to|door-to|onset-to|"
    r"ci\b|confidence")
_L_LAB = _Gated(  # type: ignore[assignment]
    _L_LAB, r"incubat|cultur|stored|frozen|freez|centrifug|transfect|in vitro|mice|mouse|rats?\b|"
    r"murine|pups|rabbits|piglets|sacrific|euthani|harvested|passag|seeded|plated|cells were")
_L_INTAKE_WINDOW = _Gated(  # type: ignore[assignment]
    _L_INTAKE_WINDOW, "within", ends=("within", "the", "first"))
_L_PAST = _Gated(  # type: ignore[assignment]
    _L_PAST, r"past|previous|prior|preceding|last|recent|lifetime")
_L_OVER = _Gated(  # type: ignore[assignment]
    _L_OVER, r"over|during|throughout|across",
    ends=("over", "during", "throughout", "across", *_A_THE, "first", "next", "following",
          "subsequent", "entire", "whole", "initial", "total", "ensuing"))
_L_INTERVAL = _Gated(_L_INTERVAL, "interval")  # type: ignore[assignment]
_L_RANGE_OF_PREV = _Gated(  # type: ignore[assignment]
    _L_RANGE_OF_PREV, r"\(|rang|iqr|interquartile",
    ends=("(", ":", "=", ",", "range", "ranging", "ranged", "iqr", "from", "of", "between"))
_L_SURVIVAL_VALUE = _Gated(  # type: ignore[assignment]
    _L_SURVIVAL_VALUE, r"survival|time to",
    ends=("was", "were", "is", "of", "about", "approximately", "only"))
_L_FOLLOW = _Gated(  # type: ignore[assignment]
    _L_FOLLOW, r"follow|fu\b|observation period|monitored|surveillance|evaluated|assessed|"
    r"examined|tracked")
_L_FOLLOW2 = _Gated(  # type: ignore[assignment]
    _L_FOLLOW2, r"annually|yearly|every|assessed|evaluated|measured|examined|interviewed|"
    r"surveyed|contacted|monitored|observed|tracked|recorded|studied",
    ends=("for", "over", "until", "to", "through", "throughout", *_A_THE, "of", "further",
          "additional"))
_L_HOSPITAL = _Gated(_L_HOSPITAL, r"stay|los|hospitali|icu|hospital course")  # type: ignore[assignment]
_L_PERSIST = _Gated(  # type: ignore[assignment]
    _L_PERSIST, r"persist|last|maintained|sustained|remained|retained|preserved|still",
    ends=("for", "over", "until", "to", "through", "throughout", "beyond", *_A_THE, "of",
          "further", "additional", "least"))
_L_AGE = _Gated(_L_AGE, "age")  # type: ignore[assignment]
_GEST = _Gated(  # type: ignore[assignment]
    _GEST, r"gestation|pregnancy|amenorrh|postmenstrual|conception|trimester")
_L_SPAN = _Gated(  # type: ignore[assignment]
    _L_SPAN, ends=(*_A_THE, "of", "over", "during", "throughout", "across", "in"))
_L_SCHEDULE = _Gated(  # type: ignore[assignment]
    _L_SCHEDULE, ends=("every", "each", "per", "once", "twice", "thrice", "times", "q", *_A_THE[:2],
                       "other", "single"))
_L_WITHIN = _Gated(_L_WITHIN, ends=("within", "the", "first"))  # type: ignore[assignment]
# the two exclusions anchored at the start of the right window, as one pattern
_R_EXCLUDE = re.compile("|".join(f"(?:{p.pattern})" for p in (_R_AGE, _R_PRIOR)))


_UNIT_KEYS = ("year", "month", "week", "day", "hour", "min", "decade", "yr", "mo", "wk", "hr")
_SHORT_UNIT = re.compile(r"\d\s?[-\u2010\u2011\u2013]?\s?[hd](?![A-Za-z])")


class Hit(NamedTuple):  # (a tuple: a few are built per record, faster than a frozen dataclass)
    weeks: float
    phrase: str
    kind: str  # follow-up | outcome-period | post-treatment | treatment | assessment | in-hospital
    sentence: int
    central: bool = False
    after_end_of_treatment: bool = False  # a follow-up counted from the end of treatment


class Sentence:
    """A sentence of the record: its text, its start in the abstract, whether it is the
    title, and its text lower-cased (computed when not given). A plain class with slots:
    a dozen are built per record, and a frozen dataclass is several times slower to build."""

    __slots__ = ("text", "start", "is_title", "low")

    def __init__(self, text: str, start: int, is_title: bool, low: str = "") -> None:
        self.text = text
        self.start = start
        self.is_title = is_title
        self.low = low or lower(text)

    def __repr__(self) -> str:
        return f"Sentence({self.text!r}, {self.start}, {self.is_title})"


def sentences_of(title: str, abstract: str) -> list[Sentence]:
    out: list[Sentence] = []
    if title.strip():
        t = title.strip()
        out.append(Sentence(t, 0, True, lower(t)))
    # lower-case the abstract once and slice it, unless lower-casing changes its length
    # (then fastre.lower of a sentence may differ from the slice)
    abs_low = abstract.lower()
    sliced = len(abs_low) == len(abstract)
    for a, b in split_sentences(abstract):
        s = abstract[a:b]
        out.append(Sentence(s, a, False, abs_low[a:b] if sliced else lower(s)))
    return out


def _value(m: re.Match[str]) -> tuple[float, bool] | None:
    """The number of units a quantity match stands for, and whether it is a central value."""
    if m.group("c1"):
        v = parse_number(m.group("c1"))
        return (v, True) if v is not None else None
    if m.group("c2"):
        v = parse_number(m.group("c2"))
        return (v, True) if v is not None else None
    text = m.group("nums")
    if text.isdigit() and text.isascii():  # one number, the commonest case
        return float(text), False
    if text.lower() in ("a", "an"):  # "after a year": _NUM reads "a" only before its unit
        return 1.0, False
    if text.isascii():  # (the lower-case pattern on it lower-cased: the same, faster)
        found = _NUM_LOW.finditer(text.lower())
    else:
        found = _NUM_RE.finditer(text)
    nums = [parse_number(x.group(0)) for x in found]
    vals = [v for v in nums if v is not None]
    if not vals:
        return None
    # A list or range of time points ascends ("1, 6 and 12", "3-60"), so its last number is
    # the latest; in "n = 30, 6 months" the number next to the unit is the one that counts.
    return vals[-1], False


def _phrase(s: str, a: int, b: int) -> str:
    a = max(0, a)
    b = min(len(s), b)
    return s[a:b].strip(" ,;(")


def _classify(
    s: str, a: int, b: int, unit: str, is_article: bool, prev: tuple[int, str, bool] | None,
    sl: str | None = None,
) -> tuple[str, int, int, bool] | None:
    """Kind of the quantity s[a:b] (or None to drop it), with the phrase span and a flag
    telling that it is counted from the end of treatment. ``sl``: ``s`` lower-cased
    (fastre.lower); the context patterns run on it (see fastre.lc)."""
    if sl is None:
        sl = lower(s)
    left = s[max(0, a - 120): a]
    right = s[b: b + 100]
    lw = sl[max(0, a - 120): a]  # the same windows, lower-cased
    rw = sl[b: b + 100]
    ll = len(left)
    fol = _L_FOLLOW.search(lw)

    # -- exclusions (all drop the quantity, so their order does not matter) -------------
    if _R_EXCLUDE.match(rw) or _GEST.search(rw) or _GEST.search(lw) or _L_LAB.search(lw):
        return None
    if _L_PAST.search(lw) or _L_EXPOSURE.search(lw) or _L_PROCESS.search(lw):
        return None
    w = _WASHOUT.search(lw[-40:])
    if w and not re.search(r"[);]|\band\b", left[-40:][w.end():]):
        return None
    w = _WASHOUT.search(rw[:40])
    if w and not re.search(r"[(;]|\band\b", right[: w.start()]):
        return None
    if not fol:
        if _L_SURVIVAL_VALUE.search(lw):
            return None
        w = _L_INTAKE_WINDOW.search(lw)
        if w and not _OUTCOME_WORDS.search(w.group(0)):  # "presented with recurrence within"
            return None
    if _R_OBS_PERIOD.match(rw):
        return ("follow-up", a, b + _R_OBS_PERIOD.match(rw).end(), False)  # type: ignore[union-attr]
    if _R_PERIOD.match(rw):
        if not _L_FOLLOWISH.search(rw[:40]) and not fol:
            return None
    if _L_SPAN.search(lw):
        if not (fol and not re.search(r"period\s+of\s*$|over\s+an?\s*$", left)):
            return None
    if _L_SCHEDULE.search(lw) or _R_SCHEDULE.match(rw):
        return None
    small = unit in ("hour", "minute")
    if small and (_R_SESSION.match(rw) or _L_SESSION.search(lw[-40:])):
        return None
    if is_article and _L_A_DOSE.search(lw):
        return None

    # -- positive contexts read to the right --------------------------------------------
    m = _R_POST_TREAT.match(rw)
    if m:
        return ("post-treatment", a, b + m.end(), True)
    m = _R_FOLLOW.match(rw)
    if m:
        return ("follow-up", a, b + m.end(), False)
    m = _R_AFTER_TREAT.match(rw)
    if m:
        return ("post-treatment", a, b + m.end(), False)
    m = _R_TREAT.match(rw)
    if m and not _R_OUTCOME.match(rw[: m.end()]):
        return ("treatment", a, b + m.end(), False)
    m = _R_TRIAL_AFTER_COMMA.match(rw)
    if m and _L_ARTICLE.search(lw[-8:]):
        return ("treatment", a, b + m.end(), False)
    m = _R_OUTCOME.match(rw)
    if m:
        return ("outcome-period", a, b + m.end(), False)
    m = _R_AFTER.match(rw)
    if m:
        word = m.group(0).strip().lower()
        if word.startswith(("later", "thereafter", "afterward")) and _END_OF_TREAT_IN_SENT.search(
            sl[:a]
        ):
            return ("post-treatment", a, b + m.end(), True)
        return ("assessment", a, b + m.end(), False)

    # -- what an age, or a range of the previous quantity, looks like --------------------
    m = _L_AGE.search(lw)
    if m and not _AGE_BLOCK.search(m.group("mid")):
        return None
    if _L_POP_CMP.search(lw):
        return None
    if prev is not None and _L_RANGE_OF_PREV.search(lw) and a - prev[0] <= 40:
        if prev[2]:
            return None  # the range around a central follow-up value
        return (prev[1], a, b, False)

    # -- positive contexts read to the left --------------------------------------------
    m = fol
    if m:
        return ("follow-up", a - (ll - m.start()), b, False)
    m = _L_TREAT.search(lw)
    p = _L_PERSIST.search(lw)
    if (p and (m is None or p.start() > m.start()) and not _PERSIST_BLOCK.search(p.group("mid"))
            and not _PERSIST_SUBJECT.search(lw[max(0, p.start() - 40): p.start()])):
        return ("outcome-period", a - (ll - p.start()), b, False)
    if m:
        return ("treatment", a - (ll - m.start()), b, False)
    m = _L_FOLLOW2.search(lw)
    if m:
        return ("follow-up", a - (ll - m.start()), b, False)
    m = _L_HOSPITAL.search(lw)
    if m:
        return ("in-hospital", a - (ll - m.start()), b, False)
    m = _L_AT.search(lw)
    if m:
        return ("assessment", a - (ll - m.start()), b, False)
    m = _L_WITHIN.search(lw)
    if m and _OUTCOME_WORDS.search(re.split(r"[(;,]", lw[-60:])[-1]):
        return ("outcome-period", a - (ll - m.start()), b, False)
    m = _L_OVER.search(lw)
    if m:
        return ("outcome-period", a - (ll - m.start()), b, False)
    m = _L_INTERVAL.search(lw)
    if m:
        return ("assessment", a - (ll - m.start()), b, False)
    return None


def _is_central_followup(s: str, a: int, kind: str, central: bool) -> bool:
    """``s``: the sentence lower-cased."""
    if kind != "follow-up":
        return False
    if central:
        return True
    left = s[max(0, a - 120): a]
    m = _L_FOLLOW.search(left)
    if m:
        return bool(_CENTRAL_WORD.search(left[max(0, m.start() - 12):]))
    left = s[max(0, a - 40): a]
    return bool(_CENTRAL_WORD.search(left))


_IS_TITLE, _START, _LOW = attrgetter("is_title"), attrgetter("start"), attrgetter("low")


class SentenceIndex:
    """Positions looked for once in the whole lower-cased abstract and shared out to its
    sentences (local positions, ascending), instead of a search of every sentence. Used only
    when each sentence's ``low`` is the matching slice of ``abstract_low``; otherwise (or for
    the title) every sentence is searched on its own."""

    def __init__(self, sents: list[Sentence], abstract_low: str | None) -> None:
        self.sents = sents
        self.low: str | None = None
        n = len(sents)
        # (the title, if any, is the first sentence: sentences_of)
        k = 1 if n and sents[0].is_title else 0
        body = sents[k:]
        if any(map(_IS_TITLE, body)):  # (not from sentences_of: every title on its own)
            k = 0
            body = [s for s in sents if not s.is_title]
            self.own = [i for i, s in enumerate(sents) if s.is_title]
            self.body = [i for i, s in enumerate(sents) if not s.is_title]
        else:
            self.own = list(range(k))
            self.body = list(range(k, n))
        # (C-level maps: built for every record, so kept cheap)
        self.starts = list(map(_START, body))
        lows = list(map(_LOW, body))
        self.ends = list(map(add, self.starts, map(len, lows)))
        if abstract_low is not None and all(map(abstract_low.startswith, lows, self.starts)):
            self.low = abstract_low
        else:  # the sentences searched on their own
            self.own = list(range(n))
            self.body = []

    def share(
        self, find: Callable[[str], list[int]]
    ) -> list[list[int]]:
        """``find(s.low)`` for every sentence ``s``: ``find`` gives ascending positions of
        what may start a match, and is run once on the abstract when possible. A position
        may be shared out even where nothing can match (the callers' patterns then fail)."""
        sents = self.sents
        out: list[list[int]] = [[] for _ in sents]
        for i in self.own:
            out[i] = find(sents[i].low)
        if self.body:
            assert self.low is not None
            starts, ends, body = self.starts, self.ends, self.body
            n = len(body)
            found = find(self.low)
            if len(found) > 2 * n:
                # many positions (digits): cut the list at the sentences' spans (bisect, C)
                lo = 0
                for i, a, e in zip(body, starts, ends, strict=True):
                    lo = bisect_left(found, a, lo)
                    hi = bisect_left(found, e, lo)
                    if hi > lo:
                        out[i] = list(map((-a).__add__, found[lo:hi]))
                        lo = hi
                return out
            j = 0
            for p in found:
                while ends[j] <= p:  # the first sentence ending after p
                    j += 1
                    if j == n:
                        return out
                if p >= starts[j]:
                    out[body[j]].append(p - starts[j])
        return out

    def contains(self, needles: tuple[str, ...]) -> bool:
        """May a sentence contain one of ``needles``? (False: none does.)"""
        if self.low is None:
            return True
        if any(n in self.low for n in needles):
            return True
        return any(n in self.sents[i].low for i in self.own for n in needles)


_A_UNIT = re.compile(r"a(?=n?\s+(?:year|month|week|day|decade))")
_A_UNIT_WORDS = ("year", "month", "week", "day", "decade")


def _a_unit_starts(low: str) -> list[int]:
    """``[m.start() for m in _A_UNIT.finditer(low)]``: each "a" or "an" before white space
    and a unit word, found back from the unit words (str.find) rather than by trying the
    look-ahead at every "a" of the text. Ascending, like the matches."""
    out: list[int] = []
    for u in positions(low, _A_UNIT_WORDS):
        j = u - 1
        while j >= 0 and low[j].isspace():  # (re's \\s is str.isspace)
            j -= 1
        if j == u - 1 or j < 0:  # no white space before the unit word
            continue
        if low[j] == "a":
            out.append(j)
        elif low[j] == "n" and j > 0 and low[j - 1] == "a":
            out.append(j - 1)
    return out


_FIRST3 = itemgetter(slice(0, 3))
_NUMBER_BY_PREFIX: dict[str, tuple[str, ...]] = {}
for _w in _NUMBER_HEADS:
    _NUMBER_BY_PREFIX[_w[:3]] = (*_NUMBER_BY_PREFIX.get(_w[:3], ()), _w)


def _number_heads(firsts: set[str] | None) -> tuple[str, ...]:
    """The number words that may start a QTY_RE match. ``firsts``: fastre.first3s of the
    words of a text holding every text searched, or None; a match starts at a word start
    (its look-behind), and every number word is 3+ letters: those sharing their first three
    letters with a word of the text (more than needed: the search finds nothing for the
    others)."""
    if firsts is None:
        return _NUMBER_HEADS
    return tuple(w for f in firsts.intersection(_NUMBER_BY_PREFIX) for w in _NUMBER_BY_PREFIX[f])


def _qty_starts(low: str, numbers: tuple[str, ...], digits: list[int] | None) -> list[int]:
    """Where a QTY_RE match can start in a lower-cased text (a superset): a run of ASCII
    digits, a number word (of ``numbers``), "a"/"an" before a unit. ``digits``: the starts
    of the text's runs of \\d when at hand: they stand for those of its ASCII digit runs (a
    match starting with a digit follows a non-word character, so it starts a run of \\d
    too)."""
    starts = digits if digits is not None else ascii_digit_starts(low)
    more = positions(low, numbers) if numbers else []
    more += _a_unit_starts(low)
    if not more:
        return starts
    return sorted({*starts, *more})


# A lower-case copy of QTY_RE on the lower-cased sentence rejects most candidates faster.
# It matches wherever QTY_RE does (its unit "h"/"d" is no longer case-sensitive: it may
# match more), unless the sentence holds one of the four non-ASCII letters that re's
# IGNORECASE matches to an ASCII letter (then QTY_RE alone decides).
_QTY_LOW = lc(QTY_RE)
# A cheaper first test for a start at a digit: every branch of QTY_RE reads the number
# (\d+ and its decimals) and then, after any white space, one of these: "±" or "+" (a
# central value), "(" (a range in brackets), a separator (",", "&", a dash, "and", "or",
# "to"), "and a half", or a unit (decades years yrs months mos mths weeks wks days hours
# hrs minutes mins h d). Any other character ("40 patients", "95%", "0.05)") ends every
# branch. Read on the lower-cased text like _QTY_LOW; of these letters none has another
# case that IGNORECASE matches (only i, s, k do: ı, ſ, K), so it holds for QTY_RE too.
# A start that is not a digit (a number word, "a") passes at once.
_QTY_FOLLOWS = re.compile(
    r"\D|\d+(?:\.\d+)?\s*[\u00b1+(,&\-\u2010\u2011\u2013\u2014aotdymwh]")
_ODD_FOLDS = ("\u0130", "\u0131", "\u017f", "\u212a")  # İ ı ſ K(elvin)


def _qty_matches(s: str, low: str, starts: list[int]) -> Iterator[re.Match[str]]:
    """``match_at(QTY_RE, s, starts)``, or the same matches of _QTY_LOW in ``low``: where
    that reads a unit of more than one letter it took the very path QTY_RE takes (only the
    one-letter unit differs), so the spans and groups are the same, lower-cased."""
    quick = s.isascii() or not any(c in s for c in _ODD_FOLDS)
    low_match = _QTY_LOW.match
    match = QTY_RE.match
    follows = _QTY_FOLLOWS.match
    end = -1
    for p in starts:
        if p < end:
            continue
        if follows(low, p) is None:
            continue  # a number that nothing of a quantity can follow
        if quick:
            m = low_match(low, p)
            if m is None:
                continue
            if len(m.group("unit")) > 1:
                yield m
                end = m.end()
                continue
        m = match(s, p)
        if m is not None:
            yield m
            end = m.end()


_UNIT_KEY_RE = re.compile("|".join(_UNIT_KEYS))  # finds one where any(u in low ...) would
def _quantity_hits(s: str, low: str, i: int, starts: list[int], hits: list[Hit]) -> None:
    """Append the time points among the quantities of sentence ``i`` (``s``, ``low``
    lower-cased) that start at one of ``starts``."""
    prev: tuple[int, str, bool] | None = None
    for m in _qty_matches(s, low, starts):
        unit = _UNIT_NAMES.get(m.group("unit").lower().rstrip("."))
        if unit is None:
            continue
        val = _value(m)
        if val is None:
            continue
        n, central = val
        is_article = bool(m.group("nums")) and m.group("nums").strip().lower() in ("a", "an")
        start = m.start()
        if is_article:  # "half a year": half of one unit, the quantity starts at "half"
            h = len(low[:start].rstrip()) - 4
            if h >= 0 and low.startswith("half", h) and not low[h - 1: h].isalpha():
                n, start = 0.5, h
        res = _classify(s, start, m.end(), unit, is_article, prev, low)
        if res is None:
            continue
        kind, pa, pb, after_end = res
        weeks = n * WEEKS_PER[unit]
        cfu = _is_central_followup(low, start, kind, central)
        hits.append(Hit(round(weeks, 3), _phrase(s, pa, pb), kind, i, cfu, after_end))
        prev = (m.end(), kind, cfu)
        pr = _R_PAREN_RANGE.match(s[m.end(): m.end() + 30])
        if pr and not cfu:
            hi = float(pr.group("hi"))
            if hi > n:
                hits.append(
                    Hit(round(hi * WEEKS_PER[unit], 3),
                        _phrase(s, m.start(), m.end() + pr.end()), kind, i)
                )


def _label_hits(s: str, i: int, starts: list[int], hits: list[Hit]) -> None:
    """Append the study-time labels ("week 12") of sentence ``i`` (``s``) that start at one
    of ``starts``."""
    for m in match_at(LABEL_RE, s, starts):
        u = m.group("u").lower()
        unit = "day" if ("day" in u or u == "pod") else u.rstrip("s")
        if unit not in WEEKS_PER:
            continue
        vals = [int(x) for x in _LABEL_NUMS.findall(m.group("n") + " " + (m.group("more") or ""))]
        cap = {"day": 400, "week": 300, "month": 240, "year": 20}[unit]
        vals = [v for v in vals if v <= cap]
        if not vals:
            continue
        left = s[max(0, m.start() - 20): m.start()]
        if re.search(r"(?:per|every|each|a|/)\s*$", left, _I):
            continue
        if _COMPOUND_LEFT.search(left) or _COMPOUND_RIGHT.match(s, m.end()):
            continue  # "8 years 8 months": a compound duration, not a label
        hits.append(Hit(round(max(vals) * WEEKS_PER[unit], 3), _phrase(s, m.start(), m.end()),
                        "assessment", i))


def find_hits(
    sents: list[Sentence], abstract_low: str | None = None, words: set[str] | None = None,
    digits: list[int] | None = None, firsts: set[str] | None = None,
    index: SentenceIndex | None = None,
) -> list[Hit]:
    """Every time point in the sentences. ``abstract_low``: the abstract lower-cased
    (fastre.lower), ``words``: fastre.words_of() of a text holding the title and abstract,
    ``digits``: fastre.digit_starts(abstract_low), when at hand (they only make it faster)."""
    hits: list[Hit] = []
    if index is None:  # (``index``: SentenceIndex(sents, abstract_low), when at hand)
        index = SentenceIndex(sents, abstract_low)
    if firsts is None and words is not None:
        firsts = set(map(_FIRST3, words))
    numbers = _number_heads(firsts)
    # a LABEL_RE match starts at a word start (its look-behind): only the heads some word
    # begins with
    labels = _LABEL_HEADS if firsts is None else tuple(
        h for h in _LABEL_HEADS if h[:3] in firsts)
    annual = index.contains(("annual", "yearly"))
    ages = index.contains((" at the",))
    # Where a quantity or a label may start, looked for once in the whole abstract and
    # shared out to its sentences (SentenceIndex.share): one search of each head per
    # record, not per sentence; a sentence with no such place needs no unit test below.
    qty_at = index.share(
        lambda low: _qty_starts(low, numbers, digits if low is index.low else None))
    label_at = index.share(lambda low: positions(low, labels)) if labels else None
    for i, sent in enumerate(sents):
        s = sent.text
        low = sent.low
        qty_here = qty_at[i]
        label_here = label_at[i] if label_at is not None else None
        if qty_here or label_here:
            # quantities and labels end or start with a unit: look for them only where one is
            has_unit = _UNIT_KEY_RE.search(low) is not None or _SHORT_UNIT.search(s) is not None
            if has_unit and qty_here:
                _quantity_hits(s, low, i, qty_here, hits)
            if label_here and (has_unit or "pod" in low):
                _label_hits(s, i, label_here, hits)
        for m in ANNUAL_RE.finditer(s) if annual and ("annual" in low or "yearly" in low) else ():
            v = parse_number(m.group("n"))
            if v:
                hits.append(Hit(round(v * WEEKS_PER["year"], 3), m.group(0), "follow-up", i))
        for m in AGES_RE.finditer(s) if ages and (" at the" in low or " at their" in low) else ():
            d = float(m.group("b")) - float(m.group("a"))
            if d > 0:
                hits.append(Hit(round(d * WEEKS_PER["year"], 3), m.group(0), "follow-up", i))
    hits.extend(_calendar_followup(sents))
    return _without_background_statistics(hits, sents)


# A population statistic quoted to motivate a study ("The persistently low 5-year survival rate
# for pancreatic cancer underscores the need for early detection") is not an assessment of the
# study's own subjects. Such a sentence speaks in the general present and comes before the
# abstract first says what this study did.
_OWN_STUDY_CUE = re.compile(
    r"\b(?:we|our|this|these|here|present|was|were|had|did|enrolled|included|recruited|"
    r"randomi[sz]ed|treated|underwent|received|observed|found|showed|analy[sz]ed|assessed|"
    r"followed|reviewed|identified)\b"
)
_GENERAL_PRESENT = re.compile(
    r"\b(?:is|are|remains?|underscores?|highlights?|emphasi[sz]es?|has|have|continues?)\b"
)


def _without_background_statistics(hits: list[Hit], sents: list[Sentence]) -> list[Hit]:
    if not any(h.kind == "outcome-period" for h in hits):
        return hits
    background: set[int] = set()
    for i, sent in enumerate(sents):
        if sent.is_title:
            continue
        if _OWN_STUDY_CUE.search(sent.low):
            break  # from here on the abstract speaks of its own study
        if _GENERAL_PRESENT.search(sent.low):
            background.add(i)
    return [h for h in hits if not (h.kind == "outcome-period" and h.sentence in background)]


def _calendar_followup(sents: list[Sentence]) -> list[Hit]:
    """'treated between 2004 and 2005 ... last follow-up was November 2010' -> 82 months."""
    ends = []
    for i, sent in enumerate(sents):
        low = sent.low  # (lower-cased; the words looked for are ASCII)
        if "follow" not in low and "censor" not in low and "cut" not in low:
            continue
        if "19" not in low and "20" not in low:  # FU_END_RE ends with a year
            continue
        for m in FU_END_RE.finditer(sent.text):
            ends.append((i, m))
    if not ends:
        return []
    starts: list[tuple[int, int]] = []
    for sent in sents:
        for m in STUDY_START_RE.finditer(sent.text):
            mon = m.group("m")
            starts.append((int(m.group("y")), _MONTHS.index(mon[:3].lower()) + 1 if mon else 1))
    out = []
    for i, m in ends:
        ey = int(m.group("y"))
        mon = m.group("m")
        cands = [st for st in starts if st[0] < ey or (st[0] == ey and mon)]
        if not cands:
            continue
        sy, sm = min(cands)
        em = _MONTHS.index(mon[:3].lower()) + 1 if mon else sm
        months = (ey - sy) * 12 + (em - sm)
        if months > 0:
            out.append(Hit(round(months * WEEKS_PER["month"], 3), m.group(0), "follow-up", i))
    return out


def treatment_length(hits: list[Hit]) -> float | None:
    vals = [h.weeks for h in hits if h.kind == "treatment"]
    return max(vals) if vals else None


def evidence_text(sent: Sentence) -> str:
    return strip_label(sent.text)
