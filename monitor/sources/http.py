"""A careful JSON-over-HTTP GET for the outside sources (ClinicalTrials.gov, Europe PMC).

The same promises as the PubMed client (monitor/pubmed/client.py): ``(connect, read)``
timeouts on every call and an overall wall-clock deadline per request, enforced while the body
streams in; bounded retries with capped, jittered exponential backoff for what services answer
transiently (429 with Retry-After honoured and capped, 5xx, connection errors, timeouts, an HTML
page, an empty or truncated/invalid JSON body); other 4xx fail at once. When attempts run out,
:class:`SourceError` names the request, what came back and how many attempts were made. A
failure is never turned into "no results".
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from monitor.httpio import TransientHTTPError, exchange
from monitor.pubmed.client import _parse_retry_after

log = logging.getLogger("litmon.sources")

_EXCERPT = 200


class SourceError(Exception):
    """A request to an outside source failed for good."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None,
                 body: str | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.url, self.status, self.body, self.attempts = url, status, body, attempts


class _Retryable(Exception):
    def __init__(self, reason: str, *, status: int | None = None, body: bytes = b"",
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.body, self.retry_after = reason, status, body, retry_after


class JsonClient:
    """GET JSON with timeouts, a deadline, pacing and bounded retries. One per thread."""

    name = "HTTP"

    def __init__(self, base_url: str, *, connect_timeout: float = 10, read_timeout: float = 60,
                 deadline: float = 120, max_attempts: int = 5, backoff_base: float = 1.0,
                 backoff_cap: float = 60.0, retry_after_cap: float = 120.0, rate: float = 5.0,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, user_agent: str = "litmon/0.1") -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.connect_timeout, self.read_timeout, self.deadline = connect_timeout, read_timeout, deadline
        self.max_attempts, self.backoff_base, self.backoff_cap = max_attempts, backoff_base, backoff_cap
        self.retry_after_cap = retry_after_cap
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", user_agent)
        self.session.headers.setdefault("Accept", "application/json")
        self._sleep, self._clock = sleep, clock
        self._next_start = 0.0
        self.requests_sent = 0

    def get_json(self, path: str, params: Mapping[str, str]) -> Any:
        url = self.base_url + path.lstrip("/")
        what = f"{self.name} GET {url}?" + "&".join(f"{k}={v}" for k, v in params.items())
        last: _Retryable | None = None
        for attempt in range(1, self.max_attempts + 1):
            self._pace()
            self.requests_sent += 1
            try:
                status, headers, body = self._send(url, params)
                return self._check(status, headers, body, what, attempt)
            except _Retryable as exc:
                last = exc
            if attempt == self.max_attempts:
                break
            wait = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if last.retry_after is not None:
                wait = min(last.retry_after, self.retry_after_cap)
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.2f s",
                        what, attempt, self.max_attempts, last.reason, wait)
            self._sleep(wait)
        assert last is not None
        excerpt = last.body[:_EXCERPT].decode("utf-8", "replace")
        raise SourceError(
            f"{what} failed after {self.max_attempts} attempts: {last.reason}; "
            f"HTTP {last.status if last.status is not None else '-'}; body {excerpt!r}",
            url=url, status=last.status, body=excerpt, attempts=self.max_attempts)

    def _pace(self) -> None:
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + self.interval
        if start > now:
            self._sleep(start - now)

    def _check(self, status: int, headers: Mapping[str, str], body: bytes, what: str, attempt: int) -> Any:
        if status == 429 or (status == 503 and "Retry-After" in headers):
            ra = _parse_retry_after(headers.get("Retry-After"))
            raise _Retryable(f"HTTP {status} (rate limited)", status=status, body=body, retry_after=ra)
        if status >= 500:
            raise _Retryable(f"HTTP {status}", status=status, body=body)
        if status >= 400:
            excerpt = body[:_EXCERPT].decode("utf-8", "replace")
            raise SourceError(f"{what} failed: HTTP {status}; body {excerpt!r} (attempt {attempt}, not retried)",
                              status=status, body=excerpt, attempts=attempt)
        if status != 200:
            raise _Retryable(f"unexpected HTTP {status}", status=status, body=body)
        if not body.strip():
            raise _Retryable("empty body at HTTP 200", status=status, body=body)
        head = body.lstrip()[:64].lower()
        if "text/html" in headers.get("Content-Type", "").lower() or head.startswith((b"<!doctype html", b"<html")):
            raise _Retryable("HTML page instead of JSON at HTTP 200", status=status, body=body)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise _Retryable(f"invalid or truncated JSON: {exc}", status=status, body=body) from None

    def _send(self, url: str, params: Mapping[str, str]) -> tuple[int, Mapping[str, str], bytes]:
        try:
            return exchange(self.session, "GET", url, params=dict(params), deadline=self.deadline,
                            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                            clock=self._clock)
        except TransientHTTPError as exc:
            raise _Retryable(exc.reason, status=exc.status, body=exc.body) from None
