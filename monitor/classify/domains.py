"""Outcome domains, from the packaged vocabulary in domains.toml (read once)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .fastre import lower, words_of


@dataclass(frozen=True)
class Domain:
    key: str
    label: str
    terms: tuple[str, ...]
    acronyms: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    domains: tuple[Domain, ...]
    terms_re: re.Pattern[str]  # case-insensitive; one named group per domain
    acronyms_re: re.Pattern[str] | None  # case-sensitive
    # per domain: lower-case terms pattern (for lower-cased text), case-sensitive acronyms
    per_domain: tuple[tuple[Domain, re.Pattern[str] | None, re.Pattern[str] | None], ...] = ()
    literals: dict[str, tuple[str, ...]] | None = None  # lower-case: a match starts with one
    # word index of the terms and acronyms, see _gate() and outcome_domains()
    index: _Index | None = None

    def labels(self) -> dict[str, str]:
        return {d.key: d.label for d in self.domains}


def _term_pattern(term: str) -> str:
    wild = term.endswith("*")
    t = term[:-1] if wild else term
    body = re.escape(t).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]?")
    return body + (r"[\w-]*" if wild else r"(?![\w])")


def _acronym_pattern(acr: str) -> str:
    return re.escape(acr) + r"(?![\w])"


_LEAD_WORD = re.compile(r"\w*")
_WORD3 = re.compile(r"\w{3}")
_RUNS = re.compile(r"\w+")


# (head, gate, exact, others): see _gate()
_Gate = tuple[str, str, bool, tuple[str, ...]]
# (domain key, head, others, is_acronym)
_Entry = tuple[str, str, tuple[str, ...], bool]


@dataclass(frozen=True)
class _Index:
    exact: dict[str, tuple[_Entry, ...]]  # gate word -> entries that need it as a word
    loose: tuple[_Entry, ...]  # entries whose head need only occur as a substring
    # per loose entry: the first three letters of its head when they are word characters
    # (a term's match starts a word, so some word then begins with them), else None
    loose_firsts: tuple[str | None, ...] = ()
    gates: frozenset[str] = frozenset()  # the keys of ``exact`` (a set intersects faster)


def _gate(head: str, term: str, wild: bool) -> _Gate:
    r"""(head, gate, exact, others) for a lower-case term (or acronym) without its ``*``.

    A match of the term starts at a word start (look-behind ``(?<![\w-])``) with ``gate``,
    the term's leading run of word characters. When ``exact``, the word there *is* ``gate``
    (the term ends there, or goes on with a space or a literal non-word character), so the
    term can only match if ``gate`` is one of the text's words (the runs of ``\w``);
    otherwise (a wildcard, an optional hyphen: 'sf-36' also matches 'sf36') that word only
    starts with ``gate``, and the substring test ``head in text`` decides, as before. Every
    other word run of the term (``others``) occurs literally in any match, so all must occur
    in the text too."""
    gate = _LEAD_WORD.match(term).group(0)  # type: ignore[union-attr]
    rest = term[len(gate):]
    exact = bool(gate) and ((not rest and not wild) or (bool(rest) and rest[0] != "-"))
    return head, gate, exact, tuple(_RUNS.findall(rest))


def _glued(term: str, wild: bool) -> str | None:
    """For a term 'x-y…' whose optional hyphen is its first non-word character: the word
    at a match is 'x' (a hyphen or space follows) or exactly 'xy' (none does), provided
    what follows 'y' in the term is not a hyphen or the wildcard. Else None."""
    m = re.fullmatch(r"(\w+)-(\w+)(.*)", term, re.DOTALL)
    if m is None:
        return None
    tail = m.group(3)
    if (not tail and wild) or tail[:1] == "-":
        return None
    return m.group(1) + m.group(2)


def load_vocabulary(text: str) -> Vocabulary:
    data = tomllib.loads(text)
    raw = data.get("domain")
    if not isinstance(raw, dict) or not raw:
        raise ValueError("domains.toml: no [domain.<key>] tables")
    domains: list[Domain] = []
    for key, d in raw.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise ValueError(f"domains.toml: bad domain key {key!r}")
        label = d.get("label")
        terms = d.get("terms", [])
        acronyms = d.get("acronyms", [])
        if not isinstance(label, str) or not label:
            raise ValueError(f"domains.toml: domain {key!r} has no label")
        if not all(isinstance(t, str) and t for t in [*terms, *acronyms]):
            raise ValueError(f"domains.toml: domain {key!r} has a non-string term")
        if not terms and not acronyms:
            raise ValueError(f"domains.toml: domain {key!r} has no terms")
        domains.append(Domain(key, label, tuple(terms), tuple(acronyms)))
    groups = []
    agroups = []
    for d in domains:
        if d.terms:
            # longest first so that a longer phrase wins at the same position
            alts = "|".join(_term_pattern(t) for t in sorted(d.terms, key=len, reverse=True))
            groups.append(f"(?P<{d.key}>{alts})")
        if d.acronyms:
            alts = "|".join(_acronym_pattern(t) for t in sorted(d.acronyms, key=len, reverse=True))
            agroups.append(f"(?P<{d.key}>{alts})")
    terms_re = re.compile(r"(?<![\w-])(?:" + "|".join(groups) + ")", re.IGNORECASE)
    acronyms_re = re.compile(r"(?<![\w-])(?:" + "|".join(agroups) + ")") if agroups else None
    per: list[tuple[Domain, re.Pattern[str] | None, re.Pattern[str] | None]] = []
    literals: dict[str, tuple[str, ...]] = {}
    exact: dict[str, list[_Entry]] = {}
    loose: list[_Entry] = []
    for d in domains:
        t_re = a_re = None
        if d.terms:
            # lower-case, for lower-cased text (same as IGNORECASE on the text, but faster)
            alts = "|".join(
                _term_pattern(t.lower()) for t in sorted(d.terms, key=len, reverse=True)
            )
            t_re = re.compile(r"(?<![\w-])(?:" + alts + ")")
        if d.acronyms:
            alts = "|".join(_acronym_pattern(t) for t in sorted(d.acronyms, key=len, reverse=True))
            a_re = re.compile(r"(?<![\w-])(?:" + alts + ")")
        per.append((d, t_re, a_re))
        # the first word of each term: every match starts with one of them
        literals[d.key] = tuple(
            dict.fromkeys(re.split(r"[\s-]", t.rstrip("*").lower())[0] for t in d.terms)
        )
        gated = [
            (*_gate(re.split(r"[\s-]", t.rstrip("*").lower())[0], t.rstrip("*").lower(),
                    t.endswith("*")), False)
            for t in d.terms
        ]
        # an acronym is matched case-sensitively and exactly (no optional hyphen): the
        # lower-cased text's word at the match is its leading word run, lower-cased
        gated += [
            (a, _LEAD_WORD.match(a.lower()).group(0), True, (), True)  # type: ignore[union-attr]
            for a in d.acronyms
        ]
        for (head, gate, is_exact, others, acr), t in zip(
            gated, [*d.terms, *d.acronyms], strict=True
        ):
            entry = (d.key, head, others, acr)
            glued = None if acr or is_exact else _glued(t.rstrip("*").lower(), t.endswith("*"))
            if is_exact:
                exact.setdefault(gate, []).append(entry)
            elif glued:  # the word at the match is ``gate`` or ``glued``: index both
                exact.setdefault(gate, []).append(entry)
                exact.setdefault(glued, []).append(entry)
            else:
                loose.append(entry)
    loose_firsts = tuple(
        h[:3] if acr is False and _WORD3.fullmatch(h[:3]) else None for _, h, _, acr in loose
    )
    index = _Index({k: tuple(v) for k, v in exact.items()}, tuple(loose), loose_firsts,
                   frozenset(exact))
    return Vocabulary(tuple(domains), terms_re, acronyms_re, tuple(per), literals, index)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    text = resources.files(__package__).joinpath("domains.toml").read_text(encoding="utf-8")
    return load_vocabulary(text)


def _matches_at(pattern: re.Pattern[str], text: str, heads: list[str]) -> bool:
    """Does ``pattern`` match at an occurrence of one of ``heads`` (any order will do)?"""
    match = pattern.match
    find = text.find
    for h in heads:
        p = find(h)
        while p != -1:
            if match(text, p) is not None:
                return True
            p = find(h, p + 1)
    return False


def outcome_domains(
    text: str, vocab: Vocabulary | None = None, low: str | None = None,
    words: set[str] | None = None, firsts: set[str] | None = None,
) -> tuple[str, ...]:
    """Keys of the domains whose terms occur in ``text``, in vocabulary order.

    ``low``: ``text`` lower-cased (fastre.lower), ``words``: ``fastre.words_of(low)``, when
    at hand, ``firsts``: ``fastre.first3s(words)``, when at hand."""
    v = vocab or vocabulary()
    if low is None:
        low = lower(text)
    index = v.index
    assert index is not None
    # the words of the text (runs of \w): a term whose match starts with a whole word can
    # only match if that word is among them; a set intersection finds those terms at once
    if words is None:
        words = words_of(low)
    heads: dict[str, list[str]] = {}  # domain key -> term heads worth trying
    acrs: dict[str, list[str]] = {}  # domain key -> acronyms worth trying
    exact = index.exact
    for w in words.intersection(index.gates):
        for key, head, others, acr in exact[w]:
            if acr:
                if head in text:
                    acrs.setdefault(key, []).append(head)
            elif not others or all(o in low for o in others):
                heads.setdefault(key, []).append(head)
    for (key, head, others, acr), k in zip(index.loose, index.loose_firsts, strict=True):
        if firsts is not None and k is not None and k not in firsts:
            continue  # no word begins as the head does
        if acr:
            if head in text:
                acrs.setdefault(key, []).append(head)
        elif head in low and all(o in low for o in others):
            heads.setdefault(key, []).append(head)
    found: list[str] = []
    for d, term_re, acr_re in v.per_domain:
        # a term match starts at an occurrence of its first word: try only there
        h = heads.get(d.key)
        if h and term_re is not None and _matches_at(term_re, low, h):
            found.append(d.key)
            continue
        a = acrs.get(d.key)
        if a and acr_re is not None and _matches_at(acr_re, text, a):
            found.append(d.key)
    return tuple(found)
