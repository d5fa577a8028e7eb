"""Following a study through its records: re-checks for retractions, ClinicalTrials.gov trials,
Europe PMC preprints, imports, and one study shown once — on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from monitor import report
from monitor.commands import Context
from monitor.digest import find_digest, stored_content
from monitor.feeds import load_feed
from monitor.pubmed.client import EutilsClient
from monitor.runs import run_feed
from monitor.store import repo
from monitor.store.db import make_engine, session_scope, upgrade
from monitor.store.models import ArticleRow, Digest, FeedArticle, FeedSource, Run

DATA = Path(__file__).resolve().parent / "data"
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
FAST = {"LITMON_HTTP_BACKOFF": "0.05", "LITMON_HTTP_MAX_ATTEMPTS": "3"}


@pytest.fixture
def db(litmon_env: dict[str, str]) -> Engine:
    eng = make_engine(litmon_env["LITMON_DATABASE_URL"])
    yield eng
    eng.dispose()


@pytest.fixture
def small_pubmed(empty_eutils_server):
    """A stand-in E-utilities server with two real records entered today."""
    empty_eutils_server.add_records((DATA / "pubmed" / "pubmed2.xml").read_bytes(), entry_date=date.today())
    return empty_eutils_server


def add_comment_correction(ref_type: str, source: str, pmid: str):
    def edit(el) -> None:
        mc = el.find("MedlineCitation")
        ccl = mc.find("CommentsCorrectionsList")
        if ccl is None:
            ccl = etree.SubElement(mc, "CommentsCorrectionsList")
        cc = etree.SubElement(ccl, "CommentsCorrections", RefType=ref_type)
        etree.SubElement(cc, "RefSource").text = source
        etree.SubElement(cc, "PMID", Version="1").text = pmid
    return edit


def count(db: Engine, model: type) -> int:
    with session_scope(db) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


# -- (1) corrections and retractions ----------------------------------------------------------

def test_a_retraction_found_by_recheck_is_flagged_in_the_next_digest(cli, small_pubmed, db, litmon_env, feeds_dir):
    env = {"LITMON_EUTILS_URL": small_pubmed.url, **FAST}
    first = cli("run", "--no-send", env=env)
    assert first.code == 0, first.err
    assert count(db, ArticleRow) == 2

    small_pubmed.revise("11748933", edit=add_comment_correction(
        "RetractionIn", "Cryobiology. 2026 Nov;99:1", "41000001"))
    checked = cli("recheck", env=env)
    assert checked.code == 0, checked.err
    assert "re-checked 2 PubMed records: 1 revised, 1 newly flagged (11748933)" in checked.out
    with session_scope(db) as s:
        row = s.get(ArticleRow, "11748933")
        assert row.retracted and row.has_notice and row.flagged_at is not None
        assert s.get(FeedArticle, (1, "11748933")).flag_pending

    preview = cli("digest", "preview", env=env)
    assert preview.code == 0, preview.err
    assert "Corrections and retractions found since these studies were announced" in preview.out
    assert "!! RETRACTED" in preview.out and "Notice: RetractionIn: Cryobiology. 2026 Nov;99:1" in preview.out

    # A second re-check finds nothing new: the study is not flagged twice.
    again = cli("recheck", env=env)
    assert "0 revised, 0 newly flagged" in again.out

    # The next period's run opens a digest that lists it, and clears the flag.
    ctx = Context(environ={**litmon_env, **env})
    feed = load_feed(feeds_dir / "wbc-ms.toml")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    report = run_feed(db, ctx.settings, feed, EutilsClient(small_pubmed.url, rate=50), now=tomorrow)
    assert report.ok and report.digest_id is not None, report.error
    with session_scope(db) as s:
        digest = find_digest(s, feed, "latest")
        content = stored_content(s, feed, digest)
        assert [v.pmid for v in content.flagged] == ["11748933"] and content.flagged[0].retracted
        assert content.total == 0
        assert not s.get(FeedArticle, (1, "11748933")).flag_pending
    assert cli("recheck", "--older-than-days", "30", env=env).out.startswith("re-checked 0 PubMed records")


def test_recheck_flags_a_deleted_record_and_an_erratum(cli, small_pubmed, db):
    env = {"LITMON_EUTILS_URL": small_pubmed.url, **FAST}
    assert cli("run", "--no-send", env=env).code == 0
    small_pubmed.delete("11700088")
    small_pubmed.revise("11748933", edit=add_comment_correction("ErratumIn", "Cryobiology. 2026;5:2", "41000002"))
    out = cli("recheck", "--feed", "wbc-ms", env=env)
    assert out.code == 0, out.err
    assert "2 newly flagged" in out.out
    with session_scope(db) as s:
        assert s.get(ArticleRow, "11700088").deleted
        row = s.get(ArticleRow, "11748933")
        assert row.has_notice and not row.retracted
    preview = cli("digest", "preview", env=env).out
    assert "PubMed has deleted this record." in preview and "Notice: ErratumIn" in preview


# -- (2) ClinicalTrials.gov -------------------------------------------------------------------

import json  # noqa: E402

from monitor.classify.timeframe import classify_trial  # noqa: E402
from monitor.sources.europepmc import EuropePmcClient, parse_result  # noqa: E402
from monitor.sources.http import SourceError  # noqa: E402
from monitor.sources.trials import TrialsClient, parse_study  # noqa: E402
from monitor.store.models import Classification, StudyLink, TrialRow  # noqa: E402

CT = DATA / "clinicaltrials"
EPMC = DATA / "europepmc"
WBC_TRIAL = "NCT09999901"
EVIDENCE_12M = "Primary outcome: Change in Modified Fatigue Impact Scale (MFIS) — time frame: 12 months"

SOURCES_TOML = """
[trials]
condition = "Multiple Sclerosis"
intervention = "cryotherapy OR cryostimulation"

[preprints]
query = '("whole-body cryotherapy" OR cryostimulation) AND "multiple sclerosis"'
"""


def study(name: str) -> dict:
    return json.loads((CT / name).read_text(encoding="utf-8"))


@pytest.fixture
def sources_feed(feeds_dir: Path) -> Path:
    path = feeds_dir / "wbc-ms.toml"
    path.write_text(path.read_text() + SOURCES_TOML)
    return path


def source_env(pubmed, ctgov, epmc) -> dict[str, str]:
    return {"LITMON_EUTILS_URL": pubmed.url, "LITMON_CTGOV_URL": ctgov.url,
            "LITMON_EUROPEPMC_URL": epmc.url, **FAST}


def test_a_12_month_primary_time_frame_is_long_term_with_the_time_frame_as_evidence():
    trial = parse_study(study("synthetic__wbc_ms_NCT09999901.json"))
    assert (trial.nct_id, trial.status, trial.enrollment, trial.design) == (WBC_TRIAL, "RECRUITING", 60, "randomised-trial")
    assert [(o.kind, o.time_frame) for o in trial.outcomes] == [
        ("primary", "12 months"), ("secondary", "Baseline, 2 weeks, 3 and 6 months"),
        ("secondary", "Baseline and 6 months")]
    verdict = classify_trial(trial.title, trial.summary, trial.outcomes, threshold_weeks=26,
                             registry_id=trial.nct_id)
    assert verdict.long_term == "yes" and verdict.longest_followup_weeks == pytest.approx(52.1, abs=0.2)
    assert verdict.evidence == EVIDENCE_12M
    assert WBC_TRIAL in verdict.registry_ids
    # Real registrations: "1 year" for every outcome; "Week 16" is short-term.
    real = parse_study(study("aact__NCT06171568.json"))
    assert classify_trial(real.title, real.summary, real.outcomes).long_term == "yes"
    short = classify_trial("t", "", parse_study(study("aact__NCT00763412.json")).outcomes, threshold_weeks=200)
    assert short.long_term == "no" and short.evidence.startswith("Primary outcome: BMI — time frame: 2 year")


def test_trials_paging_follows_the_recorded_page_tokens_to_the_end(ctgov_recorded):
    client = TrialsClient(ctgov_recorded.url, rate=100)
    pages = list(client.search(condition="Phelan-McDermid Syndrome", page_size=5))
    assert [len(p) for p in pages] == [5, 5, 0]  # the last page is empty and has no token
    ids = [t.nct_id for p in pages for t in p]
    assert len(ids) == len(set(ids)) == 10
    sent = ctgov_recorded.requests("studies")
    assert "pageToken" not in sent[0].params and sent[0].params["countTotal"] == "true"
    assert sent[1].params["pageToken"] == "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4dnDeTsPkw"
    assert sent[2].params["pageToken"] == "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4bmjeauvk_IQ"
    for later in sent[1:]:  # later pages repeat the query, without countTotal
        assert later.params["query.cond"] == "Phelan-McDermid Syndrome" and "countTotal" not in later.params


def test_trials_transient_faults_are_retried_and_persistent_ones_fail_clearly(ctgov_server):
    ctgov_server.add_study(study("synthetic__wbc_ms_NCT09999901.json"))
    for kind in ("500", "429", "truncated", "html", "empty"):
        ctgov_server.inject(kind)
    client = TrialsClient(ctgov_server.url, rate=100, backoff_base=0.01, max_attempts=6)
    assert [t.nct_id for p in client.search(condition="MS") for t in p] == [WBC_TRIAL]
    assert client.requests_sent == 6
    ctgov_server.inject("500", times=10)
    with pytest.raises(SourceError, match=r"failed after 3 attempts: HTTP 500"):
        list(TrialsClient(ctgov_server.url, rate=100, backoff_base=0.01, max_attempts=3).search(condition="MS"))
    ctgov_server.faults.clear()
    ctgov_server.inject("400")
    with pytest.raises(SourceError, match="not retried"):
        list(TrialsClient(ctgov_server.url, rate=100, backoff_base=0.01).search(condition="MS"))


def test_a_feed_with_trials_stores_them_once_judged_by_their_time_frames(cli, ctgov_server, europepmc_server,
                                                                          small_pubmed, db, sources_feed):
    for name in ("synthetic__wbc_ms_NCT09999901.json", "aact__NCT06171568.json", "aact__NCT00763412.json"):
        ctgov_server.add_study(study(name))
    env = source_env(small_pubmed, ctgov_server, europepmc_server)
    out = cli("run", "--no-send", env=env)
    assert out.code == 0, out.err
    assert "trials: 3 found, 3 new, 0 updated, 3 added to the feed" in out.out
    with session_scope(db) as s:
        row = s.get(TrialRow, WBC_TRIAL)
        assert (row.status, row.enrollment, row.start_date, row.has_results) == ("RECRUITING", 60, "2026-03-01", False)
        assert row.outcomes[0] == {"kind": "primary", "measure": "Change in Modified Fatigue Impact Scale (MFIS)",
                                   "time_frame": "12 months", "description": "MFIS total score, 0-84; higher is worse."}
        assert s.get(ArticleRow, WBC_TRIAL).source == "trial"
        c = repo_classification(s, WBC_TRIAL)
        assert c.long_term == "yes" and c.evidence == EVIDENCE_12M
    preview = cli("digest", "preview", "--period", "latest", env=env).out
    assert "ClinicalTrials.gov: https://clinicaltrials.gov/study/NCT09999901" in preview
    assert f'Evidence: "{EVIDENCE_12M}"' in preview
    # The next run asks only for trials updated since the watermark (minus the overlap).
    again = cli("run", "--no-send", env=env)
    assert again.code == 0, again.err
    last = ctgov_server.requests("studies")[-1].params
    assert last["filter.advanced"].startswith("AREA[LastUpdatePostDate]RANGE[") and last["filter.advanced"].endswith(",MAX]")
    assert count(db, TrialRow) == 3
    # Judging everything again keeps a registration's verdict from its time frames.
    redo = cli("reclassify", "--all", env=env)
    assert redo.code == 0, redo.err
    assert "0 long-term verdicts changed" in redo.out
    with session_scope(db) as s:
        assert repo_classification(s, WBC_TRIAL).evidence == EVIDENCE_12M


def test_a_failing_trials_source_leaves_the_pubmed_run_standing_and_is_asked_again(
        cli, ctgov_server, europepmc_server, small_pubmed, db, sources_feed):
    ctgov_server.add_study(study("synthetic__wbc_ms_NCT09999901.json"))
    for result in preprint_results():
        europepmc_server.add_result(result)
    ctgov_server.inject("500", times=100)
    env = source_env(small_pubmed, ctgov_server, europepmc_server)
    out = cli("run", "--no-send", env=env)
    # PubMed and preprints are stored and the digest opens; only the trials part is missing.
    assert out.code == 1, out.out
    assert " ok (" in out.out and "trials FAILED (SourceError: " in out.out
    assert "asked again next run" in out.out and "preprints: " in out.out
    with session_scope(db) as s:
        run = s.execute(select(Run).order_by(Run.id.desc())).scalars().first()
        assert run.status == "succeeded" and run.error.startswith("trials: SourceError: ")
        assert s.get(ArticleRow, WBC_TRIAL) is None and s.get(ArticleRow, "PPR9990001") is not None
        assert {r.source for r in s.execute(select(FeedSource)).scalars()} == {"preprints"}
        assert s.execute(select(func.count()).select_from(Digest)).scalar_one() == 1
    status = cli("status", env=env)
    assert status.code == 1 and "source failed (asked again next run): trials: SourceError" in status.out

    ctgov_server.faults.clear()
    again = cli("run", "--no-send", env=env)
    assert again.code == 0, again.out
    assert "trials: 1 found, 1 new" in again.out
    assert count(db, TrialRow) == 1
    assert "source failed" not in cli("status", env=env).out


def repo_classification(session, record_id: str):
    return session.execute(select(Classification).where(Classification.pmid == record_id)).scalar_one()


# -- (4) Europe PMC ---------------------------------------------------------------------------

def test_europepmc_paging_follows_the_recorded_cursor_marks_and_reads_preprints(europepmc_recorded):
    client = EuropePmcClient(europepmc_recorded.url, rate=100)
    pages = list(client.search("cancer", preprints_only=False, result_type="lite"))
    assert [len(p) for p in pages] == [100] * 10 + [0]
    ids = [(r["source"], r["id"]) for p in pages for r in p]
    assert len(ids) == len(set(ids)) == 1000
    sent = europepmc_recorded.requests("search")
    assert sent[0].params["cursorMark"] == "*"
    assert sent[1].params["cursorMark"] == "AoIIP4T93Cg1MzE0OTUzNA=="
    preprints = [parse_result(r) for p in pages for r in p if r["source"] == "PPR"]
    assert len(preprints) == 24 and all(a.kind == "preprint" and a.doi and a.pmid.startswith("PPR") for a in preprints)
    first = next(a for a in preprints if a.pmid == "PPR1036674")
    assert first.journal == "medRxiv" and first.title_text.startswith("Red meat intake interacts with a TGF-β")


# -- (5) one study, many records --------------------------------------------------------------

PUBLISHED_TITLE = ("Whole-body cryotherapy for fatigue in relapsing-remitting multiple sclerosis: "
                   "a randomised controlled trial")
PUBLISHED_ABSTRACT = ("Sixty patients with relapsing-remitting multiple sclerosis were randomised to ten "
                      "sessions of whole-body cryotherapy or usual care and followed for 12 months. "
                      "Trial registration: ClinicalTrials.gov NCT09999901.")


def as_wbc_publication(el) -> None:
    """A real PubMed record (28731372, an MS trial) rewritten as the trial's publication."""
    article = el.find("MedlineCitation/Article")
    article.find("ArticleTitle").text = PUBLISHED_TITLE
    abstract = article.find("Abstract")
    for child in list(abstract):
        abstract.remove(child)
    etree.SubElement(abstract, "AbstractText").text = PUBLISHED_ABSTRACT


def preprint_results() -> list[dict]:
    return json.loads((EPMC / "synthetic__wbc_ms_preprint_page.json").read_text())["resultList"]["result"]


def test_trial_preprint_and_publication_are_one_study_announced_once_then_as_an_update(
        cli, ctgov_server, europepmc_server, small_pubmed, db, sources_feed, litmon_env):
    ctgov_server.add_study(study("synthetic__wbc_ms_NCT09999901.json"))
    for result in preprint_results():
        europepmc_server.add_result(result)
    env = source_env(small_pubmed, ctgov_server, europepmc_server)
    feed = load_feed(sources_feed)
    settings = Context(environ={**litmon_env, **env}).settings
    pubmed = EutilsClient(small_pubmed.url, rate=50)
    day1 = datetime.now(UTC)
    upgrade(db)

    first = run_feed(db, settings, feed, pubmed, now=day1)
    assert first.ok, first.error
    with session_scope(db) as s:
        content = stored_content(s, feed, find_digest(s, feed, "latest"))
    # Two unrelated PubMed records, and the preprint with its registered trial as one item.
    assert content.total == 3
    item = next(v for v in content.studies if v.pmid == "PPR9990001")
    assert [h.record_id for h in item.history] == [WBC_TRIAL] and item.update_note is None
    assert item.source == "preprint" and item.pubmed_url == "https://europepmc.org/article/PPR/PPR9990001"
    assert WBC_TRIAL not in {v.pmid for v in content.studies}

    # The journal version appears in PubMed the next day.
    small_pubmed.load(DATA / "pubmed" / "metapub-efetch" / "28731372.xml")
    small_pubmed.set_entry_date("28731372", day1.date())
    small_pubmed.revise("28731372", edit=as_wbc_publication)
    second = run_feed(db, settings, feed, pubmed, now=day1 + timedelta(days=1))
    assert second.ok and second.new == 1, second.error
    with session_scope(db) as s:
        content = stored_content(s, feed, find_digest(s, feed, "latest"))
        study_ids = set(s.execute(select(StudyLink.study_id)).scalars())
        members = set(s.execute(select(StudyLink.record_id)).scalars())
    assert len(study_ids) == 1 and members == {"28731372", "PPR9990001", WBC_TRIAL}
    assert [v.pmid for v in content.studies] == ["28731372"]
    update = content.studies[0]
    assert update.update_note == "Update: the preprint announced earlier (PPR9990001) is now published"
    assert {h.record_id: h.announced for h in update.history} == {WBC_TRIAL: True, "PPR9990001": True}
    assert count(db, ArticleRow) == 5  # every record once

    # The weekly report counts the study once, led by its publication, with the strongest
    # verdict and the longest follow-up any of its records shows.
    with session_scope(db) as s:
        feed_id = repo.feed_by_name(s, feed.name).id
        records = report._record_facts(s, feed_id, feed.long_term_threshold_weeks, FUTURE)
        facts = report.feed_facts(s, feed_id, feed.long_term_threshold_weeks, FUTURE)
    assert len(records) == 5 and len(facts) == 3
    (one,) = [f for f in facts if "PPR9990001" in f.members]
    assert one.pmid == "28731372" and one.url == "https://pubmed.ncbi.nlm.nih.gov/28731372/"
    assert sorted(one.members) == sorted(["28731372", "PPR9990001", WBC_TRIAL])
    parts = [r for r in records if r.pmid in one.members]
    assert one.followup_weeks == max(r.followup_weeks for r in parts if r.followup_weeks is not None)
    assert one.long_term == ("yes" if any(r.long_term == "yes" for r in parts) else one.long_term)
    assert set(one.domains) == {d for r in parts for d in r.domains}

    text = cli("digest", "preview", "--period", "latest", env=env).out
    assert "1 of them is an update to studies announced before." in text
    assert ">> Update: the preprint announced earlier (PPR9990001) is now published" in text
    assert "- ClinicalTrials.gov NCT09999901 (2026 Jan 27), announced earlier: https://clinicaltrials.gov/study/NCT09999901" in text
    assert "- Preprint (Europe PMC) PPR9990001 (2026 May 5), announced earlier: https://europepmc.org/article/PPR/PPR9990001" in text

    # Later retracted: the re-check flags it and the next digest lists it.
    small_pubmed.revise("28731372", edit=add_comment_correction("RetractionIn", "Mult Scler. 2027;1:1", "41000003"))
    assert "1 newly flagged (28731372)" in cli("recheck", env=env).out
    third = run_feed(db, settings, feed, pubmed, now=day1 + timedelta(days=2))
    assert third.ok, third.error
    with session_scope(db) as s:
        content = stored_content(s, feed, find_digest(s, feed, "latest"))
    assert [v.pmid for v in content.flagged] == ["28731372"] and content.flagged[0].retracted
    assert content.total == 0


# -- (3) import -------------------------------------------------------------------------------

MEDLINE = DATA / "eutils" / "medline"
MEDLINE_PMIDS = {"12230038", "16403221", "23039619"}

RIS_TEXT = """\
TY  - JOUR
TI  - Whole-body cryotherapy and fatigue in multiple sclerosis: a pilot study
AU  - Nowak, Anna
AU  - Schmidt, Bernd
PY  - 2019
JO  - Multiple Sclerosis Journal
VL  - 25
SP  - 100
EP  - 108
DO  - 10.1000/wbc-ms-pilot
AB  - Twenty patients received ten sessions of whole-body cryotherapy; fatigue was assessed after 3 months.
ER  -
TY  - JOUR
TI  - Effects of different parameters in the fast scanning method for HIFU treatment.
AU  - Qiao, Shan
PY  - 2012
DO  - 10.1118/1.4748329
ER  -
TY  - JOUR
TI  - A high level interface to SCOP and ASTRAL implemented in python.
AN  - 16403221
PY  - 2006
ER  -
"""


def test_import_of_the_real_medline_files_stores_each_record_once(cli, db):
    first = cli("import", str(MEDLINE / "pubmed_result2.txt"))
    assert first.code == 0, first.err
    with session_scope(db) as s:
        stored = set(s.execute(select(ArticleRow.pmid)).scalars())
        linked = set(s.execute(select(FeedArticle.pmid)).scalars())
        judged = set(s.execute(select(Classification.pmid)).scalars())
    assert len(stored) == 4 and stored == linked == judged
    assert "4 records read, 4 stored, 0 already stored, 4 added to the feed" in first.out
    for name in ("pubmed_result1.txt", "pubmed_result2.txt", "pubmed_result3.txt"):
        assert cli("import", str(MEDLINE / name), "--feed", "wbc-ms").code == 0
    assert count(db, ArticleRow) == 6 and count(db, FeedArticle) == 6
    with session_scope(db) as s:
        assert MEDLINE_PMIDS <= set(s.execute(select(ArticleRow.pmid)).scalars())
        hifu = s.get(ArticleRow, "23039619")
        assert (hifu.doi, hifu.journal, hifu.pub_date_text, hifu.source) == ("10.1118/1.4748329", "Med Phys", "2012 Oct", "pubmed")
        assert s.get(ArticleRow, "16403221").pmcid == "PMC1373603"
    preview = cli("digest", "preview").out
    assert "6 new studies" in preview and "Effects of different parameters in the fast scanning method" in preview


def test_ris_import_stores_new_entries_and_links_known_ones(cli, db, tmp_path):
    assert cli("import", str(MEDLINE / "pubmed_result3.txt")).code == 0
    ris = tmp_path / "found-by-hand.ris"
    ris.write_text(RIS_TEXT)
    out = cli("import", str(ris))
    assert out.code == 0, out.err
    # 23039619 is known by its DOI; 16403221 is new by its PMID (AN); the pilot has neither.
    assert "3 records read, 2 stored, 1 already stored, 2 added to the feed" in out.out
    with session_scope(db) as s:
        rows = {r.pmid: r for r in s.execute(select(ArticleRow)).scalars()}
    pilot = next(r for r in rows.values() if r.pmid.startswith("ris-"))
    assert pilot.source == "import" and pilot.doi == "10.1000/wbc-ms-pilot" and pilot.pub_year == 2019
    assert rows["16403221"].source == "pubmed" and len(rows) == 3
    assert cli("import", str(ris)).out.endswith("3 records read, 0 stored, 3 already stored, 0 added to the feed\n")
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    failed = cli("import", str(bad))
    assert failed.code == 2 and "neither a MEDLINE file" in failed.err


def test_a_results_paper_listed_by_a_known_trial_is_announced_as_an_update(
        ctgov_server, europepmc_server, empty_eutils_server, db, sources_feed, litmon_env):
    trial = study("synthetic__wbc_ms_NCT09999901.json")
    trial["protocolSection"]["referencesModule"] = {"references": [
        {"pmid": "11700088", "type": "BACKGROUND", "citation": "Background reading."},
        {"pmid": "11748933", "type": "RESULT", "citation": "The trial's results."}]}
    ctgov_server.add_study(trial)
    env = source_env(empty_eutils_server, ctgov_server, europepmc_server)
    feed = load_feed(sources_feed)
    settings = Context(environ={**litmon_env, **env}).settings
    pubmed = EutilsClient(empty_eutils_server.url, rate=50)
    upgrade(db)
    day1 = datetime.now(UTC)
    assert run_feed(db, settings, feed, pubmed, now=day1).ok
    empty_eutils_server.add_records((DATA / "pubmed" / "pubmed2.xml").read_bytes(), entry_date=day1.date())
    second = run_feed(db, settings, feed, pubmed, now=day1 + timedelta(days=1))
    assert second.ok, second.error
    with session_scope(db) as s:
        content = stored_content(s, feed, find_digest(s, feed, "latest"))
    by_id = {v.pmid: v for v in content.studies}
    assert set(by_id) == {"11748933", "11700088"}  # a BACKGROUND reference is another study
    assert by_id["11748933"].update_note == "Update: Results paper for registered trial NCT09999901, announced earlier"
    assert by_id["11700088"].update_note is None and by_id["11700088"].history == ()
