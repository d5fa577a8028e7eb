"""Follow-up extraction: one test per pattern family and per exclusion (LABELING.md)."""

from __future__ import annotations

import pytest

from monitor.classify import classify


def weeks(abstract: str, title: str = "") -> float | None:
    return classify(title, abstract).longest_followup_weeks


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Patients were followed up for a median of 5 years.", 260.9),
        ("Outcomes were assessed at 3 and 6 months.", 26.1),
        ("The 30-day mortality was 4%.", 4.3),
        ("Patients were followed for up to 10 years.", 521.8),
        ("Follow-up ranged 6-24 months.", 104.3),
        ("The mean follow-up was 26 months (range 1-96 months).", 113.0),
        ("During mean follow-up of 2.6 \u00b1 1.6 years, 20% had an event.", 135.7),
        ("The minimum follow-up was one year.", 52.2),
        ("Quality of life was measured at baseline and six months after surgery.", 26.1),
        ("The 2-year survival was 80%.", 104.4),
        ("The 1- and 3-year recurrence rates were 0% and 4.5%.", 156.5),
        ("Echocardiography was performed at 1, 6 and 12months after discharge.", 52.1),
        ("Five-year overall survival was 63%.", 260.9),
        ("Death within 30 days of operation was recorded.", 4.3),
        ("Of 734 women, 579 completed a follow-up 2 years later.", 104.4),
        ("Women were assessed across 13 annual follow-ups.", 678.3),
        ("Blood was drawn on postoperative days (POD) 1, 3, and 5.", 0.7),
        ("Scores were recorded at baseline (0 min), and then at 5, 15, 30 and 60 min.", 0.0),
        ("Patients completed an 8-week training programme.", 8.0),
    ],
)
def test_time_point_patterns(sentence: str, expected: float) -> None:
    got = weeks(sentence)
    assert got is not None
    assert got == pytest.approx(expected, abs=0.15)


def test_treatment_length_added_to_follow_up_after_end_of_treatment() -> None:
    c = classify("", "Patients were assessed after 10 sessions of WBC over 2 weeks and 3 months later.")
    assert c.longest_followup_weeks == pytest.approx(15.0, abs=0.1)
    assert c.long_term == "no"
    assert c.post_treatment_assessment is True


def test_follow_up_after_stopping_treatment_adds_treatment_years() -> None:
    c = classify(
        "",
        "After 4 years of treatment the fractures had remodelled. BMD decreased within "
        "24 months of stopping treatment.",
    )
    assert c.longest_followup_weeks == pytest.approx(313.0, abs=0.2)
    assert c.long_term == "yes"


def test_calendar_follow_up_from_recruitment_start_to_last_follow_up() -> None:
    c = classify(
        "",
        "Patients treated between 2004 and 2005 were included. Last date of follow-up was "
        "November 2010.",
    )
    assert c.longest_followup_weeks == pytest.approx(356.3, abs=0.5)


def test_median_follow_up_beats_range_and_longer_outcome_period_wins() -> None:
    c = classify(
        "",
        "After the median follow-up time of 35 months (range 2-120 months), 12 patients had "
        "died. Five-year survival rates were 37% and 88%.",
    )
    assert c.longest_followup_weeks == pytest.approx(260.9, abs=0.1)
    assert c.evidence == "Five-year survival rates were 37% and 88%."


@pytest.mark.parametrize(
    "sentence",
    [
        "We studied patients with a 10-year history of MS.",
        "Patients aged 45 years were included.",
        "The mean age was 44.07 \u00b1 11.91 years.",
        "A 4-year-old boy presented with fever.",
        "Patients treated between 2001 and 2010 were reviewed.",
        "Over an 18-month period patients were reviewed.",
        "An 18-month retrospective review was performed.",
        "Patients presenting consecutively over a 3 year period were tested.",
        "After a 2-week washout, patients crossed over.",
        "Cells were incubated for 48 h.",
        "Mice were studied at 8 weeks.",
        "Exposure was defined as use during the first 12 weeks of pregnancy.",
        "Fetal length was measured at 22 weeks' gestation.",
        "Patients had moderate pain over the prior 2 weeks.",
        "Providers had a mean of 14.1 years of experience.",
        "The Division set the target 15 years ago.",
        "Drug was given every 2 weeks.",
        "Metoclopramide was given as an infusion over 15 min.",
        "Median life-expectancy was 5 months.",
        "In children>4 years, prevalence increased.",
        "Symptoms had lasted at least 3 months in the past year.",
    ],
)
def test_exclusions_are_not_follow_up(sentence: str) -> None:
    assert weeks(sentence) is None


def test_age_exclusion_does_not_swallow_follow_up() -> None:
    c = classify("", "Patients aged 65 years or older were followed for 5 years.")
    assert c.longest_followup_weeks == pytest.approx(260.9, abs=0.1)


def test_whole_body_cryotherapy_before_and_after_only_is_no() -> None:
    c = classify(
        "Whole-body cryotherapy in multiple sclerosis",
        "Twenty patients received whole-body cryotherapy (\u2212110 \u00b0C, 10 sessions). Fatigue "
        "(FSS) was assessed before and after the treatment.",
    )
    assert c.long_term == "no"
    assert c.longest_followup_weeks is None
    assert c.post_treatment_assessment is False
    assert c.evidence is not None and "before and after" in c.evidence
    assert c.relevance == "whole-body-cryotherapy"


def test_long_term_threshold_and_custom_threshold() -> None:
    text = "Fatigue was assessed at 3 months."
    assert classify("", text).long_term == "no"
    assert classify("", text, threshold_weeks=12).long_term == "yes"
    assert classify("", text, threshold_weeks=12).threshold_weeks == 12


def test_no_time_point_found() -> None:
    c = classify("", "We measured serum ferritin in 40 volunteers.")
    assert c.evidence is None
    assert c.reason == "no time point found"
    assert c.long_term == "no"
    assert c.time_points == ()


def test_survival_without_duration_is_unclear() -> None:
    c = classify(
        "",
        "Patients who underwent resection were retrospectively reviewed. Survival and "
        "recurrence were analysed with Kaplan-Meier curves.",
        mesh=["Humans", "Retrospective Studies", "Survival Analysis"],
    )
    assert c.long_term == "unclear"
    assert c.longest_followup_weeks is None


def test_explicit_long_term_statement_without_number_is_yes() -> None:
    c = classify("", "Perioperative parameters and long-term follow-up were analyzed.")
    assert c.long_term == "yes"
    assert c.evidence == "Perioperative parameters and long-term follow-up were analyzed."


def test_in_hospital_outcomes_only_is_no() -> None:
    c = classify(
        "",
        "We studied in-hospital mortality after emergency surgery. In-hospital mortality was "
        "18%.",
        mesh=["Humans", "Hospital Mortality", "Survival Analysis"],
    )
    assert c.long_term == "no"


def test_animal_study_times_are_lab_read_outs() -> None:
    c = classify(
        "",
        "Ten dogs underwent nephrectomy. Dogs were sacrificed at 3 days to 4 weeks.",
        mesh=["Animals", "Dogs", "Kidney"],
    )
    assert c.design == "lab-animal"
    assert c.long_term == "no"
    assert c.longest_followup_weeks is None


def test_evidence_is_verbatim_sentence_and_splitting_keeps_abbreviations() -> None:
    abstract = (
        "Groups differed, e.g. in age vs. sex (p = 0.03). Smith et al. reported 2.5 times more "
        "events. Patients were followed for 2.5 years.\nCONCLUSIONS: Fine."
    )
    c = classify("", abstract)
    assert c.evidence == "Patients were followed for 2.5 years."
    assert c.longest_followup_weeks == pytest.approx(130.5, abs=0.1)


def test_evidence_drops_structured_section_label() -> None:
    c = classify("", "METHODS: Patients were followed for 2 years.")
    assert c.evidence == "Patients were followed for 2 years."


def test_general_rule_fixes_from_the_heldout_set() -> None:
    # a sampling span is not follow-up
    c = classify("", "From a sample of 3,000 foreign bodies, during 40 years, we analyzed four cases.")
    assert c.long_term != "yes"
    # a survival-time value is a result, not an assessment time
    c = classify("", "The median survival was 31 weeks. Survival was analysed with Cox regression.")
    assert c.longest_followup_weeks is None
    # ... but a follow-up time after a survival rate still counts
    c = classify("", "The overall survival rate was 81% after a follow-up time of 15-40 years.")
    assert c.long_term == "yes" and c.longest_followup_weeks == 2087.2
    # a treatment/intake window is not an assessment time
    c = classify("", "Most patients received treatment within 30 days after diagnosis.")
    assert c.longest_followup_weeks is None
    c = classify("", "Eight presented with local recurrence within 3.7 to 8.8 months.")
    assert c.longest_followup_weeks == 38.2
    # a compound duration (an age range) is not a study-time label
    c = classify("", "MRI of 30 children (age range, 8 years 8 months to 13 years 4 months) was read.")
    assert c.long_term != "yes"
    # "developed" alone (developed countries) does not make a study "unclear"
    c = classify("", "We developed a chart review instrument and tested it on 50 charts.")
    assert c.long_term == "no"


def _eval_texts() -> list[tuple[str, str]]:
    import json
    from pathlib import Path

    out = []
    for name in ("dev-abstracts.json", "heldout-abstracts.json"):
        path = Path(__file__).parent / "data" / "eval" / name
        for r in json.loads(path.read_text(encoding="utf-8")).values():
            parts = [*r.get("CONTEXTS", []), r.get("LONG_ANSWER", "")]
            out.append((r.get("QUESTION", ""), "\n".join(p for p in parts if p)))
    return out


def test_sentence_scan_finds_what_a_search_of_every_sentence_finds() -> None:
    """The no-time-point cues are looked for once per abstract, at their heads: the same
    matches as the pattern run on each sentence (pins the head lists)."""
    from monitor.classify import core
    from monitor.classify import followup as fu
    from monitor.classify.fastre import lower

    extra = [("", "Short- and long-term results. Mortality, in-hospital and at discharge: "
                  "pre/post-test; Kaplan-Meier; may be unclear. Little is known."),
             ("Title? Long-term follow-up", "ÉTUDE: İstanbul long-term outcomes were assessed.")]
    pairs = [
        (core._LONG_TERM_STATEMENT, core._LONG_TERM_HEADS),
        (core._BEFORE_AFTER_ONLY, core._BEFORE_AFTER_HEADS),
        (core._OVER_TIME, core._OVER_TIME_HEADS),
        (core._SHORT_TERM, core._SHORT_TERM_HEADS),
        (core._BACKGROUND, core._BACKGROUND_HEADS),
    ]
    for title, abstract in [*_eval_texts(), *extra]:
        sents = fu.sentences_of(title, abstract)
        scan = core._SentenceScan(sents, lower(f"{title}\n{abstract}")[len(title) + 1:])
        for pattern, heads in pairs:
            got = [[m.span() for m in ms] for ms in scan.finditer(pattern, heads)]
            want = [[m.span() for m in pattern.finditer(s.low)] for s in sents]
            assert got == want, (pattern.pattern[:40], title)


def test_gated_context_patterns_find_what_the_plain_patterns_find() -> None:
    """Each gate only skips searches that cannot match: compare with the plain pattern on
    the left and right windows of every number in the eval abstracts, and on made-up ones."""
    import re

    from monitor.classify import followup as fu

    gated = {n: g for n, g in vars(fu).items() if isinstance(g, fu._Gated)}
    assert len(gated) >= 10
    windows = [
        "history of 5", "since 3", "patients > 65", "children younger than", "trained for",
        "training period of", "half-life of", "door-to-needle time of", "mice were kept for",
        "within the first", "in the past", "during the first", "interval of", "(range", "iqr ",
        "median survival was", "time to death was", "re-assessed after", "every two weeks for",
        "icu stay of", "aged", "of gestation", "post-conception", "confidence interval",
    ]
    for title, abstract in _eval_texts():
        low = f"{title}\n{abstract}".lower()
        for m in re.finditer(r"\d+|\b(?:one|two|six|twelve)\b", low):
            windows.append(low[max(0, m.start() - 120): m.start()])
            windows.append(low[m.end(): m.end() + 100])
    for name, g in gated.items():
        for w in windows:
            a, b = g.search(w), g.pattern.search(w)
            assert (a and a.span()) == (b and b.span()), (name, w)


@pytest.mark.parametrize(
    "sentence",
    [
        "Pain fell at 24 H and 24 h; 3 DAYS, Six Months and 2 D later; twelve weeks.",
        "After 3 dayſ and \u017fix years; 5 \u212aeeks; \u0130n 2 YEARS; 1, 3 and 6 months.",
        "Follow-up was 2.6 \u00b1 1.6 years (range 1-5 years); a year; an hour later.",
    ],
)
def test_quantity_prefilter_keeps_every_match(sentence: str) -> None:
    from monitor.classify import followup as fu
    from monitor.classify.fastre import lower, match_at

    low = lower(sentence)
    starts = list(range(len(sentence)))
    got = [m.span() for m in fu._qty_matches(sentence, low, starts)]
    assert got == [m.span() for m in match_at(fu.QTY_RE, sentence, starts)]
    assert got


@pytest.mark.parametrize(
    "abstract",
    [
        "ΟΔΟΣ. AΣΟΦΙΑ ΟΔΟΣ\nΣΟΦΟΣ ΟΔΟΣ.\" AΣ! BΣ. CΣΣ (ΣΑ). DΣ'. EΣ) FΣ 5 ΟΔΟΣ? 1ΣΤΑΣ\n\nΚΑΣ.",
        "İstanbul cohort. Patients were followed for 5 YEARS. \u212a and \u017f stay.",
    ],
)
def test_sentences_are_lower_cased_as_each_sentence_alone(abstract: str) -> None:
    """Sentences take their lower-case text from the lower-cased abstract (one call): the
    same as lower-casing each sentence, final sigma included."""
    from monitor.classify import followup as fu
    from monitor.classify.fastre import lower

    for s in fu.sentences_of("Title", abstract):
        assert s.low == lower(s.text)


@pytest.mark.parametrize(
    ("text", "weeks"),
    [
        ("Patients were followed for years and tend to relapse.", None),  # not "ten d(ays)"
        ("Wounds were assessed at 10 d and again at 48h.", 1.4),
        ("Pain was scored at 7-d follow-up.", 1.0),
    ],
)
def test_single_letter_units_only_follow_a_number_not_a_word(text: str, weeks: float | None) -> None:
    result = classify("A study", text)
    assert result.longest_followup_weeks == weeks


def test_a_population_statistic_in_the_background_is_not_follow_up() -> None:
    """LABELING.md: follow-up is when the study assessed outcomes in its own subjects."""
    background = ("BACKGROUND: The persistently low 5-year survival rate for pancreatic cancer "
                  "underscores the need for early detection. METHODS: We searched five databases "
                  "and included 12 studies of detection models.")
    result = classify("Detection models for pancreatic cancer: a systematic review", background,
                      publication_types=["Systematic Review"])
    assert result.longest_followup_weeks is None and result.long_term == "unclear"
    # The same statistic reported for the study's own patients is follow-up.
    own = ("We treated 120 patients with resected pancreatic cancer. "
           "The 5-year survival rate was 21% in the treated group.")
    assert classify("Adjuvant therapy in pancreatic cancer", own).long_term == "yes"


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("We compared expenditures 4 years post-implementation of the programme.", 208.7),
        ("Readmissions were counted 18 months post implementation.", 78.2),
    ],
)
def test_time_after_the_start_of_an_intervention_is_follow_up(sentence: str,
                                                              expected: float) -> None:
    """LABELING.md counts from the start of the intervention: "N years post-implementation"."""
    assert weeks(sentence) == pytest.approx(expected, abs=0.15)


def test_subsequent_analyses_are_not_a_later_time() -> None:
    """'subsequent analyses' is a step of the statistics; it does not make a one-visit
    genotype comparison a study of outcomes over time."""
    text = ("Eighty patients and 80 healthy controls were genotyped. Groups differed in age, so "
            "subsequent analyses were adjusted for age. The C allele was associated with disease.")
    assert classify("", text).long_term == "no"
    # a later event in the subjects still counts as evidence of outcomes over time
    later = ("Eighty patients were genotyped. Subsequent admissions for heart failure were "
             "recorded.  The C allele was associated with admission.")
    assert classify("", later).long_term == "unclear"


def test_case_control_without_outcomes_over_time_is_no() -> None:
    """LABELING.md: a study with no follow-up of its subjects is 'no'; a case-control (or
    case-referent) comparison looks back on exposure, unless it tells of outcomes over time."""
    text = ("A case-referent analysis of death records was performed. Persons with diabetes "
            "as a cause of death were cases; decedents without it were referents. Glass workers "
            "had a slightly raised odds ratio.")
    c = classify("", text, mesh=["Cause of Death", "Humans"])
    assert (c.design, c.long_term) == ("case-control", "no")
    # a survival heading, or outcomes over time in the text, keep it open
    assert classify("", text, mesh=["Survival Analysis", "Humans"]).long_term == "unclear"
    later = text + " Recurrence was recorded at follow-up visits."
    assert classify("", later, mesh=["Humans"]).long_term == "unclear"


def test_broad_mesh_headings_alone_do_not_make_a_study_unclear() -> None:
    """'Follow-Up Studies', 'Incidence' and 'Prognosis' are given to many records with no
    follow-up of their own (a single postoperative X-ray, one platelet count before a
    transfusion; PubMedQA 17192736, 18435678): alone they leave a record with no time point
    'no'. Beside other evidence of outcomes over time they still count."""
    text = ("One hundred and ten patients underwent ureteroscopic stone removal without "
            "fluoroscopy. A postoperative X-ray documented stone clearance in 99 patients.")
    for mesh in (["Follow-Up Studies"], ["Incidence", "Prognosis"],
                 ["Follow-Up Studies", "Incidence", "Prognosis"]):
        assert classify("", text, mesh=mesh + ["Humans"]).long_term == "no", mesh
    # a heading that says the subjects were followed still decides alone
    assert classify("", text, mesh=["Humans", "Longitudinal Studies"]).long_term == "unclear"
    # a broad heading beside over-time words of the text adds to them
    later = text + " Stone recurrence was recorded."
    assert classify("", later, mesh=["Follow-Up Studies", "Humans"]).long_term == "unclear"
    # a weak word of the text ('developed') and a broad heading agreeing: kept open
    developed = text + " Four patients developed strictures."
    assert classify("", developed, mesh=["Humans", "Prognosis"]).long_term == "unclear"
    assert classify("", developed, mesh=["Humans"]).long_term == "no"


def test_how_long_an_effect_lasted_is_a_time_point() -> None:
    """'The effect persisted for six months' is the question litmon exists to answer: an
    outcome assessed six months on (LABELING.md). How long the treatment lasted, or something
    kept up on purpose, is not."""
    title = "Whole-body cryotherapy in multiple sclerosis"
    mesh = ["Humans", "Multiple Sclerosis"]
    for text, weeks in [
        ("Fatigue improved after the 2-week course; the effect persisted for six months.", 26.1),
        ("Fatigue fell after 10 sessions and the improvement persisted for 6 months.", 26.1),
        ("The benefit was maintained for 12 months.", 52.1),
        ("After the procedure, patients remained asymptomatic for 3 to 24 months.", 104.3),
    ]:
        c = classify(title, text, mesh=mesh)
        assert (c.long_term, c.longest_followup_weeks) == ("yes", weeks), (text, c.reason)
        assert c.time_points[-1].kind == "outcome-period", text
    # the treatment's own length stays a treatment length
    c = classify(title, "The WBC treatment lasted for 2 weeks.", mesh=mesh)
    assert (c.long_term, c.longest_followup_weeks, c.time_points[0].kind) == ("no", 2.0, "treatment")
    # kept on a drug, kept in hospital: not an outcome that lasted
    for text in ("Patients were maintained on interferon for 6 months.",
                 "Patients remained in hospital for 12 days."):
        assert classify(title, text, mesh=mesh).longest_followup_weeks is None, text
    # a session's length is not a time point at all
    assert classify(title, "Each session lasted for 3 minutes at -110 C.",
                    mesh=mesh).longest_followup_weeks is None


def test_a_year_and_half_a_year_are_time_points() -> None:
    """'after a year' was read as a quantity and then dropped: its number, 'a', could not be
    read on its own. 'half a year' is half of it, not a whole year."""
    for text, weeks in [
        ("Fatigue was reassessed after a year.", 52.2),
        ("Patients were seen a year later.", 52.2),
        ("A decade later, 40% had died.", 521.8),
        ("Patients were re-examined half a year after the cryotherapy cycle.", 26.1),
        ("Half a year later, three patients had relapsed.", 26.1),
        ("Patients were seen after one and a half years.", 78.3),
    ]:
        c = classify("", text, mesh=["Humans"])
        assert c.longest_followup_weeks == weeks, (text, c.reason)
    c = classify("", "Patients were re-examined half a year after the cycle.", mesh=["Humans"])
    assert c.time_points[0].phrase.startswith("half a year")
    # "behalf" is not "half"
    assert classify("", "On behalf a year later was written.").longest_followup_weeks == 52.2


def test_the_length_of_a_trial_before_a_comma() -> None:
    """PMID 29768149 (NEJM 2018): 'We conducted a 52-week, double-blind trial' was found
    without a time point, because of the comma; without it, it was read."""
    for text, weeks in [
        ("We conducted a 52-week, double-blind trial involving patients 12 years of age or "
         "older with mild asthma.", 52.0),
        ("A 6-month, open-label, randomized controlled trial of WBC.", 26.1),
        ("This 12-week, multicentre, phase 3 study enrolled 300 patients.", 12.0),
    ]:
        c = classify("", text, mesh=["Humans"])
        assert (c.longest_followup_weeks, c.time_points[0].kind) == (weeks, "treatment"), text
    # a clause after the comma is not the trial's design
    c = classify("", "Patients were followed for 6 months, trial staff called them.", mesh=["Humans"])
    assert c.time_points[0].kind == "follow-up"
