"""Rule-based classifier: does a study look at long-term outcomes? Plus a study profile.

Pure functions, no model files: regular expressions and the small outcome-domain vocabulary
in domains.toml. The rule implemented is tests/data/eval/LABELING.md.
"""

from .core import (
    CLASSIFIER_VERSION,
    Classification,
    TimePoint,
    classify,
    classify_article,
)

__all__ = ["CLASSIFIER_VERSION", "Classification", "TimePoint", "classify", "classify_article"]
