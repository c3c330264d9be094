"""The report's own words, written from structured facts (never guideline sentences).

- :func:`plain_phenotype`: what a phenotype means, from the CPIC phenotype vocabulary
  (metabolizer status is enzyme activity, function is transporter function, G6PD
  deficient or variable, malignant-hyperthermia susceptibility, HLA carriage; "Likely"
  and "Possible" are "probably"). General rules over the terms, not a table of genes.
- :func:`short_advice`: one recommendation row in a few words, from its structured
  columns: the condition it holds under, the action, a dose factor or amount, a single
  dose limit (or their count), up to three alternatives.
- :func:`strengths`: the sources of some rows with their strength (``CPIC strong, DPWG``).

Page 2 of the report (:mod:`pgx.report`) is written with these.
"""

from __future__ import annotations

import re

from pgx.placement import CONDITION_COLUMNS
from pgx.report_layout import _as_list, _is_missing, _text

ACTION_TEXT = {
    "avoid": "Avoid",
    "use_alternative": "Use an alternative drug",
    "consider_alternative": "Consider an alternative drug",
    "reduce_dose": "Reduce the dose",
    "increase_dose": "Increase the dose",
    "monitor": "Monitor",
    "assess_further": "Assess further before deciding (enzyme activity, clinical findings, family history, testing)",
    "standard_dose": "Use the standard dose",
    "no_recommendation": "No recommendation in the guideline for this result",
    "no_guideline_match": "No guideline recommendation for this result",
}


def strength(r: object) -> str:
    """'Strong recommendation'; nothing for CPIC's 'No Recommendation' or an empty strength."""
    strength = _text(r.strength).strip()
    if not strength or strength.lower() in ("no recommendation", "n/a", "none"):
        return ""
    return strength if "recommendation" in strength.lower() else f"{strength} recommendation"


def plain_phenotype(gene: str, phenotype: str) -> str:
    """What a phenotype means, in words a clinician uses; empty when the term says it already.

    General rules over the CPIC phenotype vocabulary (metabolizer status, transporter
    function, G6PD activity, malignant-hyperthermia susceptibility, HLA carriage), not a
    table of genes: "Intermediate Metabolizer" of any gene is reduced enzyme activity.
    """
    low = re.sub(r"\s*\([^()]*\)$", "", phenotype.strip()).lower()  # "(activity score 1.0)" says nothing more
    hedge = ""
    for prefix in ("likely ", "possible "):
        if low.startswith(prefix):
            hedge, low = "probably ", low[len(prefix) :]
    levels = {"poor": "little or no", "intermediate": "reduced", "decreased": "reduced", "normal": "usual",
              "rapid": "increased", "increased": "increased", "ultrarapid": "much increased"}  # fmt: skip
    word, _, kind = low.partition(" ")
    if kind == "metabolizer" and word in levels:
        return f"{hedge}{levels[word]} {gene} enzyme activity"
    if kind == "function" and word in levels:
        return f"{hedge}{levels[word]} {gene} function"
    if low == "indeterminate":
        return "the result cannot be interpreted; treat it as unknown"
    if low.startswith("deficient"):
        return f"{hedge}{gene} deficiency: too little enzyme activity" + (
            ", with chronic haemolytic anaemia" if "cnsha" in low else ""
        )
    if low == "variable":
        return f"{gene} activity may be normal or deficient (cells differ)"
    if low == "normal":
        return f"usual {gene} activity"
    if low == "malignant hyperthermia susceptibility":
        return "at risk of malignant hyperthermia"
    if low == "uncertain susceptibility":
        return "no known risk variant found; this does not rule out malignant-hyperthermia susceptibility"
    if low.endswith(" positive") or low == "positive":
        return "carries the allele the guideline names"
    if low.endswith(" negative") or low == "negative":
        return "does not carry the allele the guideline names"
    return ""


def result_label(result: str) -> str:
    """'CYP2D6: Intermediate Metabolizer' as a line of the plain-language list's head."""
    gene, _, phenotype = result.partition(":")
    return f"{gene.strip()} {phenotype.strip()}"


_SHORT_ACTION = {
    "avoid": "avoid",
    "use_alternative": "use another drug",
    "consider_alternative": "consider another drug",
    "reduce_dose": "lower dose",
    "increase_dose": "higher dose",
    "monitor": "use with close monitoring",
    "assess_further": "assess further before use",
}
_CONDITION_CHARS = 48


def _factor(low: object, high: object) -> str:
    """A dose factor as page 2 prints it: 75 % of the usual dose, 1.5-2 times it."""
    lo = float(low)
    hi = lo if _is_missing(high) else float(high)
    if hi <= 1:
        return f"{lo:.0%}" if lo == hi else f"{lo:.0%}-{hi:.0%}"
    return f"{lo:g}\u00d7" if lo == hi else f"{lo:g}-{hi:g}\u00d7"


def short_advice(r: object) -> str:
    """One row's advice in a few words, from its structured fields: the condition it holds
    under, the action, a dose factor or amount, a single dose limit, alternatives."""
    conditions = [_text(getattr(r, column, "")).strip() for column, _ in CONDITION_COLUMNS]
    condition = "; ".join(c for c in conditions if c)
    if len(condition) > _CONDITION_CHARS:
        condition = condition[: _CONDITION_CHARS - 1].rstrip() + "\u2026"
    words = _SHORT_ACTION.get(str(r.action), ACTION_TEXT[str(r.action)].lower())
    dose = []
    low = getattr(r, "dose_factor_min", None)
    if not _is_missing(low):
        dose.append(f"{_factor(low, getattr(r, 'dose_factor_max', None))} of the usual dose")
    amount = _text(getattr(r, "dose_amount", "")).strip()
    if amount:
        dose.append(amount)
    caps = [str(c) for c in _as_list(getattr(r, "dose_caps", None))]
    if len(caps) == 1:
        dose.append(f"limit {caps[0]}")
    elif caps:
        dose.append(f"{len(caps)} dose limits")
    if dose:
        words += f" ({', '.join(dose)})"
    alternatives = [str(a) for a in _as_list(r.alternatives)]
    if alternatives and r.action in ("use_alternative", "consider_alternative"):
        words += ", e.g. " + ", ".join(alternatives[:3])
    return f"if {condition}: {words}" if condition else words


def strengths(rows: list) -> str:
    """'CPIC strong, DPWG': each source once, with its strength when it gives one."""
    said: dict[str, str] = {}
    for r in rows:
        source = _text(r.source).strip() or "guideline"
        given = strength(r).replace(" recommendation", "").lower()
        said[source] = said.get(source) or given
    return ", ".join(f"{source} {given}".strip() for source, given in said.items())
