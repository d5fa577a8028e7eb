"""Fast matching helpers for the classifier's regular expressions.

Python's ``re`` is slow on long case-insensitive alternations that may start at almost any
position (about 1 µs per character here): it tries every branch at every position. Two
cheaper ways to get *the same matches*:

* run a case-sensitive, lower-case pattern on text lower-cased once (``lower()``), and
* try the pattern only at the positions where a match can start: the occurrences of its
  literal *heads* (found with ``str.find``, which is fast C code), or the starts of the
  matches of a cheap *candidate* pattern.

``Headed.search`` / ``Headed.finditer`` return exactly what ``re.search`` / ``re.finditer``
of the pattern would, provided every match of the pattern starts with one of the heads
(lower-cased). Patterns keep their own leading ``\\b`` or look-behind: ``match(text, pos)``
sees the characters before ``pos``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import filterfalse
from operator import itemgetter

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def lower(text: str) -> str:
    """``text.lower()``, or an ASCII-only lower-casing where that would change the length
    (a few non-ASCII capitals lower-case to two characters), so positions stay the same."""
    low = text.lower()
    if len(low) != len(text):
        low = text.translate(_ASCII_LOWER)
    return low


_WORD_RUN = re.compile(r"\w+")
# ASCII word characters to themselves, every other byte to a space
_ASCII_NON_WORD = bytes(
    c if c < 128 and (chr(c).isalnum() or chr(c) == "_") else 32 for c in range(256)
)
# the same for the bytes of UTF-8 text: the bytes >= 128 (of non-ASCII characters) kept
_ASCII_NON_WORD_KEEP = _ASCII_NON_WORD[:128] + bytes(range(128, 256))
_DIGIT_RUN = re.compile(r"\d\d*")  # (not \d+: a leading class lets re skip to digits fast)
_ASCII_DIGIT_RUN = re.compile(r"[0-9][0-9]*")  # the same in ASCII text, a faster class


def words_of(low: str) -> set[str]:
    r"""The words of ``low``: its maximal runs of ``\w`` characters (as ``re.findall(r"\w+")``).

    A pattern whose every match starts at a word start with literal ``w`` followed by a
    non-word character can only match when ``w in words_of(text)``: one set look-up instead
    of a substring search through the text."""
    if low.isascii():
        # ASCII: every non-word character to a space (as bytes, fast), then one split
        return set(low.encode("ascii").translate(_ASCII_NON_WORD).decode("ascii").split())
    # Otherwise the same on the UTF-8 bytes: the ASCII non-word characters to spaces, the
    # bytes of the other characters (all >= 128) kept. The split also cuts at non-ASCII
    # white space (not \w either). A token all ASCII is then a word; so is one all \w
    # (str.isalnum is re's \w without "_"); the few others (holding a non-ASCII character
    # that is not \w, "±", "–", or one with "_") are split by the pattern itself.
    toks = set(low.encode("utf-8", "surrogatepass").translate(_ASCII_NON_WORD_KEEP)
               .decode("utf-8", "surrogatepass").split())
    mixed = [t for t in filterfalse(str.isascii, toks) if not t.isalnum()]
    if mixed:
        toks.difference_update(mixed)
        toks.update(_WORD_RUN.findall(" ".join(mixed)))
    return toks


_FIRST3 = itemgetter(slice(0, 3))
_WORD3 = re.compile(r"\w{3}")


def first3s(words: set[str]) -> set[str]:
    """The first three characters of each of ``words`` (the whole word if shorter)."""
    return set(map(_FIRST3, words))


_GLUED = re.compile(r"(?<=[^\Wa-z])(?=([a-z]\w\w))")  # (zero-width: finds every place)
# ASCII digits and "_" to "0", letters a-z to "a", the rest to " ": a glued place is a "0a"
_GLUE_CLASSES = bytes(
    ord("0") if chr(c).isdigit() or chr(c) == "_" else ord("a") if "a" <= chr(c) <= "z" else 32
    for c in range(256)
)


def glued_firsts(low: str, words: set[str]) -> set[str]:
    """The first three characters at each place of ``low`` (lower-cased) where a letter a-z
    follows a word character that is not one (a digit, "_", a non-ASCII letter: "5mg").
    ``words``: ``words_of`` of a text holding ``low``. With ``first3s(words)`` they are the
    first three characters of every place where a pattern led by ``(?<![a-z])`` and a
    letter may match. (An ASCII text is read as bytes, its character classes at C speed.)"""
    out: set[str] = set()
    if low.isascii():
        classes = low.encode("ascii").translate(_GLUE_CLASSES)
        p = classes.find(b"0a")
        while p != -1:
            if b" " not in classes[p + 1: p + 4]:  # (three word characters from the letter)
                out.add(low[p + 1: p + 4])
            p = classes.find(b"0a", p + 1)
        return out
    odd = [w for w in filterfalse(str.isalpha, words) if not w.isdigit()]
    odd += [w for w in filterfalse(str.isascii, words) if w.isalpha()]
    for w in odd:
        out.update(_GLUED.findall(w))
    return out


_NONE: set[str] = set()


def keyed(heads: Iterable[str]) -> tuple[tuple[str, str | None], ...]:
    """(head, its first three characters when they are all word characters, else None)."""
    return tuple((h, h[:3] if _WORD3.fullmatch(h[:3]) else None) for h in heads)


def present(
    heads: tuple[tuple[str, str | None], ...], firsts: set[str] | None, more: set[str] = _NONE
) -> tuple[str, ...]:
    """The heads (``keyed``) that may occur where a match can start: all of them, or
    (``firsts``: the first three characters of every word, see ``Headed.found``) those
    whose first three characters begin a word, or are in ``more``."""
    if firsts is None:
        return tuple(h for h, _ in heads)
    return tuple(h for h, k in heads if k is None or k in firsts or k in more)


class HeadSet:
    """Heads indexed by their first three characters: ``present(keyed(heads), firsts, more)``
    as a set intersection (C speed) instead of a look-up per head, for head lists that are
    gated on every record. The heads come back in another order (callers sort positions)."""

    __slots__ = ("heads", "always", "by_key", "keys")

    def __init__(self, heads: Iterable[str]) -> None:
        self.heads = tuple(heads)
        by_key: dict[str, tuple[str, ...]] = {}
        always: list[str] = []
        for h, k in keyed(self.heads):
            if k is None:
                always.append(h)
            else:
                by_key[k] = (*by_key.get(k, ()), h)
        self.always = tuple(always)  # heads not led by three word characters: never gated
        self.by_key = by_key
        self.keys = frozenset(by_key)

    def present(self, firsts: set[str] | None, more: set[str] = _NONE) -> tuple[str, ...]:
        """The heads that may occur where a match can start (see ``present``)."""
        if firsts is None:
            return self.heads
        keys = self.keys.intersection(firsts)
        if more:
            keys |= self.keys.intersection(more)
        if not keys:
            return self.always
        by_key = self.by_key
        return (*self.always, *(h for k in keys for h in by_key[k]))


# ASCII digits to "0", every other byte to a space: in ASCII text the runs of digits are
# then the runs of "0", which re finds by scanning for a literal (several times faster
# than testing every character against a class, as [0-9] or \d makes it do)
_DIGIT_CLASSES = bytes(ord("0") if chr(c).isdigit() and c < 128 else 32 for c in range(256))
_ZERO_RUN = re.compile(rb"00*")


def digit_starts(text: str) -> list[int]:
    r"""Start positions of the maximal runs of digits (``\d``) in ``text``."""
    if text.isascii():
        return [m.start() for m in _ZERO_RUN.finditer(text.encode("ascii").translate(_DIGIT_CLASSES))]
    return [m.start() for m in _DIGIT_RUN.finditer(text)]


def ascii_digit_starts(text: str) -> list[int]:
    """Start positions of the maximal runs of ASCII digits (0-9) in ``text``."""
    if text.isascii():
        return [m.start() for m in _ZERO_RUN.finditer(text.encode("ascii").translate(_DIGIT_CLASSES))]
    return [m.start() for m in _ASCII_DIGIT_RUN.finditer(text)]


def lc(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A case-insensitive pattern as a lower-case, case-sensitive one, to run on text
    lower-cased by fastre.lower: the same matches, about 3x faster on short windows (re
    then skips to candidate characters). Escapes (\\b, \\W) and (?P<...> are kept."""
    assert pattern.flags & re.IGNORECASE
    body = re.sub(r"\\.|\(\?P|[A-Z]+", lambda m: m.group(0) if m.group(0)[0] in "\\(" else
                  m.group(0).lower(), pattern.pattern)
    return re.compile(body, pattern.flags & ~re.IGNORECASE)


def positions(low: str, heads: Iterable[str]) -> list[int]:
    """Sorted start positions of every occurrence of every head in ``low``."""
    out: set[int] = set()
    find = low.find
    for h in heads:
        p = find(h)
        while p != -1:
            out.add(p)
            p = find(h, p + 1)
    return sorted(out)


def match_at(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> Iterator[re.Match[str]]:
    """The matches ``pattern.finditer(text)`` would give, trying only ``starts`` (ascending).

    Exact when ``starts`` holds every position where a match can start; the pattern must
    not match the empty string."""
    end = -1
    match = pattern.match
    for p in starts:
        if p < end:
            continue
        m = match(text, p)
        if m is not None:
            yield m
            end = m.end()


def first_at(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> re.Match[str] | None:
    """The first match of ``pattern`` starting at one of ``starts`` (ascending), if any."""
    match = pattern.match
    for p in starts:
        m = match(text, p)
        if m is not None:
            return m
    return None


class Headed:
    """A lower-case pattern (no IGNORECASE; run it on lower-cased text) whose every match
    starts with one of ``heads``."""

    __slots__ = ("pattern", "heads", "keyed")

    def __init__(self, pattern: str, heads: Iterable[str]) -> None:
        self.pattern = re.compile(pattern)
        self.heads = tuple(heads)
        # a head's first three characters when they are all word characters, else None
        self.keyed = keyed(self.heads)

    def search(self, low: str) -> re.Match[str] | None:
        for m in match_at(self.pattern, low, positions(low, self.heads)):
            return m
        return None

    def finditer(self, low: str, firsts: set[str] | None = None) -> Iterator[re.Match[str]]:
        """``firsts``: as for ``found``."""
        return match_at(self.pattern, low, positions(low, self.present(firsts)))

    def present(self, firsts: set[str] | None) -> tuple[str, ...]:
        """``present(self.keyed, firsts)``."""
        return self.heads if firsts is None else present(self.keyed, firsts)

    def found(self, low: str, firsts: set[str] | None = None) -> bool:
        """``bool(self.search(low))``, cheaper: tries each head's occurrences in turn and
        stops at the first match, wherever it is (no sorting of all the positions).

        ``firsts``: the first three characters of every word of ``low`` (``first3s``), for
        a pattern whose every match starts at a word start (each branch begins with
        ``\\b`` before a word character): a head beginning with three word characters
        can then only match where a word begins with them, so a set look-up may skip it."""
        match = self.pattern.match
        find = low.find
        for h, k in self.keyed:
            if firsts is not None and k is not None and k not in firsts:
                continue
            p = find(h)
            while p != -1:
                if match(low, p) is not None:
                    return True
                p = find(h, p + 1)
        return False


class Candidates:
    """A pattern tried only at the starts of the matches of a cheap candidate pattern."""

    __slots__ = ("pattern", "candidates")

    def __init__(self, pattern: str | re.Pattern[str], candidates: str, flags: int = 0) -> None:
        self.pattern = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
        self.candidates = re.compile(candidates)

    def finditer(self, text: str, low: str | None = None) -> Iterator[re.Match[str]]:
        """Matches of the pattern in ``text``; candidates are looked for in ``low``
        (``text`` lower-cased, same length) when given."""
        starts = [m.start() for m in self.candidates.finditer(text if low is None else low)]
        return match_at(self.pattern, text, starts)

    def search(self, text: str, low: str | None = None) -> re.Match[str] | None:
        for m in self.finditer(text, low):
            return m
        return None
