"""The JSONL contract behind `litmon classify`."""

from __future__ import annotations

import io
import json

import pytest

from monitor.classify.jsonl import classify_jsonl


def run(text: str, **kw: float) -> list[dict]:
    out = io.StringIO()
    n = classify_jsonl(io.StringIO(text), out, **kw)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(rows)
    return rows


def test_round_trip_keeps_id_and_adds_fields() -> None:
    lines = [
        {"id": "a1", "title": "T", "abstract": "Patients were followed for 2 years.",
         "mesh": ["Humans"], "publication_types": ["Journal Article"]},
        {"id": 7, "title": "Survey", "abstract": "A cross-sectional survey of 100 nurses."},
    ]
    rows = run("\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert [r["id"] for r in rows] == ["a1", 7]
    assert rows[0]["long_term"] == "yes" and rows[0]["longest_followup_weeks"] == 104.4
    assert rows[0]["evidence"] == "Patients were followed for 2 years."
    assert rows[1]["long_term"] == "no" and rows[1]["design"] == "cross-sectional"
    assert list(rows[0])[:4] == ["id", "long_term", "longest_followup_weeks", "evidence"]


def test_threshold_is_passed_through() -> None:
    line = json.dumps({"id": 1, "title": "", "abstract": "Assessed at 3 months."})
    assert run(line, threshold_weeks=12)[0]["long_term"] == "yes"
    assert run(line)[0]["long_term"] == "no"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"title": "x", "abstract": "y"}', "'id'"),
        ('{"id": 1, "title": 3, "abstract": "y"}', "'title' must be a string"),
        ('{"id": 1, "title": "x", "abstract": "y", "mesh": "Humans"}', "'mesh'"),
        ('{"id": 1, "title": "", "abstract": ""}', "neither title nor abstract"),
    ],
)
def test_bad_line_names_line_number(bad: str, message: str) -> None:
    good = json.dumps({"id": 0, "title": "ok", "abstract": "fine"})
    with pytest.raises(ValueError) as exc:
        run(good + "\n" + bad + "\n")
    assert "line 2" in str(exc.value)
    assert message in str(exc.value)
