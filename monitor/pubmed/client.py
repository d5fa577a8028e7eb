"""A careful NCBI E-utilities client for PubMed: ESearch by date window, EFetch by PMID or history.

What it guarantees (see /work/shared/docs/eutils.md §1, §4 and reliability.md):

* **Pacing** — one limiter per process, shared by every client: request *start* times are at least
  ``1/rate`` apart (3/s, 10/s with an API key), retries included.
* **Timeouts** — ``(connect, read)`` on every call plus an overall wall-clock ``deadline`` per
  request, enforced while streaming the body, so a server dripping a byte a second cannot hang us.
* **Bounded retries** with capped, jittered exponential backoff for everything NCBI is known to
  answer transiently: 429 (Retry-After honoured, capped), 5xx, connection errors and timeouts, an
  HTML page instead of XML, ``<ERROR>`` at HTTP 200, an empty body, truncated or invalid XML.
  Other 4xx fail at once. When attempts run out, :class:`EutilsError` says which request, what
  came back and how many attempts were made. A failure is never turned into "no results".
* **The 9,999 cap** — a date window with more hits than ESearch can list is split in halves until
  every window fits; a single day that still does not fit is an error, never a silent truncation.
* The API key never appears in logs or error messages.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

import requests
from lxml import etree

from monitor.httpio import TransientHTTPError, exchange
from monitor.pubmed.parse import SAFE_PARSER_OPTIONS

if TYPE_CHECKING:
    from monitor.records import ParsedBatch

__all__ = ["Cancelled", "EutilsClient", "EutilsError", "SearchResult", "ProgressCallback"]

log = logging.getLogger("litmon.pubmed")

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
#: The most PMIDs one ESearch can list for PubMed (observed: 9,999, docs say 10,000).
ESEARCH_CAP = 9999
#: Terms longer than this (URL-encoded) go by POST, as NCBI asks.
_POST_TERM_LENGTH = 300
_BODY_EXCERPT = 200
#: A little slack added to every pacing interval so that the server, which sees arrival times,
#: never measures two of our requests closer than 1/rate (loopback/network jitter).
_PACING_MARGIN = 0.02

ProgressCallback = Callable[[str, dict[str, Any]], None]
"""``on_progress(event, info)``; events: ``"request"``, ``"retry"``, ``"split"``, ``"search"``,
``"fetch"``, ``"history-refresh"``. ``info`` never holds the API key."""

T = TypeVar("T")


class EutilsError(Exception):
    """An E-utilities request failed for good (after retries, or at once for a permanent error)."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        body: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.body = body
        self.attempts = attempts


@dataclass
class SearchResult:
    """One ESearch date window. ``pmids`` is complete for the window (newest first)."""

    term: str
    mindate: date
    maxdate: date
    count: int
    pmids: list[str]
    webenv: str | None
    query_key: str | None
    datetype: str = "crdt"
    warnings: list[str] = field(default_factory=list)  # PhraseNotFound, OutputMessage, ...


class Cancelled(Exception):
    """The caller set the ``cancel`` event of a fetch: stopped before its next attempt."""


# --------------------------------------------------------------------------------------------
# process-wide pacing


class _Pacer:
    """Reserves request start slots at least ``interval`` apart; shared by the whole process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self, interval: float) -> float:
        """Block until this caller's slot; returns the monotonic start time granted."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + interval
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return start


_PACER = _Pacer()


# --------------------------------------------------------------------------------------------
# internal outcomes of one attempt


class _Retryable(Exception):
    """This attempt failed in a way NCBI is known to recover from."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body
        self.retry_after = retry_after


class _Permanent(Exception):
    def __init__(self, reason: str, *, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body


class _CapReached(Exception):
    """ESearch said its 9,999-record limit was hit (retstart error forms)."""


class _HistoryExpired(Exception):
    """EFetch: 'Unable to obtain query #n' — the WebEnv/query_key is gone."""


@dataclass
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


_CAP_PHRASES = (
    "cannot be larger than 9998",
    "out of acceptable range",
    "can only retrieve the first",
)


def _is_cap_message(text: str) -> bool:
    return any(p in text for p in _CAP_PHRASES)


def _looks_like_html(resp: _Response) -> bool:
    ctype = resp.headers.get("Content-Type", "").lower()
    if "text/html" in ctype:
        return True
    head = resp.body.lstrip()[:64].lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(**SAFE_PARSER_OPTIONS)


def _excerpt(body: bytes) -> str:
    return body[:_BODY_EXCERPT].decode("utf-8", "replace")


def _parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP-date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


# --------------------------------------------------------------------------------------------


class EutilsClient:
    """PubMed via E-utilities. Thread-safe pacing; one instance per thread for the session."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        tool: str = "litmon",
        email: str | None = None,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        deadline: float = 120,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        retry_after_cap: float = 120.0,
        rate: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_progress: ProgressCallback | None = None,
        search_cap: int = ESEARCH_CAP,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if tool and any(c.isspace() for c in tool):
            raise ValueError("tool must not contain spaces (NCBI rule)")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_key = api_key or None
        self.tool = tool
        self.email = email
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.rate = rate if rate is not None else (10.0 if self.api_key else 3.0)
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        self.session = session if session is not None else requests.Session()
        self.session.headers.setdefault("User-Agent", f"{tool}/0.1 (python-requests)")
        self._sleep = sleep
        self._clock = clock
        self.on_progress = on_progress
        self.search_cap = min(search_cap, ESEARCH_CAP)
        #: every HTTP request sent, retries included (runs record it)
        self.requests_sent = 0

    # ---- public API ------------------------------------------------------------------------

    def search(
        self, term: str, mindate: date, maxdate: date, *, datetype: str = "crdt"
    ) -> list[SearchResult]:
        """All PMIDs matching ``term`` with ``datetype`` in [mindate, maxdate] (inclusive).

        Returns one :class:`SearchResult` per date window, oldest window first; the window is
        split in halves while it holds more records than one ESearch can list.
        """
        if mindate > maxdate:
            raise ValueError(f"mindate {mindate} is after maxdate {maxdate}")
        results: list[SearchResult] = []
        self._search_window(term, mindate, maxdate, datetype, results)
        return results

    def fetch(self, pmids: Sequence[str], *, cancel: threading.Event | None = None) -> ParsedBatch:
        """One EFetch (POST, db=pubmed, retmode=xml) for these PMIDs, parsed.

        ``cancel``: set from another thread, the fetch stops with :class:`Cancelled` before its
        next attempt or during a wait between attempts (a request already sent runs on to its
        end, bounded by the timeouts). A run fetching ahead in a thread uses it to stop that
        thread quickly when the run ends early.
        """
        from monitor.records import ParsedBatch

        ids = [str(p).strip() for p in pmids if str(p).strip()]
        if not ids:
            return ParsedBatch(articles=())
        params = {"db": "pubmed", "retmode": "xml", "id": ",".join(ids)}
        try:
            batch = self._call("efetch.fcgi", params, method="POST", validate=self._efetch_result,
                               cancel=cancel)
        except (_HistoryExpired, _CapReached) as exc:  # not expected without WebEnv; never leak
            raise EutilsError(self._redact(f"EFetch by id answered: {exc}")) from None
        self._progress("fetch", {"requested": len(ids), "articles": len(batch.articles)})
        return batch

    def fetch_history(self, result: SearchResult, retstart: int, retmax: int) -> ParsedBatch:
        """EFetch ``retmax`` records from ``retstart`` of a search's history set.

        If NCBI no longer has the WebEnv ("Unable to obtain query #n"), the window's search is run
        again, ``result`` is updated in place (webenv, query_key, count, pmids) and the fetch is
        retried once with the fresh history. Note that a fresh search may hold new records, which
        shift positions (the list is newest first).
        """
        if retstart < 0 or retmax < 1:
            raise ValueError("retstart must be >= 0 and retmax >= 1")
        if not result.webenv or not result.query_key:
            raise ValueError("this SearchResult has no WebEnv/query_key (search with history)")
        try:
            return self._efetch_history_once(result, retstart, retmax)
        except _HistoryExpired as exc:
            log.warning(
                "EFetch history expired (%s); re-running the search for %s..%s",
                exc,
                result.mindate,
                result.maxdate,
            )
            self._progress(
                "history-refresh",
                {"mindate": result.mindate.isoformat(), "maxdate": result.maxdate.isoformat()},
            )
        fresh = self._esearch_checked(result.term, result.mindate, result.maxdate, result.datetype)
        result.webenv, result.query_key = fresh.webenv, fresh.query_key
        result.count, result.pmids, result.warnings = fresh.count, fresh.pmids, fresh.warnings
        try:
            return self._efetch_history_once(result, retstart, retmax)
        except _HistoryExpired as exc:
            raise EutilsError(
                f"EFetch from history failed twice with {exc!s} (fresh WebEnv from a new search "
                f"did not help)"
            ) from None

    # ---- ESearch ---------------------------------------------------------------------------

    def _search_window(
        self, term: str, lo: date, hi: date, datetype: str, out: list[SearchResult]
    ) -> None:
        result: SearchResult | None
        try:
            result = self._esearch(term, lo, hi, datetype)
        except _CapReached:
            result = None
        if result is not None and not self._over_cap(result):
            self._progress(
                "search",
                {"mindate": lo.isoformat(), "maxdate": hi.isoformat(), "count": result.count},
            )
            out.append(result)
            return
        count = result.count if result is not None else None
        if lo == hi:
            raise EutilsError(
                f"ESearch for {lo:%Y/%m/%d} ({datetype}) has "
                f"{count if count is not None else 'more than ' + str(ESEARCH_CAP)} records, more "
                f"than the {self.search_cap} one search can list; narrow the query"
            )
        mid = lo + timedelta(days=(hi - lo).days // 2)
        log.info(
            "ESearch window %s..%s has %s records, more than one search lists: splitting",
            lo,
            hi,
            count if count is not None else "too many",
        )
        self._progress(
            "split", {"mindate": lo.isoformat(), "maxdate": hi.isoformat(), "count": count}
        )
        self._search_window(term, lo, mid, datetype, out)
        self._search_window(term, mid + timedelta(days=1), hi, datetype, out)

    def _over_cap(self, r: SearchResult) -> bool:
        return r.count > self.search_cap or r.count > len(r.pmids)

    def _esearch_checked(self, term: str, lo: date, hi: date, datetype: str) -> SearchResult:
        try:
            r = self._esearch(term, lo, hi, datetype)
        except _CapReached:
            r = None
        if r is None or self._over_cap(r):
            raise EutilsError(f"ESearch {lo}..{hi} now exceeds the {self.search_cap} cap")
        return r

    def _esearch(self, term: str, lo: date, hi: date, datetype: str) -> SearchResult:
        params = {
            "db": "pubmed",
            "term": term,
            "datetype": datetype,
            "mindate": f"{lo:%Y/%m/%d}",
            "maxdate": f"{hi:%Y/%m/%d}",
            "retmax": str(self.search_cap),
            "usehistory": "y",
        }
        # POST when the term is long (NCBI's advice) and whenever an API key is sent: a key in a
        # URL ends up in urllib3's DEBUG log, proxies' access logs and exception messages.
        method = "POST" if self.api_key or len(quote(term)) > _POST_TERM_LENGTH else "GET"

        def validate(resp: _Response) -> SearchResult:
            return self._esearch_result(resp, term, lo, hi, datetype)

        return self._call("esearch.fcgi", params, method=method, validate=validate)

    def _esearch_result(
        self, resp: _Response, term: str, lo: date, hi: date, datetype: str
    ) -> SearchResult:
        root = self._parse_xml(resp)
        if root.tag != "eSearchResult":
            raise _Retryable(
                f"unexpected XML root <{root.tag}>", status=resp.status, body=resp.body
            )
        errors = [(e.text or "").strip() for e in root.iter("ERROR")]
        if errors:
            text = "; ".join(errors)
            if _is_cap_message(text):
                raise _CapReached(text)
            raise _Retryable(f"ESearch ERROR: {text}", status=resp.status, body=resp.body)
        count_text = root.findtext("Count")
        if count_text is None or not count_text.strip().isdigit():
            raise _Retryable("ESearch result without a Count", status=resp.status, body=resp.body)
        count = int(count_text)
        pmids = [(i.text or "").strip() for i in root.findall("IdList/Id")]
        warnings: list[str] = []
        for lst in ("ErrorList", "WarningList"):
            for el in root.findall(f"{lst}/*"):
                warnings.append(f"{el.tag}: {(el.text or '').strip()}")
        if count > len(pmids) and not (
            count > self.search_cap
            or len(pmids) >= self.search_cap
            or any("Restrictions achieved" in w for w in warnings)
        ):
            raise _Retryable(
                f"ESearch Count {count} but only {len(pmids)} ids listed",
                status=resp.status,
                body=resp.body,
            )
        return SearchResult(
            term=term,
            mindate=lo,
            maxdate=hi,
            count=count,
            pmids=pmids,
            webenv=(root.findtext("WebEnv") or "").strip() or None,
            query_key=(root.findtext("QueryKey") or "").strip() or None,
            datetype=datetype,
            warnings=warnings,
        )

    # ---- EFetch ----------------------------------------------------------------------------

    def _efetch_history_once(self, result: SearchResult, retstart: int, retmax: int) -> ParsedBatch:
        assert result.webenv is not None and result.query_key is not None
        params = {
            "db": "pubmed",
            "retmode": "xml",
            "WebEnv": result.webenv,
            "query_key": result.query_key,
            "retstart": str(retstart),
            "retmax": str(retmax),
        }
        try:
            return self._call("efetch.fcgi", params, method="POST", validate=self._efetch_result)
        except _CapReached as exc:
            raise EutilsError(f"EFetch from history at retstart={retstart}: {exc}") from None

    def _efetch_result(self, resp: _Response) -> ParsedBatch:
        from monitor.pubmed.parse import NotPubmedXMLError, PubMedParseError, parse_batch

        try:
            return parse_batch(resp.body)
        except NotPubmedXMLError as exc:
            text = str(exc)
            if "Unable to obtain query" in text:
                raise _HistoryExpired(text) from None
            if _is_cap_message(text):
                raise _CapReached(text) from None
            raise _Retryable(
                f"not PubMed XML: {text[:200]}", status=resp.status, body=resp.body
            ) from None
        except PubMedParseError as exc:
            raise _Retryable(
                f"invalid or truncated PubMed XML: {str(exc)[:200]}",
                status=resp.status,
                body=resp.body,
            ) from None

    # ---- one logical request with retries ---------------------------------------------------

    def _identity(self) -> dict[str, str]:
        out = {"tool": self.tool, "email": self.email, "api_key": self.api_key}
        return {k: v for k, v in out.items() if v}

    def _describe(self, method: str, url: str, params: Mapping[str, str]) -> str:
        shown = {
            k: (v if len(v) <= 120 else v[:117] + "...")
            for k, v in params.items()
            if k != "api_key"
        }
        return f"{method} {url}?{urlencode(shown)}"

    def _redact(self, text: str) -> str:
        if self.api_key:
            for form in {self.api_key, quote(self.api_key, safe=""), quote(self.api_key)}:
                text = text.replace(form, "***")
        return text

    def _progress(self, event: str, info: dict[str, Any]) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(event, info)
            except Exception:  # a broken callback must not break a fetch
                log.exception("on_progress callback failed")

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return ceiling * random.uniform(0.5, 1.0)  # "equal jitter": never hammer immediately

    def _call(
        self,
        endpoint: str,
        params: Mapping[str, str],
        *,
        method: str,
        validate: Callable[[_Response], T],
        cancel: threading.Event | None = None,
    ) -> T:
        url = self.base_url + endpoint
        full = {**params, **self._identity()}
        what = self._redact(self._describe(method, url, params))
        last: _Retryable | None = None
        for attempt in range(1, self.max_attempts + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"{what}: cancelled before attempt {attempt}")
            _PACER.wait(1.0 / self.rate + _PACING_MARGIN)
            self.requests_sent += 1
            self._progress("request", {"endpoint": endpoint, "attempt": attempt})
            try:
                resp = self._send(method, url, full)
                return validate(self._check_status(resp))
            except _Permanent as exc:
                raise EutilsError(
                    self._redact(
                        f"{what} failed: {exc.reason}; HTTP {exc.status}; body "
                        f"{_excerpt(exc.body)!r} (attempt {attempt}, not retried)"
                    ),
                    url=self._redact(url),
                    status=exc.status,
                    body=self._redact(_excerpt(exc.body)),
                    attempts=attempt,
                ) from None
            except _Retryable as exc:
                last = exc
            if attempt == self.max_attempts:
                break
            wait = self._backoff(attempt)
            if last.retry_after is not None:
                wait = min(last.retry_after, self.retry_after_cap)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                self._redact(f"{method} {url}"),
                attempt,
                self.max_attempts,
                self._redact(last.reason),
                wait,
            )
            self._progress(
                "retry",
                {
                    "endpoint": endpoint,
                    "attempt": attempt,
                    "reason": self._redact(last.reason),
                    "wait": wait,
                },
            )
            if cancel is None:
                self._sleep(wait)
            elif cancel.wait(wait):
                raise Cancelled(f"{what}: cancelled while waiting to retry")
        assert last is not None
        raise EutilsError(
            self._redact(
                f"{what} failed after {self.max_attempts} attempts: {last.reason}; "
                f"HTTP {last.status if last.status is not None else '-'}; "
                f"body {_excerpt(last.body)!r}"
            ),
            url=self._redact(url),
            status=last.status,
            body=self._redact(_excerpt(last.body)),
            attempts=self.max_attempts,
        )

    def _check_status(self, resp: _Response) -> _Response:
        status, body = resp.status, resp.body
        if status == 429 or (status == 503 and "Retry-After" in resp.headers):
            ra = _parse_retry_after(resp.headers.get("Retry-After"))
            raise _Retryable(
                f"HTTP {status} (rate limited)"
                + (f", Retry-After {ra:g}s" if ra is not None else ""),
                status=status,
                body=body,
                retry_after=ra,
            )
        if status >= 500:
            raise _Retryable(f"HTTP {status}", status=status, body=body)
        if status >= 400:
            text = body[:2000].decode("utf-8", "replace")
            if _is_cap_message(text):
                raise _CapReached(text.strip())
            raise _Permanent(f"HTTP {status}", status=status, body=body)
        if status != 200:
            raise _Retryable(f"unexpected HTTP {status}", status=status, body=body)
        if not body.strip():
            raise _Retryable("empty body at HTTP 200", status=status, body=body)
        if _looks_like_html(resp):
            raise _Retryable("HTML page instead of XML at HTTP 200", status=status, body=body)
        return resp

    def _parse_xml(self, resp: _Response) -> Any:
        try:
            return etree.fromstring(resp.body, parser=_xml_parser())
        except etree.XMLSyntaxError as exc:
            raise _Retryable(
                f"invalid or truncated XML: {exc}", status=resp.status, body=resp.body
            ) from None

    # ---- one HTTP exchange, bounded by the deadline -----------------------------------------

    def _send(self, method: str, url: str, params: Mapping[str, str]) -> _Response:
        body_kw = {"params": dict(params)} if method == "GET" else {"data": dict(params)}
        try:
            status, headers, body = exchange(
                self.session, method, url, deadline=self.deadline,
                connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                clock=self._clock, **body_kw,
            )
        except TransientHTTPError as exc:
            raise _Retryable(exc.reason, status=exc.status, body=exc.body) from None
        return _Response(status=status, headers=headers, body=body)
