"""Streaming parser for PubMed EFetch XML (``PubmedArticleSet``) into ``monitor.records``.

Public API::

    parse_batch(source) -> ParsedBatch
    iter_records(source) -> Iterator[Article | DeletedPMIDs]
    parse_article(element) -> Article          # one <PubmedArticle>/<PubmedBookArticle>

``source`` is ``bytes``/``bytearray``/``memoryview`` or a binary file-like object (anything
with ``read(n)``). gzip input is recognised by its magic bytes and decompressed on the fly.

The document is read with ``lxml.etree.iterparse`` on the end events of ``PubmedArticle``,
``PubmedBookArticle`` and ``DeleteCitation``; each record element is cleared and unlinked
after it has been converted, so memory stays flat however many records a file holds.

Security: no DTD is loaded, no entity is resolved, nothing is fetched from the network, and
huge-tree mode stays off. A document that declares entities or carries any internal DTD
subset is refused (``PubMedParseError``) — PubMed never sends one, so one is either an attack
or not PubMed. libxml2's own amplification guard stops entity bombs before that check.

Text with inline markup (titles, abstract sections, keywords) is turned into the *safe inline
HTML* described in ``monitor.records``: character data is HTML-escaped, ``<i> <b> <sup>
<sub> <u>`` stay as tags, every other element (MathML, ``DispFormula``, unknown tags) is
reduced to its text. All descendant text including tails is kept.
"""

from __future__ import annotations

import dataclasses
import gzip
import html
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from lxml import etree

from monitor.records import (
    INLINE_TAGS,
    AbstractSection,
    Article,
    Author,
    CommentCorrection,
    HistoryDate,
    MeshHeading,
    MeshQualifier,
    ParsedBatch,
    PubDate,
    PublicationType,
)

__all__ = [
    "DeletedPMIDs",
    "NotPubmedXMLError",
    "PubMedParseError",
    "iter_records",
    "parse_article",
    "parse_batch",
]


class PubMedParseError(ValueError):
    """The input is not well-formed, safe PubMed XML. ``line`` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class NotPubmedXMLError(PubMedParseError):
    """The input is a well-formed-enough document, but not a ``PubmedArticleSet``.

    E-utilities answer an expired history or a bad query with ``<eFetchResult><ERROR>…``
    and overloaded front ends with an HTML page; the HTTP client retries / re-searches on
    this error. ``root`` is the root element's tag when known, ``error`` the text of the
    document's ``<ERROR>`` element(s) when there are any.
    """

    def __init__(
        self,
        message: str,
        *,
        root: str | None = None,
        error: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, line=line)
        self.root = root
        self.error = error


@dataclass(frozen=True, slots=True)
class DeletedPMIDs:
    """One ``<DeleteCitation>``: PMIDs PubMed says were deleted."""

    pmids: tuple[str, ...]


Source = bytes | bytearray | memoryview | IO[bytes]

_SET = "PubmedArticleSet"
_ARTICLE = "PubmedArticle"
_BOOK = "PubmedBookArticle"
_DELETE = "DeleteCitation"
_RECORD_TAGS = (_SET, _ARTICLE, _BOOK, _DELETE)
_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
_INLINE = frozenset(INLINE_TAGS)
_GZIP_MAGIC = b"\x1f\x8b"
_ESCAPE = html.escape

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])\s*$", re.IGNORECASE)
_WS = re.compile(r"\s+")


def _check_field_order(cls: type, *names: str) -> None:
    """The record classes are built with positional arguments (cheaper than keywords); refuse
    to import if monitor.records ever orders a class's fields differently."""
    actual = tuple(f.name for f in dataclasses.fields(cls))
    if actual != names:
        raise ImportError(f"{cls.__name__} fields are {actual}, parse.py expects {names}")


for _cls, _names in (
    (Article, ("pmid", "version", "kind", "title", "abstract", "authors", "journal",
               "journal_abbrev", "issn", "volume", "issue", "pages", "pub_date",
               "electronic_date", "doi", "pmcid", "publication_types", "mesh", "keywords",
               "languages", "history", "comments_corrections", "status", "date_revised")),
    (Author, ("last_name", "fore_name", "initials", "suffix", "collective_name", "affiliations",
              "orcid")),
    (AbstractSection, ("text", "label", "category")),
    (MeshQualifier, ("name", "ui", "major")),
    (MeshHeading, ("descriptor", "ui", "major", "qualifiers")),
    (PublicationType, ("name", "ui")),
    (CommentCorrection, ("ref_type", "ref_source", "pmid")),
    (PubDate, ("year", "month", "day", "season", "medline_date")),
    (HistoryDate, ("status", "date")),
):
    _check_field_order(_cls, *_names)
del _cls, _names


# -- public API ------------------------------------------------------------------------------


def parse_batch(source: Source) -> ParsedBatch:
    """Parse a whole EFetch response. Raises ``PubMedParseError`` (or its subclass
    ``NotPubmedXMLError``) if the input is not a valid ``PubmedArticleSet``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        batch = _parse_in_memory(source)
        if batch is not None:
            return batch
    articles: list[Article] = []
    deleted: list[str] = []
    for item in iter_records(source):
        if isinstance(item, Article):
            articles.append(item)
        else:
            deleted.extend(item.pmids)
    return ParsedBatch(articles=tuple(articles), deleted_pmids=tuple(deleted))


def iter_records(source: Source) -> Iterator[Article | DeletedPMIDs]:
    """Yield each record of a ``PubmedArticleSet`` as it is read, in document order.

    Memory use does not grow with the number of records. If the document turns out to be
    broken half way through, the records before the break have already been yielded and
    then ``PubMedParseError`` is raised — callers that need all-or-nothing use
    ``parse_batch``.
    """
    stream = _open(source)
    context = etree.iterparse(stream, events=("start", "end"), tag=_RECORD_TAGS, **SAFE_PARSER_OPTIONS)
    root: Any = None
    try:
        for event, elem in context:
            if event == "start":
                if root is None:
                    root = _check_root(elem.getroottree().getroot())
                continue
            if root is None:
                # a record before any PubmedArticleSet start: the root is something else
                root = _check_root(elem.getroottree().getroot())
            if elem is root:
                continue
            if elem.getparent() is not root:
                raise PubMedParseError(
                    f"<{elem.tag}> outside the top level of <{_SET}>", line=elem.sourceline
                )
            tag = elem.tag
            if tag == _ARTICLE:
                yield _article(elem)
            elif tag == _BOOK:
                yield _book(elem)
            elif tag == _DELETE:
                yield DeletedPMIDs(
                    tuple(t for p in elem.iterchildren("PMID") if (t := _text(p)))
                )
            # free the finished record and everything before it
            elem.clear(keep_tail=False)
            while elem.getprevious() is not None:
                del root[0]
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, root, stream) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        # gzip magic followed by a cut or corrupt stream: bad input like any other.
        raise PubMedParseError(f"broken gzip data: {exc}") from None
    if root is None:
        final = context.root
        if final is None:  # pragma: no cover - lxml raises "Document is empty" instead
            raise NotPubmedXMLError("empty document: no root element")
        _check_root(final)


# The parser options of every PubMed document litmon reads (records here, ESearch answers in
# monitor.pubmed.client): no DTD loading, no network, no entity expansion, no huge trees.
SAFE_PARSER_OPTIONS: dict[str, Any] = dict(
    load_dtd=False,
    no_network=True,
    resolve_entities=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    dtd_validation=False,
    attribute_defaults=False,
)

# Documents up to this size are parsed by parse_batch's in-memory path (the bytes are in memory
# already); larger ones, files and gzip stream through iter_records.
_IN_MEMORY_MAX = 8 * 1024 * 1024
# Bytes fed to libxml2 at a time: the records of one chunk are converted while their nodes are
# still in the CPU cache (feeding the whole document first and walking it after is slower).
_FEED_CHUNK = 64 * 1024


def _parse_in_memory(source: bytes | bytearray | memoryview) -> ParsedBatch | None:
    """parse_batch for an EFetch-sized document already in memory, or None to say "use the
    streaming path".

    Speed: iter_records reads the bytes through Python file objects, asks for start and end
    events, and unlinks every finished record from the root as well as freeing it. Here the
    bytes go to the same libxml2 push parser in chunks, with the same options and the same tag
    filter (``XMLPullParser`` is iterparse without the file reading), start events only; each
    converted record's nodes are freed (``clear``), its empty element left in the tree.

    Only the clean case is handled here: on any error at all (not well-formed, not a
    ``PubmedArticleSet``, a DTD subset, a record-tagged element below the top level, a record
    without a PMID, ...) this returns None and the caller redoes the document with
    iter_records, so the error raised (class, message, line) is exactly the one it always was.
    """
    data = bytes(source)
    if len(data) > _IN_MEMORY_MAX or data[:2] == _GZIP_MAGIC:
        return None
    # Start events only: lxml then hooks only libxml2's start-element callback (each hook takes
    # the GIL back from the parser, per element of the document), not the end one as well. A
    # top-level record is complete once the next one has started, or once the parser is closed.
    parser = etree.XMLPullParser(events=("start",), tag=_RECORD_TAGS, **SAFE_PARSER_OPTIONS)
    articles: list[Article] = []
    deleted: list[str] = []
    root: Any = None
    started: Any = None  # the last record that started; not converted until it is complete
    try:
        for start in range(0, len(data), _FEED_CHUNK):
            parser.feed(data[start : start + _FEED_CHUNK])
            for _event, elem in parser.read_events():
                if root is None:
                    root = elem.getroottree().getroot()
                    if elem is root:
                        continue
                if elem.getparent() is not root:
                    return None  # a record tag below the top level: iter_records says where
                if started is not None:
                    _convert(started, articles, deleted)
                    # Free the converted record's nodes now, not with the whole tree at the end:
                    # whole trees freed per batch left glibc's heap so fragmented between the
                    # records' Python strings that a 20,000-record `litmon run` peaked at 280 MB
                    # instead of 112 (bench_backfill.py --no-rate-limit).
                    started.clear(keep_tail=False)
                started = elem
        _check_root(parser.close())
        if started is not None:
            _convert(started, articles, deleted)
    except Exception:  # whatever went wrong, iter_records raises the real error
        return None
    return ParsedBatch(articles=tuple(articles), deleted_pmids=tuple(deleted))


def _convert(elem: Any, articles: list[Article], deleted: list[str]) -> None:
    tag = elem.tag
    if tag == _ARTICLE:
        articles.append(_article(elem))
    elif tag == _BOOK:
        articles.append(_book(elem))
    elif tag == _DELETE:
        deleted.extend(t for p in elem if p.tag == "PMID" and (t := _text(p)))


def parse_article(elem: Any) -> Article:
    """Convert one ``<PubmedArticle>`` or ``<PubmedBookArticle>`` lxml element."""
    if elem.tag == _ARTICLE:
        return _article(elem)
    if elem.tag == _BOOK:
        return _book(elem)
    raise PubMedParseError(f"expected <{_ARTICLE}> or <{_BOOK}>, got <{elem.tag}>")


# -- input handling ----------------------------------------------------------------------------


class _Prefixed(io.RawIOBase):
    """A read-only stream that returns ``head`` and then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._raw.read(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:  # pragma: no cover - lxml uses read()
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Sniffing(io.RawIOBase):
    """Remembers the first bytes read, so an error can say what the document started with."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.head = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        if len(self.head) < 4096:
            self.head += data[: 4096 - len(self.head)]
        return data


def _open(source: Source) -> _Sniffing:
    raw: Any
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        raw = io.BytesIO(data)
        head = data[:2]
        if head == _GZIP_MAGIC:
            raw = gzip.GzipFile(fileobj=raw, mode="rb")
        return _Sniffing(raw)
    if isinstance(source, str) or not hasattr(source, "read"):
        raise TypeError(
            f"source must be bytes or a binary file-like object, not {type(source).__name__}"
        )
    head = source.read(2)
    if not isinstance(head, bytes):
        raise TypeError("source must be opened in binary mode")
    raw = _Prefixed(head, source)
    if head == _GZIP_MAGIC:
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    return _Sniffing(raw)


def _check_root(elem: Any) -> Any:
    """Return ``elem`` if it is a safe ``PubmedArticleSet`` root, raise otherwise."""
    tree = elem.getroottree()
    dtd = tree.docinfo.internalDTD
    if dtd is not None:
        # lxml exposes the DOCTYPE node even without an internal subset; refuse only real
        # declarations inside ``[...]``.
        if next(dtd.iterentities(), None) is not None:
            raise PubMedParseError(
                "document declares entities in its DTD; refused (PubMed XML never does)",
                line=1,
            )
        if next(dtd.iterelements(), None) is not None:
            raise PubMedParseError("document has an internal DTD subset; refused", line=1)
    if elem.tag != _SET:
        tag = elem.tag if isinstance(elem.tag, str) else str(elem.tag)
        errors = [t for e in elem.iter("ERROR") if (t := _text(e))]
        error = "; ".join(errors) or None
        message = f"expected <{_SET}>, got <{tag}>"
        if error:
            message += f": {error}"
        raise NotPubmedXMLError(message, root=tag, error=error, line=elem.sourceline)
    return elem


_FIRST_TAG = re.compile(
    rb"^(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*<([A-Za-z_][\w.:-]*)",
    re.DOTALL | re.IGNORECASE,
)


def _syntax_error(exc: etree.XMLSyntaxError, root: Any, stream: _Sniffing) -> PubMedParseError:
    line = exc.lineno if exc.lineno else None
    where = ""
    if exc.position and exc.position[0]:
        where = f" at line {exc.position[0]}, column {exc.position[1]}"
    msg = exc.msg or str(exc)
    if root is None:
        head = stream.head.lstrip(b"\xef\xbb\xbf")
        if not head.strip():
            return NotPubmedXMLError("empty document: no root element", line=line)
        m = _FIRST_TAG.match(head)
        if m is None:
            return NotPubmedXMLError(f"not XML{where}: {msg}", line=line)
        name = m.group(1).decode("ascii", "replace")
        if name != _SET:
            return NotPubmedXMLError(
                f"expected <{_SET}>, got <{name}> (and it is not well-formed{where}: {msg})",
                root=name,
                line=line,
            )
    return PubMedParseError(f"invalid PubMed XML{where}: {msg}", line=line)


# -- text helpers ------------------------------------------------------------------------------


def _text(elem: Any) -> str:
    """All character data of ``elem`` (descendants and their tails), stripped."""
    if elem is None:
        return ""
    if len(elem):
        return "".join(_plain_parts(elem)).strip()
    t = elem.text
    return t.strip() if t else ""


def _plain_parts(elem: Any) -> Iterator[str]:
    if elem.text:
        yield elem.text
    for child in elem:
        _guard_entity(child)
        yield from _plain_parts(child)
        if child.tail:
            yield child.tail


def _opt(elem: Any) -> str | None:
    if elem is None:
        return None
    if len(elem):
        return "".join(_plain_parts(elem)).strip() or None
    t = elem.text
    return (t.strip() or None) if t else None


def _guard_entity(child: Any) -> None:
    if child.tag is etree.Entity:
        raise PubMedParseError(
            f"unresolved entity reference {child.text} (entities are never expanded)",
            line=child.sourceline,
        )


def _inline(elem: Any) -> str:
    """Safe inline HTML of a mixed-content element, stripped of outer whitespace."""
    if len(elem) == 0:
        t = elem.text
        return _ESCAPE(t.strip(), quote=False) if t else ""
    out: list[str] = []
    _inline_into(elem, out)
    return "".join(out).strip()


def _inline_into(elem: Any, out: list[str]) -> None:
    if elem.text:
        out.append(_ESCAPE(elem.text, quote=False))
    for child in elem:
        tag = child.tag
        if tag in _INLINE:
            out.append(f"<{tag}>")
            _inline_into(child, out)
            out.append(f"</{tag}>")
        elif isinstance(tag, str) and tag.startswith(_MATHML_NS):
            text = _math_text(child)
            if text:
                out.append(_ESCAPE(text, quote=False))
        else:
            _guard_entity(child)
            _inline_into(child, out)  # unknown element / DispFormula: its text only
        if child.tail:
            out.append(_ESCAPE(child.tail, quote=False))


def _math_text(elem: Any) -> str:
    """MathML reduced to text: token contents in order, layout whitespace dropped."""
    parts: list[str] = []
    for node in elem.iter():
        _guard_entity(node)
        if len(node) == 0 and node.text:
            # token element (mi, mn, mo, mtext, ...): keep its content, whitespace collapsed
            parts.append(_WS.sub(" ", node.text))
        elif node.text and node.text.strip():
            parts.append(node.text.strip())
        if node is not elem and node.tail and node.tail.strip():
            parts.append(node.tail.strip())
    return "".join(parts).strip()


def _int(text: str | None) -> int | None:
    if not text:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


def _month(text: str | None) -> int | None:
    if not text:
        return None
    text = text.strip()
    if text.isdigit():
        m = int(text)
        return m if 1 <= m <= 12 else None
    return _MONTHS.get(text[:3].lower())


def _ymd(elem: Any) -> date | None:
    """A (Year, Month, Day) element as a date, or None if missing or impossible."""
    if elem is None:
        return None
    y = m = d = None
    for child in elem:
        tag = child.tag
        if tag == "Year":
            t = child.text
            y = int(t) if t and t.isdigit() else _int(t)
        elif tag == "Month":
            t = child.text
            m = int(t) if t and t.isdigit() and len(t) <= 2 else _month(t)
        elif tag == "Day":
            t = child.text
            d = int(t) if t and t.isdigit() else _int(t)
    if y is None or m is None or d is None:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _pub_date(elem: Any) -> PubDate:
    if elem is None:
        return PubDate()
    year = month = day = None
    season = medline = None
    for child in elem:
        tag = child.tag
        if tag == "Year":
            year = _int(child.text)
        elif tag == "Month":
            month = _month(child.text)
        elif tag == "Day":
            day = _int(child.text)
        elif tag == "Season":
            season = _opt(child)
        elif tag == "MedlineDate":
            medline = _opt(child)
    return PubDate(year, month, day, season, medline)


def _yn(elem: Any, attr: str = "MajorTopicYN") -> bool:
    return elem.get(attr) == "Y"


# -- record pieces -----------------------------------------------------------------------------


def _authors(author_lists: list[Any]) -> tuple[Author, ...]:
    # Hot: some 60 elements per article. Name parts are leaves almost always, so leaf text is
    # read inline (``_opt`` only for mixed content). Tags are told apart by ``==`` in the order
    # they usually come: a dict keyed by tag would hash every freshly made tag string.
    # Children are filtered with ``.tag ==`` rather than ``iterchildren(tag)`` throughout this
    # module: same elements (a plain name never matches a namespaced or non-element node), but
    # setting up lxml's tag matcher costs more than comparing a handful of tags.
    out: list[Author] = []
    for alist in author_lists:
        for a in alist:
            if a.tag != "Author" or a.get("ValidYN") == "N":
                continue  # ValidYN="N": a name NLM marked as erroneous, kept only for history
            last = fore = initials = suffix = collective = orcid = None
            affs: list[str] = []
            for c in a:
                tag = c.tag
                # name parts: _opt(c), with the text of a leaf read inline
                if tag == "LastName":
                    last = (t.strip() or None) if (t := c.text) and not len(c) else _opt(c)
                elif tag == "ForeName":
                    fore = (t.strip() or None) if (t := c.text) and not len(c) else _opt(c)
                elif tag == "Initials":
                    initials = (t.strip() or None) if (t := c.text) and not len(c) else _opt(c)
                elif tag == "AffiliationInfo":
                    for af in c:
                        if af.tag == "Affiliation":
                            t = t.strip() if (t := af.text) and not len(af) else _text(af)
                            if t:
                                affs.append(t)
                elif tag == "Identifier":
                    if orcid is None and (c.get("Source") or "").upper() == "ORCID":
                        orcid = _orcid(_text(c))
                elif tag == "Suffix":
                    suffix = _opt(c)
                elif tag == "CollectiveName":
                    collective = _opt(c)
            out.append(Author(last, fore, initials, suffix, collective, tuple(affs), orcid))
    return tuple(out)


def _orcid(value: str) -> str | None:
    """'https://orcid.org/0000-0002-1825-0097' / '0000000218250097' -> '0000-0002-1825-0097'."""
    if not value:
        return None
    m = _ORCID.search(value)
    if m:
        return m.group(1).upper()
    digits = re.sub(r"[^0-9Xx]", "", value)
    if len(digits) == 16:
        d = digits.upper()
        return f"{d[0:4]}-{d[4:8]}-{d[8:12]}-{d[12:16]}"
    return value


def _abstract(elem: Any) -> tuple[AbstractSection, ...]:
    if elem is None:
        return ()
    return tuple(
        AbstractSection(_inline(t), t.get("Label") or None, t.get("NlmCategory") or None)
        for t in elem
        if t.tag == "AbstractText"
    )


def _publication_types(elems: Any) -> list[PublicationType]:
    return [
        PublicationType(name, p.get("UI") or None)
        for p in elems
        if (name := _text(p))
    ]


def _mesh(elem: Any) -> tuple[MeshHeading, ...]:
    if elem is None:
        return ()
    out: list[MeshHeading] = []
    for h in elem:
        if h.tag != "MeshHeading":
            continue
        descriptor: Any = None
        quals: list[MeshQualifier] = []
        for c in h:
            tag = c.tag
            if tag == "QualifierName":
                get = c.get
                t = c.text  # leaf text inline, _text() only for mixed content
                name = _text(c) if len(c) else (t.strip() if t else "")
                quals.append(MeshQualifier(name, get("UI") or None, get("MajorTopicYN") == "Y"))
            elif tag == "DescriptorName":
                descriptor = c
        if descriptor is None:
            continue
        get = descriptor.get
        t = descriptor.text
        name = _text(descriptor) if len(descriptor) else (t.strip() if t else "")
        out.append(MeshHeading(name, get("UI") or None, get("MajorTopicYN") == "Y", tuple(quals)))
    return tuple(out)


def _keywords(lists: list[Any]) -> list[str]:
    return [k for kl in lists for kw in kl if kw.tag == "Keyword" and (k := _inline(kw))]


def _comments(elem: Any) -> tuple[CommentCorrection, ...]:
    if elem is None:
        return ()
    out: list[CommentCorrection] = []
    for cc in elem:
        if cc.tag != "CommentsCorrections":
            continue
        source = pmid = None
        for c in cc:
            if c.tag == "RefSource":
                source = _text(c)
            elif c.tag == "PMID":
                pmid = _opt(c)
        out.append(
            CommentCorrection(cc.get("RefType") or "", source or "", pmid)
        )
    return tuple(out)


def _history_and_ids(data: Any) -> tuple[tuple[HistoryDate, ...], str | None, str | None]:
    """History dates, DOI and PMCID from PubmedData / PubmedBookData (None: no such element)."""
    history: tuple[HistoryDate, ...] = ()
    doi = pmcid = None
    if data is not None:
        for c in data:
            if c.tag == "History":
                history = _history(c)
            elif c.tag == "ArticleIdList":
                doi, pmcid = _ids(c)
    return history, doi, pmcid


def _history(elem: Any) -> tuple[HistoryDate, ...]:
    if elem is None:
        return ()
    out: list[HistoryDate] = []
    for p in elem:
        if p.tag != "PubMedPubDate":
            continue
        d = _ymd(p)
        status = p.get("PubStatus")
        if d is not None and status:
            out.append(HistoryDate(status, d))
    return tuple(out)


def _ids(id_list: Any) -> tuple[str | None, str | None]:
    """(doi, pmcid) from an ``ArticleIdList`` — its direct children only."""
    doi = pmc = None
    if id_list is None:
        return None, None
    for a in id_list:
        if a.tag != "ArticleId":
            continue
        kind = a.get("IdType")
        if kind == "doi" and doi is None:
            doi = _opt(a)
        elif kind == "pmc" and pmc is None:
            pmc = _opt(a)
    return doi, pmc


def _pmid(elem: Any) -> tuple[str, int]:
    pmid = _text(elem)
    if not pmid:
        raise PubMedParseError("record without a PMID", line=getattr(elem, "sourceline", None))
    return pmid, _int(elem.get("Version")) or 1


def _article(rec: Any) -> Article:
    citation = pubmed_data = None
    for c in rec:
        tag = c.tag
        if tag == "MedlineCitation":
            citation = c
        elif tag == "PubmedData":
            pubmed_data = c
    if citation is None:
        raise PubMedParseError("<PubmedArticle> without <MedlineCitation>", line=rec.sourceline)

    pmid_el = art = journal_info = mesh_list = cc_list = date_revised = None
    keyword_lists: list[Any] = []
    for c in citation:
        tag = c.tag
        if tag == "PMID":
            pmid_el = c
        elif tag == "Article":
            art = c
        elif tag == "MedlineJournalInfo":
            journal_info = c
        elif tag == "MeshHeadingList":
            mesh_list = c
        elif tag == "KeywordList":
            keyword_lists.append(c)
        elif tag == "CommentsCorrectionsList":
            cc_list = c
        elif tag == "DateRevised":
            date_revised = c
    pmid, version = _pmid(pmid_el)

    title = ""
    abstract: tuple[AbstractSection, ...] = ()
    author_lists: list[Any] = []
    languages: list[str] = []
    ptypes: list[PublicationType] = []
    journal = abbrev = issn = volume = issue = pages = None
    pub_date: PubDate | None = None
    electronic = None
    eloc_doi = None
    if art is not None:
        for c in art:
            tag = c.tag
            if tag == "Journal":
                for j in c:
                    jt = j.tag
                    if jt == "Title":
                        journal = _opt(j)
                    elif jt == "ISOAbbreviation":
                        abbrev = _opt(j)
                    elif jt == "ISSN":
                        issn = _opt(j)
                    elif jt == "JournalIssue":
                        for ji in j:
                            if ji.tag == "Volume":
                                volume = _opt(ji)
                            elif ji.tag == "Issue":
                                issue = _opt(ji)
                            elif ji.tag == "PubDate":
                                pub_date = _pub_date(ji)
            elif tag == "ArticleTitle":
                title = _inline(c)
            elif tag == "Pagination":
                for p in c:
                    if p.tag == "MedlinePgn":
                        pages = _opt(p)
            elif tag == "ELocationID":
                if c.get("EIdType") == "doi" and c.get("ValidYN", "Y") == "Y" and not eloc_doi:
                    eloc_doi = _opt(c)
            elif tag == "Abstract":
                abstract = _abstract(c)
            elif tag == "AuthorList":
                if c.get("Type", "authors") != "editors":
                    author_lists.append(c)
            elif tag == "Language":
                if lang := _text(c):
                    languages.append(lang)
            elif tag == "PublicationTypeList":
                ptypes = _publication_types([p for p in c if p.tag == "PublicationType"])
            elif tag == "ArticleDate":
                if electronic is None and c.get("DateType", "Electronic") == "Electronic":
                    electronic = _ymd(c)

    if journal_info is not None:
        if abbrev is None:
            abbrev = _opt(journal_info.find("MedlineTA"))
        if issn is None:
            issn = _opt(journal_info.find("ISSNLinking"))

    history, doi, pmcid = _history_and_ids(pubmed_data)

    # Positional, in field order (checked at import, see _check_field_order): binding 24
    # keyword arguments costs about as much as the rest of the constructor.
    return Article(
        pmid,
        version,
        "article",
        title,
        abstract,
        _authors(author_lists),
        journal,
        abbrev,
        issn,
        volume,
        issue,
        pages,
        PubDate() if pub_date is None else pub_date,
        electronic,
        doi or eloc_doi,
        pmcid,
        tuple(ptypes),
        _mesh(mesh_list),
        tuple(_keywords(keyword_lists)),
        tuple(languages),
        history,
        _comments(cc_list),
        citation.get("Status") or None,
        _ymd(date_revised),
    )


def _book(rec: Any) -> Article:
    """A ``PubmedBookArticle``: a book chapter (ArticleTitle) or a whole book (BookTitle)."""
    doc = book_data = None
    for c in rec:
        if c.tag == "BookDocument":
            doc = c
        elif c.tag == "PubmedBookData":
            book_data = c
    if doc is None:
        raise PubMedParseError("<PubmedBookArticle> without <BookDocument>", line=rec.sourceline)

    pmid_el = book = date_revised = None
    title = ""
    abstract: tuple[AbstractSection, ...] = ()
    author_lists: list[Any] = []
    keyword_lists: list[Any] = []
    languages: list[str] = []
    ptype_elems: list[Any] = []
    pages = None
    doc_doi = doc_pmc = None
    for c in doc:
        tag = c.tag
        if tag == "PMID":
            pmid_el = c
        elif tag == "Book":
            book = c
        elif tag == "ArticleTitle":
            title = _inline(c)
        elif tag == "Abstract":
            abstract = _abstract(c)
        elif tag == "AuthorList":
            if c.get("Type", "authors") != "editors":
                author_lists.append(c)
        elif tag == "Language":
            if lang := _text(c):
                languages.append(lang)
        elif tag == "PublicationType":
            ptype_elems.append(c)
        elif tag == "KeywordList":
            keyword_lists.append(c)
        elif tag == "DateRevised":
            date_revised = c
        elif tag == "Pagination":
            for p in c:
                if p.tag == "MedlinePgn":
                    pages = _opt(p)
        elif tag == "ArticleIdList":
            doc_doi, doc_pmc = _ids(c)
    pmid, version = _pmid(pmid_el)

    journal = volume = None
    pub_date = PubDate()
    book_title = ""
    if book is not None:
        book_authors: list[Any] = []
        for c in book:
            tag = c.tag
            if tag == "BookTitle":
                book_title = _inline(c)
                journal = _opt(c)
            elif tag == "PubDate":
                pub_date = _pub_date(c)
            elif tag == "Volume":
                volume = _opt(c)
            elif tag == "AuthorList" and c.get("Type", "authors") != "editors":
                book_authors.append(c)
        if not author_lists:
            author_lists = book_authors
    if not title:
        title = book_title  # a whole book, not a chapter

    history, doi, pmcid = _history_and_ids(book_data)

    return Article(
        pmid=pmid,
        version=version,
        kind="book",
        title=title,
        abstract=abstract,
        authors=_authors(author_lists),
        journal=journal,
        volume=volume,
        pages=pages,
        pub_date=pub_date,
        doi=doi or doc_doi,
        pmcid=pmcid or doc_pmc,
        publication_types=tuple(_publication_types(ptype_elems)),
        keywords=tuple(_keywords(keyword_lists)),
        languages=tuple(languages),
        history=history,
        date_revised=_ymd(date_revised),
    )
