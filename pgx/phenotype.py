"""Phenotypes: diplotype calls -> allele functions, activity score, phenotype, lookup key.

Rules come from the knowledge base as numbers and tables, never evaluated strings:

* activity-score genes: score = sum of the two alleles' activity values, phenotype from
  the numeric ``[min_score, max_score)`` ranges; the lookup key is the score written as
  CPIC writes it (``1.5``, ``2.0``) or ``n/a`` when an allele has no activity value;
* other genes: the unordered pair of allele functions looked up in
  ``function_phenotypes``; the lookup key is the phenotype.

An ambiguous call whose alternatives all give the same phenotype keeps it; when they
disagree the phenotype is ``Indeterminate`` and a warning lists what each would give.
When the alternatives come from a partial genotype (``./1``, reason ``partial_genotype``)
and disagree, the call becomes a no-call: the data cannot decide.
An allele without a function takes the gene's ``unassigned_function`` rule for the
phenotype (RYR1/CACNA1S: uncertain function), with a warning naming it; elsewhere the
phenotype is ``Indeterminate``. Alleles are looked up by their definition name and by
the name guidelines use (``*45.001`` and ``*45``).
A no-call has no phenotype and the lookup key ``No Result``, as CPIC writes it.
"""

from __future__ import annotations

import math

import pandas as pd

from pgx.kb import KnowledgeBase
from pgx.schema import NO_CALL, NO_RESULT

INDETERMINATE = "Indeterminate"
NO_SCORE_KEY = "n/a"


def format_activity_score(score: float | None) -> str:
    """CPIC's spelling of an activity score: ``0.0``, ``1.5``, ``1.25``; ``n/a`` if unknown."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return NO_SCORE_KEY
    text = f"{score:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def gene_tables(kb: KnowledgeBase) -> dict:
    """Per-gene lookups, built once per knowledge base (kept on it)."""
    return kb.derived("phenotype.gene_tables", lambda: _build_gene_tables(kb))


def _build_gene_tables(kb: KnowledgeBase) -> dict:
    alleles = kb.tables["alleles"]
    function, activity = {}, {}
    names = [alleles["allele"]] + ([alleles["guideline_name"]] if "guideline_name" in alleles else [])
    for column in reversed(names):  # the definition name wins where both exist
        for g, a, f, v in zip(alleles["gene"], column, alleles["function"], alleles["activity_value"]):
            if isinstance(a, str) and a:
                function[(g, a)] = f or None
                activity[(g, a)] = None if pd.isna(v) else float(v)
    rules_tab = kb.tables.get("gene_rules")
    unassigned = {}
    if rules_tab is not None:
        unassigned = {
            g: v for g, r, v in zip(rules_tab["gene"], rules_tab["rule"], rules_tab["value"]) if r == "unassigned_function"
        }
    fp = kb.tables["function_phenotypes"]
    pair = {(g, f1, f2): p for g, f1, f2, p in zip(fp["gene"], fp["function_1"], fp["function_2"], fp["phenotype"])}
    rules: dict[str, list[tuple[float, float, str]]] = {}
    pr = kb.tables["phenotype_rules"]
    for g, lo, hi, p in zip(pr["gene"], pr["min_score"], pr["max_score"], pr["phenotype"]):
        rules.setdefault(g, []).append((float(lo), float(hi), p))
    genes = kb.tables["genes"]
    method = dict(zip(genes["gene"], genes["lookup_method"]))
    phenotyped = set(rules) | {g for g, _, _ in pair}
    return {
        "function": function,
        "activity": activity,
        "pair": pair,
        "rules": rules,
        "method": method,
        "phenotyped": phenotyped,
        "unassigned": unassigned,
    }


def phenotype_from_score(rules: list[tuple[float, float, str]], score: float) -> str | None:
    """The phenotype whose ``[min, max)`` range holds ``score`` (None when none does)."""
    for lo, hi, phenotype in rules:
        if lo <= score < hi or (score == lo == hi):
            return phenotype
    return None


def pair_phenotype(t: dict, gene: str, a1: str, a2: str | None) -> dict:
    """Function, score, phenotype and key of one allele pair (a2 None = haploid).

    An allele without a function is phenotyped with the gene's ``unassigned_function``
    rule when it has one; the result's ``unassigned`` lists such alleles."""
    alleles = [a1] if a2 is None else [a1, a2]
    functions = [t["function"].get((gene, a)) for a in alleles]
    stand_in = t["unassigned"].get(gene)
    facts = [(f or stand_in, t["activity"].get((gene, a))) for a, f in zip(alleles, functions)]
    out = phenotype_from_facts(t, gene, facts)
    out["function_1"], out["function_2"] = functions[0], functions[1] if len(functions) > 1 else None
    out["unassigned"] = [a for a, f in zip(alleles, functions) if f is None]
    return out


def phenotype_from_facts(t: dict, gene: str, facts: list[tuple[str | None, float | None]]) -> dict:
    """Function, score, phenotype and key from each allele's (function, activity value);
    one pair for a haploid call. Used for KB alleles and for outside calls (``*2x2``)."""
    functions = [f for f, _ in facts]
    out = {"function_1": functions[0], "function_2": functions[1] if len(facts) > 1 else None}
    if t["method"].get(gene) == "activity_score":
        values = [v for _, v in facts]
        score = None if any(v is None for v in values) else float(sum(values))
        phenotype = INDETERMINATE if score is None else phenotype_from_score(t["rules"].get(gene, []), score)
        out.update(activity_score=score, phenotype=phenotype, lookup_key=format_activity_score(score))
        return out
    if any(f is None for f in functions):
        phenotype = INDETERMINATE
    else:
        f = sorted(functions) if len(facts) > 1 else [functions[0], ""]
        phenotype = t["pair"].get((gene, f[0], f[1]))
    out.update(activity_score=None, phenotype=phenotype, lookup_key=phenotype)
    return out


def _text_or_none(value) -> str | None:
    """An allele name, or None for a missing one (None, NaN, empty)."""
    return value if isinstance(value, str) and value else None


def _alternative_pairs(allele_1, allele_2, alternatives) -> list[tuple[str, str | None]]:
    if not _has_items(alternatives):
        return [(allele_1, _text_or_none(allele_2))]
    pairs = []
    for d in alternatives:
        a, _, b = d.partition("/")
        pairs.append((a, b or None))
    return pairs


_NOT_CALLED = dict(
    function_1=None, function_2=None, activity_score=None, phenotype=None, lookup_key=NO_RESULT, _notes=(), _no_call=False
)


def assign_phenotypes(calls: pd.DataFrame, kb: KnowledgeBase) -> pd.DataFrame:
    """``calls`` with function_1/2, activity_score, phenotype, lookup_key and kb_version.

    Each distinct (gene, diplotype alternatives) is resolved once and its result
    repeated to the rows that have it.
    """
    t = gene_tables(kb)
    results: list[dict] = []
    index: dict[tuple | None, int] = {}  # None: not called
    which = []
    if "reason_codes" not in calls:
        calls = calls.assign(reason_codes=[[] for _ in range(len(calls))])
    columns = [calls[c].tolist() for c in ("gene", "call_status", "allele_1", "allele_2", "alternatives", "reason_codes")]
    for gene, status, allele_1, allele_2, alternatives, codes in zip(*columns):
        called = status != NO_CALL and (bool(allele_1) or _has_items(alternatives))
        partial = called and "partial_genotype" in list(codes if codes is not None else [])
        key = (gene, tuple(_alternative_pairs(allele_1, allele_2, alternatives)), partial) if called else None
        if key not in index:
            index[key] = len(results)
            results.append(_resolve(t, gene, key[1], partial) if called else _NOT_CALLED)
        which.append(index[key])
    add = pd.DataFrame(results).take(which).set_axis(calls.index)
    out = calls.copy()
    for col in ("function_1", "function_2", "activity_score", "phenotype", "lookup_key"):
        out[col] = add[col]
    out["activity_score"] = out["activity_score"].astype("float64")
    notes = add["_notes"].tolist()
    out["warnings"] = [list(w) + [text for _, text in n] for w, n in zip(out["warnings"].tolist(), notes)]
    out["reason_codes"] = [
        list(dict.fromkeys(list(c if c is not None else []) + [code for code, _ in n]))
        for c, n in zip(out["reason_codes"].tolist(), notes)
    ]
    no_call = add["_no_call"].to_numpy(dtype=bool)
    if no_call.any():  # the possible genotypes disagree: nothing is called, the warnings say what they were
        out.loc[no_call, "call_status"] = NO_CALL
        for col in ("diplotype", "allele_1", "allele_2", "score"):
            out[col] = pd.Series([None if n else v for v, n in zip(out[col].tolist(), no_call)], index=out.index, dtype=object)
        for col in ("alternatives", "alleles_found", "suballeles"):
            if col in out:
                out[col] = [[] if n else v for v, n in zip(out[col].tolist(), no_call)]
    out["kb_version"] = kb.version
    return out


def _has_items(value) -> bool:
    return value is not None and not isinstance(value, float) and len(value) > 0


def _resolve(t: dict, gene: str, pairs: tuple, partial: bool = False) -> dict:
    """Phenotype of a call, reconciling ambiguous alternatives (``partial``: they are the
    completions of a partial genotype, so disagreement makes a no-call)."""
    results = [pair_phenotype(t, gene, a, b) for a, b in pairs]
    notes: list[tuple[str, str]] = []
    unassigned = sorted({a for r in results for a in r.pop("unassigned")})
    if unassigned and gene in t["unassigned"]:
        notes.append(
            (
                "unassigned_function",
                f"{', '.join(unassigned)}: no function in the knowledge base's sources; phenotyped as "
                f"{t['unassigned'][gene].lower()} (gene rule unassigned_function); check the current CPIC allele table",
            )
        )
    elif unassigned:
        notes.append(
            (
                "unassigned_function",
                f"{', '.join(unassigned)}: no function in the knowledge base's sources, so the phenotype cannot be assigned",
            )
        )
    if gene not in t["phenotyped"]:
        # e.g. CYP4F2, IFNL3: the sources define allele functions but no phenotype
        notes.append(
            (
                "phenotype_not_defined",
                f"no phenotype is defined for {gene} in the guideline sources; the diplotype and allele functions are reported",
            )
        )
        return {**results[0], "activity_score": None, "phenotype": None, "lookup_key": None, "_notes": tuple(notes),
                "_no_call": False}  # fmt: skip
    first = dict(results[0], _no_call=False)
    if first["phenotype"] is None:
        notes.append(
            ("phenotype_not_defined", f"no phenotype rule for {gene} functions {first['function_1']} / {first['function_2']}")
        )
        first["phenotype"] = INDETERMINATE
        if first["lookup_key"] is None:
            first["lookup_key"] = INDETERMINATE
    if len(results) > 1:
        phenos = {r["phenotype"] for r in results}
        scores = {r["lookup_key"] for r in results}
        scored = t["method"].get(gene) == "activity_score"
        detail = "; ".join(
            f"{format_pair(a, b)}: {r['phenotype']}" + (f", activity score {r['lookup_key']}" if scored else "")
            for (a, b), r in zip(pairs, results)
        )
        if len(phenos) > 1 or len(scores) > 1:
            first.update(function_1=None, function_2=None, activity_score=None)
            if partial:
                first.update(phenotype=None, lookup_key=NO_RESULT, _no_call=True)
                notes.append(("phenotypes_differ", f"the possible genotypes give different results ({detail}): no call"))
            else:
                first.update(
                    phenotype=INDETERMINATE,
                    lookup_key=NO_SCORE_KEY if t["method"].get(gene) == "activity_score" else INDETERMINATE,
                )
                notes.append(("phenotypes_differ", f"tied diplotypes give different phenotypes ({detail})"))
        else:
            first.update(function_1=None, function_2=None)
            if partial:
                notes.append(("partial_genotype", f"every possible genotype gives {first['phenotype']} ({detail})"))
    first["_notes"] = tuple(notes)
    return first


def format_pair(a: str, b: str | None) -> str:
    return a if b is None else f"{a}/{b}"


__all__ = ["assign_phenotypes", "format_activity_score", "phenotype_from_score", "NO_RESULT"]
