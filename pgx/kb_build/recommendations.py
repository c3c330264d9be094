"""Build the ``drugs`` and ``recommendations`` KB tables from the CPIC API export.

Sources (paths relative to the sources directory, see ``../shared/data/README.md``):
``cpic/recommendation.json``, ``drug.json``, ``guideline.json``, ``pair_view.json`` and,
for guidelines the current export has no rows for (ondansetron, tropisetron),
``cpic/cpic-v1.30/<drug>.json``.

What carries over from CPIC is facts: the lookup keys (verbatim), population,
classification, drug, guideline and publications. CPIC's sentences do not: each row's
free text is reduced to structured facts (:func:`extract_facts`) by a short, ordered,
gene-agnostic rule set, and the row's ``text`` is written by :func:`render_text` from
those facts alone, citing the guideline.

Action rules (:func:`classify_action`), first match wins:

1. classification "No Recommendation", or a text that opens with "no recommendation" /
   "no action recommended" / "n/a" -> ``no_recommendation``.
2. Otherwise the sentences are read in order; the first sentence with a cue decides
   (sentences about the first or loading dose only are skipped). Within a sentence the
   cues are tried in this order (a leading "If ..., " clause is ignored, so conditions
   never decide):
   a. "no reason/need to avoid", "no indication to change" -> ``standard_dose``
   b. "avoid(ed)" (not "avoid ... inhibitors", which is about co-medication),
      "not recommended", "contraindicated", "do not use", "should not be used"
      -> ``use_alternative`` when the text offers another drug or an alternative
      (or a later sentence says to use/choose/select something without naming the
      drug), else ``avoid``
   c. a sentence that opens with choose/select/use/prescribe/recommend + "alternative",
      or "in lieu of" / "instead of" -> ``use_alternative``
   d. a stated reduction (percentages, "reduced/decreased/lower ... dose", "lowest
      starting dose", an upper dose limit such as "<= 20 mg", "-fold") -> ``reduce_dose``
   e. a stated increase ("increase/raise ... dose", "higher dose", "N to M times") -> ``increase_dose``
   f. "alternative", "another", "not metabolized by", "consider ... such as"
      -> ``consider_alternative``
   g. "caution", "cautiously", "carefully" -> ``monitor``
   h. standard/usual/recommended/label/desired ... dose, "according to the label"
      -> ``standard_dose``
   i. "monitor", "drug monitoring", "plasma concentration", "trough" -> ``monitor``
3. No sentence decided: a text that asks for further testing (enzyme activity, further
   testing, "must be measured") -> ``no_recommendation``.
4. Fallback -> ``monitor`` (rule ``fallback``); :func:`summarize_actions` lists these.

``dose_factor`` is the dose change the text states, as a multiple of the dose it names
(usual starting, lowest starting or maintenance dose): "reduce by 50%" -> 0.5,
"25% reduction" -> 0.75, "50% of the starting dose" -> 0.5, "increase by 100%" -> 2.0,
"10-fold" reduction -> 0.1, "1.5 to 2 times" -> 1.75. A stated range takes its
**midpoint** ("30-80% of the starting dose" -> 0.55; "increase by 50-100%" -> 1.75); the
generated text states the whole range. The first dose change the text states is taken,
even when it is conditional (the "if the drug is used anyway" part of an avoid row, or
the long-term part of a standard-dose row); ``action`` says which advice comes first.
Percentages relative to another metabolizer group ("compared to poor metabolizers")
are not dose factors.

``alternatives`` are drug names from ``drug.json`` (substances, not drug classes),
other than the drug itself, found (whole word, case-insensitive, not as "non-<name>")
in sentences that offer a choice (alternative, instead, include, such as, or
use/choose/select/prescribe/consider/switch to <name>) and do not say to avoid.
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
    target: str = "usual dose"

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
    """``sentence`` without a leading ``If ...,`` condition and ``Based on X status,`` prefix."""
    s = re.sub(r"^based on [\w-]+(?: status| genotype)?,\s*", "", sentence.strip(), flags=re.IGNORECASE)
    if re.match(r"if\b", s, re.IGNORECASE) and "," in s:
        s = s.split(",", 1)[1].strip()
    return s


_NEGATED_ALTERNATIVE = re.compile(
    r"alternatives?(?: \w+){0,2} (?:is|are) not (?:available|considered|suitable)\b[^.;,]*"
    r"|\black of [\w ]{0,40}?alternative[\w ]*",
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

_NO_REC_TEXT = _rx(r"^\s*(?:no recommendation|no action recommended|n/a\s*$)")
_NOT_AVOID = _rx(r"\bno (?:reason|need) to avoid\b|\bno indication to change\b")
_AVOID = _rx(
    r"\bavoid(?:ed)?\b(?![^.;]*\binhibitors?\b)|\bnot recommended\b|\bcontraindicated\b|\bdo not use\b"
    r"|\bshould not be used\b"
)
_ALT_DIRECTIVE = _rx(r"^(?:choose|select|use|prescribe|recommend|switch to)\b[^.;]*\balternat")
_INSTEAD = _rx(r"\bin lieu of\b|\binstead of\b")
_REDUCE = _rx(
    rf"{_PCT}\s*(?:reduction|lower|less|decrease)\b|\b(?:reduc|decreas)\w*\b[^.;]*?\b{_DOSE_WORD}"
    rf"|\blower\b[^.;]*?\b{_DOSE_WORD}|\blowest (?:recommended )?starting dose|(?:≤|<=|<)\s*{_NUM}\s*mg"
    rf"|\blimit (?:the )?dose|\d+-fold\b"
    rf"|\b{_NUM}\s*%?(?:\s*(?:-|–|to)\s*{_NUM})?\s*% of (?:the )?[\w -]{{0,40}}?\b{_DOSE_WORD}"
)
_INCREASE = _rx(
    rf"\b(?:increas|rais)\w*\b[^.;]*?\b{_DOSE_WORD}|\bhigher\b[^.;]*?\b{_DOSE_WORD}"
    rf"|\b{_NUM}\s*(?:-|to)\s*{_NUM}\s*times\b"
)
_CONSIDER_ALT = _rx(
    r"\balternat\w*|\banother\b|\bnot (?:\w+ )?(?:metabolized by|dependent on)\b|^consider\b[^.;]*\bsuch as\b"
)
_CAUTION = _rx(r"\bcaution\w*|\bcautious\w*|\bcarefully\b")
_STANDARD = _rx(
    rf"\b(?:standard|usual|typical|normal|label[- ]recommended|recommended|desired)\b[\w /-]{{0,30}}?\b{_DOSE_WORD}"
    r"|\baccording to the (?:product )?label\b"
)
_MONITOR = _rx(r"\bmonitor\w*|\bplasma concentration|\btrough\b")
_FIRST_DOSE_ONLY = _rx(r"^for (?:the )?(?:first|initial|loading) dose\b")
_TESTING = _rx(r"\b(?:enzyme|erythrocyte) activity\b|\bfurther (?:genetic )?testing\b|\bmust be measured\b")
_LEVELS = _rx(r"therapeutic (?:drug|dose) monitoring|plasma concentration|\btrough\b|drug levels?")
_ALT_OFFER = _rx(
    r"\balternat\w*|\banother\b|\binstead\b|\bin lieu\b|\bnot (?:\w+ )?(?:metabolized by|dependent on)\b"
    r"|\bnon-[\w-]+ (?:opioid|drug|agent|analgesic)s?\b"
)
_USE_DIRECTIVE = _rx(r"(?:use|choose|select|prescribe|switch to)\b")
_CHOICE = _rx(r"\balternat\w*|\binstead\b|\bin lieu\b|\binclude[sd]?\b|\bsuch as\b")
_CHOICE_VERB = r"\b(?:use|choose|select|prescribe|consider|switch(?:ing)? to)\s+"

#: ordered sentence rules: (rule name, action, pattern); "avoid" is resolved later
SENTENCE_RULES: tuple[tuple[str, str, re.Pattern], ...] = (
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
    if classification == "No Recommendation" or _NO_REC_TEXT.search(text):
        return "no_recommendation", "no_recommendation"
    for sentence in split_sentences(text):
        if _FIRST_DOSE_ONLY.search(sentence):
            continue  # a loading dose says nothing about the dose that follows
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
)
_OTHER_GROUP = _rx(r"\bcompared to (?:\w+ )?(?:poor|intermediate|rapid|ultrarapid) metabolizers\b")


def _dose_target(context: str) -> str:
    """Which dose a stated change refers to, from the words around it."""
    c = context.lower()
    if "maintenance" in c:
        return "usual maintenance dose"
    if "lowest" in c:
        return "lowest usual starting dose"
    if "starting" in c or "initiat" in c:
        return "usual starting dose"
    return "usual dose"


def _as_factors(kind: str, m: re.Match) -> tuple[float, float] | None:
    """The stated change as (low, high) multiples of the reference dose."""
    if kind == "fold":
        return 1 / float(m.group("lo")), 1 / float(m.group("lo"))
    if kind == "times":
        lo = float(m.group("lo"))
        hi = float(m.group("hi")) if m.group("hi") else lo
        return lo, hi
    lo, hi = _pct_range(m)
    if kind in ("reduce_by", "pct_less"):
        return (1 - hi, 1 - lo) if hi < 1 else None
    if kind in ("increase_by", "pct_more"):
        return 1 + lo, 1 + hi
    return (lo, hi) if hi < 1 else None  # pct_of: "100% of" is no change


def parse_dose_change(text: str) -> DoseChange | None:
    """The first dose change ``text`` states (sentence order, then position), if any."""
    for sentence in split_sentences(text):
        if _OTHER_GROUP.search(sentence):
            continue
        found = []
        for kind, pattern in _DOSE_PATTERNS:
            for m in pattern.finditer(sentence):
                factors = _as_factors(kind, m)
                if factors:
                    found.append((m.start(), factors, sentence[max(0, m.start() - 40) : m.end() + 40]))
        if found:
            _, (lo, hi), context = min(found, key=lambda f: f[0])
            return DoseChange(round(lo, 4), round(hi, 4), _dose_target(context))
    return None


_CAP = _rx(rf"(?:≤|<=|<)\s*(?P<n>{_NUM})\s*mg(?P<day>\s*(?:per day|/day|a day))?")


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
        if _AVOID.search(sentence):
            continue
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


def fallback_direction(text: str) -> str:
    """``higher`` / ``lower`` when a text that advises against the drug still gives a dose direction."""
    later = " ".join(split_sentences(text)[1:])
    if _INCREASE.search(later):
        return "higher"
    if _REDUCE.search(later):
        return "lower"
    return ""


def strength_of(classification: str | None) -> str:
    """CPIC classification as the KB ``strength`` (``n/a`` and unknown -> empty)."""
    c = (classification or "").strip()
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
    return f"{amount} the {d.target}"


def _join_names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _main_sentence(drug: str, f: Facts) -> str:
    """The first sentence of the text: what to do."""
    alts = f", e.g. {_join_names(f.alternatives)}," if f.alternatives else ""
    if f.action == "standard_dose":
        return f"Use {drug} at the usual dose"
    if f.action == "reduce_dose":
        if f.dose:
            verb = "Give" if "maintenance" in f.dose.target else "Start"
            return f"{verb} {drug} at {dose_phrase(f.dose)}"
        if f.dose_limit == "lowest":
            return f"Start {drug} at the lowest usual starting dose"
        if f.dose_limit:
            return f"Start {drug} at no more than {f.dose_limit}"
        return f"Start {drug} at a lower dose than usual"
    if f.action == "increase_dose":
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
    return f"CPIC makes no genotype-based recommendation for {drug} with this result"


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
        return [f"If {drug} is used anyway, {' and '.join(how)}"] if how else []
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
    parts = [_main_sentence(drug, facts), *_extra_sentences(drug, facts)]
    cite = f"({source}, {strength})" if strength else f"({source})"
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
    strength = strength_of(row.classification)
    return {
        "recommendation_id": row.recommendation_id,
        "source": SOURCE,
        "drug": row.drug,
        "genes": ";".join(sorted(row.lookupkey)),
        "lookup_key": lookup_key_string(row.lookupkey),
        "population": row.population,
        "action": facts.action,
        "dose_factor": facts.dose.factor if facts.dose else None,
        "alternatives": ";".join(facts.alternatives),
        "strength": strength,
        "text": render_text(row.drug, facts, strength),
        "guideline": row.guideline.get("name") or "",
        "url": row.guideline.get("url") or "",
        "pmid": guideline_pmids(row.guideline),
        "_facts": facts,
    }


def drug_names(cpic: CpicExport) -> tuple[re.Pattern, dict[str, str]]:
    """A whole-word pattern over every substance name, and lower-case -> canonical name."""
    canonical = {d["name"].lower(): d["name"] for d in cpic.drugs.values() if is_substance(d)}
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
    """The ``drugs`` table: one row per CPIC gene-drug pair for ``genes`` or a drug with rows."""
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
    cols = list(KB_TABLES["drugs"])
    df = pd.DataFrame(rows, columns=cols).astype(str)
    df = df.sort_values(["source", "drug", "gene", "drug_id"], kind="stable").reset_index(drop=True)
    dup = df.duplicated(["source", "drug", "gene"], keep=False)
    if dup.any():
        twice = df.loc[dup, ["drug", "gene"]].values.tolist()
        raise KnowledgeBaseError(f"pair_view lists a drug-gene pair twice: {twice}")
    return df


def build_records(sources: Path, genes: Sequence[str]) -> tuple[list[dict], CpicExport, list[Path]]:
    """Every recommendation record (with ``_facts``) for ``genes``, and the files read."""
    cpic = read_cpic(sources)
    names, canonical = drug_names(cpic)
    old, old_paths = legacy_rows(sources, cpic, genes)
    records = [recommendation_record(r, names, canonical) for r in current_rows(cpic, genes) + old]
    ids = Counter(r["recommendation_id"] for r in records)
    if any(n > 1 for n in ids.values()):
        raise KnowledgeBaseError(f"duplicate recommendation ids: {[i for i, n in ids.items() if n > 1][:5]}")
    return records, cpic, cpic.paths + old_paths


def build_recommendation_tables(sources: Path, genes: Sequence[str]) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """``{"drugs": df, "recommendations": df}`` for ``genes`` and the source files read.

    Both frames have exactly the ``KB_TABLES`` columns as strings (empty string =
    unknown), except ``recommendations.dose_factor``: float, NaN when unknown.
    """
    records, cpic, paths = build_records(Path(sources), tuple(genes))
    unknown = sorted({r["action"] for r in records} - set(ACTIONS))
    if unknown:
        raise KnowledgeBaseError(f"unknown actions {unknown}")
    recs = recommendations_frame(records)
    drugs = drugs_frame(cpic, tuple(genes), set(recs["drug"]))
    return {"drugs": drugs, "recommendations": recs}, paths


# --- audit -------------------------------------------------------------------------------


def summarize_actions(records: list[dict], sample: int = 0) -> str:
    """A plain-text audit: actions, deciding rules, fallback rows, and a spread sample."""
    lines = ["action distribution:"]
    for action, n in Counter(r["action"] for r in records).most_common():
        lines.append(f"  {action:22s} {n}")
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
    sources, genes = Path(args[0]), args[1:] or ["CYP2C19", "CYP2C9", "TPMT"]
    records, _, _ = build_records(sources, genes)
    print(summarize_actions(records, sample=40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
