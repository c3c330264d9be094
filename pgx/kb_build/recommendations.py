"""Build the ``drugs`` and ``recommendations`` KB tables from CPIC and DPWG.

Sources (paths relative to the sources directory, see ``../shared/data/README.md``):
``cpic/recommendation.json``, ``drug.json``, ``guideline.json``, ``pair_view.json``;
for guidelines the current export has no rows for (ondansetron, tropisetron),
``cpic/cpic-v1.30/<drug>.json``; and the DPWG guideline annotations
``cpic/dpwg/DPWG_<drug>_and_<GENE>.json`` (read by :mod:`pgx.kb_build.dpwg`, rows with
``source`` ``DPWG``; their key normalisation is documented there).

What carries over is facts: the lookup keys (CPIC's verbatim), population,
classification, drug, guideline and publications. The guidelines' sentences do not:
each row's free text (DPWG: its HTML reduced to plain text) is reduced to structured
facts (:func:`extract_facts`) by a short, ordered, gene- and source-agnostic rule set,
and the row's ``text`` is written by :func:`render_text` from those facts alone, citing
the source (``(CPIC, Strong)``, ``(DPWG)``, ``(DPWG, No recommendation)``).

Action rules (:func:`classify_action`), first match wins:

1. classification "No Recommendation" (CPIC) / "No recommendation" (DPWG), or a text
   that opens with "no recommendation" / "no action recommended" / "n/a" / "the
   guideline does not provide a recommendation" -> ``no_recommendation``.
2. Otherwise the sentences are read in order; the first sentence with a cue decides.
   Skipped: sentences about the first, initial or loading dose only, and sentences
   that only say what cannot be said ("It is not possible to ...", "There are no
   data ..."); a sentence is cut where it starts reporting evidence ("in one study",
   "tolerated", "the average dose", "is a factor of", ...). Of each sentence only the
   main clause counts: a leading "If ..., " / "If ...: " condition and a leading label
   ending in a colon ("IMMUNOSUPPRESSION:", "For PAIN:") are dropped, unless the label
   holds a cue itself ("Do not exceed the following doses:"). The cues are tried in
   this order:
   a. "start with the normal/standard dose" -> ``standard_dose``
   b. "no reason/need to avoid", "no indication to change", "no action is needed/
      required" -> ``standard_dose``
   c. "avoid(ed)" (not "avoid ... inhibitors", which is about co-medication),
      "not recommended", "contra(-)indicated", "do not use", "should not be used"
      -> ``use_alternative`` when the text offers another drug or an alternative
      (or a later sentence says to use/choose/select something without naming the
      drug), else ``avoid``. "X is not an alternative" offers nothing.
   d. a sentence that opens with choose/select/use/prescribe/recommend + "alternative",
      or "in lieu of" / "instead of" -> ``use_alternative``
   e. a stated reduction (percentages, "reduced/decreased/lower ... dose", "lowest
      starting dose", "half the dose", an upper dose limit such as "<= 20 mg", "no more
      than", "do not exceed", "-fold") -> ``reduce_dose``
   f. a stated increase ("increase/raise ... dose", "higher dose", "N to M times",
      "N times the dose", "double the dose", "N-fold higher dose", "Nx higher",
      "dose increase") -> ``increase_dose``
   g. "alternative", "another", "not metabolized/metabolised by", "consider ... such as"
      -> ``consider_alternative``
   h. "caution", "cautiously", "carefully", "be (extra) alert" -> ``monitor``
   i. standard/usual/recommended/label/desired ... dose (not "the recommended dose is
      400 mg"), "according to the label" -> ``standard_dose``
   j. "monitor", "drug monitoring", "plasma concentration", "trough" -> ``monitor``
3. No sentence decided: a text that asks for further testing (enzyme activity, further
   testing, "must be measured", "determine the ... activity") -> ``no_recommendation``.
4. Fallback -> ``monitor`` (rule ``fallback``); :func:`summarize_actions` lists these.

``dose_factor`` is the dose change the text states, as a multiple of the dose it names
(usual starting, lowest starting, maintenance or maximum dose): "reduce by 50%" -> 0.5,
"25% reduction" -> 0.75, "50% of the starting dose" -> 0.5, "increase by 100%" -> 2.0,
"10-fold" reduction -> 0.1, "1.5 to 2 times" -> 1.75, "half the dose" -> 0.5, "double
the dose" -> 2.0, "3-fold higher dose" -> 3.0, "increase to 150% of the dose" -> 1.5,
"2/3rd of the dose" -> 0.6667. A stated range takes its **midpoint** ("30-80% of the
starting dose" -> 0.55; "increase by 50-100%" -> 1.75); the generated text states the
whole range. A change stated as a limit ("no more than", "do not exceed") is a cap and
the text says "no more than". The first dose change the text states is taken, even when
it is conditional (the "if the drug is used anyway" part of an avoid row, or the
long-term part of a standard-dose row); ``action`` says which advice comes first.
Percentages relative to another metabolizer group ("compared to poor metabolizers",
"higher for PM than for NM") and those in reported evidence are not dose factors.

``alternatives`` are known drug names (the substances of ``drug.json`` and the DPWG
drugs; not drug classes), other than the drug itself, found (whole word,
case-insensitive, not as "non-<name>") in sentences that offer a choice (alternative,
instead, include, such as, "not metabolised/influenced by", "to a lesser extent", or
use/choose/select/prescribe/consider/switch to <name>), that do not say to avoid, and
that do not name drugs as unsuitable ("X is not an alternative", "do not select X");
example lists of interacting drugs ("CYP3A4 inhibitors such as ...") are skipped.
A drug absent from those names (prasugrel, ticagrelor, febuxostat, ...) is not listed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.kb_build import dpwg
from pgx.schema import ACTIONS, KB_TABLES

CPIC_DIR = "cpic"
CPIC_FILES = ("recommendation.json", "drug.json", "guideline.json", "pair_view.json")
LEGACY_DIR = "cpic-v1.30"
SOURCE = "CPIC"
STRENGTHS = ("Strong", "Moderate", "Optional", "No Recommendation")

# --- structured facts --------------------------------------------------------------------


@dataclass(frozen=True)
class DoseChange:
    """A stated dose change: ``low``..``high`` times the dose named by ``target``."""

    low: float
    high: float
    #: "usual dose" | "usual starting dose" | "lowest usual starting dose" | "usual maintenance dose"
    #: | "usual maximum dose"
    target: str = "usual dose"
    cap: bool = False  # an upper limit ("no more than", "do not exceed"), not a target

    @property
    def factor(self) -> float:
        """The single number stored in the KB: the midpoint of a stated range."""
        return round((self.low + self.high) / 2, 4)


@dataclass(frozen=True)
class Facts:
    """What one recommendation says, in structured form."""

    action: str
    rule: str  # the rule that decided the action (for the audit)
    dose: DoseChange | None = None
    dose_limit: str = ""  # "20 mg" (an upper limit) or "lowest" (lowest usual starting dose)
    alternatives: tuple[str, ...] = ()
    monitoring: str = ""  # "" | "levels" (drug levels guide dosing) | "clinical"
    other_option: bool = False  # another drug is mentioned as a second option
    testing: bool = False  # further testing is asked for
    fallback_direction: str = ""  # "higher" | "lower": dose if an avoided drug is used anyway


# --- text helpers ------------------------------------------------------------------------

_ABBREVIATIONS = {"e.g.": "eg", "i.e.": "ie", "vs.": "vs", "approx.": "approx"}


def split_sentences(text: str) -> list[str]:
    """Sentences and ``;``-separated clauses of ``text`` (abbreviations kept whole)."""
    for abbr, plain in _ABBREVIATIONS.items():
        text = re.sub(re.escape(abbr), plain, text, flags=re.IGNORECASE)
    parts = re.split(r"(?<=[.;!?])\s+|;\s*", text.replace("\n", " "))
    return [p.strip() for p in parts if p.strip()]


def main_clause(sentence: str) -> str:
    """``sentence`` without its leading condition or label.

    Removed: a ``Based on X status,`` prefix; a leading ``If ...,`` or ``If ...:``
    condition (up to the first comma or colon); then a leading label ending in a colon
    (``IMMUNOSUPPRESSION:``, ``For PAIN:``, ``Patient has ... risk factors:``) unless
    the label itself holds a cue (``Do not exceed the following doses:``).
    """
    s = re.sub(r"^based on [\w-]+(?: status| genotype)?,\s*", "", sentence.strip(), flags=re.IGNORECASE)
    if re.match(r"if\b", s, re.IGNORECASE) and ("," in s or ":" in s):
        cut = min(i for i in (s.find(","), s.find(":")) if i >= 0)
        s = s[cut + 1 :].strip()
    while ":" in s:
        label, rest = s.split(":", 1)
        if not rest.strip() or any(p.search(label) for _, _, p in SENTENCE_RULES):
            break
        s = rest.strip()
    return s


_NEGATED_ALTERNATIVE = re.compile(
    r"alternatives?(?: \w+){0,2} (?:is|are) not (?:available|considered|suitable|an option|possible)\b[^.;,]*"
    r"|\black of [\w ]{0,40}?alternative[\w ]*"
    r"|\b(?:is|are) (?:therefore )?(?:also )?not (?:an? |a suitable |suitable )?alternatives?\b"
    r"|\bnot suitable as alternatives?\b",
    re.IGNORECASE,
)


def _without_negated_alternatives(text: str) -> str:
    """``text`` minus phrases saying alternatives are unavailable or unsuitable."""
    return _NEGATED_ALTERNATIVE.sub(" ", text)


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


_NUM = r"\d+(?:\.\d+)?"
_PCT = rf"(?P<lo>{_NUM})\s*%?(?:\s*(?:-|–|to)\s*(?P<hi>{_NUM}))?\s*%"
_DOSE_WORD = r"dos(?:e|es|ing|age)\b"

_NO_REC_TEXT = _rx(
    r"^\s*(?:no recommendation|no action recommended|n/a\s*$|the guideline does not provide a recommendation)"
)
_NOT_AVOID = _rx(
    r"\bno (?:reason|need) to avoid\b|\bno indication to change\b|\bno action (?:is )?(?:needed|required)\b"
)
_START_STANDARD = _rx(r"^(?:start|begin) (?:with|at) (?:the )?(?:normal|standard|usual) (?:initial |starting )?dose\b")
_AVOID = _rx(
    r"\bavoid(?:ed)?\b(?![^.;]*\binhibitors?\b)|\bnot recommended\b|\bcontra-?indicated\b|\bdo not use\b"
    r"|\bshould not be used\b"
)
_ALT_DIRECTIVE = _rx(r"^(?:choose|select|use|prescribe|recommend|switch to)\b[^.;]*\balternat")
_INSTEAD = _rx(r"\bin lieu of\b|\binstead of\b")
_REDUCE = _rx(
    rf"{_PCT}\s*(?:reduction|lower|less|decrease)\b|\b(?:reduc|decreas)\w*\b[^.;]*?\b{_DOSE_WORD}"
    rf"|\blower\b[^.;]*?\b{_DOSE_WORD}|\blowest (?:recommended )?starting dose|(?:≤|<=|<)\s*{_NUM}\s*mg"
    rf"|\blimit (?:the )?dose|\d+-fold\b(?!\s+higher)"
    rf"|\b{_NUM}\s*%?(?:\s*(?:-|–|to)\s*{_NUM})?\s*% of (?:the )?[\w -]{{0,40}}?\b{_DOSE_WORD}"
    rf"|\bhalf (?:of )?the\b[^.;]*?\b{_DOSE_WORD}|\bdo not (?:give |use |administer )?(?:\w+ )?exceed\w*|\bno more than\b"
)
_INCREASE = _rx(
    rf"\b(?:increas|rais)\w*\b[^.;]*?\b{_DOSE_WORD}|\bhigher\b[^.;]*?\b{_DOSE_WORD}"
    rf"|\b{_NUM}\s*(?:-|to)\s*{_NUM}\s*times\b"
    rf"|\b(?:double|triple)\b[^.;]*?\b{_DOSE_WORD}|\b{_NUM}\s*(?:times|x)\s+(?:the\s+)?(?:[\w-]+\s+){{0,3}}?{_DOSE_WORD}"
    rf"|\b{_NUM}-fold higher (?:[\w-]+ ){{0,2}}?{_DOSE_WORD}|\b{_DOSE_WORD}[^.;]{{0,20}}?{_NUM}x higher\b|\bdose increase\b"
)
_CONSIDER_ALT = _rx(
    r"\balternat\w*|\banother\b|\bnot (?:\w+ )?(?:metaboli[sz]ed by|dependent on)\b|^consider\b[^.;]*\bsuch as\b"
)
_CAUTION = _rx(r"\bcaution\w*|\bcautious\w*|\bcarefully\b|\bbe (?:extra )?alert\b")
_STANDARD = _rx(
    rf"\b(?:standard|usual|typical|normal|label[- ]recommended|recommended|desired)\b[\w /-]{{0,30}}?\b{_DOSE_WORD}"
    rf"(?!\w* is \d)|\baccording to the (?:product )?label\b"
)
_MONITOR = _rx(r"\bmonitor\w*|\bplasma concentration|\btrough\b")
_FIRST_DOSE_ONLY = _rx(r"^(?:for )?(?:the )?(?:first|initial|loading) dose\b")
#: sentences that say what cannot be said: they never decide
_NON_DECIDING = _rx(
    r"^it is not possible to\b|^there (?:is|are) (?:insufficient|no) (?:\w+ ){0,2}?(?:data|information|evidence)\b"
    r"|^in \d+ (?:[a-z]{2} )?(?:patients|adults|children)\b"
)
#: evidence reported from here to the end of the sentence (a study, a case, a comparison of exposure)
_EVIDENCE = _rx(
    r"\b(?:in|from) (?:a|one) study\b|\bstud(?:y|ies) (?:involving|have|has|found)\b|\btolerated\b|\baverage dose\b"
    r"|\bwas sufficient\b|\bwere achieved\b|\bpharmacokinetic model\b|\bis a factor of\b"
)


def advice_part(sentence: str) -> str:
    """``sentence`` up to where it starts reporting evidence; empty for a non-deciding sentence."""
    if _FIRST_DOSE_ONLY.search(sentence) or _NON_DECIDING.search(sentence):
        return ""
    m = _EVIDENCE.search(sentence)
    return sentence[: m.start()].strip() if m else sentence


def advice(text: str) -> str:
    """The advice of ``text``: every sentence cut by :func:`advice_part`, rejoined."""
    return " ".join(p for p in (advice_part(s) for s in split_sentences(text)) if p)
_TESTING = _rx(
    r"\b(?:enzyme|erythrocyte) activity\b|\bfurther (?:genetic )?testing\b|\bmust be measured\b"
    r"|\bdetermine the (?:residual )?\w+ activity\b"
)
_LEVELS = _rx(r"therapeutic (?:drug|dose) monitoring|plasma concentration|\btrough\b|drug levels?")
_ALT_OFFER = _rx(
    r"\balternat\w*|\banother\b|\binstead\b|\bin lieu\b|\bnot (?:\w+ )?(?:metaboli[sz]ed by|dependent on)\b"
    r"|\bnon-[\w-]+ (?:opioid|drug|agent|analgesic)s?\b"
)
_USE_DIRECTIVE = _rx(r"(?:use|choose|select|prescribe|switch to)\b")
_CHOICE = _rx(
    r"\balternat\w*|\binstead\b|\bin lieu\b|\binclude[sd]?\b|\bsuch as\b"
    r"|\bnot (?:\w+ )?(?:metaboli[sz]ed|influenced)\b|\bhardly if at all metaboli[sz]ed\b|\bto a lesser extent\b"
)
#: a sentence that names drugs as unsuitable: they are not offered
_NOT_OFFERED = _rx(
    r"\bdo not (?:select|choose|use|prescribe|give)\b|\bnot (?:an? |a suitable |suitable )?alternatives?\b"
    r"|\bnot suitable as alternatives?\b"
)
#: an example list of interacting drugs ("CYP3A4 inhibitors such as x, y"): not offered either
_INTERACTING_LIST = _rx(
    r"\b(?:inhibitors?|inducers?),?\s*(?:\(?\s*(?:such as|for example|eg|like|including)\b|:|\()[^.;)]*"
)
_CHOICE_VERB = r"\b(?:use|choose|select|prescribe|consider|switch(?:ing)? to)\s+"

#: ordered sentence rules: (rule name, action, pattern); "avoid" is resolved later
SENTENCE_RULES: tuple[tuple[str, str, re.Pattern], ...] = (
    ("start_standard", "standard_dose", _START_STANDARD),
    ("not_avoid", "standard_dose", _NOT_AVOID),
    ("avoid", "avoid", _AVOID),
    ("alternative_directive", "use_alternative", _ALT_DIRECTIVE),
    ("instead", "use_alternative", _INSTEAD),
    ("reduce", "reduce_dose", _REDUCE),
    ("increase", "increase_dose", _INCREASE),
    ("consider_alternative", "consider_alternative", _CONSIDER_ALT),
    ("caution", "monitor", _CAUTION),
    ("standard", "standard_dose", _STANDARD),
    ("monitor", "monitor", _MONITOR),
)


def classify_action(text: str, classification: str, offers_alternative: bool) -> tuple[str, str]:
    """``(action, rule)`` for one recommendation text (see the module docstring)."""
    if (classification or "").strip().lower() == "no recommendation" or _NO_REC_TEXT.search(text):
        return "no_recommendation", "no_recommendation"
    for sentence in split_sentences(text):
        sentence = advice_part(sentence)
        if not sentence:
            continue  # a loading dose, a gap in the evidence or a study result decides nothing
        clause = _without_negated_alternatives(main_clause(sentence))
        for rule, action, pattern in SENTENCE_RULES:
            if pattern.search(clause):
                if action == "avoid" and offers_alternative:
                    return "use_alternative", "avoid_with_alternative"
                return action, rule
    if _TESTING.search(text):
        return "no_recommendation", "testing"
    return "monitor", "fallback"


def offers_alternative(text: str, drug: str, alternatives: Sequence[str]) -> bool:
    """Whether ``text`` offers something instead of ``drug``.

    True when it names another drug, speaks of an alternative (negations removed), or a
    later sentence tells to use/choose/select/prescribe something without naming ``drug``.
    """
    if alternatives or _ALT_OFFER.search(_without_negated_alternatives(text)):
        return True
    own = re.compile(rf"(?<![\w-]){re.escape(drug)}(?![\w-])", re.IGNORECASE)
    return any(
        _USE_DIRECTIVE.match(main_clause(s)) and not own.search(s) for s in split_sentences(text)[1:]
    )


# --- dose changes ------------------------------------------------------------------------


def _pct_range(m: re.Match) -> tuple[float, float]:
    lo = float(m.group("lo"))
    hi = float(m.group("hi")) if m.group("hi") else lo
    return min(lo, hi) / 100, max(lo, hi) / 100


_DOSE_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("reduce_by", _rx(rf"\b(?:reduc|decreas|lower)\w*\s+(?:[\w-]+\s+){{0,4}}?by\s+{_PCT}")),
    ("pct_less", _rx(rf"{_PCT}\s*(?:reduction|lower|less|decrease)\b")),
    ("increase_by", _rx(rf"\b(?:increas|rais)\w*\s+(?:[\w-]+\s+){{0,4}}?by\s+{_PCT}")),
    ("pct_more", _rx(rf"{_PCT}\s*(?:higher|increase)\b")),
    ("pct_of", _rx(rf"{_PCT}\s+of\s+(?:the\s+)?[\w -]{{0,40}}?\b{_DOSE_WORD}")),
    ("fold", _rx(r"\b(?:reduc|decreas)\w*[^.;%]{0,30}?\bby\s+(?P<lo>\d+)-fold")),
    ("times", _rx(rf"(?P<lo>{_NUM})\s*(?:(?:-|to)\s*(?P<hi>{_NUM})\s*)?times\b[^.;]{{0,30}}?\b{_DOSE_WORD}")),
    ("double", _rx(rf"\bdouble (?:the )?(?:[\w-]+ ){{0,2}}?{_DOSE_WORD}")),
    ("half", _rx(rf"\bhalf (?:of )?the (?:[\w-]+ ){{0,2}}?{_DOSE_WORD}")),
    ("fold_up", _rx(rf"(?P<lo>{_NUM})-fold higher (?:[\w-]+ ){{0,2}}?{_DOSE_WORD}")),
    ("x_higher", _rx(rf"\b{_DOSE_WORD}[^.;]{{0,20}}?(?P<lo>{_NUM})x higher\b")),
    ("increase_to", _rx(rf"\bincreas\w*\s+(?:the\s+)?(?:[\w-]+\s+){{0,2}}?to\s+{_PCT}\s+of\b")),
    ("factor", _rx(rf"\bby a factor of (?P<lo>{_NUM})(?:\s*(?:-|–|to)\s*(?P<hi>{_NUM}))?")),
    ("fraction", _rx(rf"\b(?P<n>\d)/(?P<d>\d)(?:rd|th|nd|st)? of (?:the )?(?:[\w-]+ ){{0,2}}?{_DOSE_WORD}")),
)
_OTHER_GROUP = _rx(
    r"\bcompared to (?:\w+ )?(?:poor|intermediate|rapid|ultrarapid) metabolizers\b"
    r"|\b(?:higher|lower) for (?:PM|IM|UM|NM|EM)s?\b|\bthan (?:for |in )?(?:PM|IM|UM|NM|EM)s?\b"
)
_CAPPING = _rx(r"\bno more than\b|\bnot (?:\w+ )?exceed|\bexceeding\b|\bmaximum\b|\bup to\b")


def _dose_target(context: str, matched: str = "") -> str:
    """Which dose a stated change refers to, from the words around it (``maximum`` only within it)."""
    c = context.lower()
    if "maintenance" in c:
        return "usual maintenance dose"
    if "maximum" in matched.lower():
        return "usual maximum dose"
    if "lowest" in c:
        return "lowest usual starting dose"
    if "starting" in c or "initiat" in c or "initial" in c:
        return "usual starting dose"
    return "usual dose"


def _as_factors(kind: str, m: re.Match) -> tuple[float, float] | None:
    """The stated change as (low, high) multiples of the reference dose."""
    if kind == "fold":
        return 1 / float(m.group("lo")), 1 / float(m.group("lo"))
    if kind == "double":
        return 2.0, 2.0
    if kind == "half":
        return 0.5, 0.5
    if kind == "fraction":
        value = int(m.group("n")) / int(m.group("d"))
        return (value, value) if 0 < value < 1 else None
    if kind in ("fold_up", "x_higher", "factor", "times"):
        lo = float(m.group("lo"))
        hi = float(m.groupdict().get("hi") or lo)
        return (lo, hi) if lo > 0 else None
    lo, hi = _pct_range(m)
    if kind == "increase_to":
        return (lo, hi) if lo > 1 else None
    if kind in ("reduce_by", "pct_less"):
        return (1 - hi, 1 - lo) if hi < 1 else None
    if kind in ("increase_by", "pct_more"):
        return 1 + lo, 1 + hi
    return (lo, hi) if hi < 1 else None  # pct_of: "100% of" is no change


def parse_dose_change(text: str) -> DoseChange | None:
    """The first dose change ``text`` states (sentence order, then position), if any."""
    for sentence in split_sentences(text):
        sentence = advice_part(sentence) if not _FIRST_DOSE_ONLY.search(sentence) else sentence
        if _OTHER_GROUP.search(sentence) or not sentence:
            continue
        found = []
        for kind, pattern in _DOSE_PATTERNS:
            for m in pattern.finditer(sentence):
                factors = _as_factors(kind, m)
                if factors:
                    before = sentence[max(0, m.start() - 60) : m.start()]
                    context = sentence[max(0, m.start() - 40) : m.end() + 40]
                    found.append((m.start(), factors, context, before, m.group(0)))
        if found:
            _, (lo, hi), context, before, matched = min(found, key=lambda f: f[0])
            cap = bool(_CAPPING.search(before))
            return DoseChange(round(lo, 4), round(hi, 4), _dose_target(context, matched), cap)
    return None


_CAP = _rx(
    rf"(?:≤|<=|<|\bno more than|\bexceeding|\bnot exceed)\s*(?P<n>{_NUM})\s*mg(?P<day>\s*(?:per day|/day|a day))?"
)


def parse_dose_limit(text: str) -> str:
    """An upper starting-dose limit (``"20 mg"``) or ``"lowest"``; ``""`` when none is stated."""
    first = split_sentences(text)[0] if text.strip() else ""
    if m := _CAP.search(first):
        return f"{m.group('n')} mg" + (" a day" if m.group("day") else "")
    if re.search(r"\blowest (?:recommended )?starting dose", first, re.IGNORECASE):
        return "lowest"
    return ""


# --- alternatives ------------------------------------------------------------------------


def is_substance(drug: dict) -> bool:
    """True for a single drug in ``drug.json``; False for a class (ATC group, MeSH group)."""
    if str(drug.get("drugid", "")).split(":")[0] in ("RxNorm", "Drugbank"):
        return True
    return any(len(code) == 7 for code in drug.get("atcid") or [])


def drug_name_pattern(names: Iterable[str]) -> re.Pattern:
    """One regex matching any of ``names`` as a whole word, not preceded by ``non-``."""
    alts = "|".join(re.escape(n) for n in sorted(set(names), key=lambda n: (-len(n), n)))
    return re.compile(rf"(?<![\w-])(?<!non-)({alts})(?![\w-])", re.IGNORECASE)


def find_alternatives(text: str, drug: str, names: re.Pattern, canonical: dict[str, str]) -> tuple[str, ...]:
    """Other drugs ``text`` offers instead of ``drug`` (sorted, canonical names)."""
    found: set[str] = set()
    for sentence in split_sentences(text):
        if _AVOID.search(sentence) or _NOT_OFFERED.search(sentence):
            continue
        sentence = _INTERACTING_LIST.sub(" ", sentence)
        offered = _CHOICE.search(sentence) or re.search(_CHOICE_VERB + names.pattern, sentence, re.IGNORECASE)
        if not offered:
            continue
        for m in names.finditer(sentence):
            name = canonical[m.group(1).lower()]
            if name.lower() != drug.lower():
                found.add(name)
    return tuple(sorted(found))


# --- facts -------------------------------------------------------------------------------


def monitoring_kind(text: str) -> str:
    """``levels`` when drug levels should guide dosing, ``clinical`` for other monitoring."""
    text = advice(text)
    if _LEVELS.search(text):
        return "levels"
    if _MONITOR.search(text):
        return "clinical"
    return ""


def extract_facts(text: str, classification: str, drug: str, names: re.Pattern, canonical: dict[str, str]) -> Facts:
    """Structured facts of one CPIC recommendation text."""
    alternatives = find_alternatives(text, drug, names, canonical)
    action, rule = classify_action(text, classification, offers_alternative(text, drug, alternatives))
    if action == "no_recommendation":
        return Facts(action, rule, testing=bool(_TESTING.search(text)))
    other = action in ("reduce_dose", "increase_dose", "monitor") and bool(
        _CONSIDER_ALT.search(_without_negated_alternatives(text))
    )
    dose = parse_dose_change(text)
    return Facts(
        action=action,
        rule=rule,
        dose=dose,
        dose_limit=parse_dose_limit(text) if action == "reduce_dose" else "",
        alternatives=alternatives,
        monitoring=monitoring_kind(text),
        other_option=other,
        fallback_direction=fallback_direction(text) if action in FALLBACK_ACTIONS and dose is None else "",
        testing=bool(_TESTING.search(text)),
    )


#: actions after which the text may say what to do if the drug is used anyway
FALLBACK_ACTIONS = ("avoid", "use_alternative", "consider_alternative")


_CONDITIONAL = _rx(r"^(?:if|when|in the event|in case|otherwise|should|note)\b")


def fallback_direction(text: str) -> str:
    """``higher`` / ``lower`` when a text that advises against the drug still gives a dose direction.

    Only later sentences that are conditions on using the drug anyway count (``If ...``,
    ``When ...``, ``In the event ...``, ``Otherwise ...``), not notes on titration or risk.
    """
    sentences = split_sentences(text)
    first_or = sentences[0].split(" or ", 1)[1] if sentences and " or " in sentences[0] else ""
    later = " ".join([first_or] + [s for s in sentences[1:] if _CONDITIONAL.match(s)])
    if _INCREASE.search(later):
        return "higher"
    if _REDUCE.search(later):
        return "lower"
    return ""


def strength_of(classification: str | None, source: str = SOURCE) -> str:
    """The classification as the KB ``strength``.

    CPIC: ``Strong``/``Moderate``/``Optional``/``No Recommendation``; ``n/a`` and
    unknown -> empty. DPWG has no strength grades: its classification term is kept as
    written (``N/A``, ``No recommendation``), empty when the file has none.
    """
    c = (classification or "").strip()
    if source != SOURCE:
        return c
    return c if c in STRENGTHS else ""


# --- our words ---------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{round(x * 100, 1):g}"


def dose_phrase(d: DoseChange) -> str:
    """``about 50% of the usual starting dose``, ``1.5 to 2 times the usual dose``."""
    if d.low >= 1:
        amount = f"about {d.low:g} times" if d.low == d.high else f"{d.low:g} to {d.high:g} times"
    else:
        amount = f"about {_pct(d.low)}% of" if d.low == d.high else f"{_pct(d.low)} to {_pct(d.high)}% of"
    return ("no more than " if d.cap else "") + f"{amount} the {d.target}"


def _join_names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _main_sentence(drug: str, f: Facts, source: str = SOURCE) -> str:
    """The first sentence of the text: what to do."""
    alts = f", e.g. {_join_names(f.alternatives)}," if f.alternatives else ""
    if f.action == "standard_dose":
        return f"Use {drug} at the usual dose"
    if f.action == "reduce_dose":
        if f.dose:
            verb = "Give" if "maintenance" in f.dose.target or f.dose.cap else "Start"
            return f"{verb} {drug} at {dose_phrase(f.dose)}"
        if f.dose_limit == "lowest":
            return f"Start {drug} at the lowest usual starting dose"
        if f.dose_limit:
            return f"Start {drug} at no more than {f.dose_limit}"
        return f"Start {drug} at a lower dose than usual"
    if f.action == "increase_dose":
        if f.dose and f.dose.cap:
            return f"Expect {drug} to need a higher dose than usual, at {dose_phrase(f.dose)}"
        return f"Give {drug} at {dose_phrase(f.dose)}" if f.dose else f"Expect {drug} to need a higher dose than usual"
    if f.action == "use_alternative":
        return f"Choose another drug{alts} instead of {drug}" if alts else f"Choose a drug other than {drug}"
    if f.action == "consider_alternative":
        return f"Consider another drug{alts} instead of {drug}" if alts else f"Consider a drug other than {drug}"
    if f.action == "avoid":
        return f"Avoid {drug}"
    if f.action == "monitor" and f.rule == "caution":
        return f"Use {drug} only with caution and close follow-up"
    if f.action == "monitor":
        return f"Use {drug} with close monitoring" + (", guided by drug levels" if f.monitoring == "levels" else "")
    return f"{source} makes no genotype-based recommendation for {drug} with this result"


def _extra_sentences(drug: str, f: Facts) -> list[str]:
    """Secondary facts: a dose if the drug is used anyway, monitoring, testing."""
    levels = "let drug levels guide the dose"
    if f.action in FALLBACK_ACTIONS:
        how = []
        if f.dose:
            how.append(f"give {dose_phrase(f.dose)}")
        elif f.fallback_direction:
            how.append(f"expect to need a {f.fallback_direction} dose than usual")
        if f.monitoring == "levels":
            how.append(levels)
        elif f.monitoring == "clinical":
            how.append("monitor closely")
        out = [f"If {drug} is used anyway, {' and '.join(how)}"] if how else []
        return out + (["The guideline suggests further testing"] if f.testing and f.action == "avoid" else [])
    extra = []
    if f.dose and f.action in ("standard_dose", "monitor"):
        extra.append(f"In some situations the guideline gives {dose_phrase(f.dose)} instead")
    if f.other_option:
        extra.append("A different drug is another option")
    if f.monitoring == "levels" and f.action != "monitor":
        extra.append(levels[0].upper() + levels[1:])
    elif f.monitoring == "clinical" and f.action != "monitor":
        extra.append("Watch response and side effects closely")
    if f.testing:
        extra.append("The guideline suggests further testing")
    return extra


def render_text(drug: str, facts: Facts, strength: str, source: str = SOURCE) -> str:
    """A short recommendation in our own words, from ``facts`` only, citing the source."""
    parts = [_main_sentence(drug, facts, source), *_extra_sentences(drug, facts)]
    cite = f"({source}, {strength})" if strength and strength != "N/A" else f"({source})"
    return " ".join(f"{p}." for p in parts[:-1] + [f"{parts[-1]} {cite}"])


# --- reading CPIC ------------------------------------------------------------------------


@dataclass
class CpicExport:
    """The four CPIC API tables, indexed as the build needs them."""

    recommendations: list[dict]
    drugs: dict[str, dict]  # drugid -> drug
    guidelines: dict[int, dict]  # id -> guideline
    pairs: list[dict]
    paths: list[Path] = field(default_factory=list)

    @property
    def guidelines_by_name(self) -> dict[str, dict]:
        return {g["name"]: g for g in self.guidelines.values()}


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise KnowledgeBaseError(f"source file {path} is missing; is --sources pointing at the shared data?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(f"{path} is not valid JSON: {exc}") from exc


def read_cpic(sources: Path) -> CpicExport:
    """Read the CPIC API tables under ``sources/cpic``."""
    paths = [Path(sources) / CPIC_DIR / name for name in CPIC_FILES]
    recs, drugs, guidelines, pairs = (_read_json(p) for p in paths)
    return CpicExport(
        recommendations=recs,
        drugs={d["drugid"]: d for d in drugs},
        guidelines={g["id"]: g for g in guidelines},
        pairs=pairs,
        paths=paths,
    )


def guideline_pmids(guideline: dict | None) -> str:
    """The guideline's publications as ``;``-joined PMIDs, oldest first."""
    pubs = (guideline or {}).get("publication") or []
    ordered = sorted(pubs, key=lambda p: (p.get("year") or 0, str(p.get("pmid"))))
    return ";".join(str(p["pmid"]) for p in ordered if p.get("pmid"))


def lookup_key_string(lookupkey: dict[str, str]) -> str:
    """``GENE=key;GENE=key`` with genes sorted; CPIC's keys verbatim."""
    for gene, key in lookupkey.items():
        if any(c in f"{gene}{key}" for c in ";="):
            raise KnowledgeBaseError(f"lookup key {gene}={key!r} contains ';' or '='")
    return ";".join(f"{g}={lookupkey[g]}" for g in sorted(lookupkey))


@dataclass(frozen=True)
class SourceRow:
    """One CPIC recommendation, whichever file it came from."""

    recommendation_id: str
    drug: str
    lookupkey: dict
    population: str
    classification: str
    text: str
    guideline: dict
    source: str = SOURCE


def current_rows(cpic: CpicExport, genes: Sequence[str]) -> list[SourceRow]:
    """Rows of ``recommendation.json`` whose lookup key involves one of ``genes``."""
    wanted = set(genes)
    rows = []
    for r in cpic.recommendations:
        if not wanted & set(r["lookupkey"]):
            continue
        drug = cpic.drugs.get(r["drugid"])
        guideline = cpic.guidelines.get(r["guidelineid"])
        if drug is None or guideline is None:
            raise KnowledgeBaseError(f"CPIC recommendation {r['id']} names unknown drug {r['drugid']} or guideline")
        rows.append(_source_row(f"CPIC:{r['id']}", drug["name"], r, guideline))
    return rows


def _source_row(rid: str, drug: str, r: dict, guideline: dict) -> SourceRow:
    return SourceRow(
        recommendation_id=rid,
        drug=drug,
        lookupkey=r["lookupkey"],
        population=(r.get("population") or "").strip(),
        classification=r.get("classification") or "",
        text=r.get("drugrecommendation") or "",
        guideline=guideline,
    )


def legacy_rows(sources: Path, cpic: CpicExport, genes: Sequence[str]) -> tuple[list[SourceRow], list[Path]]:
    """Rows from ``cpic/cpic-v1.30/*.json`` for drugs the current export lacks.

    Used only when the file's genes meet ``genes`` (CYP2D6 for ondansetron and
    tropisetron). Ids are ``CPIC:<drug>:v1.30:<n>`` (the old files carry no row ids);
    the guideline is taken from ``guideline.json`` by name when it is there.
    """
    folder = Path(sources) / CPIC_DIR / LEGACY_DIR
    current = {cpic.drugs[r["drugid"]]["name"] for r in cpic.recommendations if r["drugid"] in cpic.drugs}
    rows, used = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        doc = _read_json(path)
        if not set(genes) & set(doc.get("genes") or []) or doc["drugname"] in current:
            continue
        guideline = cpic.guidelines_by_name.get(doc["guidelinename"]) or {
            "name": doc["guidelinename"],
            "url": doc.get("url") or "",
            "publication": doc.get("citations") or [],
        }
        version = str(doc.get("cpicVersion", "")).lstrip("v").rsplit(".", 1)[0]
        for n, r in enumerate(doc["recommendations"], start=1):
            rows.append(_source_row(f"CPIC:{doc['drugname']}:v{version}:{n:02d}", doc["drugname"], r, guideline))
        used.append(path)
    return rows, used


# --- tables ------------------------------------------------------------------------------


def recommendation_record(row: SourceRow, names: re.Pattern, canonical: dict[str, str]) -> dict:
    """One ``recommendations`` row (KB column order, strings) plus the facts under ``_facts``."""
    facts = extract_facts(row.text, row.classification, row.drug, names, canonical)
    strength = strength_of(row.classification, row.source)
    return {
        "recommendation_id": row.recommendation_id,
        "source": row.source,
        "drug": row.drug,
        "genes": ";".join(sorted(row.lookupkey)),
        "lookup_key": lookup_key_string(row.lookupkey),
        "population": row.population,
        "action": facts.action,
        "dose_factor": facts.dose.factor if facts.dose else None,
        "alternatives": ";".join(facts.alternatives),
        "strength": strength,
        "text": render_text(row.drug, facts, strength, row.source),
        "guideline": row.guideline.get("name") or "",
        "url": row.guideline.get("url") or "",
        "pmid": guideline_pmids(row.guideline),
        "_facts": facts,
    }


def drug_names(cpic: CpicExport, extra: Iterable[str] = ()) -> tuple[re.Pattern, dict[str, str]]:
    """A whole-word pattern over every known substance name, and lower-case -> canonical name.

    Known names: the substances of CPIC's ``drug.json`` plus ``extra`` (the DPWG drugs).
    """
    canonical = {d["name"].lower(): d["name"] for d in cpic.drugs.values() if is_substance(d)}
    for name in extra:
        canonical.setdefault(name.lower(), name)
    return drug_name_pattern(canonical.values()), canonical


def recommendations_frame(records: list[dict]) -> pd.DataFrame:
    """The ``recommendations`` table: KB columns, sorted; strings, except ``dose_factor``.

    ``dose_factor`` is a float (NaN when unknown, rounded to 4 places) because the KB
    writer spells every ``Float64`` cell itself and writes a missing one as empty.
    """
    cols = list(KB_TABLES["recommendations"])
    df = pd.DataFrame([{c: r[c] for c in cols} for r in records], columns=cols)
    text_cols = [c for c in cols if c != "dose_factor"]
    df[text_cols] = df[text_cols].astype(str)
    df["dose_factor"] = df["dose_factor"].astype("float64")
    order = ["source", "drug", "lookup_key", "population", "recommendation_id"]
    return df.sort_values(order, kind="stable").reset_index(drop=True)


def drugs_frame(cpic: CpicExport, genes: Sequence[str], rec_drugs: set[str]) -> pd.DataFrame:
    """The CPIC part of the ``drugs`` table (see :func:`cpic_drug_rows`)."""
    return _drugs_table(cpic_drug_rows(cpic, genes, rec_drugs))


def cpic_drug_rows(cpic: CpicExport, genes: Sequence[str], rec_drugs: set[str]) -> list[dict]:
    """One ``drugs`` row per CPIC gene-drug pair for ``genes`` or a drug with CPIC rows."""
    by_name = cpic.guidelines_by_name
    rows = []
    for p in cpic.pairs:
        if p["genesymbol"] not in genes and p["drugname"] not in rec_drugs:
            continue
        guideline = by_name.get(p.get("guidelinename") or "")
        rows.append(
            {
                "source": SOURCE,
                "drug": p["drugname"],
                "drug_id": p["drugid"],
                "gene": p["genesymbol"],
                "cpic_level": p.get("cpiclevel") or "",
                "guideline": (guideline or {}).get("name") or p.get("guidelinename") or "",
                "url": (guideline or {}).get("url") or p.get("guidelineurl") or "",
                "pmid": guideline_pmids(guideline),
            }
        )
    return rows


def dpwg_drug_rows(guidelines: Sequence[dpwg.DpwgGuideline], cpic: CpicExport) -> list[dict]:
    """One ``drugs`` row per DPWG file (drug-gene pair); DPWG has no levels (``cpic_level`` empty)."""
    return [
        {
            "source": dpwg.SOURCE,
            "drug": g.drug,
            "drug_id": dpwg.drug_id(g, cpic.drugs),
            "gene": g.gene,
            "cpic_level": "",
            "guideline": g.guideline["name"],
            "url": g.guideline["url"],
            "pmid": guideline_pmids(g.guideline),
        }
        for g in guidelines
    ]


def _drugs_table(rows: list[dict]) -> pd.DataFrame:
    cols = list(KB_TABLES["drugs"])
    df = pd.DataFrame(rows, columns=cols).astype(str)
    df = df.sort_values(["source", "drug", "gene", "drug_id"], kind="stable").reset_index(drop=True)
    dup = df.duplicated(["source", "drug", "gene"], keep=False)
    if dup.any():
        twice = df.loc[dup, ["source", "drug", "gene"]].values.tolist()
        raise KnowledgeBaseError(f"a guideline source lists a drug-gene pair twice: {twice}")
    return df


@dataclass
class Build:
    """Everything one build read and made: records (with ``_facts``), sources, files."""

    records: list[dict]
    cpic: CpicExport
    dpwg: list
    paths: list[Path]


def build_all(sources: Path, genes: Sequence[str]) -> Build:
    """Every CPIC and DPWG recommendation record for ``genes``, and the files read."""
    cpic = read_cpic(sources)
    guidelines = dpwg.read_dpwg(sources, genes)
    names, canonical = drug_names(cpic, extra=[g.drug for g in guidelines])
    old, old_paths = legacy_rows(sources, cpic, genes)
    rows = current_rows(cpic, genes) + old + dpwg.dpwg_rows(guidelines, SourceRow)
    records = [recommendation_record(r, names, canonical) for r in rows]
    ids = Counter(r["recommendation_id"] for r in records)
    if any(n > 1 for n in ids.values()):
        raise KnowledgeBaseError(f"duplicate recommendation ids: {[i for i, n in ids.items() if n > 1][:5]}")
    return Build(records, cpic, guidelines, cpic.paths + old_paths + [g.path for g in guidelines])


def build_records(sources: Path, genes: Sequence[str]) -> tuple[list[dict], CpicExport, list[Path]]:
    """Every recommendation record (with ``_facts``) for ``genes``, the CPIC export, and the files read."""
    b = build_all(sources, genes)
    return b.records, b.cpic, b.paths


def build_recommendation_tables(sources: Path, genes: Sequence[str]) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """``{"drugs": df, "recommendations": df}`` for ``genes`` and the source files read.

    Both frames have exactly the ``KB_TABLES`` columns as strings (empty string =
    unknown), except ``recommendations.dose_factor``: float, NaN when unknown.
    """
    b = build_all(Path(sources), tuple(genes))
    unknown = sorted({r["action"] for r in b.records} - set(ACTIONS))
    if unknown:
        raise KnowledgeBaseError(f"unknown actions {unknown}")
    recs = recommendations_frame(b.records)
    cpic_drugs = set(recs.loc[recs["source"] == SOURCE, "drug"])
    drugs = _drugs_table(cpic_drug_rows(b.cpic, tuple(genes), cpic_drugs) + dpwg_drug_rows(b.dpwg, b.cpic))
    return {"drugs": drugs, "recommendations": recs}, b.paths


# --- audit -------------------------------------------------------------------------------


def summarize_actions(records: list[dict], sample: int = 0) -> str:
    """A plain-text audit: actions, deciding rules, fallback rows, and a spread sample."""
    lines = ["action distribution:"]
    sources = sorted({r["source"] for r in records})
    by_source = {src: Counter(r["action"] for r in records if r["source"] == src) for src in sources}
    lines.append(f"  {'':22s} {'all':>5s}" + "".join(f" {src:>5s}" for src in sources))
    for action, n in Counter(r["action"] for r in records).most_common():
        lines.append(f"  {action:22s} {n:5d}" + "".join(f" {by_source[src][action]:5d}" for src in sources))
    lines.append("rules:")
    for rule, n in Counter(r["_facts"].rule for r in records).most_common():
        lines.append(f"  {rule:22s} {n}")
    fallback = [r for r in records if r["_facts"].rule == "fallback"]
    lines.append(f"fallback rows: {len(fallback)}")
    lines += [f"  {r['recommendation_id']} {r['drug']} {r['lookup_key']}" for r in fallback]
    if sample:
        lines.append(f"sample of {sample}:")
        step = max(1, len(records) // sample)
        for r in sorted(records, key=lambda r: (r["drug"], r["recommendation_id"]))[::step][:sample]:
            lines.append(f"  {r['recommendation_id']} {r['drug']} [{r['action']} {r['dose_factor']}] {r['text']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pgx.kb_build.recommendations SOURCES [GENE ...]``: print the audit."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m pgx.kb_build.recommendations SOURCES [GENE ...]", file=sys.stderr)
        return 2
    from pgx.kb_build import DEFAULT_GENES

    sources, genes = Path(args[0]), args[1:] or list(DEFAULT_GENES)
    records, _, _ = build_records(sources, genes)
    print(summarize_actions(records, sample=40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
