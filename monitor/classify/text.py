"""Text helpers shared by the classifier: sentence splitting and number words."""

from __future__ import annotations

import re
from operator import methodcaller

# -- number words ------------------------------------------------------------------------

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000}

# A number of at most two words ("six", "twenty-four"): enough for durations.
WORDNUM = (
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
    r"(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine)(?![a-z]))?"
    r"|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)"
)

# A long number phrase ("four hundred and forty-three", "thirty-six thousand ...").
NUMBER_WORDS = (*_UNITS, *_TENS, *_SCALES)
_W = "|".join(NUMBER_WORDS)
WORDNUM_LONG = rf"(?:(?:{_W})(?:(?:[\s-]+(?:and[\s-]+)?)(?:{_W}))*)"

_SPLIT_WORDS = re.compile(r"[\s-]+")


def parse_number(text: str) -> float | None:
    """'12' -> 12, '2.6' -> 2.6, 'twenty-four' -> 24, 'four hundred and three' -> 403."""
    t = text.strip().lower()
    if not t:
        return None
    if t[0].isdigit():
        try:
            return float(t.replace(",", ""))
        except ValueError:
            return None
    if t in ("a", "an"):
        return 1.0
    half = 0.0
    if t.endswith("and a half"):
        half = 0.5
        t = t[: -len("and a half")].strip()
        if t and t[0].isdigit():
            try:
                return float(t) + half
            except ValueError:
                return None
    total = 0
    current = 0
    last = ""  # the kind of the word before: "unit" (zero..nineteen), "tens", "scale"
    for w in _SPLIT_WORDS.split(t):
        if not w or w == "and":
            continue
        if w in _UNITS:
            if last == "unit":  # "eight-four" (a typo of eighty-four) is no number
                return None
            current += _UNITS[w]
            last = "unit"
        elif w in _TENS:
            if last in ("unit", "tens"):
                return None
            current += _TENS[w]
            last = "tens"
        elif w == "hundred":
            current = max(current, 1) * 100
            last = "scale"
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
            last = "scale"
        else:
            return None
    if not last:
        return None
    return float(total + current) + half


# -- sentences ---------------------------------------------------------------------------

# Abbreviations after which a full stop does not end a sentence.
_ABBREV = (
    "e.g", "i.e", "vs", "etc", "al", "fig", "figs", "ref", "no", "nos", "approx", "ca", "cf",
    "dr", "mr", "mrs", "ms", "prof", "st", "vol", "pp", "resp", "incl", "min", "max", "wk",
    "mo", "yr", "yrs", "sd", "inc", "ltd", "co", "jr", "sr", "p", "u.s", "u.k", "spp", "sp",
    "viz", "est", "dept", "univ", "gen", "var",
)
_ABBREV_DOT = tuple(a + "." for a in _ABBREV)
# the last three characters of each ("p." has two): a head ending otherwise ends with none
_ABBREV_TAILS = frozenset(a[-3:] for a in _ABBREV_DOT)
# Candidate boundaries: end punctuation, optional closing quote/bracket, whitespace. Each
# branch starts with a literal, so re scans for the first characters quickly.
_TAIL = r"[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c(\[]?[A-Z0-9\u00c0-\u00dd])"
_BOUNDARY = re.compile(rf"\.{_TAIL}|!{_TAIL}|\?{_TAIL}|\n\n*")


def _ends_with_abbrev(head: str) -> bool:
    """Does ``head`` end with an abbreviation and its full stop ('e.g.', 'vs.'), the
    abbreviation starting a word? Case-insensitive."""
    low = head.lower()
    if low[-3:] not in _ABBREV_TAILS and low[-2:] not in _ABBREV_TAILS:
        return False
    if not low.endswith(_ABBREV_DOT):
        return False
    for a in _ABBREV_DOT:
        if low.endswith(a):
            i = len(low) - len(a)
            if i == 0 or not (low[i - 1].isalnum() or low[i - 1] == "_"):
                return True
    return False
_START = methodcaller("start")
# A structured abstract's section label ("METHODS", "BACKGROUND AND AIMS"), before its colon
SECTION_LABEL = r"[A-Z][A-Z /&,-]{2,60}"
_SECTION_LABEL = re.compile(rf"^\s*{SECTION_LABEL}:\s+")


# ASCII text as bytes, for _boundaries: ".", "!", "?" to "."; capitals and digits to "A";
# white space but the line break to " " (re's \s is str.isspace); the quotes and brackets
# _TAIL reads, and "\n", kept; anything else to "x". Same length, so the same positions.
_BOUNDARY_CLASSES = bytes(
    ord(".") if chr(c) in ".!?" else ord("A") if chr(c).isupper() or chr(c).isdigit()
    else c if chr(c) in "\n\"')][(" else 32 if chr(c).isspace() else ord("x")
    for c in range(128)
) + b"x" * 128
_STOP_B = re.compile(rb"\.[\"')\]]*(?=\s+[\"'(\[]?A)")  # (begin with a literal: re
_BREAK_B = re.compile(rb"\n\n*")  # scans for it fast, not for a class of four)


def _boundaries(text: str) -> list[re.Match[str]] | list[re.Match[bytes]]:
    """The matches of _BOUNDARY in ``text`` (their starts and ends are what is read). In
    ASCII text: those of a full stop (or "!", "?") and of line breaks, found in the
    translated bytes by two scans for a literal, merged (they cannot overlap)."""
    if not text.isascii():
        return list(_BOUNDARY.finditer(text))
    b = text.encode("ascii").translate(_BOUNDARY_CLASSES)
    stops = list(_STOP_B.finditer(b))
    if "\n" not in text:
        return stops
    breaks = list(_BREAK_B.finditer(b))
    if not stops:
        return breaks
    return sorted(stops + breaks, key=_START)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of ``text``.

    Splits at '.', '!' and '?' followed by space and a capital/digit, and at line breaks;
    never after common abbreviations ('e.g.', 'vs.', 'i.e.', 'et al.'), single initials or
    inside decimals.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _boundaries(text):
        ms = m.start()
        c = text[ms]
        if c == ".":
            if _ends_with_abbrev(text[max(start, ms - 12): ms + 1]):
                continue
            seg_end = m.end()
        elif c == "\n":
            seg_end = ms
        else:
            seg_end = m.end()
        _push(text, start, seg_end, spans)
        start = m.end()
    if start < len(text):
        _push(text, start, len(text), spans)
    return spans


def _push(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Append the span text[start:end] without its leading and trailing white space (as
    str.isspace tells it, like str.strip), unless nothing is left."""
    seg = text[start:end].lstrip()
    if seg:
        a = end - len(seg)
        spans.append((a, a + len(seg.rstrip())))


def strip_label(sentence: str) -> str:
    """Drop a leading structured-abstract label ('METHODS: ') from a sentence."""
    return _SECTION_LABEL.sub("", sentence, count=1)
