"""Facts one clause of a recommendation text states: a dose change, caps, a schedule, an
absolute dose, follow-up, and the drugs it offers or rules out (see :mod:`pgx.kb_build.advice`
for how they are put together into a branch of advice)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pgx.kb_build.cues import (
    AVOID, DOSE_WORD, EVIDENCE, NUM, OR_SPLIT, PCT, SYNONYMS, ASSESS, cue_pattern, without_negated_alternatives,
)  # fmt: skip

# --- doses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dose:
    """A dose change: ``low``..``high`` times the ``reference`` dose, for ``applies_to``."""

    low: float
    high: float
    applies_to: str = ""  # "" | starting | maintenance | subsequent | loading
    reference: str = "standard"  # standard | lowest | maximum
    cap: bool = False  # an upper limit ("no more than 50 % of ..."), not a target


def _pct_range(m: re.Match) -> tuple[float, float]:
    lo = float(m.group("lo"))
    hi = float(m.group("hi")) if m.group("hi") else lo
    return min(lo, hi) / 100, max(lo, hi) / 100


_DOSE_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("reduce_by", cue_pattern(rf"\b(?:reduc|decreas|lower)\w*\s+(?:[\w-]+\s+){{0,4}}?by\s+{PCT}")),
    ("pct_less", cue_pattern(rf"{PCT}\s*(?:reduction|lower|less|decrease)\b")),
    ("increase_by", cue_pattern(rf"\b(?:increas|rais)\w*\s+(?:[\w-]+\s+){{0,4}}?by\s+{PCT}")),
    ("pct_more", cue_pattern(rf"{PCT}\s*(?:higher|increase)\b")),
    ("pct_of", cue_pattern(rf"{PCT}\s+of\s+(?:the\s+)?[\w -]{{0,40}}?\b{DOSE_WORD}")),
    ("fold", cue_pattern(r"\b(?:reduc|decreas)\w*[^.;%]{0,30}?\bby\s+(?P<lo>\d+)-fold")),
    ("times", cue_pattern(rf"(?P<lo>{NUM})\s*(?:(?:-|to)\s*(?P<hi>{NUM})\s*)?times\b[^.;]{{0,30}}?\b{DOSE_WORD}")),
    ("double", cue_pattern(rf"\bdouble (?:the )?(?:[\w-]+ ){{0,2}}?{DOSE_WORD}")),
    ("half", cue_pattern(rf"\bhalf (?:of )?the (?:[\w-]+ ){{0,2}}?{DOSE_WORD}")),
    ("fold_up", cue_pattern(rf"(?P<lo>{NUM})-fold higher (?:[\w-]+ ){{0,2}}?{DOSE_WORD}")),
    ("x_higher", cue_pattern(rf"\b{DOSE_WORD}[^.;]{{0,20}}?(?P<lo>{NUM})x higher\b")),
    ("increase_to", cue_pattern(rf"\bincreas\w*\s+(?:the\s+)?(?:[\w-]+\s+){{0,2}}?to\s+{PCT}\s+of\b")),
    ("factor", cue_pattern(rf"\bby a factor of (?P<lo>{NUM})(?:\s*(?:-|–|to)\s*(?P<hi>{NUM}))?")),
    ("fraction", cue_pattern(rf"\b(?P<n>\d)/(?P<d>\d)(?:rd|th|nd|st)? of (?:the )?(?:[\w-]+ ){{0,2}}?{DOSE_WORD}")),
)
_OTHER_GROUP = cue_pattern(
    r"\bcompared to (?:\w+ )?(?:poor|intermediate|rapid|ultrarapid) metabolizers\b"
    r"|\b(?:higher|lower) for (?:PM|IM|UM|NM|EM)s?\b|\bthan (?:for |in )?(?:PM|IM|UM|NM|EM)s?\b"
)
_CAPPING = cue_pattern(r"\bno more than\b|\bnot (?:\w+ )?exceed|\bexceeding\b|\bmaximum\b|\bup to\b")


def _as_factors(kind: str, m: re.Match) -> tuple[float, float] | None:
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


def _applies_to(context: str) -> str:
    c = context.lower()
    if "subsequent" in c or "other doses" in c:
        return "subsequent"
    if "maintenance" in c:
        return "maintenance"
    if "loading" in c:
        return "loading"
    if re.search(r"start|initia|initial", c):
        return "starting"
    return ""


def parse_dose(clause: str) -> Dose | None:
    """The first dose change ``clause`` states, if any (not one relative to another metabolizer group)."""
    if _OTHER_GROUP.search(clause) or EVIDENCE.search(clause):
        return None
    found = []
    for kind, pattern in _DOSE_PATTERNS:
        for m in pattern.finditer(clause):
            factors = _as_factors(kind, m)
            if factors:
                found.append((m.start(), factors, m))
    if not found:
        return None
    start, (lo, hi), m = min(found, key=lambda f: f[0])
    context = clause[max(0, start - 40) : m.end() + 40]
    before = clause[max(0, start - 60) : start]
    matched = m.group(0).lower()
    reference = "maximum" if "maximum" in matched else "lowest" if "lowest" in context.lower() else "standard"
    cap = bool(_CAPPING.search(before)) or reference == "maximum"
    after = re.match(rf"[^.;]{{0,40}}?\b{DOSE_WORD}", clause[m.end() :])
    before = clause[max(0, start - 40) : start]
    if re.search(r"subsequent|other doses", before, re.IGNORECASE):
        applies = "subsequent"  # "for subsequent doses, use 25 % less than the maintenance dose"
    else:
        applies = _applies_to(m.group(0) + (after.group(0) if after else "")) or _applies_to(before)
    return Dose(round(lo, 4), round(hi, 4), applies, reference, cap)


_CAP = cue_pattern(
    rf"(?P<op>≤|<=|<|\bno more than|\bexceeding|\bnot exceed|\bup to|\bmaximum (?:recommended )?dose of|\bto a maximum of)\s*"
    rf"(?P<n>{NUM})\s*(?P<unit>mg(?:/kg)?(?:/m2)?|µg)(?P<per>\s*(?:per day|/day|a day|daily|total daily|/month))?"
)
_STARTING = cue_pattern(r"\bas a starting dose\b|\bstarting dose\b")


def parse_caps(clause: str, condition: str = "") -> tuple[str, ...]:
    """Upper dose limits stated in ``clause`` (``≤20 mg/day``, ``<20 mg/day``, ``starting dose ≤40 mg``)."""
    if (
        EVIDENCE.search(clause)
        or re.search(r"\bif (?:a )?dose\s*>|\bdoses? >", clause, re.IGNORECASE)
        and not re.search(r"[≤<]\s*\d", clause)
    ):
        return ()
    out = []
    for m in _CAP.finditer(clause):
        op = m.group("op").lower()
        op = "<" if op == "<" else "≤"
        per = "/day" if m.group("per") and "month" not in m.group("per") else ("/month" if m.group("per") else "")
        if not per and re.search(r"\bdaily doses?\b|\bper day\b", clause, re.IGNORECASE):
            per = "/day"
        scope = "starting dose " if _STARTING.search(clause) and "exceed" not in op else ""
        cap = f"{scope}{op}{m.group('n')} {m.group('unit')}{per}"
        out.append(cap + (f" ({condition})" if condition else ""))
    return tuple(dict.fromkeys(out))


_SCHEDULE = cue_pattern(
    r"\b(?P<n>thrice|twice|once|three times|two times|\d+\s*(?:x|times))\s*(?:a\s+|per\s+)?(?P<per>week(?:ly)?|day|daily)\b"
    r"(?:\s+instead of\s+(?P<was>daily|weekly|once daily))?"
)
_DIVIDED = cue_pattern(r"\bdivided doses\b")
_WORD_N = {"thrice": "3 times", "three times": "3 times", "twice": "2 times", "two times": "2 times", "once": "once"}


def parse_schedule(clause: str) -> str:
    """A dosing frequency the clause sets (``3 times a week instead of daily``), or divided doses."""
    if m := _SCHEDULE.search(clause):
        n = m.group("n").lower()
        n = _WORD_N.get(n, re.sub(r"\s*(?:x|times)$", " times", n).replace("1 times", "once"))
        per = "a week" if m.group("per").lower().startswith("week") else "a day"
        return f"{n} {per}" + (f" instead of {m.group('was').lower()}" if m.group("was") else "")
    if _DIVIDED.search(clause):
        return "daily dose may be divided"
    return ""


_AMOUNT = cue_pattern(
    rf"(?:dose of|initial dose is|daily dose of|total daily dose of|decreased dose of|dose to|dosing \(|"
    rf"increased to|increase the dose to|initiate with a dose of|use a dose of)\s*"
    rf"(?P<amount>(?:at least\s+)?{NUM}(?:\s*(?:or|to|-)\s*{NUM})?\s*(?:mg|µg)(?:/kg)?(?:/day| per day|/month)?"
    rf"(?:\s*(?:1x|2x|once|twice) daily)?)"
)


def parse_amount(clause: str) -> str:
    """An absolute dose the clause gives (``400 mg/day``, ``400 or 200 mg/day``, ``at least 75 mg``)."""
    if EVIDENCE.search(clause):
        return ""
    m = _AMOUNT.search(clause)
    return " ".join(m.group("amount").split()).replace(" per day", "/day") if m else ""


UNCHANGED = cue_pattern(
    r"\b(?:the )?loading dose does not need to be adjusted\b|\bfor (?:the )?first dose, use typical initial or loading dose"
)


# --- follow-up ---------------------------------------------------------------------------

_FOLLOWUP_RULES: tuple[tuple[str, re.Pattern], ...] = (
    (
        "drug_levels",
        cue_pattern(
            r"therapeutic (?:drug|dose) monitoring|(?:plasma|serum|trough|peak|endoxifen) concentration|drug levels?|\btrough\b"
        ),
    ),
    (
        "titrate_by_toxicity",
        cue_pattern(
            r"(?:based on|guided by|according to|by|for|of) (?:the )?(?:degree of )?(?:toxicity|myelosuppression)|neutrophil count|reducing \w+ over other agents"
        ),
    ),
    (
        "titrate_by_response",
        cue_pattern(
            r"\b(?:based on|guided by|according to|to) (?:the )?(?:clinical )?(?:effect|response|efficacy|effectiveness)|response,? and side effects|observed clinical response|effect and side effects|efficacy and side effects|check whether the effect"
        ),
    ),
    ("slower_titration", cue_pattern(r"slower titration|smaller steps in dose titration")),
    (
        "monitor_closely",
        cue_pattern(
            r"\bmonitor (?:closely|more closely|for)|close monitoring|increased frequency of (?:clinical )?monitoring|monitoring should be performed at an increased|frequency of monitoring should be increased|\bbe (?:extra )?alert\b|carefully monitor|\bcautio|monitor the effect"
        ),
    ),
    ("ecg", cue_pattern(r"\becg\b")),
    ("blood_counts", cue_pattern(r"blood counts?")),
    ("inr", cue_pattern(r"\binr\b")),
    ("liver_function", cue_pattern(r"liver (?:function|enzymes)")),
    ("hearing", cue_pattern(r"hearing loss in line")),
    ("patient_reports", cue_pattern(r"advise (?:the )?patients? to|inform the patient")),
    ("stop_if_adverse", cue_pattern(r"discontinue therapy at first|should be stopped if")),
    (
        "weigh_risks",
        cue_pattern(r"\bweigh\b[^.;]*\brisks?\b|outweighed|benefits outweigh|consider (?:any )?(?:additional )?risk factors"),
    ),
    (
        "avoid_interacting_drugs",
        cue_pattern(r"avoid (?:co-medication with |moderate and strong |cyp2d6 strong to weak )?\w* ?inhibitors"),
    ),
    ("further_testing", ASSESS),
)


def followup_in(clause: str) -> tuple[str, ...]:
    return tuple(kind for kind, pattern in _FOLLOWUP_RULES if pattern.search(clause))


# --- alternatives ------------------------------------------------------------------------

_CHOICE = cue_pattern(
    r"\balternat\w*|\binstead\b|\bin lieu\b|\binclude[sd]?\b|\bsuch as\b|\bfor example\b"
    r"|\bnot (?:\w+ )?(?:metaboli[sz]ed|influenced)\b|\bhardly if at all metaboli[sz]ed\b|\bto a lesser extent\b"
    r"|\bpossible alternatives?\b|\bswitching to\b"
)
_CHOICE_VERB = re.compile(
    r"^(?:use|choose|select|prescribe|consider)\s+(?P<a>[a-z][a-z-]{4,})\s+or\s+(?P<b>[a-z][a-z-]{4,})\b", re.IGNORECASE
)
_NOT_OFFERED = cue_pattern(
    r"\bdo not (?:select|choose|use|prescribe|give)\b|\bnot (?:an? |a suitable |suitable )?alternatives?\b"
    r"|\bnot suitable as alternatives?\b"
)
_INTERACTING_LIST = cue_pattern(
    r"\b(?:inhibitors?|inducers?),?\s*(?:\(?\s*(?:such as|for example|eg|like|including)\b|:|\()[^.;)]*"
)
_OFFER_CONTEXT = cue_pattern(
    r"\balternat\w*|\binstead\b|\bin lieu\b|\binclude[sd]?\b|\bnot (?:\w+ )?(?:metaboli[sz]ed|influenced|dependent)\b"
    r"|\bhardly\b|\blesser extent\b|\bswitch"
)
_METABOLITE = cue_pattern(r"\bmetabolite\s*\(\s*[\w-]+\s*\)")
_LIST_START = cue_pattern(
    r"(?:such as|include[sd]?|including|\beg\b|for example|\bie\b|alternatives include|:)\s*,?\s*(?P<rest>[^()]+)"
)
_SUBJECT_LIST = re.compile(
    r"^(?P<items>[A-Za-z][a-z/-]+(?: [a-z][a-z/-]+){0,2}(?:(?:,\s*| and | or )[a-z][a-z/-]+(?: [a-z][a-z/-]+){0,2})*)"
    r"\s+(?:is|are)\s+(?:(?:therefore|also) )*(?:not|hardly)\b"
)
_CLASS_WORDS = re.compile(
    r"\b(?:agents?|drugs?|therap(?:y|ies)|alternatives?|antidepressants?|antipsychotics?|opioids?|statins?|"
    r"inhibitors?|inducers?|medicines?|medications?|treatments?|nsaids?|beta-blockers?|tcas?|amines?|example|"
    r"hormonal|the|a|an|that|which|not|also|other|another|this|these|both|patients?|women|men|dose|doses|"
    r"combination|anticoagulants?|analgesics?|antiarrhythmic|anti-arrhythmic|aromatase|immunosuppressants?|"
    r"cyp\w*|and|or|by|to|of|in|is|are|with|for|less|lesser|extent|much|if|at|metabolised|metabolized)\b",
    re.IGNORECASE,
)


def drug_name_pattern(names: Iterable[str]) -> re.Pattern:
    """One regex matching any of ``names`` as a whole word, not preceded by ``non-``."""
    alts = "|".join(re.escape(n) for n in sorted(set(names), key=lambda n: (-len(n), n)))
    return re.compile(rf"(?<![\w/-])(?<!non-)({alts})(?![\w/-])", re.IGNORECASE)


@dataclass(frozen=True)
class Names:
    """Known drug names: a pattern and lower-case name -> the KB's name."""

    pattern: re.Pattern
    canonical: dict[str, str]

    @classmethod
    def of(cls, names: Iterable[str]) -> Names:
        canonical = {n.lower(): n for n in names}
        for variant, name in SYNONYMS.items():
            canonical.setdefault(variant, canonical.get(name, name))
        return cls(drug_name_pattern(canonical), canonical)

    def same_drug(self, a: str, b: str) -> bool:
        ca = self.canonical.get(a.lower(), SYNONYMS.get(a.lower(), a.lower())).lower()
        cb = self.canonical.get(b.lower(), SYNONYMS.get(b.lower(), b.lower())).lower()
        return ca == cb

    def mentions(self, text: str, drug: str) -> bool:
        """Whether ``text`` names ``drug`` (or a spelling variant of it)."""
        if re.search(rf"(?<![\w-]){re.escape(drug)}(?![\w-])", text, re.IGNORECASE):
            return True
        return any(self.same_drug(n, drug) for n in self.known(text))

    def known(self, text: str) -> list[str]:
        return [self.canonical[m.group(1).lower()] for m in self.pattern.finditer(text)]


def _list_items(text: str) -> list[str]:
    """Items of an explicit list (``x, y and z``), each one to three words, no drug class."""
    items = re.split(r",\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+", text)
    out = []
    for item in items:
        item = re.sub(r"^(?:eg|ie|for example)\s+", "", item.strip(" .,:()"), flags=re.IGNORECASE).strip()
        words = item.split()
        if not 1 <= len(words) <= 3 or not re.fullmatch(r"[A-Za-z][A-Za-z/ -]*[a-zA-Z]", item):
            continue
        if _CLASS_WORDS.search(item) or len(item) < 5 or item.lower().startswith("non-"):
            continue
        out.append(item[0].lower() + item[1:])
    return out


def offered_names(clause: str, drug: str, names: Names) -> list[str]:
    """Drugs ``clause`` offers instead of ``drug`` (see the module docstring), in order of mention."""
    found: list[str] = []
    parts = [p for p in OR_SPLIT.split(without_negated_alternatives(clause)) if p.strip()] or [clause]
    for part in parts:
        if AVOID.search(part) and not _CHOICE.search(part) or _NOT_OFFERED.search(part):
            continue
        part = _METABOLITE.sub(" ", _INTERACTING_LIST.sub(" ", part))
        verb = _CHOICE_VERB.match(part)
        if not (_CHOICE.search(part) or verb):
            continue
        found += names.known(part)
        if verb:
            found += _list_items(f"{verb.group('a')}, {verb.group('b')}")
        if not _OFFER_CONTEXT.search(part) and not verb:
            continue
        if m := _SUBJECT_LIST.match(part):
            found += _list_items(m.group("items"))
        if m := _LIST_START.search(part):
            found += _list_items(m.group("rest"))
    return _other_drugs(found, drug, names)


def _other_drugs(found: list[str], drug: str, names: Names) -> list[str]:
    """``found`` under their canonical names, once each, without ``drug`` itself."""
    out = []
    for name in found:
        name = names.canonical.get(name.lower(), name)
        if not names.same_drug(name, drug) and name not in out:
            out.append(name)
    return out


def unsuitable_names(clause: str, drug: str, names: Names) -> list[str]:
    """Drugs ``clause`` names as not an alternative (``X is not an alternative``, ``do not select X``)."""
    if not _NOT_OFFERED.search(clause):
        return []
    found = names.known(clause)
    if m := _SUBJECT_LIST.match(clause):
        found += _list_items(m.group("items"))
    return _other_drugs(found, drug, names)
