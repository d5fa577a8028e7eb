"""EutilsClient against the stand-in E-utilities server (real recorded records, real fault forms)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date, timedelta
from email.utils import formatdate
from typing import Any

import pytest
import requests

from monitor.pubmed.client import (
    EutilsClient,
    EutilsError,
    _looks_like_html,
    _parse_retry_after,
    _Response,
)
from tests.standin.eutils import RETSTART_ERROR, EutilsStandin

Y2001 = (date(2001, 1, 1), date(2002, 12, 31))  # 56 records of the corpus
SECRET = "s3cr3t-api-key-0123456789"


def make_client(server: EutilsStandin, waits: list[float] | None = None, **kw: Any) -> EutilsClient:
    """A fast client: 20 req/s, tiny backoff, sleeps recorded instead of slept."""
    opts: dict[str, Any] = dict(
        rate=20,
        backoff_base=0.01,
        backoff_cap=0.05,
        max_attempts=4,
        connect_timeout=2,
        read_timeout=5,
        deadline=5,
        email="dev@example.org",
    )
    if waits is not None:
        opts["sleep"] = waits.append
    opts.update(kw)
    return EutilsClient(server.url, **opts)


def some_pmids(server: EutilsStandin, n: int = 5) -> list[str]:
    return sorted(server.pmids_between(*Y2001))[:n]


# ---- ESearch -------------------------------------------------------------------------------


def test_search_returns_exactly_the_window(eutils_server: EutilsStandin) -> None:
    expected = eutils_server.pmids_between(*Y2001)
    assert len(expected) > 20
    results = make_client(eutils_server).search("multiple sclerosis", *Y2001)
    assert len(results) == 1
    r = results[0]
    assert set(r.pmids) == expected and len(r.pmids) == len(expected) == r.count
    assert (r.mindate, r.maxdate, r.term) == (*Y2001, "multiple sclerosis")
    assert r.webenv and r.webenv.startswith("MCID_") and r.query_key == "1"
    dates = [eutils_server.records[p].entry_date for p in r.pmids]
    assert dates == sorted(dates, reverse=True)  # newest first, as PubMed
    (req,) = eutils_server.requests("esearch")
    assert req.method == "GET"
    assert req.params["mindate"] == "2001/01/01" and req.params["maxdate"] == "2002/12/31"
    assert req.params["datetype"] == "crdt" and req.params["usehistory"] == "y"
    assert req.params["db"] == "pubmed" and req.params["retmax"] == "9999"


def test_search_moves_with_entry_dates(eutils_server: EutilsStandin) -> None:
    client = make_client(eutils_server)
    before = set(client.search("x", *Y2001)[0].pmids)
    moved = sorted(before)[0]
    eutils_server.set_entry_date(moved, date(2003, 6, 1))
    new = eutils_server.clone(moved, "99000001", entry_date=date(2002, 2, 2))
    after = set(client.search("x", *Y2001)[0].pmids)
    assert after == (before - {moved}) | {new}


def test_no_hits_is_not_an_error(eutils_server: EutilsStandin) -> None:
    eutils_server.phrases_not_found = {"abcXYZ"}
    (r,) = make_client(eutils_server).search("abcXYZ", *Y2001)
    assert r.count == 0 and r.pmids == []
    assert "PhraseNotFound: abcXYZ" in r.warnings
    assert "OutputMessage: No items found." in r.warnings
    assert len(eutils_server.requests()) == 1  # no retry for an honest "nothing"


def test_long_term_goes_by_post(eutils_server: EutilsStandin) -> None:
    term = " OR ".join(f'"term number {i}"[tiab]' for i in range(30))
    (r,) = make_client(eutils_server).search(term, *Y2001)
    assert r.count == len(eutils_server.pmids_between(*Y2001))
    (req,) = eutils_server.requests("esearch")
    assert req.method == "POST" and req.params["term"] == term


def test_rejects_reversed_window(eutils_server: EutilsStandin) -> None:
    with pytest.raises(ValueError):
        make_client(eutils_server).search("x", date(2002, 1, 2), date(2002, 1, 1))


def _check_split(results: list[Any], lo: date, hi: date, expected: set[str], cap: int) -> None:
    # windows are contiguous, disjoint and cover [lo, hi]
    assert results[0].mindate == lo and results[-1].maxdate == hi
    for a, b in zip(results, results[1:], strict=False):
        assert b.mindate == a.maxdate + timedelta(days=1)
    everything = [p for r in results for p in r.pmids]
    assert len(everything) == len(set(everything))  # each PMID once
    assert set(everything) == expected
    assert all(r.count == len(r.pmids) <= cap for r in results)


def test_split_when_server_caps(eutils_server: EutilsStandin) -> None:
    eutils_server.cap = 10  # the server clamps and warns "Restrictions achieved"
    expected = eutils_server.pmids_between(*Y2001)
    results = make_client(eutils_server).search("x", *Y2001)
    assert len(results) > 5
    _check_split(results, *Y2001, expected, 10)


def test_split_with_search_cap_over_whole_corpus(eutils_server: EutilsStandin) -> None:
    eutils_server.cap = 50
    lo, hi = date(1900, 1, 1), date(2030, 12, 31)
    expected = set(eutils_server.records)
    assert len(expected) > 300
    results = make_client(eutils_server, search_cap=50).search("x", lo, hi)
    _check_split(results, lo, hi, expected, 50)
    assert len(eutils_server.requests("esearch")) < 4 * len(results)


def test_single_day_over_cap_is_an_error(eutils_server: EutilsStandin) -> None:
    day = date(2020, 5, 5)
    for p in some_pmids(eutils_server, 12):
        eutils_server.set_entry_date(p, day)
    eutils_server.cap = 10
    with pytest.raises(EutilsError, match="2020/05/05"):
        make_client(eutils_server).search("x", date(2020, 5, 1), date(2020, 5, 31))


@pytest.mark.parametrize("form", ["error-200", "http-400"])
def test_retstart_cap_errors_mean_split(eutils_server: EutilsStandin, form: str) -> None:
    if form == "error-200":
        eutils_server.inject("esearch", "error", message=RETSTART_ERROR)
    else:
        eutils_server.inject("esearch", "400", message=RETSTART_ERROR.split("\n", 1)[1])
    expected = eutils_server.pmids_between(*Y2001)
    results = make_client(eutils_server).search("x", *Y2001)
    assert len(results) == 2  # split once, both halves fit
    _check_split(results, *Y2001, expected, 9999)


# ---- EFetch --------------------------------------------------------------------------------


def test_fetch_posts_ids_and_parses_records(eutils_server: EutilsStandin) -> None:
    pmids = some_pmids(eutils_server, 7)
    batch = make_client(eutils_server).fetch(pmids)
    assert sorted(a.pmid for a in batch.articles) == pmids
    assert all(a.title for a in batch.articles)
    (req,) = eutils_server.requests("efetch")
    assert req.method == "POST"
    assert req.params["id"] == ",".join(pmids)
    assert req.params["db"] == "pubmed" and req.params["retmode"] == "xml"
    assert "id" not in req.path  # ids in the form body, not the URL


def test_fetch_deleted_and_unknown(eutils_server: EutilsStandin) -> None:
    pmids = some_pmids(eutils_server, 3)
    eutils_server.delete(pmids[0])
    batch = make_client(eutils_server).fetch([*pmids, "1"])
    assert sorted(a.pmid for a in batch.articles) == pmids[1:]
    assert batch.deleted_pmids == (pmids[0],)


def test_fetch_nothing_makes_no_request(eutils_server: EutilsStandin) -> None:
    assert make_client(eutils_server).fetch([]).articles == ()
    assert eutils_server.requests() == []


def test_fetch_sees_revisions_and_clones(eutils_server: EutilsStandin) -> None:
    pmid = some_pmids(eutils_server, 1)[0]
    eutils_server.revise(
        pmid, title="A revised title", new_version=True, date_revised=date(2026, 1, 2)
    )
    new = eutils_server.clone(pmid, "99000002")
    batch = make_client(eutils_server).fetch([pmid, new])
    by = {a.pmid: a for a in batch.articles}
    assert by[pmid].title == "A revised title" and by[pmid].version == 2
    assert by[pmid].date_revised == date(2026, 1, 2)
    assert by[new].title == "A revised title"


def test_fetch_history_pages(eutils_server: EutilsStandin) -> None:
    client = make_client(eutils_server)
    (r,) = client.search("x", *Y2001)
    page = client.fetch_history(r, 5, 10)
    assert [a.pmid for a in page.articles] == r.pmids[5:15]
    req = eutils_server.requests("efetch")[-1]
    assert req.method == "POST" and req.params["WebEnv"] == r.webenv
    assert req.params["query_key"] == "1" and req.params["retstart"] == "5"


@pytest.mark.parametrize("how", ["expire_history", "fault"])
def test_expired_history_runs_a_fresh_search(eutils_server: EutilsStandin, how: str) -> None:
    client = make_client(eutils_server)
    (r,) = client.search("x", *Y2001)
    old = r.webenv
    if how == "expire_history":
        eutils_server.expire_history()
    else:
        eutils_server.inject("efetch", "expired")
    page = client.fetch_history(r, 0, 20)
    assert [a.pmid for a in page.articles] == r.pmids[:20]
    assert r.webenv != old
    assert len(eutils_server.requests("esearch")) == 2
    assert len(eutils_server.requests("efetch")) == 2


def test_history_that_stays_expired_fails(eutils_server: EutilsStandin) -> None:
    client = make_client(eutils_server)
    (r,) = client.search("x", *Y2001)
    eutils_server.history_ttl = 0.0  # every WebEnv is gone at once
    with pytest.raises(EutilsError, match="Unable to obtain query"):
        client.fetch_history(r, 0, 20)
    assert len(eutils_server.requests("efetch")) == 2  # retried once, not forever


# ---- identity and secrets ------------------------------------------------------------------


def test_identity_params_on_every_request(eutils_server: EutilsStandin) -> None:
    client = make_client(eutils_server, api_key=SECRET, tool="litmon-test", email="me@x.org")
    (r,) = client.search("x", *Y2001)
    client.fetch(r.pmids[:2])
    reqs = eutils_server.requests()
    assert len(reqs) == 2
    for req in reqs:
        assert req.params["tool"] == "litmon-test"
        assert req.params["email"] == "me@x.org"
        assert req.params["api_key"] == SECRET


def test_api_key_never_in_a_url(eutils_server: EutilsStandin) -> None:
    make_client(eutils_server, api_key=SECRET).search("x", *Y2001)
    (req,) = eutils_server.requests()
    assert req.method == "POST" and req.params["api_key"] == SECRET


def test_none_identity_params_are_omitted(eutils_server: EutilsStandin) -> None:
    make_client(eutils_server, email=None).search("x", *Y2001)
    (req,) = eutils_server.requests()
    assert "email" not in req.params and "api_key" not in req.params
    assert req.params["tool"] == "litmon"


def test_api_key_rate_default() -> None:
    assert EutilsClient().rate == 3
    assert EutilsClient(api_key="k").rate == 10
    assert EutilsClient(api_key="k", rate=1).rate == 1


@pytest.mark.parametrize("kind", ["500", "reset"])
def test_api_key_never_in_errors_or_logs(
    eutils_server: EutilsStandin, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    eutils_server.inject("esearch", kind, times=10)
    client = make_client(eutils_server, [], api_key=SECRET, max_attempts=3)
    with caplog.at_level(logging.DEBUG), pytest.raises(EutilsError) as info:
        client.search("x", *Y2001)
    text = str(info.value) + repr(info.value.__dict__)
    assert SECRET not in text and SECRET not in caplog.text
    assert "esearch.fcgi" in text and "3 attempts" in text
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


# ---- faults --------------------------------------------------------------------------------

FAULTS = ["429", "429-retry-after", "500", "502", "html", "error", "truncated", "empty", "reset"]


def _inject(server: EutilsStandin, endpoint: str, fault: str, times: int) -> None:
    if fault == "429-retry-after":
        server.inject(endpoint, "429", times=times, retry_after=0)
    else:
        server.inject(endpoint, fault, times=times)


@pytest.mark.parametrize("fault", FAULTS)
def test_efetch_recovers_from_transient_fault(eutils_server: EutilsStandin, fault: str) -> None:
    waits: list[float] = []
    pmids = some_pmids(eutils_server, 4)
    _inject(eutils_server, "efetch", fault, 2)
    batch = make_client(eutils_server, waits).fetch(pmids)
    assert sorted(a.pmid for a in batch.articles) == pmids
    reqs = eutils_server.requests("efetch")
    assert [r.fault for r in reqs] == [fault.split("-")[0]] * 2 + [None]
    assert reqs[-1].status == 200
    assert len(waits) == 2


@pytest.mark.parametrize("fault", FAULTS)
def test_esearch_recovers_from_transient_fault(eutils_server: EutilsStandin, fault: str) -> None:
    waits: list[float] = []
    _inject(eutils_server, "esearch", fault, 2)
    (r,) = make_client(eutils_server, waits).search("x", *Y2001)
    assert set(r.pmids) == eutils_server.pmids_between(*Y2001)
    assert len(eutils_server.requests("esearch")) == 3 and len(waits) == 2


@pytest.mark.parametrize("fault", ["502", "html", "truncated", "empty"])
def test_persistent_fault_fails_cleanly(eutils_server: EutilsStandin, fault: str) -> None:
    waits: list[float] = []
    eutils_server.inject("efetch", fault, times=100)
    client = make_client(eutils_server, waits, max_attempts=3)
    with pytest.raises(EutilsError) as info:
        client.fetch(some_pmids(eutils_server, 2))
    err = info.value
    assert err.attempts == 3 and len(eutils_server.requests("efetch")) == 3
    assert "after 3 attempts" in str(err) and "efetch.fcgi" in str(err)
    assert len(waits) == 2
    if fault == "502":
        assert err.status == 502 and "HTTP 502" in str(err) and "502 Bad Gateway" in str(err)
    if fault == "html":
        assert "HTML" in str(err) and "PmFetch response" in str(err)


def test_other_4xx_is_not_retried(eutils_server: EutilsStandin) -> None:
    eutils_server.inject("efetch", "400", message="Invalid db name specified: pubmd")
    with pytest.raises(EutilsError) as info:
        make_client(eutils_server).fetch(["9997"])
    assert info.value.status == 400 and info.value.attempts == 1
    assert "Invalid db name" in str(info.value)
    assert len(eutils_server.requests("efetch")) == 1


def test_backoff_is_exponential_and_capped(eutils_server: EutilsStandin) -> None:
    waits: list[float] = []
    eutils_server.inject("efetch", "429", times=5)
    client = make_client(eutils_server, waits, backoff_base=0.1, backoff_cap=0.3, max_attempts=6)
    client.fetch(["9997"])
    assert len(waits) == 5
    ceilings = [0.1, 0.2, 0.3, 0.3, 0.3]
    for w, c in zip(waits, ceilings, strict=True):
        assert c / 2 <= w <= c


def test_retry_after_honoured(eutils_server: EutilsStandin) -> None:
    eutils_server.inject("efetch", "429", retry_after=1)
    client = make_client(eutils_server, sleep=time.sleep)
    client.fetch(["9997"])
    first, second = eutils_server.requests("efetch")
    assert first.status == 429 and second.status == 200
    assert second.time - first.time >= 1.0


def test_retry_after_capped(eutils_server: EutilsStandin) -> None:
    waits: list[float] = []
    eutils_server.inject("efetch", "429", retry_after=3600)
    eutils_server.inject("efetch", "429", retry_after=formatdate(time.time() + 3600, usegmt=True))
    make_client(eutils_server, waits, retry_after_cap=0.25).fetch(["9997"])
    assert waits == [0.25, 0.25]


def test_html_is_recognised_by_body_as_well_as_content_type() -> None:
    page = b"<!DOCTYPE html>\n<html><body>down for maintenance</body></html>"
    assert _looks_like_html(_Response(200, {"Content-Type": "text/xml"}, page))
    assert _looks_like_html(_Response(200, {"Content-Type": "text/xml"}, b"  <HTML><body/>"))
    assert _looks_like_html(_Response(200, {"Content-Type": "text/html; charset=UTF-8"}, b"x"))
    assert not _looks_like_html(_Response(200, {"Content-Type": "text/xml"}, b"<?xml ?><a/>"))


def test_cap_error_on_fetch_by_id_is_an_eutils_error(eutils_server: EutilsStandin) -> None:
    eutils_server.inject("efetch", "400", message=RETSTART_ERROR.split("\n", 1)[1])
    with pytest.raises(EutilsError, match="cannot be larger than 9998"):
        make_client(eutils_server).fetch(["9997"])


def test_parse_retry_after() -> None:
    assert _parse_retry_after("7") == 7.0
    assert _parse_retry_after(None) is None and _parse_retry_after("soon") is None
    now = 1_700_000_000.0
    assert _parse_retry_after(formatdate(now + 30, usegmt=True), now=lambda: now) == 30.0
    assert _parse_retry_after(formatdate(now - 30, usegmt=True), now=lambda: now) == 0.0


def test_on_progress_reports_retries(eutils_server: EutilsStandin) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    eutils_server.inject("efetch", "500")
    make_client(eutils_server, [], on_progress=lambda e, i: events.append((e, i))).fetch(["9997"])
    kinds = [e for e, _ in events]
    assert kinds == ["request", "retry", "request", "fetch"]
    assert events[1][1]["reason"] == "HTTP 500"


# ---- timeouts and the deadline --------------------------------------------------------------


def test_drip_ends_at_the_deadline(eutils_server: EutilsStandin) -> None:
    eutils_server.inject("efetch", "drip", times=5, seconds=0.2)
    client = make_client(eutils_server, [], deadline=0.8, max_attempts=2)
    t0 = time.monotonic()
    with pytest.raises(EutilsError, match="deadline of 0.8s exceeded"):
        client.fetch(some_pmids(eutils_server, 2))
    elapsed = time.monotonic() - t0
    assert 1.6 <= elapsed < 2.6  # two attempts, each cut at ~0.8 s (the body would take minutes)


def test_slow_server_times_out_then_succeeds(eutils_server: EutilsStandin) -> None:
    eutils_server.inject("efetch", "slow", seconds=10)
    client = make_client(eutils_server, [], read_timeout=0.5, deadline=5)
    t0 = time.monotonic()
    batch = client.fetch(["9997"])
    assert [a.pmid for a in batch.articles] == ["9997"]
    assert time.monotonic() - t0 < 2.0


# ---- pacing --------------------------------------------------------------------------------


def _gaps(server: EutilsStandin) -> list[float]:
    times = [r.time for r in server.requests()]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_pacing_three_per_second_including_retries(eutils_server: EutilsStandin) -> None:
    eutils_server.rate_limit = 3
    eutils_server.inject("efetch", "500", times=2)
    client = make_client(eutils_server, backoff_base=0.0, rate=3)  # no pause but the pacer's
    (r,) = client.search("x", *Y2001)
    for i in range(4):
        client.fetch(r.pmids[i : i + 1])
    assert len(eutils_server.requests()) == 7
    assert min(_gaps(eutils_server)) >= 1 / 3
    assert eutils_server.rate_limited == 0


def test_pacer_is_shared_between_clients_and_threads(eutils_server: EutilsStandin) -> None:
    clients = [make_client(eutils_server, rate=10) for _ in range(3)]
    threads = [
        threading.Thread(target=c.fetch, args=(["9997"],)) for c in clients for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(eutils_server.requests()) == 6
    assert min(_gaps(eutils_server)) >= 0.1


def test_rate_enforcer_catches_a_fast_client(eutils_server: EutilsStandin) -> None:
    eutils_server.rate_limit = 3
    statuses = [
        requests.get(eutils_server.url + "esearch.fcgi", timeout=5).status_code for _ in range(6)
    ]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    assert eutils_server.rate_limited == statuses.count(429)


# ---- the stand-in in another process ----------------------------------------------------------


def test_standin_as_subprocess(eutils_subprocess: Any) -> None:
    _proc, url = eutils_subprocess("--cap", "20")
    assert url.endswith("/")
    requests.post(
        url + "_standin/inject",
        data=json.dumps({"endpoint": "efetch", "kind": "502", "times": 1}),
        timeout=5,
    ).raise_for_status()
    client = EutilsClient(url, rate=20, backoff_base=0.01, sleep=lambda s: None)
    results = client.search("x", *Y2001)
    assert len(results) > 2  # split at the server's cap of 20
    pmids = [p for r in results for p in r.pmids][:3]
    assert sorted(a.pmid for a in client.fetch(pmids).articles) == sorted(pmids)
    log = requests.get(url + "_standin/log", timeout=5).json()
    efetch = [e for e in log if e["endpoint"] == "efetch"]
    assert [e["status"] for e in efetch] == [502, 200]
