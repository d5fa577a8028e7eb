"""A stand-in for NCBI E-utilities (esearch.fcgi, efetch.fcgi) serving real recorded PubMed records.

In-process use (see tests/standin/fixtures.py)::

    server = EutilsStandin()            # loads every PubmedArticle under tests/data/pubmed
    server.start(); client = EutilsClient(server.url)
    server.inject("efetch", "429", times=2, retry_after=1)
    server.cap = 50                      # ESearch lists at most 50 ids (NCBI: 9,999)
    server.requests("efetch")            # the request log
    server.stop()

Out of process: ``python -m tests.standin.eutils --port 8765 [--host 0.0.0.0] [--data DIR]``
prints ``EUTILS_URL=http://host:port/`` and serves until killed. The same knobs are reachable
over HTTP under ``/_standin/`` (JSON): ``GET log``, ``POST inject`` ``{"endpoint", "kind",
"times", ...options}``, ``POST config`` ``{"cap", "rate_limit", "history_ttl",
"retstart_error"}``, ``POST clone`` ``{"pmid", "new_pmid", "entry_date"}``, ``POST
set_entry_date`` ``{"pmid", "date"}``, ``POST remove`` / ``POST delete`` ``{"pmid"}``, ``POST
expire_history``, ``POST reset_log``.

Behaviour follows /work/shared/docs/eutils.md §1, §2, §4 and §9: real DOCTYPEs, the 9,999 cap
with its "Restrictions achieved" warning and retstart errors, history (WebEnv/query_key) with
optional expiry, ``DeleteCitation`` for deleted PMIDs, and NCBI's failure forms on demand.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import itertools
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from lxml import etree

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
PUBMED_DIR = DATA_DIR / "pubmed"
EUTILS_DIR = DATA_DIR / "eutils"

ESEARCH_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
EFETCH_ERROR_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<!DOCTYPE eEfetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
)
PUBMED_HEAD = (
    b'<?xml version="1.0" ?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)
HTML_500 = b"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>NCBI/efetch.fcgi - WWW Error 500 Diagnostic</title></head>
<body><h1>WWW Error 500 Diagnostic</h1>
<p>An error has occured while processing your request. This could be a transient problem, please try the query again. If the problem persists, please contact NCBI.</p>
<p>Server: eutils_lb  Status: 500 Internal Server Error</p></body></html>
"""
HTML_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
</body>
</html>
"""
BACKEND_FAILED = "Search Backend failed: Unable to open connection to #PMQuerySrv?dbaf=pubmed"
RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, "
    "ESearch can only retrieve the first 9,999 records matching the query. To obtain more than "
    "9,999 PubMed records, consider using EDirect that contains additional logic to batch "
    "PubMed search results automatically so that an arbitrary number can be retrieved."
)

FAULT_KINDS = (
    "429",
    "500",
    "502",
    "503",
    "400",
    "html",
    "error",
    "truncated",
    "empty",
    "reset",
    "slow",
    "drip",
    "expired",
)


# --------------------------------------------------------------------------------------------
# records


@dataclass
class StoredRecord:
    pmid: str
    xml: bytes  # one <PubmedArticle>/<PubmedBookArticle> element
    entry_date: date
    version: int = 1


@dataclass
class Fault:
    endpoint: str  # "esearch", "efetch" or "*"
    kind: str
    times: int = 1
    retry_after: str | None = None  # seconds or an HTTP-date; None = no header
    seconds: float = 5.0  # slow: sleep before answering; drip: seconds per byte
    status: int | None = None
    message: str | None = None
    used: int = 0


@dataclass
class LogEntry:
    method: str
    path: str
    endpoint: str  # "esearch", "efetch", "control" or the path
    params: dict[str, str]
    time: float  # time.monotonic() at arrival
    status: int | None = None  # None when the connection was reset
    fault: str | None = None


@dataclass
class _History:
    sets: dict[str, list[str]] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))


_SAFE_PARSER_KW = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def _entry_date(el: Any) -> date | None:
    for status in ("entrez", "pubmed"):
        for d in el.iterfind(f".//PubMedPubDate[@PubStatus='{status}']"):
            try:
                return date(
                    int(d.findtext("Year")), int(d.findtext("Month")), int(d.findtext("Day"))
                )
            except (TypeError, ValueError):
                continue
    return None


def _pmid_of(el: Any) -> str | None:
    p = el.find("MedlineCitation/PMID")
    if p is None:
        p = el.find("BookDocument/PMID")
    return (p.text or "").strip() if p is not None else None


def split_article_set(data: bytes) -> list[tuple[str, bytes, date | None]]:
    """(pmid, element bytes, entry date) for each record in a PubmedArticleSet document."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    root = etree.fromstring(data, parser=etree.XMLParser(**_SAFE_PARSER_KW))
    out = []
    for el in root:
        if el.tag not in ("PubmedArticle", "PubmedBookArticle"):
            continue
        pmid = _pmid_of(el)
        if not pmid:
            continue
        el.tail = None
        out.append((pmid, etree.tostring(el, encoding="utf-8"), _entry_date(el)))
    return out


def _rewrite_pmid(xml: bytes, old: str, new: str) -> bytes:
    el = etree.fromstring(xml, parser=etree.XMLParser(**_SAFE_PARSER_KW))
    for p in el.iterfind(".//PMID"):
        if (
            (p.text or "").strip() == old
            and p.getparent() is not None
            and p.getparent().tag in ("MedlineCitation", "BookDocument")
        ):
            p.text = new
    for a in el.iterfind(".//ArticleIdList/ArticleId[@IdType='pubmed']"):
        if (a.text or "").strip() == old:
            a.text = new
    return etree.tostring(el, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# the server


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: EutilsStandin


class EutilsStandin:
    """The state of the stand-in: corpus, history, faults, log. Thread-safe."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        data: Path | str | Iterable[Path | str] | None = PUBMED_DIR,
        advertise_host: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.advertise_host = advertise_host
        self.lock = threading.RLock()
        self.records: dict[str, StoredRecord] = {}
        self.deleted: set[str] = set()
        #: ESearch lists at most this many ids (NCBI: 9,999).
        self.cap = 9999
        #: how a retstart beyond the cap is answered: "200" (<ERROR> at HTTP 200) or "400"
        self.retstart_error = "200"
        #: seconds a WebEnv lives; None = forever
        self.history_ttl: float | None = None
        #: answer 429 when more than this many requests arrive within any 1 s; None = off
        self.rate_limit: int | None = None
        self.rate_limited = 0  # how many 429s the enforcer gave
        #: optional ``predicate(term, record) -> bool``; default: every record matches any term
        self.term_predicate: Callable[[str, StoredRecord], bool] | None = None
        #: phrases reported as <ErrorList><PhraseNotFound> (Count 0 when the term has one)
        self.phrases_not_found: set[str] = set()
        self.faults: list[Fault] = []
        self.log: list[LogEntry] = []
        self._arrivals: deque[float] = deque()
        self._history: dict[str, _History] = {}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        if data is not None:
            paths = [data] if isinstance(data, str | Path) else list(data)
            for p in paths:
                self.load(p)

    # ---- corpus ------------------------------------------------------------------------------

    def load(self, path: Path | str) -> list[str]:
        """Load every PubmedArticleSet file (*.xml, *.xml.gz) under ``path`` (file or folder)."""
        p = Path(path)
        files = (
            [p]
            if p.is_file()
            else sorted(f for f in p.rglob("*") if f.name.endswith((".xml", ".xml.gz")))
        )
        added: list[str] = []
        for f in files:
            try:
                parts = split_article_set(f.read_bytes())
            except etree.XMLSyntaxError:
                continue
            added += self._add_parts(parts, None)
        return added

    def _add_parts(
        self, parts: list[tuple[str, bytes, date | None]], entry_date: date | None
    ) -> list[str]:
        added = []
        with self.lock:
            for pmid, xml, d in parts:
                when = entry_date or d
                if when is None:
                    continue  # no entrez/pubmed date and none given: cannot be searched
                version = _version_of(xml)
                self.records[pmid] = StoredRecord(pmid, xml, when, version)
                self.deleted.discard(pmid)
                added.append(pmid)
        return added

    def add_records(
        self, records: bytes | Iterable[bytes], *, entry_date: date | None = None
    ) -> list[str]:
        """Add records: a whole PubmedArticleSet document, or PubmedArticle element bytes.

        ``entry_date`` overrides each record's own entrez date. Returns the PMIDs added.
        """
        if isinstance(records, bytes):
            return self._add_parts(split_article_set(records), entry_date)
        parts = []
        for xml in records:
            el = etree.fromstring(xml, parser=etree.XMLParser(**_SAFE_PARSER_KW))
            pmid = _pmid_of(el)
            if pmid:
                parts.append((pmid, etree.tostring(el, encoding="utf-8"), _entry_date(el)))
        return self._add_parts(parts, entry_date)

    def remove(self, pmid: str) -> None:
        """Forget a record entirely (EFetch omits it, ESearch no longer finds it)."""
        with self.lock:
            self.records.pop(pmid, None)
            self.deleted.discard(pmid)

    def delete(self, pmid: str) -> None:
        """PubMed deleted it: ESearch no longer finds it, EFetch lists it in <DeleteCitation>."""
        with self.lock:
            self.records.pop(pmid, None)
            self.deleted.add(pmid)

    def set_entry_date(self, pmid: str, d: date) -> None:
        with self.lock:
            self.records[pmid].entry_date = d

    def clone(self, pmid: str, new_pmid: str, *, entry_date: date | None = None) -> str:
        """A "new" record: a copy of a real one under another PMID (for "new records appear")."""
        with self.lock:
            src = self.records[pmid]
            xml = _rewrite_pmid(src.xml, pmid, new_pmid)
            self.records[new_pmid] = StoredRecord(
                new_pmid, xml, entry_date or src.entry_date, src.version
            )
            self.deleted.discard(new_pmid)
        return new_pmid

    def revise(
        self,
        pmid: str,
        *,
        title: str | None = None,
        new_version: bool = False,
        date_revised: date | None = None,
        edit: Callable[[Any], None] | None = None,
    ) -> StoredRecord:
        """A revision of a record: new DateRevised (default today), optional new ArticleTitle,
        ``new_version`` bumps ``PMID/@Version`` (PubMed versioned citations), ``edit(element)``
        may change anything else. The entry date is kept."""
        with self.lock:
            rec = self.records[pmid]
            el = etree.fromstring(rec.xml, parser=etree.XMLParser(**_SAFE_PARSER_KW))
            mc = el.find("MedlineCitation")
            if mc is not None:
                d = date_revised or date.today()
                dr = mc.find("DateRevised")
                if dr is None:
                    dr = etree.Element("DateRevised")
                    pmid_el = mc.find("PMID")
                    idx = list(mc).index(pmid_el) + 1 if pmid_el is not None else 0
                    mc.insert(idx, dr)
                for child in list(dr):
                    dr.remove(child)
                for tag, val in (
                    ("Year", f"{d.year}"),
                    ("Month", f"{d.month:02d}"),
                    ("Day", f"{d.day:02d}"),
                ):
                    etree.SubElement(dr, tag).text = val
                if title is not None:
                    t = mc.find("Article/ArticleTitle")
                    if t is not None:
                        for child in list(t):
                            t.remove(child)
                        t.text = title
            version = rec.version
            if new_version:
                version += 1
                for p in el.iterfind("MedlineCitation/PMID"):
                    p.set("Version", str(version))
            if edit is not None:
                edit(el)
            new = StoredRecord(pmid, etree.tostring(el, encoding="utf-8"), rec.entry_date, version)
            self.records[pmid] = new
            return new

    def pmids_between(self, mindate: date, maxdate: date) -> set[str]:
        """The PMIDs whose entry date lies in [mindate, maxdate] (what ESearch would find)."""
        with self.lock:
            return {p for p, r in self.records.items() if mindate <= r.entry_date <= maxdate}

    # ---- faults and log ---------------------------------------------------------------------

    def inject(
        self,
        endpoint: str,
        kind: str,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
        seconds: float = 5.0,
        status: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Queue a fault for the next ``times`` requests to ``endpoint`` ("esearch", "efetch", "*").

        kinds: 429 (JSON body; ``retry_after`` seconds or HTTP-date adds Retry-After), 500 (WWW
        Error 500 Diagnostic page), 502, 503, 400 (``message`` body), html (pubmed3.html at 200),
        error (``<ERROR>`` at 200; ``message`` overrides "Search Backend failed: ..."),
        truncated (the real answer cut in half), empty (200, no body), reset (TCP RST, no
        answer), slow (sleep ``seconds`` then answer), drip (answer one byte every ``seconds``),
        expired (efetch: "Unable to obtain query #1"; esearch: the same ERROR form).
        Faults are consumed in the order queued.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        fault = Fault(
            endpoint,
            kind,
            times,
            None if retry_after is None else str(retry_after),
            seconds,
            status,
            message,
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.endpoint in (endpoint, "*") and f.used < f.times:
                    f.used += 1
                    if f.used >= f.times:
                        self.faults.remove(f)
                    return f
        return None

    def requests(self, endpoint: str | None = None) -> list[LogEntry]:
        """Logged requests (copy), optionally only one endpoint ("esearch"/"efetch")."""
        with self.lock:
            return [e for e in self.log if endpoint is None or e.endpoint == endpoint]

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()
            self.rate_limited = 0

    def expire_history(self) -> None:
        """Forget every WebEnv, as NCBI does after a while."""
        with self.lock:
            self._history.clear()

    def fetched_pmids(self) -> list[str]:
        """Every PMID asked for by id in EFetch requests (in order)."""
        out: list[str] = []
        for e in self.requests("efetch"):
            if e.params.get("id"):
                out += [p for p in e.params["id"].split(",") if p]
        return out

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        host = self.advertise_host or str(self._server.server_address[0])
        return f"http://{host}:{self._server.server_address[1]}/"

    def start(self) -> EutilsStandin:
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="eutils-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            with self.lock:
                conns = list(self._conns)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> EutilsStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve until interrupted (starts the server if needed)."""
        if self._server is None:
            self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # ---- responses --------------------------------------------------------------------------

    def _rate_exceeded(self, now: float) -> bool:
        with self.lock:
            self._arrivals.append(now)
            while self._arrivals and self._arrivals[0] <= now - 1.0:
                self._arrivals.popleft()
            if self.rate_limit is not None and len(self._arrivals) > self.rate_limit:
                self.rate_limited += 1
                return True
        return False

    def _matches(self, term: str, rec: StoredRecord) -> bool:
        return self.term_predicate is None or self.term_predicate(term, rec)

    def esearch(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        term = params.get("term", "")
        datetype = params.get("datetype", "edat")
        try:
            lo = _parse_date(params["mindate"], end=False) if params.get("mindate") else None
            hi = _parse_date(params["maxdate"], end=True) if params.get("maxdate") else None
        except ValueError as exc:
            return _xml(
                200,
                ESEARCH_HEAD
                + b"<eSearchResult><ERROR>"
                + escape(f"Invalid date: {exc}").encode()
                + b"</ERROR></eSearchResult>",
            )
        try:
            retstart = int(params.get("retstart", "0") or 0)
            retmax = int(params.get("retmax", "20") or 20)
        except ValueError:
            return 400, {"Content-Type": "text/plain"}, b"bad retstart/retmax"
        not_found = [p for p in self.phrases_not_found if p in term]
        with self.lock:
            hits = (
                [
                    r
                    for r in self.records.values()
                    if (lo is None or r.entry_date >= lo)
                    and (hi is None or r.entry_date <= hi)
                    and self._matches(term, r)
                ]
                if not not_found
                else []
            )
            cap = self.cap
        hits.sort(
            key=lambda r: (r.entry_date, int(r.pmid) if r.pmid.isdigit() else 0), reverse=True
        )
        ids = [r.pmid for r in hits]
        if retstart > cap - 1 and ids:
            if self.retstart_error == "400":
                body = json.dumps(
                    {"error": RETSTART_ERROR.replace("Search Backend failed: Exception:\n", "")}
                )
                return 400, {"Content-Type": "application/json"}, body.encode()
            return _xml(
                200,
                ESEARCH_HEAD
                + b"<eSearchResult><ERROR>"
                + escape(RETSTART_ERROR).encode()
                + b"</ERROR></eSearchResult>",
            )
        warnings: list[str] = []
        end = min(retstart + retmax, cap, len(ids))
        if retmax > cap or (retstart + retmax > cap and len(ids) > cap):
            warnings.append(
                f"Restrictions achieved. start and count adjusted to {retstart}, "
                f"{max(0, min(retmax, cap - retstart))}"
            )
        page = ids[retstart:end]
        query_key = webenv = None
        if params.get("usehistory", "").lower() == "y":
            webenv, query_key = self._store_history(params.get("WebEnv"), ids)
        field_name = {
            "crdt": "Date - Create",
            "edat": "Date - Entry",
            "pdat": "Date - Publication",
            "mdat": "Date - Modification",
            "mhda": "Date - MeSH",
        }.get(datetype, datetype)
        translation = f"({term})" if term else ""
        if lo is not None and hi is not None:
            translation += (" AND " if translation else "") + (
                f"{lo:%Y/%m/%d}:{hi:%Y/%m/%d}[{field_name}]"
            )
        parts = [
            f"<eSearchResult><Count>{len(ids)}</Count><RetMax>{len(page)}</RetMax>"
            f"<RetStart>{retstart}</RetStart>"
        ]
        if query_key is not None:
            parts.append(f"<QueryKey>{query_key}</QueryKey><WebEnv>{webenv}</WebEnv>")
        if page:
            parts.append("<IdList>\n" + "".join(f"<Id>{p}</Id>\n" for p in page) + "</IdList>")
        else:
            parts.append("<IdList/>")
        parts.append(f"<TranslationSet/><QueryTranslation>{escape(translation)}</QueryTranslation>")
        if not_found:
            parts.append(
                "<ErrorList>"
                + "".join(f"<PhraseNotFound>{escape(p)}</PhraseNotFound>" for p in not_found)
                + "</ErrorList>"
            )
        if not ids:
            warnings.append("No items found.")
        if warnings:
            parts.append(
                "<WarningList>"
                + "".join(f"<OutputMessage>{escape(w)}</OutputMessage>" for w in warnings)
                + "</WarningList>"
            )
        parts.append("</eSearchResult>\n")
        return _xml(200, ESEARCH_HEAD + "".join(parts).encode())

    def _store_history(self, webenv: str | None, ids: list[str]) -> tuple[str, str]:
        with self.lock:
            h = self._history.get(webenv) if webenv else None
            if webenv is None or h is None or self._expired(h):
                webenv = "MCID_" + uuid.uuid4().hex[:24]
                h = self._history[webenv] = _History()
            key = str(next(h.counter))
            h.sets[key] = list(ids)
            return webenv, key

    def _expired(self, h: _History) -> bool:
        return self.history_ttl is not None and time.monotonic() - h.created > self.history_ttl

    def efetch(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if params.get("id"):
            wanted = [p.strip() for p in params["id"].split(",") if p.strip()]
        elif params.get("WebEnv") or params.get("query_key"):
            key = params.get("query_key", "1")
            with self.lock:
                h = self._history.get(params.get("WebEnv", ""))
                ids = None if h is None or self._expired(h) else h.sets.get(key)
                cap = self.cap
            if ids is None:
                return _unable_to_obtain(key)
            retstart = int(params.get("retstart", "0") or 0)
            retmax = int(params.get("retmax", "20") or 20)
            if retstart > cap - 1 and ids:
                return _xml(
                    200,
                    EFETCH_ERROR_HEAD
                    + b"<eFetchResult><ERROR>"
                    + escape(RETSTART_ERROR).encode()
                    + b"</ERROR></eFetchResult>",
                )
            wanted = ids[retstart : min(retstart + retmax, cap)]
        else:
            return _xml(
                200,
                EFETCH_ERROR_HEAD + b"<eFetchResult><ERROR>Empty id list - nothing "
                b"todo</ERROR></eFetchResult>",
            )
        return _xml(200, self.article_set(wanted))

    def article_set(self, pmids: Iterable[str]) -> bytes:
        """The PubmedArticleSet EFetch would return for these PMIDs."""
        body = [PUBMED_HEAD, b"<PubmedArticleSet>\n"]
        deleted = []
        with self.lock:
            for p in pmids:
                if p in self.records:
                    body += [self.records[p].xml, b"\n"]
                elif p in self.deleted:
                    deleted.append(p)
        if deleted:
            body.append(
                b"<DeleteCitation>"
                + b"".join(f'<PMID Version="1">{p}</PMID>'.encode() for p in deleted)
                + b"</DeleteCitation>\n"
            )
        body.append(b"</PubmedArticleSet>\n")
        return b"".join(body)


def _version_of(xml: bytes) -> int:
    m = re.search(rb'<PMID Version="(\d+)"', xml)
    return int(m.group(1)) if m else 1


def _parse_date(text: str, *, end: bool) -> date:
    parts = [int(x) for x in re.split(r"[/-]", text.strip())]
    if len(parts) == 1:
        return date(parts[0], 12, 31) if end else date(parts[0], 1, 1)
    if len(parts) == 2:
        y, m = parts
        if not end:
            return date(y, m, 1)
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1)
    return date(parts[0], parts[1], parts[2])


def _xml(status: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/xml; charset=UTF-8"}, body


def _unable_to_obtain(key: str) -> tuple[int, dict[str, str], bytes]:
    return _xml(
        200,
        EFETCH_ERROR_HEAD
        + f"<eFetchResult><ERROR>Unable to obtain query #{key}</ERROR></eFetchResult>\n".encode(),
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # idle keep-alive connections are closed after this

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.standin.lock:
            self.server.standin._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.server.standin.lock:
            self.server.standin._conns.discard(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        st = self.server.standin
        now = time.monotonic()
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        raw_body = b""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            raw_body = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "")
        if self.command == "POST" and "application/x-www-form-urlencoded" in ctype:
            params.update(parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True))
        name = url.path.rstrip("/").rsplit("/", 1)[-1]
        endpoint = {"esearch.fcgi": "esearch", "efetch.fcgi": "efetch"}.get(name, url.path)
        if url.path.startswith("/_standin/"):
            self._control(name, raw_body)
            return
        entry = LogEntry(self.command, url.path, endpoint, params, now)
        with st.lock:
            st.log.append(entry)
        if st._rate_exceeded(now):
            entry.fault = "rate-limit"
            self._send(
                429,
                {
                    "Content-Type": "application/json",
                    "X-RateLimit-Limit": str(st.rate_limit),
                    "X-RateLimit-Remaining": "0",
                },
                json.dumps(
                    {
                        "error": "API rate limit exceeded",
                        "api-key": "127.0.0.1",
                        "count": str(len(st._arrivals)),
                        "limit": str(st.rate_limit),
                    }
                ).encode(),
                entry,
            )
            return
        if endpoint not in ("esearch", "efetch"):
            self._send(404, {"Content-Type": "text/plain"}, b"not found", entry)
            return
        fault = st._take_fault(endpoint)
        handler = st.esearch if endpoint == "esearch" else st.efetch
        if fault is None:
            status, headers, body = handler(params)
            self._send(status, headers, body, entry)
            return
        entry.fault = fault.kind
        self._fault(fault, endpoint, lambda: handler(params), entry)

    def _fault(
        self,
        f: Fault,
        endpoint: str,
        real: Callable[[], tuple[int, dict[str, str], bytes]],
        entry: LogEntry,
    ) -> None:
        st = self.server.standin
        if f.kind == "429":
            headers = {
                "Content-Type": "application/json",
                "X-RateLimit-Limit": "3",
                "X-RateLimit-Remaining": "0",
            }
            if f.retry_after is not None:
                headers["Retry-After"] = f.retry_after
            body = b'{"error":"API rate limit exceeded","count":"5","limit":"3"}'
            self._send(429, headers, body, entry)
        elif f.kind == "500":
            self._send(500, {"Content-Type": "text/html"}, HTML_500, entry)
        elif f.kind == "502":
            self._send(502, {"Content-Type": "text/html"}, HTML_502, entry)
        elif f.kind == "503":
            headers = {"Content-Type": "text/html"}
            if f.retry_after is not None:
                headers["Retry-After"] = f.retry_after
            self._send(503, headers, b"<html><body>Service Unavailable</body></html>", entry)
        elif f.kind == "400":
            self._send(
                f.status or 400,
                {"Content-Type": "application/json"},
                json.dumps({"error": f.message or "Invalid parameter"}).encode(),
                entry,
            )
        elif f.kind == "html":
            self._send(
                200,
                {"Content-Type": "text/html"},
                (EUTILS_DIR / "pubmed3.html").read_bytes(),
                entry,
            )
        elif f.kind == "error":
            msg = escape(f.message or BACKEND_FAILED).encode()
            if endpoint == "esearch":
                body = ESEARCH_HEAD + b"<eSearchResult><ERROR>" + msg + b"</ERROR></eSearchResult>"
            else:
                body = (
                    EFETCH_ERROR_HEAD + b"<eFetchResult><ERROR>" + msg + b"</ERROR></eFetchResult>"
                )
            self._send(200, {"Content-Type": "text/xml; charset=UTF-8"}, body, entry)
        elif f.kind == "expired":
            if endpoint == "esearch":
                body = ESEARCH_HEAD + (
                    b"<eSearchResult><ERROR>Unable to obtain query #1</ERROR></eSearchResult>"
                )
                self._send(200, {"Content-Type": "text/xml; charset=UTF-8"}, body, entry)
            else:
                st.expire_history()
                self._send(*_unable_to_obtain("1"), entry)
        elif f.kind == "truncated":
            status, headers, body = real()
            self._send(status, headers, body[: max(1, len(body) // 2)], entry)
        elif f.kind == "empty":
            self._send(200, {"Content-Type": "text/xml; charset=UTF-8"}, b"", entry)
        elif f.kind == "reset":
            entry.status = None
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif f.kind == "slow":
            if st._stopping.wait(f.seconds):
                return
            self._send(*real(), entry)
        elif f.kind == "drip":
            status, headers, body = real()
            self._send_head(status, headers, len(body), entry)
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    if st._stopping.wait(f.seconds):
                        break
            except OSError:
                pass
            self.close_connection = True

    def _send_head(
        self, status: int, headers: dict[str, str], length: int, entry: LogEntry
    ) -> None:
        entry.status = status
        self.send_response(status)
        self.send_header("Date", formatdate(usegmt=True))
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(
        self, status: int, headers: dict[str, str], body: bytes, entry: LogEntry | None
    ) -> None:
        if entry is None:
            entry = LogEntry("", "", "", {}, 0.0)
        try:
            self._send_head(status, headers, len(body), entry)
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    # ---- remote control (for a server in another process) ----------------------------------

    def _control(self, action: str, raw_body: bytes) -> None:
        st = self.server.standin
        try:
            args = json.loads(raw_body or b"{}")
            result: Any = {"ok": True}
            if action == "log":
                result = [asdict(e) for e in st.requests()]
            elif action == "inject":
                st.inject(args.pop("endpoint"), args.pop("kind"), **args)
            elif action == "config":
                for k in ("cap", "rate_limit", "history_ttl", "retstart_error"):
                    if k in args:
                        setattr(st, k, args[k])
            elif action == "clone":
                st.clone(
                    args["pmid"],
                    args["new_pmid"],
                    entry_date=date.fromisoformat(args["entry_date"])
                    if args.get("entry_date")
                    else None,
                )
            elif action == "set_entry_date":
                st.set_entry_date(args["pmid"], date.fromisoformat(args["date"]))
            elif action == "remove":
                st.remove(args["pmid"])
            elif action == "delete":
                st.delete(args["pmid"])
            elif action == "expire_history":
                st.expire_history()
            elif action == "reset_log":
                st.reset_log()
            elif action == "status":
                result = {
                    "records": len(st.records),
                    "rate_limited": st.rate_limited,
                    "faults": [asdict(f) for f in st.faults],
                }
            else:
                raise KeyError(action)
            self._send(200, {"Content-Type": "application/json"}, json.dumps(result).encode(), None)
        except (KeyError, TypeError, ValueError) as exc:
            self._send(
                400,
                {"Content-Type": "application/json"},
                json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode(),
                None,
            )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.standin.eutils",
        description="Stand-in NCBI E-utilities server (tests only)",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument(
        "--data",
        action="append",
        default=None,
        help="file or folder of PubmedArticleSet XML (repeatable); default tests/data/pubmed",
    )
    ap.add_argument("--cap", type=int, default=9999)
    ap.add_argument("--rate-limit", type=int, default=None)
    ap.add_argument(
        "--advertise-host",
        default=None,
        help="host name to print in the URL (e.g. host.containers.internal)",
    )
    args = ap.parse_args(argv)
    server = EutilsStandin(
        args.host, args.port, data=args.data or PUBMED_DIR, advertise_host=args.advertise_host
    )
    server.cap = args.cap
    server.rate_limit = args.rate_limit
    server.start()
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"EUTILS_URL={server.url}", flush=True)
    print(f"records={len(server.records)}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
