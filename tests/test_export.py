"""`litmon export`: CSV, RIS, BibTeX and JSONL of a feed's studies, checked by real parsers."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import bibtexparser
import pytest
import rispy
from bibtexparser.bparser import BibTexParser
from sqlalchemy import func, select

from monitor.export import bibtex_key, page_range, tex_escape
from monitor.records import Article, Author, PubDate
from monitor.render import study_view
from monitor.store.db import make_engine, session_scope
from monitor.store.models import FeedArticle
from tests.test_report_support import classifier, set_title  # noqa: F401

NASTY = "{Unbalanced} 100% of $x_1$ & #2 ~ ^ \\ end} <i>italic</i>"


@pytest.fixture
def ran(cli, classifier, litmon_env):  # noqa: F811
    result = cli("run", "--no-send")
    assert result.code == 0, result.err
    engine = make_engine(litmon_env["LITMON_DATABASE_URL"])
    with session_scope(engine) as session:
        count = session.execute(select(func.count()).select_from(FeedArticle)).scalar_one()
        pmid = session.execute(select(FeedArticle.pmid).order_by(FeedArticle.pmid)).scalars().first()
    yield engine, count, pmid
    engine.dispose()


# -- pure pieces ------------------------------------------------------------------------------

@pytest.mark.parametrize("pages, expected", [
    ("123-30", ("123", "130")), ("1203-9", ("1203", "1209")), ("99-101", ("99", "101")),
    ("e1234", ("e1234", None)), ("S1-S10", ("S1", "S10")), ("233-7, 240", ("233", "237")),
    ("", (None, None)), (None, (None, None)), ("iii-iv", ("iii-iv", None)),
])
def test_medline_page_ranges(pages, expected):
    assert page_range(pages) == expected


@pytest.mark.parametrize("text", [NASTY, "{balanced} title", "}{", "a } b"])
def test_tex_escape_keeps_braces_balanced(text):
    escaped = tex_escape(text)
    depth = 0
    for ch in escaped:  # as BibTeX counts them: escaped or not
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0 and _untex(escaped) == text


def test_tex_escape_specials():
    escaped = tex_escape(NASTY)
    assert "\\%" in escaped and "\\$" in escaped and "\\&" in escaped and "\\#" in escaped


def test_bibtex_keys_are_readable_and_unique():
    used: set[str] = set()
    art = Article(pmid="1", title="Whole-body cryotherapy in MS", authors=(Author(last_name="Müller"),),
                  pub_date=PubDate(year=2016))
    view = study_view(art, None)
    keys = [bibtex_key(art, view, used) for _ in range(3)]
    assert keys == ["muller2016whole", "muller2016wholea", "muller2016wholeb"]


# -- the command ------------------------------------------------------------------------------

def test_ris_round_trips_through_rispy(cli, ran, tmp_path):
    engine, count, pmid = ran
    out = tmp_path / "studies.ris"
    result = cli("export", "--feed", "wbc-ms", "--format", "ris", "--output", str(out))
    assert result.code == 0, result.err
    assert f"exported {count} studies" in result.err and result.out == ""
    entries = rispy.loads(out.read_text(encoding="utf-8"))
    assert len(entries) == count
    by_pmid = {e["accession_number"]: e for e in entries}
    assert set(by_pmid) >= {pmid}
    for e in entries:
        assert e["type_of_reference"] == "JOUR"
        assert e["urls"] == [f"https://pubmed.ncbi.nlm.nih.gov/{e['accession_number']}/"]
    assert sum("title" in e for e in entries) >= count - 5  # a few records have no ArticleTitle
    with_pages = [e for e in entries if e.get("end_page")]
    assert with_pages and all(int(e["end_page"]) >= int(e["start_page"]) for e in with_pages
                              if e["start_page"].isdigit() and e["end_page"].isdigit())
    many = max(entries, key=lambda e: len(e.get("authors", [])))
    assert len(many["authors"]) > 3 and all(", " in a for a in many["authors"][:3])
    assert any(e.get("doi") for e in entries) and any(e.get("keywords") for e in entries)
    assert any(e.get("notes") and e["notes"][0].startswith("litmon:") for e in entries)


def test_bibtex_round_trips_through_bibtexparser(cli, ran):
    engine, count, pmid = ran
    set_title(engine, pmid, NASTY.replace("<i>", "&lt;i&gt;").replace("</i>", "&lt;/i&gt;"))
    result = cli("export", "--feed", "wbc-ms", "--format", "bibtex")
    assert result.code == 0, result.err
    parser = BibTexParser(common_strings=True)
    parser.ignore_nonstandard_types = False
    db = bibtexparser.loads(result.out, parser=parser)
    assert len(db.entries) == count
    keys = [e["ID"] for e in db.entries]
    assert len(set(keys)) == len(keys)
    nasty = next(e for e in db.entries if e.get("pmid") == pmid)
    assert nasty["ENTRYTYPE"] == "article"
    # The title survives as TeX source that means the original text.
    assert nasty["title"].startswith("{") and _untex(nasty["title"][1:-1]) == NASTY
    for e in db.entries:
        assert e["url"].startswith("https://pubmed.ncbi.nlm.nih.gov/")
        if "pages" in e and "--" in e["pages"]:
            start, end = e["pages"].split("--")
            assert start and end


def _untex(text: str) -> str:
    for plain, tex in (("{", r"\textbraceleft{}"), ("}", r"\textbraceright{}"),
                       ("\\", r"\textbackslash{}"), ("^", r"\textasciicircum{}"),
                       ("~", r"\textasciitilde{}"), ("{", r"\{"), ("}", r"\}"), ("$", r"\$"),
                       ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_")):
        text = text.replace(tex, "\x00" + str(ord(plain)) + "\x00")
    return re.sub("\x00(\\d+)\x00", lambda m: chr(int(m.group(1))), text)


def test_csv_has_the_verdict_and_domain_columns(cli, ran):
    engine, count, pmid = ran
    set_title(engine, pmid, "=HYPERLINK(\"http://evil.example\")")
    result = cli("export", "--feed", "wbc-ms", "--format", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert len(rows) == count
    header = rows[0].keys()
    for column in ("pmid", "title", "long_term", "longest_followup_weeks", "evidence", "design",
                   "sample_size", "domains", "retracted", "domain_fatigue", "domain_pain"):
        assert column in header
    assert {r["long_term"] for r in rows} <= {"yes", "no", "unclear", ""}
    hostile = next(r for r in rows if r["pmid"] == pmid)
    assert hostile["title"].startswith("'=")  # a spreadsheet shows it, never runs it
    for r in rows:
        for d in (r["domains"].split("; ") if r["domains"] else []):
            assert r[f"domain_{d}"] == "yes"


def test_jsonl_one_object_per_study(cli, ran, tmp_path):
    engine, count, pmid = ran
    out = tmp_path / "x.jsonl"
    assert cli("export", "--feed", "wbc-ms", "--format", "jsonl", "-o", str(out)).code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == count
    objs = [json.loads(line) for line in lines]
    assert {"pmid", "title", "authors", "long_term", "longest_followup_weeks", "evidence",
            "domains", "first_seen"} <= set(objs[0])
    assert len({o["pmid"] for o in objs}) == count


def test_export_of_a_feed_never_run_is_empty(cli, tmp_path):
    out = tmp_path / "empty.csv"
    result = cli("export", "--feed", "wbc-ms", "--format", "csv", "-o", str(out))
    assert result.code == 0 and "exported 0 studies" in result.err
    assert out.read_text().startswith("pmid,title,")
    assert not list(Path(tmp_path).glob(".empty.csv*"))
