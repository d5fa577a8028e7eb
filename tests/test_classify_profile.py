"""Study profile: design, sample size, registry ids, outcome domains, relevance."""

from __future__ import annotations

import pytest

from monitor.classify import classify
from monitor.classify.domains import load_vocabulary, outcome_domains, vocabulary
from monitor.classify.profile import design_of, registry_ids, sample_size
from monitor.classify.relevance import relevance_of


@pytest.mark.parametrize(
    ("text", "mesh", "pts", "design"),
    [
        ("Patients were randomly assigned to A or B.", [], [], "randomised-trial"),
        ("A trial.", [], ["Randomized Controlled Trial", "Journal Article"], "randomised-trial"),
        ("We did an open-label single-arm study.", [], ["Clinical Trial"], "non-randomised-trial"),
        ("We pooled trials.", [], ["Systematic Review"], "systematic-review"),
        ("A systematic review and meta-analysis of 12 trials.", [], [], "systematic-review"),
        ("Overview of cryotherapy.", [], ["Review"], "narrative-review"),
        ("Whole-body cryostimulation in multiple sclerosis: a scoping review.", [], [],
         "systematic-review"),
        ("We mapped 13 articles.", [], ["Scoping Review", "Review"], "systematic-review"),
        ("An umbrella review of reviews on cold therapy.", [], [], "systematic-review"),
        ("A 45-year-old woman presented.", [], ["Case Reports"], "case-series"),
        ("A cross-sectional study of 200 nurses.", [], [], "cross-sectional"),
        ("A case-control study of 40 cases.", [], [], "case-control"),
        ("A prospective cohort of 300 adults.", [], [], "cohort"),
        ("Mice were exposed to cold.", ["Animals", "Mice"], [], "lab-animal"),
        ("This protocol describes a trial; participants will be randomised.", [], [],
         "protocol"),
    ],
)
def test_design(text: str, mesh: list[str], pts: list[str], design: str) -> None:
    assert design_of(text, mesh, pts) == design


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("A total of 120 patients were enrolled; 60 (50%) were women.", 120),
        ("Prospective randomization of 206 patients into two groups (n = 106; n = 100).", 206),
        ("Forty-two participants with MS took part.", 42),
        ("Sixty-seven adult outpatients, including 15 minorities, were randomised.", 67),
        ("Children (n = 45) were studied.", 45),
        ("No counts here.", None),
        ("In all,  eighty-one women took part; in 2010 we randomised 30 of them.", 81),
        ("We enrolled 1,204 consecutive patients; a  total\nof 1,100 were analysed.", 1204),
        ("Overall, 75 people answered; 1998 was the first year.", 75),
        ("Data came from 2015 patients' records: 350 cases were analysed.", 350),
        ("Methods: thirty patients and 12 controls.", 30),
        ("The someone cohort: none of the patients; two-thirds.", None),
        # a share is not a count (PMID 30913216 read 12 from "Eight-four percent of the
        # eligible": a typo parsed as 8 + 4)
        ("Eight-four percent of the eligible population (n = 62,254) were assessed.", 62254),
        ("Eighty-four percent of the eligible population (n = 62,254) were assessed.", 62254),
        ("85 percent of patients were women; 120 patients were enrolled.", 120),
        # the end of a hyphenated name is no count: "COVID-19 patients", "K-12 students"
        ("We studied COVID-19 patients in 3 hospitals.", None),
        ("Testing among K-12 school students was studied.", None),
        ("Consenting adults (N=238) from 18-100 years of age were assessed.", 238),
        # two arms compared, not a count
        ("Arm 2 vs Arm 3 women had greater gains (n=2443 dyads).", 2443),
        ("We studied 40 VSD patients after repair.", 40),  # "vs" only as a word
        # only the arms are counted: added up when one sentence allocates them or names
        # each a group (a WBC trial: 18 controls and 33 treated)
        ("Patients were randomised to a control group (n = 18) or 20 WBC sessions (n = 33).",
         51),
        ("Resection was similar for the GM (n = 45) or SM (n = 66) groups.", 111),
        ("The study group (n = 30) had WBC. The control group (n = 30) did not.", 30),
        ("We used an archival database of veterans (n = 192) who completed 12 sessions of CPT "
         "by therapists (n = 25) who were trained by 2 nationally recognized trainers, 1 of whom "
         "also provided weekly group supervision.", 192),  # PMID 23356465: not arms
        ("OM was the most frequent (n = 16), then OT (n = 13).", 16),
        # the world's numbers in a structured abstract's background are not the study's
        ("BACKGROUND: About 600,000 children live on the streets.\n"
         "METHODS: We interviewed 45 children in shelters.", 45),
    ],
)
def test_sample_size(text: str, n: int | None) -> None:
    assert sample_size(text) == n


def test_registry_ids() -> None:
    text = (
        "Registered: NCT01234567; ISRCTN12345678; ACTRN12610000123456; EudraCT 2010-012345-12; "
        "CTRI/2019/01/012345; DRKS00012345; ChiCTR2000012345. NCT01234567 again."
    )
    assert registry_ids(text) == (
        "NCT01234567", "ISRCTN12345678", "ACTRN12610000123456", "EudraCT 2010-012345-12",
        "CTRI/2019/01/012345", "DRKS00012345", "ChiCTR2000012345",
    )
    assert registry_ids("no ids, just NCT123") == ()


def test_outcome_domains_from_instruments_and_words() -> None:
    text = (
        "Fatigue (MFIS), pain on a VAS, depression (BDI), Timed Up and Go, Ashworth scale, "
        "SF-36, sleep quality, SDMT, EDSS, IL-6 and total antioxidant status; no adverse events."
    )
    assert set(outcome_domains(text)) == {
        "fatigue", "pain", "mood", "mobility", "spasticity", "quality_of_life", "sleep",
        "cognition", "disability", "inflammation_oxidative_stress", "adverse_events",
    }
    assert outcome_domains("Serum ferritin was measured.") == ()


def test_a_plasma_concentration_is_not_cognition() -> None:
    """WBC studies measure concentrations in blood all the time; only concentration of the
    mind is a cognitive outcome."""
    assert outcome_domains("Plasma uric acid concentration rose after cryostimulation.") == (
        "inflammation_oxidative_stress",)
    assert outcome_domains("Serum concentrations of the drug were measured.") == ()
    for text in ("Patients reported poor concentration.", "Attention and concentration improved.",
                 "Difficulty concentrating was common.", "Concentration problems eased."):
        assert outcome_domains(text) == ("cognition",), text


def test_domain_vocabulary_has_labels_and_rejects_bad_files() -> None:
    labels = vocabulary().labels()
    assert labels["fatigue"] == "Fatigue"
    with pytest.raises(ValueError):
        load_vocabulary("[domain.x]\nterms = ['a']\n")  # no label
    with pytest.raises(ValueError):
        load_vocabulary("title = 'nothing'\n")


@pytest.mark.parametrize(
    ("text", "relevance"),
    [
        ("Whole-body cryotherapy in patients with MS", "whole-body-cryotherapy"),
        ("Ten sessions in a cryochamber at \u2212110 \u00b0C", "whole-body-cryotherapy"),
        ("Exposure to -120\u00b0C in a cold chamber for 3 min", "whole-body-cryotherapy"),
        ("Ice packs were applied to the knee", "other-cold-treatment"),
        ("MS patients wore a cooling vest during exercise", "other-cold-treatment"),
        ("Cold-water immersion after running", "other-cold-treatment"),
        ("Cryoablation of atrial fibrillation", "other-cold-treatment"),
        ("Exercise in a cool room improved walking", "other-cold-treatment"),
        ("WBC count rose after surgery", "not-about-cold"),
        ("Interferon beta in relapsing MS", "not-about-cold"),
    ],
)
def test_relevance(text: str, relevance: str) -> None:
    got, note = relevance_of(text)
    assert got == relevance
    if relevance == "other-cold-treatment":
        assert note
    if relevance == "not-about-cold":
        assert note is None


def test_classification_profile_and_json() -> None:
    c = classify(
        "Whole-body cryotherapy and fatigue in multiple sclerosis: a randomised trial",
        "Forty-two patients were randomly assigned to whole-body cryotherapy (-110 \u00b0C) or "
        "control. Fatigue (FSS) was assessed at baseline and 6 months. Trial registration: "
        "NCT01234567.",
        publication_types=["Randomized Controlled Trial"],
    )
    j = c.to_json()
    assert j["long_term"] == "yes" and j["longest_followup_weeks"] == 26.1
    assert j["design"] == "randomised-trial" and j["sample_size"] == 42
    assert j["registry_ids"] == ["NCT01234567"]
    assert "fatigue" in j["outcome_domains"]
    assert j["relevance"] == "whole-body-cryotherapy"
    assert j["version"] == c.version and j["threshold_weeks"] == 26.0
    assert j["time_points"][0]["kind"] in {"assessment", "follow-up"}


def _domains_by_plain_search(text: str) -> tuple[str, ...]:
    """Reference: one case-insensitive search per domain over the whole text (slow)."""
    import re

    from monitor.classify.domains import _acronym_pattern, _term_pattern

    out = []
    for d in vocabulary().domains:
        terms = "|".join(_term_pattern(t) for t in sorted(d.terms, key=len, reverse=True))
        acrs = "|".join(_acronym_pattern(a) for a in sorted(d.acronyms, key=len, reverse=True))
        if (terms and re.search(r"(?<![\w-])(?:" + terms + ")", text, re.IGNORECASE)) or (
            acrs and re.search(r"(?<![\w-])(?:" + acrs + ")", text)
        ):
            out.append(d.key)
    return tuple(out)


@pytest.mark.parametrize(
    "text",
    [
        "SF36 and sf 12 were given; C reactive protein and Creactive protein rose.",
        "Painful joints; analgesics were used; six minute walking distance improved.",
        "Painstaking work, a sickness-impact-profile, isoprostanes and cold burns.",
        "IL-6, IL-1β and hs-CRP; TNF-alpha fell; CRP-levels; xCRP is no acronym.",
        "Quality-of-life (health related quality  of life) and well being; wellbeing.",
        "Alzheimer's disease, (depression) and /fatigue/; EDSS_score; qol.",
        "EQ5D, MSQOL54, wellbeing, healthrelated QoL and the 6minute walk; sideeffects; 8isoprostanes.",
        "c-reactive-protein, sixminute-walk, sf-36-item; c.",
    ],
)
def test_outcome_domains_word_index_matches_a_plain_search(text: str) -> None:
    assert outcome_domains(text) == _domains_by_plain_search(text)


def test_outcome_domains_word_index_matches_a_plain_search_on_the_dev_set() -> None:
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).parent / "data" / "eval" / "dev-abstracts.json")
                      .read_text(encoding="utf-8"))
    for r in data.values():
        text = r.get("QUESTION", "") + "\n" + "\n".join(r.get("CONTEXTS", []))
        assert outcome_domains(text) == _domains_by_plain_search(text)


@pytest.mark.parametrize(
    "text",
    ["a_b c-d e.f (g) h\u00b2 x\u00a0y 12,5 \u0663\u0664 foo_ _", "caf\u00e9 na\u00efve \u2013 3\u00b15\tz\n"],
)
def test_words_of_are_the_runs_of_word_characters(text: str) -> None:
    import re

    from monitor.classify.fastre import words_of

    assert words_of(text) == set(re.findall(r"\w+", text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("twenty-four", 24.0), ("four hundred and three", 403.0), ("one thousand two hundred", 1200.0),
        ("one hundred twenty-five", 125.0), ("two and a half", 2.5), ("12", 12.0), ("a", 1.0),
        # not numbers: a unit after a unit, tens after a unit or tens
        ("eight-four", None), ("ten eleven", None), ("twenty thirty", None), ("six forty", None),
    ],
)
def test_number_words(text: str, value: float | None) -> None:
    from monitor.classify.text import parse_number

    assert parse_number(text) == value


def test_a_cross_sectional_study_with_follow_up_is_a_cohort() -> None:
    """PMID 41607644 called itself 'observational, cross-sectional, and longitudinal' and
    reported a median follow-up of 117 months; a digest showed 'cross-sectional study' next
    to a 9.7-year follow-up."""
    text = ("This is an observational, cross-sectional, and longitudinal analysis based on "
            "NHANES data. A total of 9816 participants with a median follow-up of 117 months "
            "were included.")
    c = classify("Kaempferol and kidney function", text, mesh=["Humans"])
    assert (c.design, c.long_term) == ("cohort", "yes")
    # without follow-up it stays cross-sectional
    one_visit = "A cross-sectional survey of 200 nurses was done in 2019."
    assert classify("", one_visit, mesh=["Humans"]).design == "cross-sectional"
