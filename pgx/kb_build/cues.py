"""The cue vocabulary of guideline recommendation texts: regular expressions and small
readers shared by :mod:`pgx.kb_build.advice` (which reads a text) and
:mod:`pgx.kb_build.clause_facts` (doses, caps, schedules, follow-up, drug names).

Each pattern names a wording the CPIC and DPWG texts use for one kind of advice; the
rule order of :data:`RULES` decides ties between cues that start at the same place.
"""

from __future__ import annotations

import re

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


def cue_pattern(pattern: str) -> re.Pattern:
    """A case-insensitive cue regex (shared by the clause readers)."""
    return re.compile(pattern, re.IGNORECASE)


# --- cues --------------------------------------------------------------------------------

NUM = r"\d+(?:\.\d+)?"
PCT = rf"(?P<lo>{NUM})\s*%?(?:\s*(?:-|–|to)\s*(?P<hi>{NUM}))?\s*%"
DOSE_WORD = r"dos(?:e|es|ing|age)\b"

NO_REC_TEXT = cue_pattern(
    r"^\s*(?:no recommendation|no action recommended|n/a\s*\.?$|the guideline does not provide a recommendation)"
)
ASSESS = cue_pattern(
    r"\b(?:measur|determin|evaluat|assess)\w*[^.;]{0,40}?\b(?:activity|inhibition of platelet)"
    r"|\bactivity must be measured\b|\bfurther (?:genetic )?testing\b|\bclinical findings\b"
)
_START_STANDARD = cue_pattern(
    r"^(?:start|begin|initiate)(?: therapy)? (?:with|at) (?:the )?(?:normal|standard|usual) (?:initial |starting )?dose\b"
)
_NOT_AVOID = cue_pattern(
    r"\bno (?:reason|need) to avoid\b|\bno indication to change\b|\bno action (?:is )?(?:needed|required)\b"
    r"|\bno adjustments? needed\b|\bdoes not need to be adjusted\b"
)
AVOID = cue_pattern(
    r"\bavoid(?:ed)?\b(?![^.;]*\b(?:inhibitors?|inducers?|co-medication)\b)(?! (?:\w+ )?doses? exceeding)"
    r"|\bnot recommended\b|\bcontra-?indicated\b|\bdo not use\b|\bshould not be used\b|\bshould be stopped\b"
)
ALT_DIRECTIVE = cue_pattern(r"^(?:choose|select|use|prescribe|recommend|switch to)\b[^.;]*?\balternat")
_INSTEAD = cue_pattern(r"\bin lieu of\b|\binstead of\b(?! daily| weekly)")
_REDUCE = cue_pattern(
    rf"{PCT}\s*(?:reduction|lower|less|decrease)\b|\b(?:reduc|decreas)\w*\b[^.;]*?\b{DOSE_WORD}"
    rf"|\blower\b[^.;]*?\b{DOSE_WORD}|\blowest (?:recommended )?starting dose|(?:≤|<=|<)\s*{NUM}\s*mg"
    rf"|\blimit (?:the )?dose|\d+-fold\b(?!\s+higher)|\breduce the dose\b"
    rf"|\b{NUM}\s*%?(?:\s*(?:-|–|to)\s*{NUM})?\s*% of (?:the )?[\w -]{{0,40}}?\b{DOSE_WORD}"
    rf"|\bhalf (?:of )?the\b[^.;]*?\b{DOSE_WORD}|\bdo not (?:give |use |administer )?(?:\w+ )?exceed\w*|\bno more than\b"
    rf"|\bsmaller steps\b|\b(?:very )?low dose\b"
)
_INCREASE = cue_pattern(
    rf"\b(?:increas|rais)\w*\b[^.;]*?\b{DOSE_WORD}|\bhigher\b[^.;]*?\b{DOSE_WORD}|\b{DOSE_WORD}[^.;]{{0,10}}\bincrease"
    rf"|\b{NUM}\s*(?:-|to)\s*{NUM}\s*times\b"
    rf"|\b(?:double|triple)\b[^.;]*?\b{DOSE_WORD}|\b{NUM}\s*(?:times|x)\s+(?:the\s+)?(?:[\w-]+\s+){{0,3}}?{DOSE_WORD}"
    rf"|\b{NUM}-fold higher (?:[\w-]+ ){{0,2}}?{DOSE_WORD}|\b{DOSE_WORD}[^.;]{{0,20}}?{NUM}x higher\b"
    rf"|\bincrease the dose\b|\btitrat\w* to a higher\b|\buse the maximum dose\b|\bdose of at least\b|\btitrat\w* (?:the dose )?(?:up\b|upward|according to the maximum)"
)
CONSIDER_ALT = cue_pattern(
    r"\balternat\w*|\banother\b|\bnot (?:\w+ )?(?:metaboli[sz]ed by|dependent on)\b|^consider\b[^.;]*\bsuch as\b"
    r"|\bswitching to\b|\bnon-[\w-]+ opioid\b"
)
_CAUTION = cue_pattern(r"\bcaution\w*|\bcautious\w*|\bcarefully\b(?! weigh)|\bbe (?:extra )?alert\b")
_STANDARD = cue_pattern(
    rf"\b(?:standard|usual|typical|normal|label[- ]recommended|recommended|desired)\b[\w /-]{{0,30}}?\b{DOSE_WORD}"
    rf"(?!\w* is \d)|\baccording to the (?:product )?label\b|\bstandard dosing\b|\bat standard doses?\b"
    rf"|\bstandard of care dosing\b"
)
_MONITOR = cue_pattern(r"\bmonitor\w*|\bplasma concentration|\btrough\b")
WEIGH = cue_pattern(r"\bweigh\b[^.;]*\brisks?\b")

#: ordered cue rules: (rule name, action, pattern); "avoid" may become use_alternative
RULES: tuple[tuple[str, str, re.Pattern], ...] = (
    ("assess", "assess_further", ASSESS),
    ("start_standard", "standard_dose", _START_STANDARD),
    ("not_avoid", "standard_dose", _NOT_AVOID),
    ("avoid", "avoid", AVOID),
    ("alternative_directive", "use_alternative", ALT_DIRECTIVE),
    ("instead", "use_alternative", _INSTEAD),
    ("reduce", "reduce_dose", _REDUCE),
    ("increase", "increase_dose", _INCREASE),
    ("consider_alternative", "consider_alternative", CONSIDER_ALT),
    ("caution", "monitor", _CAUTION),
    ("standard", "standard_dose", _STANDARD),
    ("monitor", "monitor", _MONITOR),
)

#: clauses that say what cannot be said, or report evidence: they never decide
NON_DECIDING = cue_pattern(
    r"^it is not (?:possible|known)\b|^there (?:is|are) (?:insufficient|no) (?:\w+ ){0,2}?(?:data|information|evidence)\b"
    r"|^(?:a|one) (?:dutch )?stud|^studies\b|^in (?:a|one) study\b|^in \d+ |^a patient with\b|^for \d+ patients\b"
    r"|^insufficient evidence\b|^a substantiated recommendation\b|^no [a-z0-9]+ genotype is available\b"
    r"|^\w+ (?:genotype result|phenotype) (?:is not available|could not be assigned)"
    r"|^neither \w+ or \w+ phenotype"
)
EVIDENCE = cue_pattern(
    r"\b(?:in|from) (?:a|one) study\b|\bstud(?:y|ies) (?:involving|have|has|found)\b|\btolerated\s+(?:\d|a\b|an\b|the\b)|\baverage dose\b"
    r"|\bwas sufficient\b|\bwere achieved\b|\bpharmacokinetic model\b|\bis a factor of\b|\bpatients? with (?:the )?genotype\b"
    r"|\bhas been (?:found|reported|observed)\b|\bhave been (?:found|reported|observed)\b|\bhas been reported\b"
    r"|\bwas calculated\b|\bare considered toxic\b|\bis considered toxic\b"
)
REFERENCE_VALUES = cue_pattern(r"\btherapeutic (?:range|plasma concentration|upper limit)\b|\bconsidered toxic\b|\bng/ml\b")
BACKGROUND = cue_pattern(
    r"\bsteady state\b|\bis (?:also )?determined by\b|\bis defined as\b|\bcontribute\b|\bgenotype (?:result )?is not available"
    r"|\bcould not be assigned\b|\bnot (?:substantially|significantly)? ?influenced\b|\blatency period\b"
    r"|\bis metaboli[sz]ed\b|\bare metaboli[sz]ed\b|\bequates to\b|\bgiven that\b|\bsuperior\b|\bappears to be\b"
    r"|\bmay decrease\b|\bnot been observed\b|\bare observed\b|\bis based on\b|\bin addition to\b"
)

_FALLBACK_IF = cue_pattern(
    r"^(?:if|in the event|in case|when|should)\b[^:]*?(?:not possible|cannot|can ?not|warranted|to be prescribed|clinically appropriate"
    r"|most appropriate|not (?:an option|desir\w+|wanted|available|considered)|is selected|must be used"
    r"|are required|is required|no alternative|alternative is not|not (?:a )?suitable)"
)
_SECOND_STEP_IF = cue_pattern(
    r"^(?:if|in the (?:case|event) of|when|should)\b[^:]*?(?:no (?:clinical )?response|not (?:adequately )?respond"
    r"|inadequate|insufficient|efficacy is not|side effects|myelosuppression occurs|necessary|does not work"
    r"|still insufficient|tolerating|higher potency|dose >|dose > ?\d|response is|concentration is|<\s*\d+ ?ng)"
)
OR_SPLIT = re.compile(
    r"\s*(?:,\s*)?\b(?:or|either)\b,?\s+(?=(?:to |else |instead |alternatively )?(?:choose|select|use|start|avoid|increase|"
    r"reduce|titrate|measure|double|consider|give|prescribe|switch|monitor|determine|begin|the dose|an? alternat|"
    r"start with the standard|with)\b)",
    re.IGNORECASE,
)
_OR_OPENER = cue_pattern(r"^(?:or|alternatively)\b,?\s*")


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


_THEN = cue_pattern(
    r"[,:]\s*(?:then\s+)?(?=(?:use|start|begin|initiate|give|reduce|increase|avoid|choose|select|consider|prescribe|"
    r"administer|limit|double|titrate|recommend|monitor|be |do not|try|determine|measure|switch|advise|check|cautiously|"
    r"utili[sz]e|\d+-?\w*\s|[a-z0-9-]+ should)\b)"
)


_CONNECTIVE = cue_pattern(r"^(?:therefore|however|furthermore|then),?\s+")


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


_NEGATED_ALTERNATIVE = cue_pattern(
    r"alternatives?(?: \w+){0,2} (?:is|are) not (?:available|considered|suitable|an option|possible)\b[^.;,]*"
    r"|\black of [\w ]{0,40}?alternative[\w ]*"
    r"|\b(?:is|are) (?:therefore )?(?:also )?not (?:an? |a suitable |suitable )?alternatives?\b"
    r"|\bnot suitable as alternatives?\b"
)


def without_negated_alternatives(text: str) -> str:
    return _NEGATED_ALTERNATIVE.sub(" ", text)


def actions_in(text: str) -> list[tuple[str, str]]:
    """The ``(action, rule)`` pairs of ``text`` in order: the first cue of each ``or`` part."""
    out = []
    parts = [p for p in OR_SPLIT.split(_OR_OPENER.sub("", text)) if p.strip()]
    for part in parts:
        part = without_negated_alternatives(part)
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


LEAD_DIRECTIVE = cue_pattern(r"^(?:use|start|give|reduce|increase|avoid|choose|select)\b")
#: a clause that tells what to do (an imperative, or "should"): only these add other actions
DIRECTIVE = cue_pattern(
    r"^(?:(?:then|therefore|alternatively|or|either|also|if necessary|if possible|for (?:the )?(?:first|subsequent|other) doses?,?"
    r"|for [^,:]{0,40}[,:]|based on [^,]{0,30},|there is|there are),?\s+)?"
    r"(?:cautiously |carefully |regularly |closely )?(?:use|start|begin|initiate|give|reduce|"
    r"increase|avoid|choose|select|consider|prescribe|administer|limit|double|titrate|recommend|monitor|be |do not|"
    r"try|determine|measure|switch|guide|adjust|decrease|lower|raise|no (?:action|adjustments?|reason|need|indication))\b"
    r"|\bshould (?:be|not|guide)\b|\bmust be\b|\b(?:is|are) (?:relatively )?(?:contra-?indicated|not recommended)\b"
)
FOLLOWING = cue_pattern(r"\b(?:not exceed|no more than) the following\b")
MG = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>mg(?:/kg)?)(?P<per>\s*(?:/day|per day))?(?P<form> as \w+)?")
