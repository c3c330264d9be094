"""Guideline recommendation texts, clause by clause, to structured advice.

One source text (CPIC ``drugrecommendation``, DPWG HTML reduced to plain text) becomes
one or more :class:`Advice` branches and a clause account (:class:`Reading`). Nothing of
the source's wording is kept: only the facts below, and for each clause which fields it
fed, or why it is not represented.

**Clauses.** The text is split into sentences and ``;``-separated parts
(:func:`clauses`); list markers (``1.``, ``a.``) are dropped, abbreviations kept whole.

**Branches.** A clause that opens with a condition label (``For malignancy:``,
``Indication DEPRESSION:``, ``OTHER INDICATIONS:``, ``Patient has ADDITIONAL ...
RISK FACTORS ...:``, ``Co-medication with ...:``, an all-capitals heading such as
``IMMUNOSUPPRESSION``) starts a new branch, when the label speaks of an indication, a
population or age, risk factors, co-medication, route, transplant or dose
(:data:`_CONDITION_WORDS`). Labels in a row before any advice add up; a labelled part
without advice of its own (``For PAIN: do not select tramadol``) belongs to the branch
before it. The label is kept, shortened and in lower case, as the branch's condition,
filed under one kind (:func:`condition_kind`): ``risk_factors``, ``indication``,
``age`` or ``other``.

**Roles of a clause** (:func:`clause_role`):

* ``advice``: says what to do. Its first action cue (by position in the clause; ties by
  rule order) is the branch's **primary action** if the branch has none yet; actions
  joined by *or* (``start with 50 % ... or avoid``, ``choose an alternative or start
  with 10 %``, a clause opening with *Or*/*Alternatively*) are **other actions**.
* ``fallback``: what to do if the primary advice cannot be followed (``If it is not
  possible to avoid X:``, ``If X is warranted,``, ``If an alternative is not an
  option``, ``In the event ... alternative agents are not considered suitable``, ``If a
  dose increase is not wanted``): its actions are other actions.
* ``second_step``: what to do on a poor response or side effects (``If no response``,
  ``In the case of inadequate effectiveness``, ``If necessary``, ``If side effects
  occur``): other actions too.

Whatever the role, a clause also gives (each optional): a dose change (factor or
range, which dose it applies to, what it is relative to), an absolute dose, a dosing
schedule, a dose left unchanged (``the loading dose does not need to be adjusted``),
safety caps, follow-up (:data:`FOLLOWUP`), alternatives and drugs named as not
alternatives. A clause that gives none of these is *not represented*, with a reason:
``evidence`` (study results, exposure comparisons), ``reference_values`` (therapeutic
ranges, toxic levels), ``background`` (steady state, mechanisms, definitions, what the
result means), ``no_advice`` (the guideline says it cannot advise) or ``other``.

**Actions** (``schema.ACTIONS``). Cues, in rule order: ``assess_further`` (enzyme
activity or phenotyping, further testing, clinical findings and family history to
guide), ``standard_dose`` (start at the normal dose, no reason to avoid, no action
needed), ``avoid`` (avoid, not recommended, contraindicated, do not use), alternatives
(choose/select/use an alternative, instead of), ``reduce_dose``, ``increase_dose``,
``consider_alternative``, ``monitor`` (caution, be alert, monitoring), ``standard_dose``
(usual/label dosing). A branch whose primary action is ``avoid`` and that offers another
drug is ``use_alternative``. "Carefully weigh the risks against the benefits" is
follow-up, not caution: the clause after it decides. No cue in a branch: a no-
recommendation text or classification gives ``no_recommendation``, else ``monitor``
(rule ``fallback``, listed by the audit).

**Doses.** Factors are kept as stated: a range stays a range (``30-80 % of the standard
starting dose`` -> 0.3..0.8 of the starting dose). ``applies_to`` is ``starting``,
``maintenance``, ``subsequent`` (the doses after a loading dose), ``loading`` or empty
(the dose in general); ``reference`` is ``standard``, ``lowest`` (the lowest usual
starting dose) or ``maximum``. The dose belongs to the first action that changes the dose
(the primary action, else an other action).

**Alternatives.** Known drug names (CPIC's substances, the DPWG drugs and their spelling
variants, :data:`SYNONYMS`) in a clause that offers a choice, plus the items of an
explicit list in such a clause (``such as``, ``include``, ``for example``, ``X and Y are
not metabolised by ...``, ``use X or Y at standard dose``) even when CPIC does not list
the drug (prasugrel, ticagrelor), as long as an item is one to three words and no drug
class. Only the part of a clause that offers the choice counts (``choose an alternative
or titrate to the maximum dose of the active metabolite (paliperidone)`` offers no
paliperidone), never the drug itself or its spelling variants, never a drug named as
unsuitable (``X is not an alternative``, ``do not select X``), which goes to
``not_alternatives``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from pgx import schema

# --- vocabularies ------------------------------------------------------------------------

#: follow-up kinds and the reasons a clause is not represented are declared in pgx.schema
FOLLOWUP = schema.FOLLOWUP
NOT_REPRESENTED = schema.NOT_REPRESENTED

#: condition kinds, in the order a label is filed under them
CONDITION_KINDS = ("risk_factors", "indication", "age", "other")

#: spelling variants and typos of drug names in the source texts -> the KB's name
SYNONYMS = {
    "tioguanine": "thioguanine",
    "mecaptopurine": "mercaptopurine",
    "amitripyline": "amitriptyline",
    "5-fluorouracil": "fluorouracil",
    "acetylsalicylic acid": "aspirin",
}


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


# --- clauses -----------------------------------------------------------------------------

_ABBREVIATIONS = (
    (_rx(r"\be\.g\.,?"), "eg"),
    (_rx(r"\bi\.e\.,?"), "ie"),
    (_rx(r"\bvs\."), "vs"),
    (_rx(r"\bapprox\."), "approx"),
    (_rx(r"\bH\. pylori"), "H.pylori"),
)
_LIST_MARKER = re.compile(r"(^|[:.;]\s*)(?:\d{1,2}|[a-e])\.\s+(?=[A-Za-z])")


def clauses(text: str) -> list[str]:
    """The sentences and ``;``-separated parts of ``text``, list markers removed."""
    text = " ".join((text or "").split())
    for pattern, plain in _ABBREVIATIONS:
        text = pattern.sub(plain, text)
    text = _LIST_MARKER.sub(r"\1", text)
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(*])|;\s*|(?<=\.)\s+(?=(?:if|use|avoid|determine|start)\b)", text)
    return [p.strip() for p in parts if p and p.strip(" .")]


# --- condition labels --------------------------------------------------------------------

_CONDITION_WORDS = _rx(
    r"indication|malignan|immunosuppress|leuka?emia|\bpain\b|\bcough\b|depression|anxiety|obsessive|pylori"
    r"|eradication|transplant|\bliver\b|coronary|stroke|\btia\b|brugada|heart rate|bradycardia|heart failure"
    r"|risk factors?|co-?medication|administration|anticoagulation clinic|otherwise|other cases"
    r"|doses? (?:higher|lower) than|body mass index|\byears?\b|\bkg\b|children|adults|monopreparation"
    r"|combination preparation"
)
_NOT_A_CONDITION = _rx(
    r"^(?:note|if it is not possible|if (?:an|no) alternative|if the dose|if the medicine|in the event of side"
    r"|if a dose|if dose|in the case of inadequate|if this does not|do not exceed|use no more than"
    r"|possible alternatives)"
)
_CAPS_HEADING = re.compile(r"^((?:[A-Z][A-Z-]{1,}\s+){0,8}[A-Z][A-Z-]{2,})\s+(?=[A-Z][a-z])")
_KIND_WORDS = (
    ("risk_factors", _rx(r"risk factors?")),
    (
        "indication",
        _rx(
            r"indication|malignan|immunosuppress|leuka?emia|\bpain\b|\bcough\b|depression|anxiety|obsessive"
            r"|pylori|eradication|transplant|coronary|stroke|\btia\b|brugada|heart rate|bradycardia|heart failure"
        ),
    ),
    ("age", _rx(r"\byears?\b|children|adults|\bkg\b|body mass|pediatric|paediatric")),
)
_LABEL_FILLER = _rx(r"^(?:recommendation\s+|for\s+|indications?\s+|patient has\s+|if\s+|in\s+)+")
CONDITION_WORDS_KEPT = 6


def condition_kind(label: str) -> str:
    """The kind a condition label is filed under (:data:`CONDITION_KINDS`)."""
    for kind, pattern in _KIND_WORDS:
        if pattern.search(label):
            return kind
    return "other"


def short_label(label: str) -> str:
    """A condition label in lower case, without filler words, at most a few words."""
    words = _LABEL_FILLER.sub("", " ".join(label.split()).strip(" :.,*")).lower().split()
    if len(words) > CONDITION_WORDS_KEPT:
        return " ".join(words[:CONDITION_WORDS_KEPT]) + "…"
    return " ".join(words)


def split_condition(clause: str) -> tuple[str, str]:
    """``(label, rest)`` when ``clause`` opens with a condition label, else ``("", clause)``."""
    m = _CAPS_HEADING.match(clause)
    if m and _CONDITION_WORDS.search(m.group(1)) and ":" not in clause[: m.end()]:
        return m.group(1), clause[m.end() :].strip()
    if ":" in clause:
        label, rest = clause.split(":", 1)
        if len(label) < 400 and _CONDITION_WORDS.search(label) and not _NOT_A_CONDITION.search(label.strip()):
            return label.strip(), rest.strip()
    return "", clause


# --- cues --------------------------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"
_PCT = rf"(?P<lo>{_NUM})\s*%?(?:\s*(?:-|–|to)\s*(?P<hi>{_NUM}))?\s*%"
_DOSE_WORD = r"dos(?:e|es|ing|age)\b"

_NO_REC_TEXT = _rx(
    r"^\s*(?:no recommendation|no action recommended|n/a\s*\.?$|the guideline does not provide a recommendation)"
)
_ASSESS = _rx(
    r"\b(?:measur|determin|evaluat|assess)\w*[^.;]{0,40}?\b(?:activity|inhibition of platelet)"
    r"|\bactivity must be measured\b|\bfurther (?:genetic )?testing\b|\bclinical findings\b"
)
_START_STANDARD = _rx(
    r"^(?:start|begin|initiate)(?: therapy)? (?:with|at) (?:the )?(?:normal|standard|usual) (?:initial |starting )?dose\b"
)
_NOT_AVOID = _rx(
    r"\bno (?:reason|need) to avoid\b|\bno indication to change\b|\bno action (?:is )?(?:needed|required)\b"
    r"|\bno adjustments? needed\b|\bdoes not need to be adjusted\b"
)
_AVOID = _rx(
    r"\bavoid(?:ed)?\b(?![^.;]*\b(?:inhibitors?|inducers?|co-medication)\b)(?! (?:\w+ )?doses? exceeding)"
    r"|\bnot recommended\b|\bcontra-?indicated\b|\bdo not use\b|\bshould not be used\b|\bshould be stopped\b"
)
_ALT_DIRECTIVE = _rx(r"^(?:choose|select|use|prescribe|recommend|switch to)\b[^.;]*?\balternat")
_INSTEAD = _rx(r"\bin lieu of\b|\binstead of\b(?! daily| weekly)")
_REDUCE = _rx(
    rf"{_PCT}\s*(?:reduction|lower|less|decrease)\b|\b(?:reduc|decreas)\w*\b[^.;]*?\b{_DOSE_WORD}"
    rf"|\blower\b[^.;]*?\b{_DOSE_WORD}|\blowest (?:recommended )?starting dose|(?:≤|<=|<)\s*{_NUM}\s*mg"
    rf"|\blimit (?:the )?dose|\d+-fold\b(?!\s+higher)|\breduce the dose\b"
    rf"|\b{_NUM}\s*%?(?:\s*(?:-|–|to)\s*{_NUM})?\s*% of (?:the )?[\w -]{{0,40}}?\b{_DOSE_WORD}"
    rf"|\bhalf (?:of )?the\b[^.;]*?\b{_DOSE_WORD}|\bdo not (?:give |use |administer )?(?:\w+ )?exceed\w*|\bno more than\b"
    rf"|\bsmaller steps\b|\b(?:very )?low dose\b"
)
_INCREASE = _rx(
    rf"\b(?:increas|rais)\w*\b[^.;]*?\b{_DOSE_WORD}|\bhigher\b[^.;]*?\b{_DOSE_WORD}|\b{_DOSE_WORD}[^.;]{{0,10}}\bincrease"
    rf"|\b{_NUM}\s*(?:-|to)\s*{_NUM}\s*times\b"
    rf"|\b(?:double|triple)\b[^.;]*?\b{_DOSE_WORD}|\b{_NUM}\s*(?:times|x)\s+(?:the\s+)?(?:[\w-]+\s+){{0,3}}?{_DOSE_WORD}"
    rf"|\b{_NUM}-fold higher (?:[\w-]+ ){{0,2}}?{_DOSE_WORD}|\b{_DOSE_WORD}[^.;]{{0,20}}?{_NUM}x higher\b"
    rf"|\bincrease the dose\b|\btitrat\w* to a higher\b|\buse the maximum dose\b|\bdose of at least\b|\btitrat\w* (?:the dose )?(?:up\b|upward|according to the maximum)"
)
_CONSIDER_ALT = _rx(
    r"\balternat\w*|\banother\b|\bnot (?:\w+ )?(?:metaboli[sz]ed by|dependent on)\b|^consider\b[^.;]*\bsuch as\b"
    r"|\bswitching to\b|\bnon-[\w-]+ opioid\b"
)
_CAUTION = _rx(r"\bcaution\w*|\bcautious\w*|\bcarefully\b(?! weigh)|\bbe (?:extra )?alert\b")
_STANDARD = _rx(
    rf"\b(?:standard|usual|typical|normal|label[- ]recommended|recommended|desired)\b[\w /-]{{0,30}}?\b{_DOSE_WORD}"
    rf"(?!\w* is \d)|\baccording to the (?:product )?label\b|\bstandard dosing\b|\bat standard doses?\b"
    rf"|\bstandard of care dosing\b"
)
_MONITOR = _rx(r"\bmonitor\w*|\bplasma concentration|\btrough\b")
_WEIGH = _rx(r"\bweigh\b[^.;]*\brisks?\b")

#: ordered cue rules: (rule name, action, pattern); "avoid" may become use_alternative
RULES: tuple[tuple[str, str, re.Pattern], ...] = (
    ("assess", "assess_further", _ASSESS),
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

#: clauses that say what cannot be said, or report evidence: they never decide
_NON_DECIDING = _rx(
    r"^it is not (?:possible|known)\b|^there (?:is|are) (?:insufficient|no) (?:\w+ ){0,2}?(?:data|information|evidence)\b"
    r"|^(?:a|one) (?:dutch )?stud|^studies\b|^in (?:a|one) study\b|^in \d+ |^a patient with\b|^for \d+ patients\b"
    r"|^insufficient evidence\b|^a substantiated recommendation\b|^no [a-z0-9]+ genotype is available\b"
    r"|^\w+ (?:genotype result|phenotype) (?:is not available|could not be assigned)"
    r"|^neither \w+ or \w+ phenotype"
)
_EVIDENCE = _rx(
    r"\b(?:in|from) (?:a|one) study\b|\bstud(?:y|ies) (?:involving|have|has|found)\b|\btolerated\b|\baverage dose\b"
    r"|\bwas sufficient\b|\bwere achieved\b|\bpharmacokinetic model\b|\bis a factor of\b|\bpatients? with (?:the )?genotype\b"
    r"|\bhas been (?:found|reported|observed)\b|\bhave been (?:found|reported|observed)\b|\bhas been reported\b"
    r"|\bwas calculated\b|\bare considered toxic\b|\bis considered toxic\b"
)
_REFERENCE_VALUES = _rx(r"\btherapeutic (?:range|plasma concentration|upper limit)\b|\bconsidered toxic\b|\bng/ml\b")
_BACKGROUND = _rx(
    r"\bsteady state\b|\bis (?:also )?determined by\b|\bis defined as\b|\bcontribute\b|\bgenotype (?:result )?is not available"
    r"|\bcould not be assigned\b|\bnot (?:substantially|significantly)? ?influenced\b|\blatency period\b"
    r"|\bis metaboli[sz]ed\b|\bare metaboli[sz]ed\b|\bequates to\b|\bgiven that\b|\bsuperior\b|\bappears to be\b"
    r"|\bmay decrease\b|\bnot been observed\b|\bare observed\b|\bis based on\b|\bin addition to\b"
)

_FALLBACK_IF = _rx(
    r"^(?:if|in the event|in case|when|should)\b[^:]*?(?:not possible|cannot|can ?not|warranted|to be prescribed|clinically appropriate"
    r"|most appropriate|not (?:an option|desir\w+|wanted|available|considered)|is selected|must be used"
    r"|are required|is required|no alternative|alternative is not|not (?:a )?suitable)"
)
_SECOND_STEP_IF = _rx(
    r"^(?:if|in the (?:case|event) of|when|should)\b[^:]*?(?:no (?:clinical )?response|not (?:adequately )?respond"
    r"|inadequate|insufficient|efficacy is not|side effects|myelosuppression occurs|necessary|does not work"
    r"|still insufficient|tolerating|higher potency|dose >|dose > ?\d|response is|concentration is|<\s*\d+ ?ng)"
)
_OR_SPLIT = re.compile(
    r"\s*(?:,\s*)?\b(?:or|either)\b,?\s+(?=(?:to |else |instead |alternatively )?(?:choose|select|use|start|avoid|increase|"
    r"reduce|titrate|measure|double|consider|give|prescribe|switch|monitor|determine|begin|the dose|an? alternat|"
    r"start with the standard|with)\b)",
    re.IGNORECASE,
)
_OR_OPENER = _rx(r"^(?:or|alternatively)\b,?\s*")


def _if_part(clause: str) -> tuple[str, str]:
    """``(condition, main)`` for a clause opening with If/When/In the event/Should ..."""
    if not re.match(r"(?:if|when|in the (?:case|event)|in case|should)\b", clause, re.IGNORECASE):
        return "", clause
    # "If X is warranted, consider ..." / "If it is not possible to avoid X: use ..." / "If A, and B, consider ..."
    m = _THEN.search(clause)
    if m:
        return clause[: m.start()], clause[m.end() :].strip()
    cut = [i for i in (clause.find(","), clause.find(":")) if i >= 0]
    if not cut:
        return clause, ""
    i = min(cut)
    return clause[:i], clause[i + 1 :].strip()


_THEN = _rx(
    r"[,:]\s*(?:then\s+)?(?=(?:use|start|begin|initiate|give|reduce|increase|avoid|choose|select|consider|prescribe|"
    r"administer|limit|double|titrate|recommend|monitor|be |do not|try|determine|measure|switch|advise|check|cautiously|"
    r"utili[sz]e|\d+-?\w*\s|[a-z0-9-]+ should)\b)"
)


_CONNECTIVE = _rx(r"^(?:therefore|however|furthermore|then),?\s+")


def clause_role(clause: str) -> tuple[str, str]:
    """``(role, main text)``: ``fallback``, ``second_step`` or ``advice`` (see the module docstring)."""
    clause = _CONNECTIVE.sub("", clause)
    cond, main = _if_part(clause)
    if cond:
        if _FALLBACK_IF.search(cond + ":"):
            return "fallback", main
        if _SECOND_STEP_IF.search(cond + ":"):
            return "second_step", main
        return "advice", main  # "If an alternative is an option, choose an alternative"
    if re.match(r"(?:the event|in the event)\b", clause, re.IGNORECASE):
        return "fallback", clause
    return "advice", clause


_NEGATED_ALTERNATIVE = _rx(
    r"alternatives?(?: \w+){0,2} (?:is|are) not (?:available|considered|suitable|an option|possible)\b[^.;,]*"
    r"|\black of [\w ]{0,40}?alternative[\w ]*"
    r"|\b(?:is|are) (?:therefore )?(?:also )?not (?:an? |a suitable |suitable )?alternatives?\b"
    r"|\bnot suitable as alternatives?\b"
)


def _without_negated_alternatives(text: str) -> str:
    return _NEGATED_ALTERNATIVE.sub(" ", text)


def actions_in(text: str) -> list[tuple[str, str]]:
    """The ``(action, rule)`` pairs of ``text`` in order: the first cue of each ``or`` part."""
    out = []
    parts = [p for p in _OR_SPLIT.split(_OR_OPENER.sub("", text)) if p.strip()]
    for part in parts:
        part = _without_negated_alternatives(part)
        hits = []
        for order, (rule, action, pattern) in enumerate(RULES):
            m = pattern.search(part)
            if m:
                hits.append((m.start(), order, action, rule))
        if hits:
            _, _, action, rule = min(hits)
            if action == "standard_dose" and any(r == "caution" for *_, r in hits):
                action, rule = "monitor", "caution"  # "use at standard doses with caution"
            out.append((action, rule))
    return out


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
    if _OTHER_GROUP.search(clause) or _EVIDENCE.search(clause):
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
    after = re.match(rf"[^.;]{{0,40}}?\b{_DOSE_WORD}", clause[m.end() :])
    applies = _applies_to(m.group(0) + (after.group(0) if after else "")) or _applies_to(clause[max(0, start - 40) : start])
    return Dose(round(lo, 4), round(hi, 4), applies, reference, cap)


_CAP = _rx(
    rf"(?P<op>≤|<=|<|\bno more than|\bexceeding|\bnot exceed|\bup to|\bmaximum (?:recommended )?dose of|\bto a maximum of)\s*"
    rf"(?P<n>{_NUM})\s*(?P<unit>mg(?:/kg)?(?:/m2)?|µg)(?P<per>\s*(?:per day|/day|a day|daily|total daily|/month))?"
)
_STARTING = _rx(r"\bas a starting dose\b|\bstarting dose\b")


def parse_caps(clause: str, condition: str = "") -> tuple[str, ...]:
    """Upper dose limits stated in ``clause`` (``≤20 mg/day``, ``<20 mg/day``, ``starting dose ≤40 mg``)."""
    if _EVIDENCE.search(clause) or re.search(r"\bif (?:a )?dose\s*>|\bdoses? >", clause, re.IGNORECASE) and not re.search(
        r"[≤<]\s*\d", clause
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


_SCHEDULE = _rx(
    r"\b(?P<n>thrice|twice|once|three times|two times|\d+\s*(?:x|times))\s*(?:a\s+|per\s+)?(?P<per>week(?:ly)?|day|daily)\b"
    r"(?:\s+instead of\s+(?P<was>daily|weekly|once daily))?"
)
_DIVIDED = _rx(r"\bdivided doses\b")
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


_AMOUNT = _rx(
    rf"(?:dose of|initial dose is|daily dose of|total daily dose of|decreased dose of|dose to|dosing \(|"
    rf"increased to|increase the dose to|initiate with a dose of|use a dose of)\s*"
    rf"(?P<amount>(?:at least\s+)?{_NUM}(?:\s*(?:or|to|-)\s*{_NUM})?\s*(?:mg|µg)(?:/kg)?(?:/day| per day|/month)?"
    rf"(?:\s*(?:1x|2x|once|twice) daily)?)"
)


def parse_amount(clause: str) -> str:
    """An absolute dose the clause gives (``400 mg/day``, ``400 or 200 mg/day``, ``at least 75 mg``)."""
    if _EVIDENCE.search(clause):
        return ""
    m = _AMOUNT.search(clause)
    return " ".join(m.group("amount").split()).replace(" per day", "/day") if m else ""


_UNCHANGED = _rx(
    r"\b(?:the )?loading dose does not need to be adjusted\b|\bfor (?:the )?first dose, use typical initial or loading dose"
)


# --- follow-up ---------------------------------------------------------------------------

_FOLLOWUP_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("drug_levels", _rx(r"therapeutic (?:drug|dose) monitoring|(?:plasma|serum|trough|peak|endoxifen) concentration|drug levels?|\btrough\b")),
    ("titrate_by_toxicity", _rx(r"(?:based on|guided by|according to|by|for|of) (?:the )?(?:degree of )?(?:toxicity|myelosuppression)|neutrophil count|reducing \w+ over other agents")),
    ("titrate_by_response", _rx(r"\b(?:based on|guided by|according to|to) (?:the )?(?:clinical )?(?:effect|response|efficacy|effectiveness)|response,? and side effects|observed clinical response|effect and side effects|efficacy and side effects|check whether the effect")),
    ("slower_titration", _rx(r"slower titration|smaller steps in dose titration")),
    ("monitor_closely", _rx(r"\bmonitor (?:closely|more closely|for)|close monitoring|increased frequency of (?:clinical )?monitoring|monitoring should be performed at an increased|frequency of monitoring should be increased|\bbe (?:extra )?alert\b|carefully monitor|\bcautio|monitor the effect")),
    ("ecg", _rx(r"\becg\b")),
    ("blood_counts", _rx(r"blood counts?")),
    ("inr", _rx(r"\binr\b")),
    ("liver_function", _rx(r"liver (?:function|enzymes)")),
    ("hearing", _rx(r"hearing loss in line")),
    ("patient_reports", _rx(r"advise (?:the )?patients? to|inform the patient")),
    ("stop_if_adverse", _rx(r"discontinue therapy at first|should be stopped if")),
    ("weigh_risks", _rx(r"\bweigh\b[^.;]*\brisks?\b|outweighed|benefits outweigh|consider (?:any )?(?:additional )?risk factors")),
    ("avoid_interacting_drugs", _rx(r"avoid (?:co-medication with |moderate and strong |cyp2d6 strong to weak )?\w* ?inhibitors")),
    ("further_testing", _ASSESS),
)


def followup_in(clause: str) -> tuple[str, ...]:
    return tuple(kind for kind, pattern in _FOLLOWUP_RULES if pattern.search(clause))


# --- alternatives ------------------------------------------------------------------------

_CHOICE = _rx(
    r"\balternat\w*|\binstead\b|\bin lieu\b|\binclude[sd]?\b|\bsuch as\b|\bfor example\b"
    r"|\bnot (?:\w+ )?(?:metaboli[sz]ed|influenced)\b|\bhardly if at all metaboli[sz]ed\b|\bto a lesser extent\b"
    r"|\bpossible alternatives?\b|\bswitching to\b"
)
_CHOICE_VERB = re.compile(r"^(?:use|choose|select|prescribe|consider)\s+(?P<a>[a-z][a-z-]{4,})\s+or\s+(?P<b>[a-z][a-z-]{4,})\b", re.IGNORECASE)
_NOT_OFFERED = _rx(
    r"\bdo not (?:select|choose|use|prescribe|give)\b|\bnot (?:an? |a suitable |suitable )?alternatives?\b"
    r"|\bnot suitable as alternatives?\b"
)
_INTERACTING_LIST = _rx(
    r"\b(?:inhibitors?|inducers?),?\s*(?:\(?\s*(?:such as|for example|eg|like|including)\b|:|\()[^.;)]*"
)
_OFFER_CONTEXT = _rx(
    r"\balternat\w*|\binstead\b|\bin lieu\b|\binclude[sd]?\b|\bnot (?:\w+ )?(?:metaboli[sz]ed|influenced|dependent)\b"
    r"|\bhardly\b|\blesser extent\b|\bswitch"
)
_METABOLITE = _rx(r"\bmetabolite\s*\(\s*[\w-]+\s*\)")
_LIST_START = _rx(r"(?:such as|include[sd]?|including|\beg\b|for example|\bie\b|alternatives include|:)\s*,?\s*(?P<rest>[^()]+)")
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
        if _CLASS_WORDS.search(item) or len(item) < 5:
            continue
        out.append(item.lower())
    return out


def offered_names(clause: str, drug: str, names: Names) -> list[str]:
    """Drugs ``clause`` offers instead of ``drug`` (see the module docstring), in order of mention."""
    found: list[str] = []
    parts = [p for p in _OR_SPLIT.split(_without_negated_alternatives(clause)) if p.strip()] or [clause]
    for part in parts:
        if _AVOID.search(part) and not _CHOICE.search(part) or _NOT_OFFERED.search(part):
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
    out = []
    for name in found:
        name = names.canonical.get(name.lower(), name)
        if not names.same_drug(name, drug) and name not in out:
            out.append(name)
    return out


# --- reading a text ----------------------------------------------------------------------


@dataclass
class Advice:
    """One branch of a recommendation: what to do under its conditions."""

    conditions: dict[str, str] = field(default_factory=dict)  # kind -> label
    action: str = ""
    rule: str = ""
    other_actions: list[str] = field(default_factory=list)
    dose: Dose | None = None
    amount: str = ""
    schedule: str = ""
    unchanged: str = ""
    caps: list[str] = field(default_factory=list)
    followup: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    not_alternatives: list[str] = field(default_factory=list)
    offers_choice: bool = False  # speaks of an alternative, named or not
    content: bool = False  # some clause after its label

    def add(self, attr: str, values: Iterable[str]) -> None:
        current = getattr(self, attr)
        current += [v for v in values if v and v not in current]


@dataclass(frozen=True)
class Reading:
    """A text read clause by clause: its branches and, per clause, the fields it fed or
    ``-reason`` when it is not represented."""

    branches: tuple[Advice, ...]
    clauses: tuple[str, ...]

    @property
    def not_represented(self) -> int:
        return sum(c.startswith("-") for c in self.clauses)


def _reason(clause: str) -> str:
    if _EVIDENCE.search(clause) or re.match(r"(?:in|for) \d+ |a patient\b", clause, re.IGNORECASE):
        return "evidence"
    if _REFERENCE_VALUES.search(clause):
        return "reference_values"
    if _NON_DECIDING.search(clause) or _NO_REC_TEXT.search(clause):
        return "no_advice"
    if _BACKGROUND.search(clause) or re.search(r"\bbecause\b|\bdue to\b|\bas this\b", clause, re.IGNORECASE):
        return "background"
    return "other"


def read_text(text: str, classification: str, drug: str, names: Names) -> Reading:
    """Read one recommendation text into branches and a clause account."""
    no_rec = (classification or "").strip().lower() == "no recommendation" or bool(_NO_REC_TEXT.search(text or ""))
    branches: list[Advice] = [Advice()]
    account: list[str] = []
    caps_follow = False  # "do not exceed the following doses:" - labels then name who a cap is for
    for raw in clauses(text):
        fields: list[str] = []
        labels, clause = [], raw
        while True:
            label, rest = split_condition(clause)
            if not label:
                break
            labels.append(label)
            clause = rest
        b = branches[-1]
        if labels and caps_follow and _MG.search(clause):
            for amount in _listed_caps(clause, short_label(labels[-1])):
                b.add("caps", [amount])
            account.append("condition,caps")
            continue
        if labels:
            caps_follow = False
            if b.action or b.content:
                b = Advice()
                branches.append(b)
            for label in labels:
                b.conditions.setdefault(condition_kind(label), short_label(label))
            fields.append("condition")
        if not clause:
            account.append(",".join(fields))
            continue
        b.content = True
        if _FOLLOWING.search(clause):
            caps_follow = True
            head, _, tail = clause.partition(":")
            listed = _listed_caps(tail, "") if tail else []
            if listed:
                b.add("caps", listed)
                fields.append("caps")
        fields += _read_clause(b, clause, drug, names, labels[-1] if labels else "")
        account.append(",".join(dict.fromkeys(fields)) if fields else f"-{_reason(clause)}")
    branches = _merge_actionless(branches)
    for b in branches:
        _finish(b, no_rec)
    return Reading(tuple(branches), tuple(account))


def _listed_caps(text: str, condition: str) -> list[str]:
    """Caps from a list of amounts (``adults < 65 years 15 mg/day, =65 years 7.5 mg/day``)."""
    out = []
    for piece in re.split(r",\s*(?=\S)|\.\s+", text):
        first = _MG.search(piece)
        who = condition or (" ".join(piece[: first.start()].replace("=", "≥").split()).strip(" :,(") if first else "")
        for m in _MG.finditer(piece):
            per = "/day" if m.group("per") or re.search(r"daily|per day", text, re.IGNORECASE) else ""
            form = m.group("form") or ""
            out.append(f"≤{m.group('n')} {m.group('unit')}{per}{form}" + (f" ({who.lower()})" if who else ""))
    return out


def acts_found(b: Advice, fields: list[str]) -> bool:
    return "action" in fields or "other_actions" in fields


def _read_clause(b: Advice, clause: str, drug: str, names: Names, label: str) -> list[str]:
    """Add what ``clause`` says to branch ``b``; return the fields it fed."""
    fields: list[str] = []
    ev = _EVIDENCE.search(clause)
    if ev and ev.start() > 20 and re.search(r"\b(?:use|reduce|increase|avoid|choose|start|give)\b", clause[: ev.start()], re.I):
        clause = clause[: ev.start()]  # the advice before the evidence it reports
        ev = None
    deciding = not (_NON_DECIDING.search(clause) or ev and not _LEAD_DIRECTIVE.match(clause))
    role, main = clause_role(clause)
    offered = offered_names(main or clause, drug, names)
    if deciding and main and not _NO_REC_TEXT.search(clause):
        if _WEIGH.search(main) and not _AVOID.search(main) or _UNCHANGED.search(clause):
            acts = []
        elif offered and not names.mentions(main, drug) and _DIRECTIVE.search(main):
            acts = [("use_alternative", "named_alternative")]  # "Use X or Y at standard dose": the dose is theirs
        elif _AVOID.search(main) and b.action and not names.mentions(main, drug) and names.known(main):
            acts = []  # "Avoid X and Y" about other drugs: they are not alternatives
            b.add("not_alternatives", [n for n in names.known(main) if not names.same_drug(n, drug)])
            fields.append("not_alternatives")
        elif _DIRECTIVE.search(main) or _DIRECTIVE.search(clause) or role != "advice":
            acts = actions_in(main)
        else:
            acts = []
        acts = [a for a in acts if a[0] != "monitor" or not b.action and role == "advice"]
        if acts and not b.action and b.other_actions and re.match(r"(?:do not exceed|use no more than|no more than)\b", main, re.I):
            acts = []  # a limit on the dose the second step raises ("try a higher dose; do not exceed 1.5 times")
        if acts:
            if role == "advice" and not b.action:
                b.action, b.rule = acts[0]
                b.add("other_actions", [a for a, _ in acts[1:] if a != b.action])
                fields.append("action")
                if len(acts) > 1:
                    fields.append("other_actions")
            elif role != "advice" or _DIRECTIVE.search(main):
                b.add("other_actions", [a for a, _ in acts if a != b.action])
                fields.append("other_actions")
        dose = parse_dose(main)
        if dose and not dose.cap and b.dose is None:
            b.dose = dose
            fields.append("dose")
        elif dose and dose.cap:
            b.add("caps", [_cap_text(dose, label)])
            fields.append("caps")
        caps = parse_caps(main, short_label(label) if label and condition_kind(label) == "age" else "")
        if caps:
            b.add("caps", caps)
            fields.append("caps")
        if schedule := parse_schedule(main):
            b.schedule = b.schedule or schedule
            fields.append("schedule")
        if amount := parse_amount(main):
            b.amount = b.amount or amount
            fields.append("amount")
    if _UNCHANGED.search(clause):
        b.unchanged = "loading"
        fields.append("unchanged")
    if deciding or _WEIGH.search(clause):
        follow = followup_in(clause)
        if follow:
            b.add("followup", follow)
            fields.append("followup")
    if offered and deciding and not acts_found(b, fields) and (role != "advice" or _DIRECTIVE.search(main)):
        b.add("other_actions", ["consider_alternative"])
        fields.append("other_actions")
    if offered:
        b.add("alternatives", offered)
        fields.append("alternatives")
    unsuitable = unsuitable_names(clause, drug, names)
    if unsuitable:
        b.add("not_alternatives", unsuitable)
        fields.append("not_alternatives")
    if _CONSIDER_ALT.search(_without_negated_alternatives(clause)) or _ALT_DIRECTIVE.search(clause):
        b.offers_choice = True
        if not fields and re.search(r"\balternative", _without_negated_alternatives(clause), re.IGNORECASE):
            fields.append("alternatives")
    return fields


_LEAD_DIRECTIVE = _rx(r"^(?:use|start|give|reduce|increase|avoid|choose|select)\b")
#: a clause that tells what to do (an imperative, or "should"): only these add other actions
_DIRECTIVE = _rx(
    r"^(?:(?:then|therefore|alternatively|or|either|also|if necessary|if possible|for (?:the )?(?:first|subsequent|other) doses?,?"
    r"|for [^,:]{0,40}[,:]|based on [^,]{0,30},|there is|there are),?\s+)?"
    r"(?:cautiously |carefully |regularly |closely )?(?:use|start|begin|initiate|give|reduce|"
    r"increase|avoid|choose|select|consider|prescribe|administer|limit|double|titrate|recommend|monitor|be |do not|"
    r"try|determine|measure|switch|guide|adjust|decrease|lower|raise|no (?:action|adjustments?|reason|need|indication))\b"
    r"|\bshould (?:be|not|guide)\b|\bmust be\b|\b(?:is|are) (?:relatively )?(?:contra-?indicated|not recommended)\b"
)
_FOLLOWING = _rx(r"\b(?:not exceed|no more than) the following\b")
_MG = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>mg(?:/kg)?)(?P<per>\s*(?:/day|per day))?(?P<form> as \w+)?")


def _cap_text(dose: Dose, label: str) -> str:
    ref = {"maximum": "the usual maximum dose", "lowest": "the lowest starting dose"}.get(dose.reference, "the usual dose")
    if dose.low >= 1:
        amount = f"{dose.low:g} times" if dose.low == dose.high else f"{dose.low:g} to {dose.high:g} times"
    else:
        pct = lambda x: f"{round(x * 100, 1):g}"  # noqa: E731
        amount = f"{pct(dose.low)}% of" if dose.low == dose.high else f"{pct(dose.low)}-{pct(dose.high)}% of"
    return f"≤{amount} {ref}"


def _merge_actionless(branches: list[Advice]) -> list[Advice]:
    """A branch without an action of its own joins the one before it (its condition is dropped)."""
    out: list[Advice] = []
    for b in branches:
        if out and not b.action and not (b.conditions and (b.dose or b.followup or b.caps)):
            prev = out[-1]
            for attr in ("other_actions", "caps", "followup", "alternatives", "not_alternatives"):
                prev.add(attr, getattr(b, attr))
            prev.dose = prev.dose or b.dose
            prev.offers_choice = prev.offers_choice or b.offers_choice
            continue
        out.append(b)
    if len(out) > 1 and not out[0].action and out[0].conditions:
        first = out.pop(0)  # a heading over the next branch ("LIVER TRANSPLANTATION" + its background)
        out[0].conditions = {**first.conditions, **out[0].conditions}
        for attr in ("caps", "followup", "alternatives", "not_alternatives"):
            out[0].add(attr, getattr(first, attr))
    if len(out) > 1 and not out[0].action and not out[0].conditions:
        first = out.pop(0)  # text before the first condition label, without advice: shared facts
        for b in out:
            for attr in ("caps", "followup", "alternatives", "not_alternatives"):
                b.add(attr, getattr(first, attr))
    return out


def _finish(b: Advice, no_rec: bool) -> None:
    """Settle a branch: no-recommendation, avoid with an offer, the fallback rule."""
    if no_rec:
        b.action, b.rule = "no_recommendation", "no_recommendation"
        b.other_actions.clear()
        return
    if not b.action:
        if "drug_levels" in b.followup and not b.dose:
            b.action, b.rule = "monitor", "levels"
        elif b.followup and not b.other_actions:
            b.action, b.rule = "monitor", "followup"
        elif b.other_actions:
            b.action, b.rule = b.other_actions.pop(0), "second_step_only"
        elif "further_testing" in b.followup:
            b.action, b.rule = "assess_further", "testing"
        elif b.dose or b.caps:
            b.action, b.rule = ("increase_dose" if b.dose and b.dose.low > 1 else "reduce_dose"), "dose_only"
        else:
            b.action, b.rule = "monitor", "fallback"
    if b.action == "avoid" and (b.alternatives or b.offers_choice):
        b.action, b.rule = "use_alternative", "avoid_with_alternative"
    b.other_actions[:] = [a for a in dict.fromkeys(b.other_actions) if a != b.action]
    if b.action in ("use_alternative", "consider_alternative"):
        b.other_actions[:] = [a for a in b.other_actions if a not in ("use_alternative", "consider_alternative", "avoid")]
    if b.action == "avoid":
        b.other_actions[:] = [a for a in b.other_actions if a != "use_alternative"]


def with_conditions(b: Advice, **conditions: str) -> Advice:
    """``b`` with more conditions (a CPIC population), keeping its own."""
    merged = {**{k: v for k, v in conditions.items() if v}, **b.conditions}
    return replace(b, conditions=merged)


__all__ = [
    "CONDITION_KINDS",
    "FOLLOWUP",
    "NOT_REPRESENTED",
    "SYNONYMS",
    "Advice",
    "Dose",
    "Names",
    "Reading",
    "actions_in",
    "clause_role",
    "clauses",
    "condition_kind",
    "drug_name_pattern",
    "offered_names",
    "parse_caps",
    "parse_dose",
    "parse_schedule",
    "read_text",
    "short_label",
    "split_condition",
]


def describe_reading(reading: Reading) -> str:  # pragma: no cover - a debugging aid
    lines = []
    for i, b in enumerate(reading.branches, 1):
        lines.append(f"  branch {i} {b.conditions} {b.action} ({b.rule}) other={b.other_actions} dose={b.dose} "
                     f"amount={b.amount!r} schedule={b.schedule!r} unchanged={b.unchanged!r} caps={b.caps} "
                     f"follow={b.followup} alts={b.alternatives} not={b.not_alternatives}")
    lines.append(f"  clauses {list(reading.clauses)}")
    return "\n".join(lines)


def read_many(texts: Sequence[tuple[str, str, str]], names: Names) -> list[Reading]:  # pragma: no cover
    return [read_text(t, c, d, names) for t, c, d in texts]
