"""The classifier's shortcuts (issue #3) give what the plain patterns give.

Each shortcut skips work that cannot change a result: a search skipped where no match can
start, a second match skipped where the first took the same path. These tests compare each
with the plain computation, on the eval abstracts and on made-up texts aimed at the edges
(letters glued to digits, non-ASCII letters, case, white space other than spaces).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from monitor.classify import core
from monitor.classify import followup as fu
from monitor.classify.domains import outcome_domains
from monitor.classify.fastre import (
    digit_starts,
    first3s,
    glued_firsts,
    lower,
    match_at,
    words_of,
)
from monitor.classify.profile import registry_ids
from monitor.classify.relevance import relevance_of
from monitor.classify.text import _ABBREV_DOT, _ends_with_abbrev

_MADE_UP = [
    ("Long-term 5years follow-up", "We followed 12h-long-term 3mortality; x_longitudinal."),
    ("", "\u00c9TUDE: \u03b2long-term outcomes; \u00b5cumulative; 2nd prevalence; 3rd early "
         "results were assessed in-hospital.\u2028Survival at discharge\x1c was 5 D."),
    ("\u0130stanbul cohort", "Patients (n = 40) had 2\u00a0years of surveillance; 4-week "
                             "screening; NCT01234567 and ISRCTN12345678; whole-body cryotherapy."),
    ("  Leading spaces?  ", "Short- and long-term results. Pre/post-test; Kaplan-Meier; ice "
                            "packs at -110 \u00b0C in a cryochamber; analgesic use fell."),
]


def _texts() -> list[tuple[str, str]]:
    out = list(_MADE_UP)
    for name in ("dev-abstracts.json", "heldout-abstracts.json"):
        path = Path(__file__).parent / "data" / "eval" / name
        for r in json.loads(path.read_text(encoding="utf-8")).values():
            parts = [*r.get("CONTEXTS", []), r.get("LONG_ANSWER", "")]
            out.append((r.get("QUESTION", ""), "\n".join(p for p in parts if p)))
    return out


@pytest.mark.parametrize("text", [
    "plain ascii words_and 12 numbers, x2 and 5mg.", "tab\tand\x1cfile\x1fseparators\x0b",
    "\u00e9t\u00e9 \u03b2-blocker \u00b5g \u2013 dash\u00a0nbsp \u0660\u0661 digits", "",
    "caf\u00e9_au_lait x\u00b1y 5\u00d73 a\u2028b c\x85d e\u3000f \u00b2\u2082 \ud800lone \u00e9\udfff",
    "\u0130stanbul \u212aelvin \ufb01ne \u1e9e \u00e9\u0301 \u2160 \u00bd",
])
def test_words_of_is_the_runs_of_word_characters(text: str) -> None:
    assert words_of(text) == set(re.findall(r"\w+", text))


def test_words_of_on_the_eval_texts() -> None:
    for title, abstract in _texts():
        low = lower(f"{title}\n{abstract}")
        assert words_of(low) == set(re.findall(r"\w+", low))


def test_glued_firsts_holds_every_letter_glued_to_a_word_character() -> None:
    for title, abstract in _texts():
        low = lower(f"{title}\n{abstract}")
        words = words_of(low)
        got = glued_firsts(low, words)
        for m in re.finditer(r"(?<=[^\Wa-z])[a-z]\w\w", low):
            assert m.group(0) in got, (m.group(0), title)


def test_gated_sentence_scan_finds_what_a_search_of_every_sentence_finds() -> None:
    """The no-time-point cues looked for only at heads that begin a word or a glued letter:
    the same matches as each pattern run on each sentence."""
    pairs = [
        (core._LONG_TERM_STATEMENT, core._LONG_TERM_HEADS),
        (core._BEFORE_AFTER_ONLY, core._BEFORE_AFTER_HEADS),
        (core._OVER_TIME, core._OVER_TIME_HEADS),
        (core._SHORT_TERM, core._SHORT_TERM_HEADS),
    ]
    for title, abstract in _texts():
        low = lower(f"{title}\n{abstract}")
        abstract_low = low[len(title) + 1:]
        words = words_of(low)
        sents = fu.sentences_of(title, abstract)
        scan = core._SentenceScan(sents, abstract_low, first3s(words),
                                  glued_firsts(abstract_low, words))
        # the title gated too: its words and glued places are those of the whole text
        scan_all = core._SentenceScan(sents, abstract_low, first3s(words),
                                      glued_firsts(low, words), low)
        assert scan_all.title_gated or not title.strip(), title
        for pattern, heads in pairs:
            want = [[m.span() for m in pattern.finditer(s.low)] for s in sents]
            for sc in (scan, scan_all):
                got = [[m.span() for m in ms] for ms in sc.finditer(pattern, heads)]
                assert got == want, (pattern.pattern[:40], title)


def test_head_set_gives_the_heads_present_gives() -> None:
    from monitor.classify.fastre import HeadSet, keyed, present

    for heads in (core._OVER_TIME_HEADS, core._SHORT_TERM_HEADS, core._BEFORE_AFTER_HEADS,
                  core._LONG_TERM_HEADS, ("at ", "5-a", "pre", "prior", "pre-x")):
        hs = HeadSet(heads)
        assert hs.present(None) == heads
        for title, abstract in _texts()[:80]:
            low = lower(f"{title}\n{abstract}")
            words = words_of(low)
            firsts, glued = first3s(words), glued_firsts(low, words)
            for more in (glued, set()):
                got = hs.present(firsts, more)
                assert sorted(got) == sorted(present(keyed(heads), firsts, more)), title


def test_quantity_matches_read_from_the_lower_cased_sentence_are_qty_re_matches() -> None:
    sentences = [s.text for t, a in _texts() for s in fu.sentences_of(t, a)]
    sentences += ["Pain fell at 24 H and 24 h; 3 DAYS, Six Months and 2 D later.",
                  "After 3 day\u017f and \u017fix years; 5 \u212aeeks; \u0130n 2 YEARS.",
                  "Follow-up was 2.6 \u00b1 1.6 Years (range 1-5 YEARS); An Hour later.",
                  "5\u2014 years, 3\u00b12 yrs, 2 (1-3) months, 12+/-3 weeks, 5and a half "
                  "years, 5to 6 Years, 4 & 5 DAYS, \u0663 weeks, 2,3 years, 5\u2009years.",
                  "1, 2,\tor 3 mo; 7 d; 8-H; 9\u2013d; 10 wk; 6 Hrs; 95% of 3 min; 0.5) 2. 4 "
                  "ſeven; 5 \u212a; 2 \u0131 3 decades, 40 patients and 2 \u0130 6 Mos"]
    for s in sentences:
        starts = list(range(len(s)))
        got = list(fu._qty_matches(s, lower(s), starts))
        want = list(match_at(fu.QTY_RE, s, starts))
        assert [m.span() for m in got] == [m.span() for m in want], s
        for g, w in zip(got, want, strict=True):
            for name in fu.QTY_RE.groupindex:
                assert g.span(name) == w.span(name), (s, name)
                assert (g.group(name) or "").lower() == (w.group(name) or "").lower(), (s, name)


def _ends_with_abbrev_plain(head: str) -> bool:
    low = head.lower()
    for a in _ABBREV_DOT:
        if low.endswith(a):
            i = len(low) - len(a)
            if i == 0 or not (low[i - 1].isalnum() or low[i - 1] == "_"):
                return True
    return False


def test_abbreviation_test_with_its_quick_rejection() -> None:
    heads = [p + a for a in _ABBREV_DOT for p in ("", " ", "x", "(", "A.", "_", "\u00e9")]
    heads += [p + a.upper() for a in _ABBREV_DOT for p in ("", " ", "x")]
    heads += ["patients.", "p.", "P.", ".", "al.", "etal.", "e.g.", "E.G.", "vs.", "no.", "\u0130."]
    for head in heads:
        assert _ends_with_abbrev(head) == _ends_with_abbrev_plain(head), head


def test_word_gated_profile_functions_match_the_ungated_ones() -> None:
    for title, abstract in _texts():
        full = f"{title}\n{abstract}"
        low = lower(full)
        words = words_of(low)
        firsts = first3s(words)
        assert registry_ids(full, low, firsts) == registry_ids(full, low), title
        assert relevance_of(full, low, firsts) == relevance_of(full, low), title
        assert outcome_domains(full, low=low, words=words, firsts=firsts) == outcome_domains(
            full, low=low, words=words), title


def _value_plain(m: re.Match[str]) -> tuple[float, bool] | None:
    from monitor.classify.text import parse_number

    for g in ("c1", "c2"):
        if m.group(g):
            v = parse_number(m.group(g))
            return (v, True) if v is not None else None
    # the numbers as they read in the sentence (so "a" sees the unit after it)
    vals = [v for x in fu._NUM_RE.finditer(m.string, m.start("nums"))
            if x.end() <= m.end("nums") and (v := parse_number(x.group(0))) is not None]
    if not vals:
        return None
    return vals[-1], False


def test_quantity_values_with_the_shortcuts() -> None:
    sentences = [s.text for t, a in _texts() for s in fu.sentences_of(t, a)]
    sentences += ["At 1, 3 AND 6 Months; Twenty-Four weeks; 007 days; 2.5 and a half YEARS.",
                  "\u0661\u0662 months; 12\u00a0weeks; an hour; Six or Twelve Months."]
    n = 0
    for s in sentences:
        for m in match_at(fu.QTY_RE, s, range(len(s))):
            assert fu._value(m) == _value_plain(m), m.group(0)
            n += 1
    assert n > 200


def test_find_hits_with_the_shared_searches_finds_what_each_sentence_alone_gives() -> None:
    """Quantity and label starts looked for once in the abstract and shared out to the
    sentences: the same time points as every sentence searched on its own."""
    for title, abstract in _texts():
        low = lower(f"{title}\n{abstract}")
        abstract_low = low[len(title) + 1:]
        words = words_of(low)
        sents = fu.sentences_of(title, abstract)
        want = fu.find_hits(sents)
        assert fu.find_hits(sents, abstract_low, words, digit_starts(abstract_low),
                            first3s(words)) == want, title
        assert fu.find_hits(sents, abstract_low, words) == want, title


def test_sentence_index_shares_out_what_a_search_of_each_sentence_finds() -> None:
    """Few positions (walked through) and many (the list cut at the sentences' spans), the
    title first (sentences_of) or anywhere else."""
    from monitor.classify.fastre import positions

    for title, abstract in _texts()[:120]:
        low = lower(f"{title}\n{abstract}")
        abstract_low = low[len(title) + 1:]
        sents = fu.sentences_of(title, abstract)
        orders = [sents]
        if sents and sents[0].is_title:  # (the other sentences stay in text order)
            orders.append(sents[1:] + sents[:1])
        for order in orders:
            index = fu.SentenceIndex(order, abstract_low)
            for heads in (("e", "a", "1", "0"), ("long",), ("zz",)):
                got = index.share(lambda low, heads=heads: positions(low, heads))
                assert got == [positions(s.low, heads) for s in order], title


@pytest.mark.parametrize("text", [
    "", "12 and 3.5, x2 007; 1999-2004", "no digits", "\u0661\u0662 and 12\u00b2 \u00e93", "9",
])
def test_digit_starts_are_the_starts_of_the_digit_runs(text: str) -> None:
    from monitor.classify.fastre import ascii_digit_starts

    assert digit_starts(text) == [m.start() for m in re.finditer(r"\d+", text)]
    assert ascii_digit_starts(text) == [m.start() for m in re.finditer(r"[0-9]+", text)]


def test_publication_type_look_up_is_the_prefix_rule() -> None:
    from monitor.classify import profile

    types = ["Review", "Clinical Trial, Phase II", "Clinical Trial Protocol", "Letter",
             "Randomized Controlled Trial", "Review, Systematic", "Observational Study, x, y",
             "Meta-Analysis", "Case Reports", "Controlled Clinical Trial", "Comment,", ""]
    for p in (t.lower() for t in types):
        named = {p[:i] for i in profile._comma_cuts(p)}
        for key, _ in profile._PT_MAP:
            assert (key in named) == (p == key or p.startswith(key + ",")), (p, key)


def test_n_equals_starts_hold_every_match_start() -> None:
    from monitor.classify import profile

    texts = [a for _, a in _texts()] + ["n=4, N = 12; n\u00a0=\u20033 and n\t=5; ==n= 7 N=", "=n"]
    for text in texts:
        got = list(match_at(profile._N_EQ, text, profile._n_eq_starts(text)))
        assert [m.span() for m in got] == [m.span() for m in profile._N_EQ.finditer(text)]


def test_total_starts_hold_every_start_of_a_total_match() -> None:
    """Numbers tried only before a "were <verb>" with nothing between that the pattern
    cannot hold: the same matches as the pattern tried at every number and head word."""
    from monitor.classify import profile
    from monitor.classify.fastre import positions

    texts = [a for _, a in _texts()] + [
        "Twenty-four patients with MS (n=3) were enrolled. 45 men; 7 children were studied.",
        "A total of 1,234 women were included; 45 men, aged 3-5, were recruited. In all, 12 "
        "subjects and one hundred and two adults (\u00e9t\u00e9) were then randomized",
        "Overall, 30 patients: 12 controls were assessed. Six hundred women was analysed",
    ]
    for text in texts:
        low = lower(text)
        words = words_of(low)
        digits = digit_starts(low)
        got = list(match_at(profile._TOTAL_L, low, profile._total_starts(low, words, digits)))
        # every digit run and every head word ("a total of" is found at "total of")
        plain = sorted({*digits, *positions(low, profile._TOTAL_WORDS),
                        *(m.start() for m in re.finditer(r"in(?=\s+all)", low))})
        want = list(match_at(profile._TOTAL_L, low, plain))
        assert [m.span() for m in got] == [m.span() for m in want], text


def test_people_leads_hold_every_digit_run_a_people_count_starts_at() -> None:
    from monitor.classify import profile

    texts = [a for _, a in _texts()] + [
        "Of 1,234 English-speaking women, 45 obese, elderly men and 12 (MS) patients; 3 % "
        "5 healthy young adults, 7 female-to-male x, 9 out of 10 patients, 40\u00a0subjects.",
        "\u00e9t\u00e9: 12 patients and 30 older adults; 8-10 children",
    ]
    for text in texts:
        low = lower(text)
        digits = digit_starts(low)
        got = list(match_at(profile._ANY_PEOPLE_L, low,
                            profile._people_leads(low, words_of(low), digits)))
        want = list(match_at(profile._ANY_PEOPLE_L, low, digits))
        assert [m.span() for m in got] == [m.span() for m in want], text


@pytest.mark.parametrize("text", [
    "a year, an  hour, a\u00a0day; ana years, a\nweek; today, a decade and a yearly dose; a",
    "an year; aa day; na month; an\tdecades;  a weeks; year; a", "",
])
def test_a_unit_starts_are_the_look_ahead_matches(text: str) -> None:
    assert fu._a_unit_starts(text) == [m.start() for m in fu._A_UNIT.finditer(text)]


def test_a_unit_starts_on_the_eval_texts() -> None:
    for title, abstract in _texts():
        low = lower(f"{title}\n{abstract}")
        assert fu._a_unit_starts(low) == [m.start() for m in fu._A_UNIT.finditer(low)]


def test_sentence_boundaries_found_in_bytes_are_the_pattern_matches() -> None:
    from monitor.classify import text as t

    extra = ("Ends.] Next. (Ref.) \"Quote.\" 'A.' [B]. e.g. C! D? 3. 4.5 x.\tY.\x1cZ\n\n\nW. "
             ".[A. .(9 ?\"x .\r\nA !  [B ?'C", "no boundary", "", "\n", "A.\nB", "x. \u00c9t\u00e9.")
    n = 0
    for title, abstract in _texts():
        for x in (abstract, title, abstract.replace(". ", ".\n"), *extra):
            got = [m.span() for m in t._boundaries(x)]
            assert got == [m.span() for m in t._BOUNDARY.finditer(x)], x
            n += 1
    assert n > 500
