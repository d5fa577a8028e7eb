"""The CLI contract: classify a JSON-lines file of records into a JSON-lines file.

In, one object a line: {"id", "title", "abstract"} plus optional "mesh": [...] and
"publication_types": [...]. Out, one object a line: the id, then long_term,
longest_followup_weeks, evidence and the rest of Classification.to_json().
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from .core import classify


def _str_list(obj: dict[str, Any], key: str, lineno: int) -> list[str]:
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"line {lineno}: {key!r} must be a list of strings")
    return value


def classify_jsonl(inp: TextIO, out: TextIO, threshold_weeks: float = 26.0) -> int:
    """Classify every record of ``inp`` into ``out``; returns the number written.

    Blank lines are skipped. A line that is not a JSON object, lacks "id", or has a
    title/abstract that is not a string raises ValueError naming the line number.
    """
    written = 0
    for lineno, line in enumerate(inp, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
        if "id" not in obj or obj["id"] is None or isinstance(obj["id"], (dict, list)):
            raise ValueError(f"line {lineno}: missing or invalid 'id'")
        fields: dict[str, str] = {}
        for key in ("title", "abstract"):
            value = obj.get(key, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise ValueError(f"line {lineno}: {key!r} must be a string")
            fields[key] = value
        if not fields["title"].strip() and not fields["abstract"].strip():
            raise ValueError(f"line {lineno}: record {obj['id']!r} has neither title nor abstract")
        result = classify(
            fields["title"],
            fields["abstract"],
            mesh=_str_list(obj, "mesh", lineno),
            publication_types=_str_list(obj, "publication_types", lineno),
            threshold_weeks=threshold_weeks,
        )
        record: dict[str, Any] = {"id": obj["id"]}
        record.update(result.to_json())
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    return written
