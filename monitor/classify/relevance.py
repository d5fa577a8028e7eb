"""Is a record about whole-body cryotherapy, another cold treatment, or neither?"""

from __future__ import annotations

from .fastre import Headed, lower

# Matched on lower-cased text, tried only where one of the listed heads occurs (fastre).
_WBC = Headed(
    r"\bwhole[- ]?body[- ]cryo\w*|\bwhole[- ]body cold (?:therapy|exposure|chamber)"
    r"|\bcryo-?chambers?\b|\bcryo-?saunas?\b|\bcryo-?cabins?\b|\bpartial[- ]body cryo\w*"
    r"|\bsystemic cryo(?:therapy|stimulation)\b|\bcryostimulation\b|\bwb-?ct?\b(?=[^.]{0,80}cryo)",
    ("whole", "cryo", "partial", "systemic", "wb"),
)
# -100 degC or colder, written with a hyphen, minus sign or en dash: "-110 °C", "−120°C".
_EXTREME_COLD = Headed(
    r"(?:[-\u2212\u2013]\s?|minus\s)(?:1[0-9]\d|2\d\d)\s?(?:°|º|degrees?\s?)?\s?c\b",
    ("-", "\u2212", "\u2013", "minus"),
)
_CRYO_WORD = Headed(r"\bcryo\w*|\bcold\b|\bchamber\b", ("cryo", "cold", "chamber"))

_OTHER = (
    (Headed(r"\bcryo-?ablation\b|\bcryo-?surg\w*|\bcryo-?probe|\bcryo-?balloon|\bcryo-?therapy of "
            r"(?:the )?(?:cervix|lesions?|warts?)|\bcryo-?biops\w*", ("cryo",)),
     "cryoablation/cryosurgery (tissue destruction), not whole-body cryotherapy"),
    (Headed(r"\bcool(?:ing)?[- ](?:garments?|vests?|suits?|caps?|helmets?|collars?|jackets?|"
            r"devices?|therapy)\b|\bcooling\b(?=[^.]{0,40}\b(?:vest|garment|suit))|\bpre-?cooling\b",
            ("cool", "pre")),
     "cooling garment/vest, not whole-body cryotherapy"),
    (Headed(r"\bcold[- ]water (?:immersion|bath\w*|swim\w*)|\bice[- ]?baths?\b|\bcold "
            r"(?:baths?|showers?|plunges?)\b|\bwinter swimm\w*|\bcwi\b",
            ("cold", "ice", "winter", "cwi")),
     "cold-water immersion, not whole-body cryotherapy"),
    (Headed(r"\blocal(?:i[sz]ed)? cryo\w*|\bice[- ]?(?:packs?|massage|bags?|application)|\bcold[- ]"
            r"(?:packs?|compress\w*|application|spray)|\bcryo-?cuff|\bcold air (?:therapy|"
            r"application)|\bcryotherapy\b", ("local", "ice", "cold", "cryo")),
     "local cryotherapy (ice packs, cold packs), not whole-body"),
    (Headed(r"\b(?:cool|cold) (?:room|environment)\b|\bambient temperature of 1\d\s?°",
            ("cool", "cold", "ambient")),
     "exercise or exposure in a cool room, not whole-body cryotherapy"),
    (Headed(r"\b(?:therapeutic|induced|mild|moderate) hypothermia\b|\bhypothermic\b|\btargeted "
            r"temperature management\b|\bscalp cooling\b|\bcold (?:stress|exposure|acclimat\w*)\b|"
            r"\bcold (?:cardiopulmonary bypass|cpb)\b",
            ("therapeutic", "induced", "mild", "moderate", "hypothermic", "targeted", "scalp",
             "cold")),
     "therapeutic hypothermia/cold exposure, not whole-body cryotherapy"),
)


_KEYS = ("cryo", "cold", "ice", "cool", "hypotherm", "wbc", "wb-c", "immersion", "chamber", "sauna",
         "°", "º", "degrees", "temperature")
# the same without the non-ASCII ones, for ASCII text (str.isascii is a flag, not a scan)
_ASCII_KEYS = tuple(k for k in _KEYS if k.isascii())


def relevance_of(
    text: str, low: str | None = None, firsts: set[str] | None = None
) -> tuple[str, str | None]:
    """('whole-body-cryotherapy' | 'other-cold-treatment' | 'not-about-cold', note).

    ``low``: ``text`` lower-cased (fastre.lower), ``firsts``:
    ``fastre.first3s(fastre.words_of(low))``, when at hand. Every branch of the patterns
    but _EXTREME_COLD begins with \\b before a letter, so their heads may be gated by it."""
    if low is None:
        low = lower(text)
    if not any(k in low for k in (_ASCII_KEYS if low.isascii() else _KEYS)):
        return "not-about-cold", None
    if _WBC.found(low, firsts):
        return "whole-body-cryotherapy", None
    if _CRYO_WORD.found(low, firsts) and _EXTREME_COLD.found(low):  # (the rarer first)
        return "whole-body-cryotherapy", "exposure at -100 °C or colder"
    for pattern, note in _OTHER:
        if pattern.found(low, firsts):
            return "other-cold-treatment", note
    return "not-about-cold", None
