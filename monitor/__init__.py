"""litmon: watch PubMed for new studies, keep them, judge their follow-up, tell people."""

__version__ = "0.1.0"
