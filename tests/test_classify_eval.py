"""The bars the classifier must stay above on the labelled sets in tests/data/eval."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _scorer():
    spec = importlib.util.spec_from_file_location(
        "eval_classifier", REPO / "benchmarks" / "eval_classifier.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("eval_classifier", mod)
    spec.loader.exec_module(mod)
    return mod


# (set, records, floors: accuracy of long_term, F1 of yes, follow-up within tolerance)
SETS = [
    # The development set of the project brief; the bars.
    ("dev", 100, (0.92, 0.90, 0.85)),
    # 60 records labelled by LABELING.md before the classifier was run on them. First scoring
    # 0.833 / 0.889 / 0.842; after general rule fixes only 0.933 / 0.923 / 0.842. The floors
    # sit a little below, to catch regressions on unseen records.
    ("heldout", 60, (0.88, 0.85, 0.78)),
    # 40 further records (random.Random(20261126) sample of PQA-L records in neither set
    # above), labelled before the classifier was run on them. First scoring (classifier 1.2.0)
    # 0.800 / 0.933 / 0.889; after rule-level fixes (post-implementation times, 'subsequent
    # analyses', case-control with no outcomes over time) 0.875 / 1.000 / 1.000. The floors sit
    # at the final score, so that any regression on these records shows.
    ("fresh", 40, (0.875, 1.0, 1.0)),
    # 50 more (random.Random(20261204) sample of PQA-L records in none of the sets above),
    # labelled blind (by a labeller who never ran or read the classifier). First scoring
    # (classifier 1.3.0) 0.800 / 0.952 / 0.923; after one rule-level fix (broad MeSH headings
    # never decide 'unclear' alone; 11 of the 1,000 PQA-L verdicts changed) 0.860 / 0.952 /
    # 0.923. The floors sit at the final score.
    ("fresh2", 50, (0.86, 0.952, 0.923)),
]


@pytest.mark.parametrize(("name", "n", "floors"), SETS, ids=[s[0] for s in SETS])
def test_labelled_set_meets_its_bars(name: str, n: int, floors: tuple[float, float, float]) -> None:
    ev = _scorer()
    data = REPO / "tests" / "data" / "eval"
    res = ev.evaluate(data / f"{name}-labels.tsv", data / f"{name}-abstracts.json")
    assert res.n == n
    report = res.report()
    assert res.accuracy >= floors[0], report
    assert res.f1_yes >= floors[1], report
    assert res.followup_within_tolerance >= floors[2], report


def test_scorer_counts_misses() -> None:
    ev = _scorer()
    from monitor.classify import classify

    c = classify("", "Patients were followed for 2 years.")
    res = ev.score([
        (ev.Label("1", "yes", 104.4, ""), c),
        (ev.Label("2", "no", 4.0, ""), c),
    ])
    assert res.accuracy == 0.5
    assert res.precision_yes == 0.5 and res.recall_yes == 1.0
    assert res.followup_within_tolerance == 0.5
    assert [m.pmid for m in res.misses] == ["2"]
    assert ev.within_tolerance(10.5, 10.0) and ev.within_tolerance(110.0, 100.0)
    assert not ev.within_tolerance(None, 3.0) and not ev.within_tolerance(12.0, 10.0)
