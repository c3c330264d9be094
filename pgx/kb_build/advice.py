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
from collections.abc import Iterable
from dataclasses import dataclass, field, replace


from pgx.kb_build.clause_facts import (
    Dose, Names, drug_name_pattern, followup_in, offered_names, parse_amount, parse_caps,
    parse_dose, parse_schedule, unsuitable_names, UNCHANGED,
)  # fmt: skip
from pgx.kb_build.cues import (
    CONDITION_KINDS, FOLLOWUP, NOT_REPRESENTED, SYNONYMS, actions_in, clause_role,
    ALT_DIRECTIVE, AVOID, BACKGROUND, CONSIDER_ALT, DIRECTIVE, EVIDENCE, FOLLOWING, LEAD_DIRECTIVE, MG,
    NO_REC_TEXT, NON_DECIDING, REFERENCE_VALUES, WEIGH, cue_pattern, without_negated_alternatives,
)  # fmt: skip


# --- clauses -----------------------------------------------------------------------------

_ABBREVIATIONS = (
    (cue_pattern(r"\be\.g\.,?"), "eg"),
    (cue_pattern(r"\bi\.e\.,?"), "ie"),
    (cue_pattern(r"\bvs\."), "vs"),
    (cue_pattern(r"\bapprox\."), "approx"),
    (cue_pattern(r"\bH\. pylori"), "H.pylori"),
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

_CONDITION_WORDS = cue_pattern(
    r"indication|malignan|immunosuppress|leuka?emia|\bpain\b|\bcough\b|depression|anxiety|obsessive|pylori"
    r"|eradication|transplant|\bliver\b|coronary|stroke|\btia\b|brugada|heart rate|bradycardia|heart failure"
    r"|risk factors?|co-?medication|administration|anticoagulation clinic|otherwise|other cases"
    r"|doses? (?:higher|lower) than|body mass index|\byears?\b|\bkg\b|children|adults|monopreparation"
    r"|combination preparation"
)
_NOT_A_CONDITION = cue_pattern(
    r"^(?:note|if it is not possible|if (?:an|no) alternative|if the dose|if the medicine|in the event of side"
    r"|if a dose|if dose|in the case of inadequate|if this does not|do not exceed|use no more than"
    r"|possible alternatives)"
)
_CAPS_HEADING = re.compile(r"^((?:[A-Z][A-Z-]{1,}\s+){0,8}[A-Z][A-Z-]{2,})\s+(?=[A-Z][a-z])")
_KIND_WORDS = (
    ("risk_factors", cue_pattern(r"risk factors?")),
    (
        "indication",
        cue_pattern(
            r"indication|malignan|immunosuppress|leuka?emia|\bpain\b|\bcough\b|depression|anxiety|obsessive"
            r"|pylori|eradication|transplant|coronary|stroke|\btia\b|brugada|heart rate|bradycardia|heart failure"
        ),
    ),
    ("age", cue_pattern(r"\byears?\b|children|adults|\bkg\b|body mass|pediatric|paediatric")),
)
_LABEL_FILLER = cue_pattern(r"^(?:recommendation\s+|for\s+|indications?\s+|patient has\s+|if\s+|in\s+)+")
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
    if EVIDENCE.search(clause) or re.match(r"(?:in|for) \d+ |a patient\b", clause, re.IGNORECASE):
        return "evidence"
    if REFERENCE_VALUES.search(clause):
        return "reference_values"
    if NON_DECIDING.search(clause) or NO_REC_TEXT.search(clause):
        return "no_advice"
    if BACKGROUND.search(clause) or re.search(r"\bbecause\b|\bdue to\b|\bas this\b", clause, re.IGNORECASE):
        return "background"
    return "other"


def read_text(text: str, classification: str, drug: str, names: Names) -> Reading:
    """Read one recommendation text into branches and a clause account."""
    no_rec = (classification or "").strip().lower() == "no recommendation" or bool(NO_REC_TEXT.search(text or ""))
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
        if labels and caps_follow and MG.search(clause):
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
        if FOLLOWING.search(clause):
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
        first = MG.search(piece)
        who = condition or (" ".join(piece[: first.start()].replace("=", "≥").split()).strip(" :,(") if first else "")
        for m in MG.finditer(piece):
            per = "/day" if m.group("per") or re.search(r"daily|per day", text, re.IGNORECASE) else ""
            form = m.group("form") or ""
            out.append(f"≤{m.group('n')} {m.group('unit')}{per}{form}" + (f" ({who.lower()})" if who else ""))
    return out


def acts_found(b: Advice, fields: list[str]) -> bool:
    return "action" in fields or "other_actions" in fields


def _read_clause(b: Advice, clause: str, drug: str, names: Names, label: str) -> list[str]:
    """Add what ``clause`` says to branch ``b``; return the fields it fed."""
    fields: list[str] = []
    ev = EVIDENCE.search(clause)
    if ev and ev.start() > 20 and re.search(r"\b(?:use|reduce|increase|avoid|choose|start|give)\b", clause[: ev.start()], re.I):
        clause = clause[: ev.start()]  # the advice before the evidence it reports
        ev = None
    deciding = not (NON_DECIDING.search(clause) or ev and not LEAD_DIRECTIVE.match(clause))
    role, main = clause_role(clause)
    offered = offered_names(main or clause, drug, names)
    if deciding and main and not NO_REC_TEXT.search(clause):
        if WEIGH.search(main) and not AVOID.search(main) or UNCHANGED.search(clause):
            acts = []
        elif offered and not names.mentions(main, drug) and DIRECTIVE.search(main):
            acts = [("use_alternative", "named_alternative")]  # "Use X or Y at standard dose": the dose is theirs
        elif AVOID.search(main) and b.action and not names.mentions(main, drug) and names.known(main):
            acts = []  # "Avoid X and Y" about other drugs: they are not alternatives
            b.add("not_alternatives", [n for n in names.known(main) if not names.same_drug(n, drug)])
            fields.append("not_alternatives")
        elif DIRECTIVE.search(main) or DIRECTIVE.search(clause) or role != "advice":
            acts = actions_in(main)
        else:
            acts = []
        acts = [a for a in acts if a[0] != "monitor" or not b.action and role == "advice"]
        if (
            acts
            and not b.action
            and b.other_actions
            and re.match(r"(?:do not exceed|use no more than|no more than)\b", main, re.I)
        ):
            acts = []  # a limit on the dose the second step raises ("try a higher dose; do not exceed 1.5 times")
        if acts:
            if role == "advice" and not b.action:
                b.action, b.rule = acts[0]
                b.add("other_actions", [a for a, _ in acts[1:] if a != b.action])
                fields.append("action")
                if len(acts) > 1:
                    fields.append("other_actions")
            elif role != "advice" or DIRECTIVE.search(main):
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
    if UNCHANGED.search(clause):
        b.unchanged = "loading"
        fields.append("unchanged")
    if deciding or WEIGH.search(clause):
        follow = followup_in(clause)
        if follow:
            b.add("followup", follow)
            fields.append("followup")
    if offered and deciding and not acts_found(b, fields) and (role != "advice" or DIRECTIVE.search(main)):
        b.add("other_actions", ["consider_alternative"])
        fields.append("other_actions")
    if offered:
        b.add("alternatives", offered)
        fields.append("alternatives")
    unsuitable = unsuitable_names(clause, drug, names)
    if unsuitable:
        b.add("not_alternatives", unsuitable)
        fields.append("not_alternatives")
    if CONSIDER_ALT.search(without_negated_alternatives(clause)) or ALT_DIRECTIVE.search(clause):
        b.offers_choice = True
        if not fields and re.search(r"\balternative", without_negated_alternatives(clause), re.IGNORECASE):
            fields.append("alternatives")
    return fields


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
    if b.dose and b.dose.low > 1 and "increase_dose" not in (b.action, *b.other_actions):
        b.other_actions.append("increase_dose")  # a stated higher dose is an action even when worded as a need
    elif b.dose and b.dose.high < 1 and "reduce_dose" not in (b.action, *b.other_actions):
        b.other_actions.append("reduce_dose")
    b.other_actions[:] = [a for a in dict.fromkeys(b.other_actions) if a != b.action]
    amounts = {c.split(" (")[0] for c in b.caps if " (" in c}
    b.caps[:] = [c for c in b.caps if " (" in c or c not in amounts]  # "≤2 mg/day" already given for its group
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
    "with_conditions",
]
