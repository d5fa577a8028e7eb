"""The typed record of one PubMed citation, shared by the parser, the classifier and the store.

Text fields that PubMed allows inline markup in (titles, abstract sections, keywords) hold a
*safe inline HTML fragment*: character data is HTML-escaped, and only the tags in
``INLINE_TAGS`` survive as tags. MathML is reduced to its text. ``plain()`` gives the text
without tags; both forms are derived from the same source so they never disagree.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

INLINE_TAGS = ("i", "b", "sup", "sub", "u")

_TAG = re.compile(r"</?(?:{})>".format("|".join(INLINE_TAGS)))


def plain(markup: str) -> str:
    """The text of a safe inline fragment: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub("", markup))


@dataclass(frozen=True, slots=True)
class Author:
    last_name: str | None = None
    fore_name: str | None = None
    initials: str | None = None
    suffix: str | None = None
    collective_name: str | None = None
    affiliations: tuple[str, ...] = ()
    orcid: str | None = None

    @property
    def short(self) -> str:
        """'Miller E' / 'MS Study Group' — the form digests and citations use."""
        if self.collective_name:
            return self.collective_name
        return " ".join(p for p in (self.last_name, self.initials) if p)


@dataclass(frozen=True, slots=True)
class AbstractSection:
    text: str  # safe inline HTML
    label: str | None = None
    category: str | None = None  # NlmCategory: BACKGROUND, METHODS, ... UNASSIGNED


@dataclass(frozen=True, slots=True)
class MeshQualifier:
    name: str
    ui: str | None = None
    major: bool = False


@dataclass(frozen=True, slots=True)
class MeshHeading:
    descriptor: str
    ui: str | None = None
    major: bool = False
    qualifiers: tuple[MeshQualifier, ...] = ()


@dataclass(frozen=True, slots=True)
class PublicationType:
    name: str
    ui: str | None = None


@dataclass(frozen=True, slots=True)
class CommentCorrection:
    ref_type: str  # RetractionIn, ErratumIn, CommentOn, ...
    ref_source: str = ""
    pmid: str | None = None


@dataclass(frozen=True, slots=True)
class PubDate:
    """PubMed's publication date as given: Year[/Month[/Day]] or Season, or free MedlineDate."""

    year: int | None = None
    month: int | None = None  # 1-12; named months and numbers both normalised
    day: int | None = None
    season: str | None = None
    medline_date: str | None = None  # e.g. "2013 Jan-Mar"

    @property
    def text(self) -> str:
        if self.medline_date:
            return self.medline_date
        parts: list[str] = []
        if self.year:
            parts.append(str(self.year))
        if self.month:
            parts.append(_MONTHS[self.month - 1])
        elif self.season:
            parts.append(self.season)
        if self.day and self.month:
            parts.append(str(self.day))
        return " ".join(parts)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class HistoryDate:
    status: str  # PubStatus: received, accepted, entrez, pubmed, medline, ...
    date: date


@dataclass(frozen=True, slots=True)
class Article:
    pmid: str
    version: int = 1
    kind: str = "article"  # "article" (PubmedArticle) or "book" (PubmedBookArticle)
    title: str = ""  # safe inline HTML
    abstract: tuple[AbstractSection, ...] = ()
    authors: tuple[Author, ...] = ()
    journal: str | None = None  # full title (book title for books)
    journal_abbrev: str | None = None  # ISOAbbreviation / MedlineTA
    issn: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    pub_date: PubDate = field(default_factory=PubDate)
    electronic_date: date | None = None  # ArticleDate DateType="Electronic"
    doi: str | None = None
    pmcid: str | None = None
    publication_types: tuple[PublicationType, ...] = ()
    mesh: tuple[MeshHeading, ...] = ()
    keywords: tuple[str, ...] = ()  # safe inline HTML
    languages: tuple[str, ...] = ()
    history: tuple[HistoryDate, ...] = ()
    comments_corrections: tuple[CommentCorrection, ...] = ()
    status: str | None = None  # MedlineCitation Status
    date_revised: date | None = None

    # -- derived views -------------------------------------------------------------------
    @property
    def title_text(self) -> str:
        return plain(self.title)

    @property
    def abstract_text(self) -> str:
        """Sections joined as plain text, each prefixed with its label when it has one."""
        return "\n".join(
            (f"{s.label}: " if s.label else "") + plain(s.text) for s in self.abstract
        )

    @property
    def year(self) -> int | None:
        if self.pub_date.year:
            return self.pub_date.year
        if self.pub_date.medline_date:
            m = re.search(r"\b(1[89]\d\d|20\d\d)\b", self.pub_date.medline_date)
            if m:
                return int(m.group(1))
        return self.electronic_date.year if self.electronic_date else None

    @property
    def entrez_date(self) -> date | None:
        for h in self.history:
            if h.status == "entrez":
                return h.date
        return None

    @property
    def corrections(self) -> tuple[CommentCorrection, ...]:
        """Retractions, errata and expressions of concern about this record."""
        return tuple(c for c in self.comments_corrections if c.ref_type in NOTICE_TYPES)

    @property
    def is_retracted(self) -> bool:
        return any(c.ref_type == "RetractionIn" for c in self.comments_corrections) or any(
            p.name == "Retracted Publication" for p in self.publication_types
        )

    # -- (de)serialisation for the store --------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Article:
        return _from_json(cls, data)


NOTICE_TYPES = frozenset(
    {"RetractionIn", "ErratumIn", "ExpressionOfConcernIn", "CorrectedandRepublishedIn",
     "RetractedandRepublishedIn", "UpdateIn"}
)


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _to_json(value: Any) -> Any:
    # Field names cached per class (None: not a dataclass), no is_dataclass() per value.
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    try:
        names = _FIELD_NAMES[kind]
    except KeyError:
        names = _FIELD_NAMES[kind] = (
            tuple(f.name for f in dataclasses.fields(value))
            if dataclasses.is_dataclass(value) and not isinstance(value, type) else None
        )
    if names is not None:
        return {name: _to_json(getattr(value, name)) for name in names}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_json(value: Any) -> str:
    """``json.dumps(to_json(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))``:
    the text the store keeps and hashes (``record_hash``). See ``canonical_json_bytes``."""
    data = _orjson_record(value)
    return _CANONICAL.encode(value) if data is None else data.decode()


def canonical_json_bytes(value: Any) -> bytes:
    """``canonical_json(value).encode("utf-8")``, without the detour through ``str`` for records.

    Records (the classes of this module) are written by orjson: about a fifth of the CPU time
    of the json module's C encoder, whose ``default`` callback and ``sort_keys`` pass cost more
    than the encoding itself. The text is byte for byte the same (tests/test_store.py proves it
    on real records and edge cases), because on this path orjson only meets what it writes
    exactly as ``json.dumps(..., ensure_ascii=False)`` does: ``str`` (every code point, the
    escapes of control characters included), ``int`` within 64 bits, ``bool``, ``None``,
    tuples, lists, and dicts with ``str`` keys, sorted (``OPT_SORT_KEYS``; orjson would not
    sort a dataclass's fields, so ``_orjson_default`` makes each record a dict). Dates go through
    ``date.isoformat`` as before (``OPT_PASSTHROUGH_DATETIME``). Anything else (a ``datetime``,
    an int past 64 bits, a lone surrogate, a non-str key, another class) makes orjson raise
    ``TypeError``, and the whole value is written by the json module as before, so its result
    or error is the old one. The record classes hold no floats (orjson writes some differently,
    e.g. ``1e16``); the parser never puts one in.
    """
    data = _orjson_record(value)
    return _CANONICAL.encode(value).encode("utf-8") if data is None else data


def _orjson_record(value: Any) -> bytes | None:
    """orjson's text of a record, or None for a value outside its fast path (the json module's
    encoder then decides, result or error)."""
    if type(value) in _RECORD_CLASSES:
        try:
            return _orjson_dumps(value, default=_orjson_default, option=_ORJSON_OPTIONS)
        except TypeError:
            pass
    return None


def _dict_display(cls: type) -> Any:
    """A function making a dict of a dataclass instance's fields, keys in sorted order."""
    names = sorted(f.name for f in dataclasses.fields(cls))
    # e.g. lambda v: {"label": v.label, "text": v.text}: a dict display, no loop
    return eval("lambda v: {" + ", ".join(f"{n!r}: v.{n}" for n in names) + "}")


# Each dataclass's dict display, made once: the record classes when this module is loaded
# (below, shared with _ORJSON_AS), any other dataclass when the json module first meets it.
_AS_DICT: dict[type, Any] = {}


def _json_default(value: Any) -> Any:
    as_dict = _AS_DICT.get(type(value))
    if as_dict is None:
        if isinstance(value, date):
            return value.isoformat()
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            raise TypeError(f"{type(value).__name__} is not JSON serialisable")
        as_dict = _AS_DICT[type(value)] = _dict_display(type(value))
    return as_dict(value)


_CANONICAL = json.JSONEncoder(
    default=_json_default, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    check_circular=False,
)


_NESTED: dict[str, type] = {
    "abstract": AbstractSection,
    "authors": Author,
    "publication_types": PublicationType,
    "mesh": MeshHeading,
    "qualifiers": MeshQualifier,
    "history": HistoryDate,
    "comments_corrections": CommentCorrection,
}


def _from_json(cls: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            continue  # a field a newer version wrote; ignore rather than fail to read
        if key in _NESTED and isinstance(value, list):
            value = tuple(_from_json(_NESTED[key], v) for v in value)
        elif key == "pub_date" and isinstance(value, dict):
            value = _from_json(PubDate, value)
        elif key in ("electronic_date", "date_revised", "date") and isinstance(value, str):
            value = date.fromisoformat(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _fast_frozen_init(cls: type) -> None:
    """Give a frozen slots dataclass an ``__init__`` that sets the slots through their member
    descriptors: same signature, defaults and result as the generated one (which goes through
    ``object.__setattr__`` per field), about twice as fast. The parser builds some 45 of these
    objects per article."""
    ns: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    params: list[str] = []
    body: list[str] = []
    for i, f in enumerate(dataclasses.fields(cls)):
        ns[f"_set{i}"] = cls.__dict__[f.name].__set__
        if f.default is not dataclasses.MISSING:
            ns[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
        elif f.default_factory is not dataclasses.MISSING:
            ns[f"_factory{i}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"if {f.name} is _MISSING: {f.name} = _factory{i}()")
        else:
            params.append(f.name)
        body.append(f"_set{i}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body), ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__dict__["__init__"].__doc__
    cls.__init__ = init  # type: ignore[misc]


for _cls in (Author, AbstractSection, MeshQualifier, MeshHeading, PublicationType,
             CommentCorrection, PubDate, HistoryDate, Article):
    _fast_frozen_init(_cls)
del _cls

_RECORD_CLASSES = frozenset((Author, AbstractSection, MeshQualifier, MeshHeading, PublicationType,
                             CommentCorrection, PubDate, HistoryDate, Article))
# The record classes and ``date`` exactly, nothing else (a datetime, say, raises KeyError, which
# orjson turns into TypeError): see canonical_json_bytes.
_AS_DICT.update((cls, _dict_display(cls)) for cls in _RECORD_CLASSES)
_ORJSON_AS: dict[type, Any] = {cls: _AS_DICT[cls] for cls in _RECORD_CLASSES}
_ORJSON_AS[date] = date.isoformat


def _orjson_default(value: Any) -> Any:
    return _ORJSON_AS[type(value)](value)


_orjson_dumps = orjson.dumps
# Records come to _orjson_default as objects (not orjson's own dataclass form, which keeps field
# order), and so do dates (orjson's own form agrees for ``date`` but not for every ``datetime``).
_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """What one EFetch response holds: the records and the PMIDs PubMed says were deleted."""

    articles: tuple[Article, ...]
    deleted_pmids: tuple[str, ...] = ()
