"""Score the long-term classifier against a labelled set (default: tests/data/eval).

    python benchmarks/eval_classifier.py [--labels TSV] [--abstracts JSON] [--threshold-weeks 26]

Prints accuracy of long_term, precision/recall/F1 of "yes", the share of follow-up numbers
within tolerance (10 % or 1 week, whichever is larger) over labelled records that have a
number, a confusion matrix and the list of misses. ``evaluate()`` is the importable scorer.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.classify import Classification, classify  # noqa: E402

DEFAULT_LABELS = ROOT / "tests" / "data" / "eval" / "dev-labels.tsv"
DEFAULT_ABSTRACTS = ROOT / "tests" / "data" / "eval" / "dev-abstracts.json"
VERDICTS = ("yes", "no", "unclear")


@dataclass(frozen=True)
class Record:
    pmid: str
    title: str
    abstract: str
    mesh: tuple[str, ...]


@dataclass(frozen=True)
class Label:
    pmid: str
    long_term: str
    weeks: float | None
    basis: str


@dataclass(frozen=True)
class Miss:
    pmid: str
    label: str
    got: str
    label_weeks: float | None
    got_weeks: float | None
    evidence: str | None
    reason: str


@dataclass
class EvalResult:
    n: int
    accuracy: float
    precision_yes: float
    recall_yes: float
    f1_yes: float
    followup_within_tolerance: float  # share over labelled records with a number
    followup_n: int
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> got -> count
    misses: list[Miss] = field(default_factory=list)  # verdict misses
    number_misses: list[Miss] = field(default_factory=list)

    def report(self) -> str:
        lines = [
            f"records: {self.n}",
            f"accuracy(long_term): {self.accuracy:.3f}",
            f"yes: precision {self.precision_yes:.3f}  recall {self.recall_yes:.3f}  "
            f"F1 {self.f1_yes:.3f}",
            f"follow-up within tolerance: {self.followup_within_tolerance:.3f} "
            f"({self.followup_n} labelled records with a number)",
            "",
            "confusion (rows = label, columns = classifier):",
            "         " + "".join(f"{v:>9}" for v in VERDICTS),
        ]
        for lab in VERDICTS:
            row = self.confusion.get(lab, {})
            lines.append(f"{lab:>9}" + "".join(f"{row.get(v, 0):>9}" for v in VERDICTS))
        lines.append("")
        lines.append(f"verdict misses ({len(self.misses)}):")
        for m in self.misses:
            lines.append(f"  {m.pmid}  label={m.label} got={m.got}  weeks {m.label_weeks} vs "
                         f"{m.got_weeks}  [{m.reason}]  evidence: {m.evidence}")
        lines.append(f"follow-up number misses ({len(self.number_misses)}):")
        for m in self.number_misses:
            lines.append(f"  {m.pmid}  label={m.label_weeks} got={m.got_weeks}  [{m.reason}]")
        return "\n".join(lines)


def load_records(path: Path) -> dict[str, Record]:
    """PubMedQA records: title = QUESTION, abstract = CONTEXTS + LONG_ANSWER, mesh = MESHES."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for pmid, r in data.items():
        parts = list(r.get("CONTEXTS", []))
        if r.get("LONG_ANSWER"):
            parts.append(r["LONG_ANSWER"])
        out[str(pmid)] = Record(str(pmid), r.get("QUESTION", ""), "\n".join(parts),
                                tuple(r.get("MESHES", [])))
    return out


def load_labels(path: Path) -> list[Label]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    labels = []
    for r in rows:
        w = (r.get("longest_followup_weeks") or "").strip()
        lt = r["long_term"].strip()
        if lt not in VERDICTS:
            raise ValueError(f"{path}: pmid {r['pmid']}: bad long_term {lt!r}")
        labels.append(Label(r["pmid"].strip(), lt, float(w) if w else None,
                            r.get("basis", "")))
    return labels


def within_tolerance(got: float | None, want: float) -> bool:
    if got is None:
        return False
    return abs(got - want) <= max(0.10 * want, 1.0)


def score(pairs: Iterable[tuple[Label, Classification]]) -> EvalResult:
    """Score classifier outputs against labels."""
    pairs = list(pairs)
    confusion: dict[str, dict[str, int]] = {v: {w: 0 for w in VERDICTS} for v in VERDICTS}
    misses: list[Miss] = []
    number_misses: list[Miss] = []
    correct = tp = fp = fn = 0
    fu_n = fu_ok = 0
    for lab, c in pairs:
        confusion[lab.long_term][c.long_term] += 1
        miss = Miss(lab.pmid, lab.long_term, c.long_term, lab.weeks,
                    c.longest_followup_weeks, c.evidence, c.reason)
        if lab.long_term == c.long_term:
            correct += 1
        else:
            misses.append(miss)
        if c.long_term == "yes" and lab.long_term == "yes":
            tp += 1
        elif c.long_term == "yes":
            fp += 1
        elif lab.long_term == "yes":
            fn += 1
        if lab.weeks is not None:
            fu_n += 1
            if within_tolerance(c.longest_followup_weeks, lab.weeks):
                fu_ok += 1
            else:
                number_misses.append(miss)
    n = len(pairs)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return EvalResult(
        n=n,
        accuracy=correct / n if n else 0.0,
        precision_yes=prec,
        recall_yes=rec,
        f1_yes=f1,
        followup_within_tolerance=fu_ok / fu_n if fu_n else 0.0,
        followup_n=fu_n,
        confusion=confusion,
        misses=misses,
        number_misses=number_misses,
    )


def evaluate(
    labels: Path = DEFAULT_LABELS,
    abstracts: Path = DEFAULT_ABSTRACTS,
    threshold_weeks: float = 26.0,
) -> EvalResult:
    """Classify every labelled record and score the verdicts and follow-up numbers."""
    records = load_records(abstracts)
    pairs = []
    for lab in load_labels(labels):
        rec = records.get(lab.pmid)
        if rec is None:
            raise ValueError(f"{abstracts}: no record for labelled pmid {lab.pmid}")
        pairs.append((lab, classify(rec.title, rec.abstract, rec.mesh,
                                    threshold_weeks=threshold_weeks)))
    return score(pairs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    ap.add_argument("--abstracts", type=Path, default=DEFAULT_ABSTRACTS)
    ap.add_argument("--threshold-weeks", type=float, default=26.0)
    args = ap.parse_args(argv)
    print(evaluate(args.labels, args.abstracts, args.threshold_weeks).report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
