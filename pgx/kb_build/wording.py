"""pgx's own short recommendation text, written from the structured facts of one branch.

Nothing here reads a guideline sentence: :func:`render_text` sees only the fields of an
:class:`pgx.kb_build.advice.Advice` (action, other actions, conditions, dose, schedule,
caps, follow-up, alternatives) and cites the source (``(CPIC, Strong)``, ``(DPWG)``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pgx.kb_build.advice import Advice, Dose

FOLLOWUP_WORDS = {
    "drug_levels": "let drug levels guide the dose",
    "titrate_by_toxicity": "adjust the dose by toxicity",
    "titrate_by_response": "adjust the dose by response and side effects",
    "slower_titration": "titrate more slowly",
    "monitor_closely": "monitor closely",
    "ecg": "record an ECG",
    "blood_counts": "check blood counts",
    "inr": "check the INR more often",
    "liver_function": "check liver function",
    "hearing": "check hearing",
    "patient_reports": "ask the patient to report symptoms",
    "stop_if_adverse": "stop at the first sign of a serious reaction",
    "weigh_risks": "weigh risks against benefits",
    "avoid_interacting_drugs": "avoid drugs that inhibit the pathway",
    "further_testing": "assess further (enzyme activity, clinical findings or more testing, as the guideline names)",
}
_APPLIES = {"starting": "starting dose", "maintenance": "maintenance dose", "subsequent": "doses after the first",
            "loading": "loading dose", "": "dose"}  # fmt: skip
_REFERENCE = {"standard": "the usual", "lowest": "the lowest usual", "maximum": "the usual maximum"}
_OTHER = {
    "avoid": "avoid {drug}",
    "use_alternative": "choose another drug",
    "consider_alternative": "consider another drug",
    "reduce_dose": "a lower dose",
    "increase_dose": "a higher dose",
    "standard_dose": "the usual dose",
    "assess_further": "further assessment",
    "monitor": "close monitoring",
    "no_recommendation": "no specific advice",
}


def _pct(x: float) -> str:
    return f"{round(x * 100, 1):g}"


def dose_phrase(d: Dose) -> str:
    """``50% of the usual starting dose``, ``30 to 80% of the usual starting dose``, ``1.5 to 2 times the usual dose``."""
    target = f"{_REFERENCE.get(d.reference, 'the usual')} {_APPLIES.get(d.applies_to, 'dose')}"
    if d.reference == "lowest" and d.applies_to == "":
        target = "the lowest usual starting dose"
    if d.low >= 1:
        amount = f"{d.low:g} times" if d.low == d.high else f"{d.low:g} to {d.high:g} times"
    else:
        amount = f"{_pct(d.low)}% of" if d.low == d.high else f"{_pct(d.low)} to {_pct(d.high)}% of"
    return f"{amount} {target}"


def _join(names: Sequence[str], word: str = "or") -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {word} " + names[-1]


def condition_phrase(b: Advice) -> str:
    """``For depression``, ``With additional risk factors ...``: the branch's conditions, our order."""
    parts = []
    for kind in ("indication", "age", "risk_factors", "other"):
        if value := b.conditions.get(kind):
            parts.append(value)
    return "; ".join(parts)


def _main(drug: str, b: Advice, source: str) -> str:
    alts = f", e.g. {_join(b.alternatives)}," if b.alternatives else ""
    a = b.action
    if a == "standard_dose":
        text = f"Use {drug} at the usual dose"
        return text + (f" ({b.amount})" if b.amount else "")
    if a in ("reduce_dose", "increase_dose"):
        if b.dose:
            verb = "Start" if b.dose.applies_to == "starting" else "Give"
            text = f"{verb} {drug} at {dose_phrase(b.dose)}"
        elif b.amount:
            text = f"Give {drug} at {b.amount}"
        else:
            text = f"Give {drug} at a {'lower' if a == 'reduce_dose' else 'higher'} dose than usual"
        return text
    if a == "use_alternative":
        return f"Choose another drug{alts} instead of {drug}" if alts else f"Choose a drug other than {drug}"
    if a == "consider_alternative":
        return f"Consider another drug{alts} instead of {drug}" if alts else f"Consider a drug other than {drug}"
    if a == "avoid":
        return f"Avoid {drug}"
    if a == "assess_further":
        return f"Decide on {drug} only after the further assessment the guideline asks for"
    if a == "monitor" and b.rule in ("caution", "fallback"):
        return f"Use {drug} with caution and close monitoring"
    if a == "monitor":
        return f"Use {drug} with the follow-up below"
    return f"{source} makes no genotype-based recommendation for {drug} with this result"


def sentences(drug: str, b: Advice, source: str) -> list[str]:
    """The sentences of one branch, without the citation."""
    out = []
    cond = condition_phrase(b)
    main = _main(drug, b, source)
    out.append(f"If {cond}: {main[0].lower()}{main[1:]}" if cond else main)
    if b.action == "no_recommendation":
        return out
    if b.schedule:
        out.append(f"Dosing: {b.schedule}")
    if (
        b.amount
        and b.action not in ("standard_dose", "reduce_dose", "increase_dose")
        or (b.amount and b.dose and b.action in ("reduce_dose", "increase_dose"))
    ):
        out.append(f"Stated dose: {b.amount}")
    if b.unchanged:
        out.append(f"Keep the usual {b.unchanged} dose")
    if b.caps:
        out.append(f"Dose limit: {'; '.join(b.caps)}")
    others = [o for o in b.other_actions if o in _OTHER]
    if others:
        words = [_OTHER[o].format(drug=drug) for o in others]
        if b.dose and b.action not in ("reduce_dose", "increase_dose"):
            words = [w if w not in ("a lower dose", "a higher dose") else f"{dose_phrase(b.dose)}" for w in words]
        lead = "Other option or next step" if b.action not in ("avoid", "use_alternative", "consider_alternative") else (
            f"If {drug} is used anyway")  # fmt: skip
        out.append(f"{lead}: {_join(words)}")
    follow = [FOLLOWUP_WORDS[f] for f in b.followup if f in FOLLOWUP_WORDS]
    if follow:
        text = _join(follow, "and")
        out.append(text[0].upper() + text[1:])
    if b.not_alternatives:
        out.append(f"Not an alternative: {_join(b.not_alternatives, 'and')}")
    return out


def render_text(drug: str, b: Advice, strength: str, source: str) -> str:
    """A short recommendation in our own words, from ``b`` only, citing the source."""
    parts = sentences(drug, b, source)
    cite = f"({source}, {strength})" if strength and strength != "N/A" else f"({source})"
    return " ".join(f"{p}." for p in parts[:-1] + [f"{parts[-1]} {cite}"])


__all__ = ["FOLLOWUP_WORDS", "condition_phrase", "dose_phrase", "render_text", "sentences"]
