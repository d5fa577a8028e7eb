"""Property-based tests (hypothesis) for the code that meets untrusted text: the PubMed XML
parser, the sanitiser and digest rendering, and header building.

* Parser: well-formed PubMed XML built from random parts (titles and abstracts with inline tags,
  any unicode XML allows, labels, PubDate as Year/Month/Day, Season or MedlineDate) round-trips
  into the Article; random bytes, and valid documents cut or corrupted at random points, never
  raise anything but PubMedParseError.
* Sanitising: whatever fragments of attack markup a title or abstract holds, the digest's HTML
  has no <script>, no on*= handler and no javascript: URL, and <i>, <sup>, <sub> are kept.
* Headers: whatever the feed title, subject prefix, sender or a record's title say, the message
  bytes re-parse to exactly the headers litmon wrote — nothing injected.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.config import Settings, _looks_like_address
from monitor.digest import DigestContent, header_text, make_message
from monitor.feeds import DigestOptions, Feed
from monitor.mail import envelope_sender
from monitor.pubmed.parse import PubMedParseError, parse_batch
from monitor.records import AbstractSection, Article, plain
from monitor.render import one_line, sanitize_inline, study_view

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
INLINE = ["i", "b", "sup", "sub", "u"]
HEAD = (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
        b'1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')

# Characters XML 1.0 allows in text (no C0 controls but tab/newline, no surrogates, no
# U+FFFE/FFFF); CR is left out because XML turns it into LF.
xml_char = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") \
    | st.sampled_from(list("<>&\"' \t\n;=/"))
xml_text = st.text(xml_char, max_size=30)


@st.composite
def inline_markup(draw: st.DrawFn, depth: int = 2) -> tuple[str, str]:
    """(XML to put in the element, the safe inline HTML the parser should make of it)."""
    parts = draw(st.lists(st.one_of(
        xml_text.map(lambda t: ("text", t)),
        st.tuples(st.sampled_from(INLINE), xml_text).map(lambda p: ("tag", p)),
    ), max_size=5))
    xml_out, html_out = [], []
    for kind, value in parts:
        if kind == "text":
            xml_out.append(escape(value))
            html_out.append(html.escape(value, quote=False))
        else:
            tag, text = value
            xml_out.append(f"<{tag}>{escape(text)}</{tag}>")
            html_out.append(f"<{tag}>{html.escape(text, quote=False)}</{tag}>")
    return "".join(xml_out), "".join(html_out)


@st.composite
def pub_dates(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    form = draw(st.sampled_from(["ymd", "ym-number", "y", "season", "medline"]))
    year = draw(st.integers(1800, 2100))
    if form == "ymd":
        month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
        return (f"<Year>{year}</Year><Month>{MONTHS[month - 1]}</Month><Day>{day}</Day>",
                {"year": year, "month": month, "day": day})
    if form == "ym-number":
        month = draw(st.integers(1, 12))
        return f"<Year>{year}</Year><Month>{month:02d}</Month>", {"year": year, "month": month}
    if form == "y":
        return f"<Year>{year}</Year>", {"year": year, "month": None}
    if form == "season":
        season = draw(st.sampled_from(["Spring", "Summer", "Fall", "Winter"]))
        return f"<Year>{year}</Year><Season>{season}</Season>", {"year": year, "season": season}
    text = draw(st.one_of(
        st.tuples(st.sampled_from(MONTHS), st.sampled_from(MONTHS)).map(lambda m: f"{year} {m[0]}-{m[1]}"),
        xml_text.filter(lambda t: t.strip()),
    ))
    return f"<MedlineDate>{escape(text)}</MedlineDate>", {"medline_date": text.strip() or None}


label_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                   blacklist_characters="\ufffe\uffff"), min_size=1, max_size=12)


@st.composite
def pubmed_records(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    pmid = str(draw(st.integers(1, 99_999_999)))
    version = draw(st.integers(1, 3))
    title_xml, title_html = draw(inline_markup())
    sections = draw(st.lists(st.tuples(st.one_of(st.none(), label_text), inline_markup()),
                             max_size=3))
    date_xml, date_expected = draw(pub_dates())
    abstract = ""
    if sections:
        abstract = "<Abstract>" + "".join(
            f"<AbstractText{'' if label is None else ' Label=' + quoteattr(label)}>{x}</AbstractText>"
            for label, (x, _h) in sections) + "</Abstract>"
    xml = (f'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="{version}">{pmid}</PMID>'
           f"<Article><Journal><JournalIssue><PubDate>{date_xml}</PubDate></JournalIssue></Journal>"
           f"<ArticleTitle>{title_xml}</ArticleTitle>{abstract}</Article></MedlineCitation>"
           f"</PubmedArticle>")
    expected = {"pmid": pmid, "version": version, "title": title_html.strip(),
                "abstract": [(label, h.strip()) for label, (_x, h) in sections],
                "date": date_expected}
    return xml.encode("utf-8"), expected


def document(records: list[bytes]) -> bytes:
    return HEAD + b"<PubmedArticleSet>" + b"\n".join(records) + b"</PubmedArticleSet>\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pubmed_records(), min_size=1, max_size=4))
def test_well_formed_pubmed_xml_round_trips(records: list[tuple[bytes, dict[str, object]]]) -> None:
    batch = parse_batch(document([x for x, _ in records]))
    assert len(batch.articles) == len(records)
    for article, (_xml, want) in zip(batch.articles, records, strict=True):
        assert article.pmid == want["pmid"] and article.version == want["version"]
        assert article.title == want["title"]
        assert plain(article.title) == html.unescape(re.sub(r"</?\w+>", "", want["title"]))
        got = [(s.label, s.text) for s in article.abstract]
        assert got == want["abstract"]
        for key, value in want["date"].items():  # type: ignore[union-attr]
            assert getattr(article.pub_date, key) == value, (key, article.pub_date)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_the_parser(data: bytes) -> None:
    try:
        parse_batch(data)
    except PubMedParseError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pubmed_records(), min_size=1, max_size=3), st.data())
def test_cut_or_corrupted_documents_fail_only_with_pubmed_parse_error(records, data) -> None:
    doc = bytearray(document([x for x, _ in records]))
    how = data.draw(st.sampled_from(["cut", "flip", "insert", "entity"]))
    at = data.draw(st.integers(0, len(doc)))
    if how == "cut":
        doc = doc[:at]
    elif how == "flip" and doc:
        doc[min(at, len(doc) - 1)] = data.draw(st.integers(0, 255))
    elif how == "insert":
        doc[at:at] = data.draw(st.sampled_from([
            b"<!ENTITY x 'y'>", b"&x;", b"<!DOCTYPE a [<!ENTITY b SYSTEM 'file:///etc/passwd'>]>",
            b"\x00", b"\xff\xfe", b"]]>", b"<![CDATA[<script>]]>", b"</PubmedArticle>"]))
    else:
        doc = bytearray(doc.replace(b"<ArticleTitle>", b"<ArticleTitle>&lol;", 1))
    try:
        batch = parse_batch(bytes(doc))
    except PubMedParseError:
        return
    for article in batch.articles:  # whatever was accepted is still safe inline HTML
        assert "<script" not in article.title.lower()
        assert "root:" not in article.title


# -- sanitising -----------------------------------------------------------------------------------

ATTACKS = [
    "<script>alert(1)</script>", "<SCRIPT SRC=//evil.example/x.js></SCRIPT>", "<scr<script>ipt>",
    '<img src=x onerror="alert(1)">', "<svg onload=alert(1)>", "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>', "<a href=JaVaScRiPt:alert(1)>y</a>",
    '<iframe src="javascript:alert(1)">', "<i onclick=alert(1)>z</i>", '<sup style="x">2</sup>',
    "<math><mi>x</mi></math>", "<!-- <script> -->", "&lt;script&gt;", "<style>*{}</style>",
    '<div onmouseover="alert(1)">', "<object data=javascript:alert(1)>", "<form action=javascript:x>",
    "<i>", "</i>", "<sup>", "</sup>", "<sub>", "</sub>", "<b>", "javascript:", "onerror=",
]
hostile = st.lists(st.one_of(st.sampled_from(ATTACKS), xml_text), max_size=8).map("".join)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def tags_of(markup: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(markup)
    parser.close()
    return parser.tags


def assert_inert(markup: str) -> None:
    low = markup.lower()
    assert "<script" not in low and "<iframe" not in low and "<svg" not in low
    for tag, attrs in tags_of(markup):
        for name, value in attrs:
            assert not name.lower().startswith("on"), (tag, name)
            url = re.sub(r"[\s\x00-\x1f]", "", html.unescape(value or "")).lower()
            assert not url.startswith(("javascript:", "vbscript:", "data:text/html")), (tag, name, value)


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_sanitize_inline_keeps_only_inline_tags_without_attributes(text: str) -> None:
    out = str(sanitize_inline(text))
    assert_inert(out)
    for tag, attrs in tags_of(out):
        assert tag in INLINE and attrs == [], (tag, attrs, out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["i", "sup", "sub"]),
                          st.text(st.characters(blacklist_categories=("Cs", "Cc"),
                                                blacklist_characters="<>&"), min_size=1, max_size=10)),
                min_size=1, max_size=4))
def test_sanitize_inline_keeps_i_sup_sub(parts: list[tuple[str, str]]) -> None:
    markup = "".join(f"<{t}>{x}</{t}>" for t, x in parts)
    # The same tags and text (nh3 may write a character as an entity, e.g. &nbsp;).
    assert html.unescape(str(sanitize_inline(markup))) == markup


FEED = Feed(name="wbc-ms", query="x", title="WBC & MS", recipients=("a@example.org",))


def digest_with(title: str, abstract: str, feed: Feed = FEED) -> DigestContent:
    article = Article(pmid="12345678", title=title,
                      abstract=(AbstractSection(text=abstract, label="RESULTS"),))
    return DigestContent(feed=feed, period="2026-11-25T06:00Z", studies=(study_view(article, None),))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile, hostile)
def test_digest_html_and_text_of_a_hostile_record_are_inert(title: str, abstract: str) -> None:
    built = make_message(Settings(), digest_with(title, abstract), message_id="<a.b@example.org>")
    assert_inert(built.html)
    assert_inert(built.text.replace("<", "&lt;"))  # text/plain: never parsed as HTML anyway
    for part in built.message.iter_parts():
        if part.get_content_type() == "text/html":
            assert_inert(part.get_content())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["i", "sup", "sub"]),
                          st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")),
                                  min_size=1, max_size=8)), min_size=1, max_size=3))
def test_digest_html_keeps_i_sup_sub_of_a_title(parts: list[tuple[str, str]]) -> None:
    title = "Effect " + " ".join(f"<{t}>{x}</{t}>" for t, x in parts)
    built = make_message(Settings(), digest_with(title, "text"), message_id="<a.b@example.org>")
    for t, x in parts:
        assert f"<{t}>{x}</{t}>" in built.html


# -- headers --------------------------------------------------------------------------------------

INJECTIONS = ["\r\nBcc: victim@example.org", "\nX-Evil: 1", "\r", "=?UTF-8?Q?=0A?=Bcc: x@example.org",
              "=?utf-8?b?DQpCY2M6IHhAZXhhbXBsZS5vcmc=?=", "\u2028Cc: y@example.org", "\x00", "\x85",
              "\u000bTo: z@example.org", "Subject: second", ":", "\t", "é" * 40, " " * 90 + "x"]
header_input = st.lists(st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=20)), max_size=6) \
    .map("".join)
EXPECTED_HEADERS = {"subject", "from", "to", "date", "message-id", "auto-submitted", "x-litmon-feed",
                    "x-litmon-period", "mime-version", "content-type"}


# Display names LITMON_MAIL_FROM accepts (config._looks_like_address): words without <, >, @
# or white space — commas, colons, semicolons, quotes and encoded-word openers included.
sender_names = st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                              blacklist_characters="<>@\ufffe\uffff")
                                | st.sampled_from(list(',:;"=?()[]\\')), min_size=1, max_size=8),
                        max_size=4).map(" ".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=header_input, prefix=header_input, sender=sender_names, record_title=header_input)
# Found by hypothesis: formataddr() + the header policy's re-folding gave "From: . =?utf-8?q?...",
# which the email package's own parser then failed on.
@example(title="", prefix="", sender=". \u00a1", record_title="")
# And its Subject folder cut an encoded word across a line break (CPython gh-144156).
@example(title="", prefix="\r\nBcc: victim@example.org\r\nBcc: victim@example.org\nX-Evil: 1\r"
         "\u00a1 \u00a1\u00a1 \U00010000 \u00a1", sender="", record_title="")
def test_no_header_can_be_injected(title: str, prefix: str, sender: str, record_title: str) -> None:
    feed = Feed(name="wbc-ms", query="x", title=title, digest=DigestOptions(subject_prefix=prefix),
                recipients=("a@example.org",))
    mail_from = f"{sender} <digests@example.org>".strip()
    assert _looks_like_address(mail_from), mail_from
    built = make_message(Settings(mail_from=mail_from), digest_with(record_title, "x", feed),
                         message_id="<litmon.wbc-ms.20261125T0600Z.1@example.org>",
                         date=datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
    raw = built.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0].decode("ascii").lower()
             for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")]
    assert sorted(names) == sorted(EXPECTED_HEADERS), names
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert sorted(k.lower() for k in parsed.keys()) == sorted(EXPECTED_HEADERS)
    for name, value in parsed.items():
        assert "\n" not in str(value) and "\r" not in str(value), (name, value)
    assert parsed["Message-ID"] == "<litmon.wbc-ms.20261125T0600Z.1@example.org>"
    # The same subject (white space refolded; C1 controls such as U+0080 do not survive the
    # round trip through the email package — text, not a header).
    assert _words(str(parsed["Subject"])) == _words(built.subject)
    assert built.subject == header_text(built.subject)
    # One sender, the configured address, whatever its display name holds.
    assert [a.addr_spec for a in parsed["From"].addresses] == ["digests@example.org"]
    assert envelope_sender(mail_from) == "digests@example.org"


def _words(text: str) -> str:
    return "".join("".join(c for c in text if not 0x80 <= ord(c) <= 0x9F).split())


@pytest.mark.parametrize("text", INJECTIONS)
def test_header_text_is_one_line_without_encoded_words(text: str) -> None:
    out = header_text("a" + text + "b")
    assert "\n" not in out and "\r" not in out and "=?" not in out


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_one_line_has_no_line_breaks_controls_or_bidi_overrides(text: str) -> None:
    out = one_line(text)
    assert out == out.strip() and "  " not in out
    assert "\n".join(out.splitlines()) == out  # nothing str.splitlines() would break on
    for ch in out:
        assert not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F), repr(ch)
        assert ch not in "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", repr(ch)


def test_one_line_keeps_the_words_around_what_it_removes() -> None:
    assert one_line("Cold \u2028and\x85 \u202eoccult\u202c  MS\x9b") == "Cold and occult MS"
