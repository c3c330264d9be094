"""Phenotype lookups: function pair -> phenotype, and activity-score ranges -> phenotype.

* ``function_phenotypes`` (genes looked up by phenotype): derived from the PharmCAT
  phenotype file's ``diplotypes``. Each row there names two alleles; replacing each by
  its function gives a function pair, and every pair must lead to exactly one
  phenotype, otherwise the build stops and names the conflicting diplotypes.
* ``phenotype_rules`` (activity-score genes): PyPGx's ``equation-table.csv`` expressions
  parsed into numbers, ``[min_score, max_score)``. They are never evaluated as code.
  ``A == score`` is a single point and is written ``min_score == max_score == A``:
  a rule whose bounds are equal holds exactly that score (``pgx.phenotype`` reads it
  so). Together the rules must tile ``[0, 2 x the highest allele activity value]``
  without gap or overlap. They are then checked against every PharmCAT diplotype with
  a numeric ``activityScore``: both sources must give the same phenotype.
* Single-allele diplotypes (G6PD hemizygous males, the haplotype-keyed MT-RNR1 file)
  become rows ``(function, "", phenotype)``; the second slot is empty, never sorted
  before the first.

No gene is named here; genes differ only through their source files.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from pgx.errors import KnowledgeBaseError

PYPGX_EQUATIONS = "pypgx/equation-table.csv"

_NUM = r"(\d+(?:\.\d+)?)"
_RANGE = re.compile(rf"^(?:{_NUM}\s*<=\s*)?score(?:\s*<\s*{_NUM})?$")
_POINT = re.compile(rf"^(?:{_NUM}\s*==\s*score|score\s*==\s*{_NUM})$")


# --- function pairs -------------------------------------------------------------------


def diplotype_phenotype(diplotype: dict) -> str:
    """A phenotype-file diplotype's phenotype (older files only have ``generesult``)."""
    return diplotype.get("phenotype") or diplotype["generesult"]


def diplotype_functions(gene: str, diplotype: dict, functions: dict[str, str]) -> tuple[str, str]:
    """The sorted function pair of one phenotype-file diplotype.

    A diplotype of one allele (G6PD in males, MT-RNR1) gives ``(function, "")``: the
    empty second slot is how ``function_phenotypes`` holds single-allele rows.
    """
    found: list[str] = []
    for allele, count in diplotype["diplotypekey"].items():
        function = functions.get(allele)
        if not function:
            raise KnowledgeBaseError(
                f"{gene}: diplotype {diplotype['diplotype']} uses {allele}, which has no function in the phenotype file"
            )
        found += [function] * int(count)
    if len(found) == 1:
        return found[0], ""  # one allele (hemizygous chrX, mitochondrial): (function, "")
    if len(found) != 2:
        raise KnowledgeBaseError(f"{gene}: diplotype {diplotype['diplotype']} has {len(found)} alleles")
    first, second = sorted(found)
    return first, second


def function_phenotype_rows(gene: str, phenotype: dict, functions: dict[str, str]) -> list[dict]:
    """Unordered function pair -> phenotype for ``gene``; raise on any pair with two phenotypes."""
    seen: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for diplotype in phenotype.get("diplotypes") or []:
        pair = diplotype_functions(gene, diplotype, functions)
        seen[pair][diplotype_phenotype(diplotype)].append(diplotype["diplotype"])
    conflicts = {pair: found for pair, found in seen.items() if len(found) > 1}
    if conflicts:
        lines = [
            f"{' + '.join(pair)} -> " + "; ".join(f"{ph} (e.g. {dips[0]})" for ph, dips in sorted(found.items()))
            for pair, found in sorted(conflicts.items())
        ]
        raise KnowledgeBaseError(f"{gene}: function pairs with more than one phenotype: " + " | ".join(lines))
    return [
        {"gene": gene, "function_1": pair[0], "function_2": pair[1], "phenotype": next(iter(found))}
        for pair, found in sorted(seen.items())
    ]


# --- activity-score rules -------------------------------------------------------------


def parse_equation(text: str) -> tuple[float, float, bool]:
    """``(min_score, max_score, is_point)`` of one equation-table expression.

    Accepted forms: ``A <= score < B``, ``A <= score``, ``score < B``, ``A == score``
    (``is_point``; then ``max_score == min_score``). Anything else raises, so a new form
    in the source is noticed rather than misread.
    """
    expr = " ".join(text.split())
    point = _POINT.match(expr)
    if point:
        value = float(point.group(1) or point.group(2))
        return value, value, True
    rng = _RANGE.match(expr)
    if rng and (rng.group(1) or rng.group(2)):
        low = float(rng.group(1)) if rng.group(1) else 0.0
        high = float(rng.group(2)) if rng.group(2) else math.inf
        if low < high:
            return low, high, False
    raise KnowledgeBaseError(f"{PYPGX_EQUATIONS}: cannot read score rule {text!r}")


def max_activity_score(activity_values: list[float]) -> float:
    """The highest score two alleles of the gene can reach."""
    if not activity_values:
        raise KnowledgeBaseError("an activity-score gene has no allele with an activity value")
    return 2 * max(activity_values)


def phenotype_rule_rows(gene: str, equations: list[dict[str, str]], activity_values: list[float]) -> list[dict]:
    """``phenotype_rules`` rows of ``gene`` from its equation-table rows, checked for coverage."""
    rows = []
    for eq in equations:
        low, high, _ = parse_equation(eq["Equation"])
        rows.append({"gene": gene, "phenotype": eq["Phenotype"], "min_score": low, "max_score": high})
    rows.sort(key=lambda r: (r["min_score"], r["max_score"]))
    check_rule_coverage(gene, rows, max_activity_score(activity_values))
    return rows


def rule_holds(rule: dict, score: float) -> bool:
    """Does ``score`` fall in ``rule``: ``[min, max)``, or exactly ``min`` for a point rule?"""
    low, high = rule["min_score"], rule["max_score"]
    return low <= score < high or score == low == high


def check_rule_coverage(gene: str, rules: list[dict], top: float) -> None:
    """Rules sorted by (min, max) must cover every score in [0, top] exactly once.

    Ranges must chain (each starts where the previous ended); a point rule closes the
    chain at its value and nothing may follow it.
    """
    if not rules:
        raise KnowledgeBaseError(f"{PYPGX_EQUATIONS} has no score rules for activity-score gene {gene}")
    edge, closed = 0.0, False
    for rule in rules:
        if closed or rule["min_score"] != edge:
            raise KnowledgeBaseError(
                f"{gene}: score rules leave a gap or overlap at {edge} (next rule {rule['phenotype']} starts at {rule['min_score']})"
            )
        closed = rule["min_score"] == rule["max_score"]
        edge = rule["max_score"]
    if edge < top or (edge == top and not closed):
        raise KnowledgeBaseError(f"{gene}: score rules stop at {edge}, short of the maximum score {top}")


def rule_for(rules: list[dict], score: float) -> dict | None:
    """The rule that holds ``score``."""
    return next((r for r in rules if rule_holds(r, score)), None)


def check_rules_against_diplotypes(gene: str, rules: list[dict], phenotype: dict) -> None:
    """Every PharmCAT diplotype with a numeric activity score must get its phenotype from the rules."""
    problems = []
    for diplotype in phenotype.get("diplotypes") or []:
        score = _numeric_score(diplotype.get("activityScore"))
        if score is None:
            continue  # "n/a": an allele without an activity value; the phenotype is Indeterminate
        rule = rule_for(rules, score)
        expected = rule["phenotype"] if rule else None
        if expected != diplotype_phenotype(diplotype):
            problems.append(
                f"{diplotype['diplotype']} (score {score}): PharmCAT {diplotype_phenotype(diplotype)!r}, rules {expected!r}"
            )
    if problems:
        raise KnowledgeBaseError(f"{gene}: score rules disagree with the PharmCAT phenotype file: " + "; ".join(problems[:10]))


def _numeric_score(value: object) -> float | None:
    """A diplotype's activity score as a number; ``≥x`` counts as ``x``; ``n/a`` is None."""
    if value is None:
        return None
    text = str(value).strip().lstrip("≥")
    try:
        return float(text)
    except ValueError:
        return None
