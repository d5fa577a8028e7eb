"""Outcome domains, from the packaged vocabulary in domains.toml (read once)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .fastre import first_at, lower, positions


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

    def labels(self) -> dict[str, str]:
        return {d.key: d.label for d in self.domains}


def _term_pattern(term: str) -> str:
    wild = term.endswith("*")
    t = term[:-1] if wild else term
    body = re.escape(t).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]?")
    return body + (r"[\w-]*" if wild else r"(?![\w])")


def _acronym_pattern(acr: str) -> str:
    return re.escape(acr) + r"(?![\w])"


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
    return Vocabulary(tuple(domains), terms_re, acronyms_re, tuple(per), literals)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    text = resources.files(__package__).joinpath("domains.toml").read_text(encoding="utf-8")
    return load_vocabulary(text)


def outcome_domains(
    text: str, vocab: Vocabulary | None = None, low: str | None = None
) -> tuple[str, ...]:
    """Keys of the domains whose terms occur in ``text``, in vocabulary order.

    ``low``: ``text`` lower-cased (fastre.lower), when at hand."""
    v = vocab or vocabulary()
    if low is None:
        low = lower(text)
    found: list[str] = []
    literals = v.literals or {}
    for d, term_re, acr_re in v.per_domain:
        # a term match starts at an occurrence of its first word: try only there
        if term_re is not None:
            heads = [lit for lit in literals[d.key] if lit in low]
            if heads and first_at(term_re, low, positions(low, heads)):
                found.append(d.key)
                continue
        if acr_re is not None:
            acrs = [a for a in d.acronyms if a in text]
            if acrs and first_at(acr_re, text, positions(text, acrs)):
                found.append(d.key)
    return tuple(found)
