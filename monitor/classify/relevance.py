"""Is a record about whole-body cryotherapy, another cold treatment, or neither?"""

from __future__ import annotations

import re

_I = re.IGNORECASE

_WBC = re.compile(
    r"\bwhole[- ]?body[- ]cryo\w*|\bwhole[- ]body cold (?:therapy|exposure|chamber)"
    r"|\bcryo-?chambers?\b|\bcryo-?saunas?\b|\bcryo-?cabins?\b|\bpartial[- ]body cryo\w*"
    r"|\bsystemic cryo(?:therapy|stimulation)\b|\bcryostimulation\b|\bWB-?CT?\b(?=[^.]{0,80}cryo)",
    _I,
)
# -100 degC or colder, written with a hyphen, minus sign or en dash: "-110 °C", "−120°C".
_EXTREME_COLD = re.compile(r"(?:[-\u2212\u2013]\s?|minus\s)(?:1[0-9]\d|2\d\d)\s?(?:°|º|degrees?\s?)?\s?C\b", _I)
_CRYO_WORD = re.compile(r"\bcryo\w*|\bcold\b|\bchamber\b", _I)

_OTHER = (
    (re.compile(r"\bcryo-?ablation\b|\bcryo-?surg\w*|\bcryo-?probe|\bcryo-?balloon|\bcryo-?therapy of (?:the )?(?:cervix|lesions?|warts?)|\bcryo-?biops\w*", _I),
     "cryoablation/cryosurgery (tissue destruction), not whole-body cryotherapy"),
    (re.compile(r"\bcool(?:ing)?[- ](?:garments?|vests?|suits?|caps?|helmets?|collars?|jackets?|devices?|therapy)\b|\bcooling\b(?=[^.]{0,40}\b(?:vest|garment|suit))|\bpre-?cooling\b", _I),
     "cooling garment/vest, not whole-body cryotherapy"),
    (re.compile(r"\bcold[- ]water (?:immersion|bath\w*|swim\w*)|\bice[- ]?baths?\b|\bcold (?:baths?|showers?|plunges?)\b|\bwinter swimm\w*|\bCWI\b", _I),
     "cold-water immersion, not whole-body cryotherapy"),
    (re.compile(r"\blocal(?:i[sz]ed)? cryo\w*|\bice[- ]?(?:packs?|massage|bags?|application)|\bcold[- ](?:packs?|compress\w*|application|spray)|\bcryo-?cuff|\bcold air (?:therapy|application)|\bcryotherapy\b", _I),
     "local cryotherapy (ice packs, cold packs), not whole-body"),
    (re.compile(r"\b(?:cool|cold) (?:room|environment)\b|\bambient temperature of 1\d\s?°", _I),
     "exercise or exposure in a cool room, not whole-body cryotherapy"),
    (re.compile(r"\b(?:therapeutic|induced|mild|moderate) hypothermia\b|\bhypothermic\b|\btargeted temperature management\b|\bscalp cooling\b|\bcold (?:stress|exposure|acclimat\w*)\b|\bcold (?:cardiopulmonary bypass|CPB)\b", _I),
     "therapeutic hypothermia/cold exposure, not whole-body cryotherapy"),
)


_KEYS = ("cryo", "cold", "ice", "cool", "hypotherm", "wbc", "wb-c", "immersion", "chamber", "sauna",
         "°", "º", "degrees", "temperature")


def relevance_of(text: str) -> tuple[str, str | None]:
    """('whole-body-cryotherapy' | 'other-cold-treatment' | 'not-about-cold', note)."""
    low = text.lower()
    if not any(k in low for k in _KEYS):
        return "not-about-cold", None
    if _WBC.search(text):
        return "whole-body-cryotherapy", None
    if _EXTREME_COLD.search(text) and _CRYO_WORD.search(text):
        return "whole-body-cryotherapy", "exposure at -100 °C or colder"
    for pattern, note in _OTHER:
        if pattern.search(text):
            return "other-cold-treatment", note
    return "not-about-cold", None
