"""Accuracy against a truth table (e.g. GeT-RM consensus diplotypes) and call-rate summaries.

Each truth row is scored three ways:

* **exact**: the same two allele names as the truth writes them (order-free; a PharmVar
  sub-allele such as ``*45.001`` counts as its core allele ``*45``);
* **legacy-aware exact**: the same two names once the truth's older names are translated
  to current ones through the knowledge base's ``legacy_alleles`` table
  (:mod:`pgx.truth`): SLCO1B1 ``*1B`` is ``*37``, CYP2C19 ``*1`` from before ``*38`` was
  defined is ``*1`` or ``*38``, UGT1A1 ``*60`` is ``*1`` over the positions current
  definitions use;
* **function**: the same phenotype once the (translated) truth diplotype goes through
  the knowledge base's phenotype rules.

A truth row is *resolvable* from the input when a caller of current nomenclature could
reproduce it from these genotypes. It is not when the truth flags a structural variant
(``SV``: copy number, deletions, hybrids), when its diplotype is undefined or unparsable,
when it names an allele with no current meaning (not in current definitions, or a legacy
name the map does not translate), when a position defining one of its alleles (and not
one of ours) is absent from the input (no record, filled as reference or missing), or when
the locus that decides what a split legacy name means now is absent. Concordance is over
resolvable rows; the others are counted by reason. ``CONFLICT`` rows count as concordant
when either source's diplotype matches. Every row that is not an exact match gets a
machine-made reason and its kind (one of :data:`REASON_KINDS`, set where the reason is
made, never parsed back from its text); the rows that still disagree once
legacy names are translated are the *true disagreements*.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pgx.kb import KnowledgeBase
from pgx.phenotype import gene_tables, pair_phenotype
from pgx.truth import Translation, haplotype_variants, normal_name, normal_pair, translate_diplotypes, variant_sets
from pgx.truth import parse_diplotypes, read_truth  # noqa: F401  (part of this module's interface)

UNRESOLVABLE_FLAGS = ("SV",)
UNDEFINED = "truth undefined or unparsable"


def _phenotype(kb: KnowledgeBase, gene: str, pair: tuple[str, str]) -> str | None:
    t = gene_tables(kb)
    known = {a for (g, a) in t["function"] if g == gene}
    if not set(pair) <= known:
        return None
    return pair_phenotype(t, gene, pair[0], pair[1])["phenotype"]


def compare(calls: pd.DataFrame, truth: pd.DataFrame, kb: KnowledgeBase) -> pd.DataFrame:
    """One row per truth row for which there is a call: exact, legacy-aware and function agreement."""
    ours = calls.set_index(["sample_id", "gene"])
    rows = []
    for t in truth.itertuples(index=False):
        if (t.sample, t.gene) not in ours.index:
            continue
        call = ours.loc[(t.sample, t.gene)]
        written = parse_diplotypes(t.diplotype) + parse_diplotypes(t.alt_diplotype if "CONFLICT" in t.flags else "")
        tr = translate_diplotypes(kb, t.gene, written)
        ours_pairs = {normal_pair(p) for p in _call_pairs(call)}
        exact = any(p in ours_pairs for p in written)
        legacy_exact = exact or any(p in ours_pairs for p in tr.options)
        truth_pheno = {_phenotype(kb, t.gene, p) for p in tr.options} - {None}
        function = legacy_exact or (bool(truth_pheno) and call["phenotype"] in truth_pheno)
        flags = set(filter(None, re.split(r"[;,\s]+", t.flags)))
        unresolvable = _unresolvable(kb, t.gene, tr, flags, t.diplotype, call)
        if exact:
            kind, reason = AGREES, ""
        elif unresolvable == UNDEFINED:
            kind, reason = TRUTH_UNDEFINED, "truth diplotype undefined or unparsable"
        elif legacy_exact and not unresolvable:
            kind, reason = AGREES_LEGACY, "agrees once legacy names are translated: " + "; ".join(tr.notes)
        else:
            kind, reason = _reason(kb, t.gene, tr, flags, call)
        rows.append(
            {
                "sample": t.sample,
                "gene": t.gene,
                "truth": t.diplotype,
                "truth_current": " or ".join("/".join(p) for p in tr.options),
                "translation": "; ".join(tr.notes),
                "call": call["diplotype"],
                "call_status": call["call_status"],
                "alternatives": ";".join(call["alternatives"]) if len(call["alternatives"]) else "",
                "truth_phenotype": ";".join(sorted(truth_pheno)),
                "phenotype": call["phenotype"],
                "flags": t.flags,
                "resolvable": not unresolvable,
                "unresolvable_because": unresolvable,
                "legacy_named": tr.legacy,
                "exact": exact,
                "legacy_exact": legacy_exact,
                "function": function,
                "reason": reason,
                "kind": kind,
            }
        )
    return pd.DataFrame(rows)


def _unresolvable(kb: KnowledgeBase, gene: str, tr: Translation, flags: set[str], text: str, call) -> str:
    """Why the input cannot reproduce this truth row ("" when it can)."""
    if flags & set(UNRESOLVABLE_FLAGS):
        return "structural variant / copy number"
    if (not tr.options and not tr.untranslatable) or "undefined" in text:
        return UNDEFINED
    if any("legacy name without" in u for u in tr.untranslatable):
        return "legacy allele name without an established current equivalent"
    if tr.untranslatable:
        return "allele name not in current definitions (nor a known legacy name)"
    if _absent_deciding_loci(tr, call):
        return "the locus deciding a legacy name's current meaning is absent from the input"
    if _assumed_truth_positions(kb, gene, tr.options, call):
        return "a defining variant of the truth allele is absent from the input"
    return ""


#: the kinds of ``compare``'s reasons (its ``kind`` column), for summary tables
AGREES = "agrees"
AGREES_LEGACY = "agrees after legacy translation"
OUR_NO_CALL = "our no-call"
SV = "SV / copy number"
LEGACY_WITHOUT_MEANING = "legacy name without a current equivalent"
NOT_CURRENT = "allele not in current definitions"
LEGACY_UNDECIDED = "legacy name undecided by the input"
TRUTH_UNDEFINED = "truth undefined / platform-specific"
VARIANT_ABSENT = "variant absent from the input"
OTHER_NAME = "same phenotype, different name"
UNTESTED = "truth *1 = untested (targeted assay)"
COPY_NUMBER_DIFFERS = "copy number differs (input vs truth)"
GENOTYPES_DIFFER = "genotypes differ between the sources"
AMBIGUOUS_CALL = "our call is ambiguous"
PHASE_DIFFERS = "phase differs (input vs truth)"
UNEXPLAINED = "unexplained"
REASON_KINDS = (
    AGREES, AGREES_LEGACY, OUR_NO_CALL, SV, LEGACY_WITHOUT_MEANING, NOT_CURRENT, LEGACY_UNDECIDED, TRUTH_UNDEFINED,
    VARIANT_ABSENT, OTHER_NAME, UNTESTED, COPY_NUMBER_DIFFERS, GENOTYPES_DIFFER, AMBIGUOUS_CALL, PHASE_DIFFERS, UNEXPLAINED,
)  # fmt: skip


def _call_pairs(call) -> set[tuple[str, str]]:
    """The call's diplotypes (every alternative of an ambiguous one) as written; compared
    with the truth through :func:`pgx.truth.normal_pair`."""
    dips = list(call["alternatives"]) if len(call["alternatives"]) else [call["diplotype"]]
    return {tuple(sorted(d.split("/", 1))) for d in dips if isinstance(d, str) and "/" in d}


def _absent_deciding_loci(tr: Translation, call) -> list[str]:
    """rsIDs deciding a split legacy name's meaning that the input lacked."""
    absent = _absent_positions(call)
    return [rsid for pos, rsid in sorted(tr.deciding.items()) if pos in absent]


def _absent_positions(call) -> set[int]:
    return {int(x) for x in call["assumed_reference_positions"]} | {int(x) for x in call["missing_positions"]}


def _reason(kb: KnowledgeBase, gene: str, tr: Translation, flags: set[str], call) -> tuple[str, str]:
    """(kind, text): a first, mechanical explanation of a disagreement (after legacy translation)."""
    if "SV" in flags:
        return SV, "structural variant / copy number (not resolvable from SNVs and indels)"
    if tr.untranslatable:
        kind = LEGACY_WITHOUT_MEANING if any("legacy name without" in u for u in tr.untranslatable) else NOT_CURRENT
        return kind, "truth names allele(s) without a current meaning: " + "; ".join(tr.untranslatable)
    options = tr.options
    if not options:
        return TRUTH_UNDEFINED, "truth diplotype undefined or unparsable"
    said = f" (truth in current names: {' or '.join('/'.join(p) for p in options)})" if tr.legacy else ""
    kind, text = _mechanical_reason(kb, gene, tr, call)
    return kind, text + said


def _mechanical_reason(kb: KnowledgeBase, gene: str, tr: Translation, call) -> tuple[str, str]:
    options = tr.options
    absent = _absent_deciding_loci(tr, call)
    if absent:
        return LEGACY_UNDECIDED, (
            f"the locus deciding what the legacy name means now ({', '.join(absent)}) is absent from the input "
            "and was assumed reference or left missing: " + "; ".join(tr.notes)
        )
    if call["call_status"] == "no_call":
        return OUR_NO_CALL, "no call: " + "; ".join(call["warnings"])
    if call["call_status"] == "ambiguous":
        return AMBIGUOUS_CALL, "our call is ambiguous between the listed alternatives"
    assumed = _assumed_truth_positions(kb, gene, options, call)
    if assumed:
        return VARIANT_ABSENT, (
            "the truth allele's defining position(s) "
            + ", ".join(map(str, assumed))
            + " are absent from the input and were assumed reference"
        )
    ours = _call_pairs(call)
    if any(_phenotype(kb, gene, p) == call["phenotype"] for p in options) and ours and call["phenotype"]:
        diff = sorted({a for p in options for a in p} ^ {a for p in ours for a in p})
        return OTHER_NAME, f"same phenotype, allele names differ ({', '.join(diff)})"
    lacking = _variants_not_in_input(kb, gene, options, ours)
    if lacking:
        return GENOTYPES_DIFFER, (
            f"the input does not carry the defining variant(s) of {lacking}, and the call was made "
            "with those positions read: the sources' genotypes differ there"
        )
    tested = _tested_allele_dosage(options, ours)
    if tested:
        return COPY_NUMBER_DIFFERS, (
            f"the input's genotypes give a different number of copies of {tested}, an allele the truth also names "
            "(a deletion or duplication hidden in the genotypes, or a genotype error in one source)"
        )
    untested = _untested_variants(kb, gene, options, ours)
    if untested:
        return UNTESTED, (
            f"the call names {untested}: alleles carrying every variant of the truth's allele and more "
            "(truth *1 may mean 'none of the tested alleles'); a targeted assay may not test the extra variants"
        )
    cis = _combined_in_cis(kb, gene, options, ours)
    if cis:
        return PHASE_DIFFERS, (
            f"the call carries every variant of the truth's alleles but puts them together on one chromosome "
            f"({cis}) where the truth has them on two: the input's phasing and the truth differ"
        )
    return UNEXPLAINED, "different call: to investigate"


def _combined_in_cis(kb: KnowledgeBase, gene: str, options, ours: set) -> str | None:
    """A combination allele of ours (``[*27 + *80+*28]``) holding variants the truth puts
    on two chromosomes, when our call carries every truth variant; None otherwise."""
    variants = _variant_sets(kb, gene)
    for truth_pair in options:
        wanted = frozenset().union(*(haplotype_variants(variants, a) for a in truth_pair))
        for call_pair in ours:
            combined = [a for a in call_pair if a.startswith("[")]
            carried = frozenset().union(*(haplotype_variants(variants, a) for a in call_pair))
            if (
                combined
                and wanted
                and wanted <= carried
                and not any(wanted <= haplotype_variants(variants, a) for a in truth_pair)
            ):
                return combined[0]
    return None


def _variants_not_in_input(kb: KnowledgeBase, gene: str, options, ours: set) -> str | None:
    """``*24 (99768424 A)``: truth alleles (not in our call) with defining variants that no
    allele we called carries, at positions the input has; None when there are none."""
    variants = _variant_sets(kb, gene)
    carried = set().union(*(haplotype_variants(variants, a) for p in ours for a in p)) if ours else set()
    ours_alleles = {a for p in ours for a in p}
    for truth_pair in options:
        lacking = {a: sorted(haplotype_variants(variants, a) - carried) for a in truth_pair if a not in ours_alleles}
        named = [f"{a} ({', '.join(f'{p} {b}' for p, b in v)})" for a, v in sorted(lacking.items()) if v]
        if named:
            return "; ".join(named)
    return None


def _tested_allele_dosage(options, ours: set) -> str | None:
    """An allele of ours the truth names too, but with another copy number (truth *1/*4,
    call *4/*4); None otherwise."""
    for truth_pair in options:
        named = set(truth_pair)
        for call_pair in ours:
            if set(call_pair) <= named and call_pair != truth_pair:
                diff = [a for a in named if call_pair.count(a) != truth_pair.count(a) and a in call_pair]
                if diff:
                    return ", ".join(sorted(diff))
    return None


def _variant_sets(kb: KnowledgeBase, gene: str) -> dict[str, frozenset]:
    """:func:`pgx.truth.variant_sets` (kept under this name for the tests and callers here)."""
    return variant_sets(kb, gene)


def _untested_variants(kb: KnowledgeBase, gene: str, options, ours: set) -> str | None:
    """Our alleles that extend the truth's (*1 = nothing tested found), pairing the
    alleles that differ; None when some truth allele is not contained in ours."""
    variants = _variant_sets(kb, gene)
    for truth_pair in options:
        for call_pair in ours:
            t, c = list(truth_pair), list(call_pair)
            for a in list(t):
                if a in c:
                    t.remove(a)
                    c.remove(a)
            if not t:
                continue
            for order in (c, c[::-1]):
                if all(
                    (ta == "*1" or (ta in variants and haplotype_variants(variants, ta) <= haplotype_variants(variants, cb)))
                    for ta, cb in zip(t, order)
                ):
                    return ", ".join(x for x, ta in zip(order, t) if x != ta)
    return None


def _assumed_truth_positions(kb: KnowledgeBase, gene: str, options, call) -> list[int]:
    """Positions defining a truth allele (not in our call) that the input lacked."""
    ours = {a for p in _call_pairs(call) for a in p}
    ours |= {normal_name(a) for a in ours}
    truth_alleles = {a for p in options for a in p} - ours
    ref = set(kb.table("alleles", gene).query("is_reference")["allele"])
    variants = _variant_sets(kb, gene)
    positions = {p for a in truth_alleles - ref for p, _ in haplotype_variants(variants, a)}
    return sorted(positions & _absent_positions(call))


#: the per-gene concordance columns (:func:`summarize`)
SUMMARY_COLUMNS = (
    "gene", "rows", "resolvable", "legacy_named", "exact", "legacy_exact", "function",
    "exact_rate", "legacy_exact_rate", "function_rate",
)  # fmt: skip


def summarize(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per gene: rows, resolvable rows (of which written with legacy names), and exact,
    legacy-aware exact and function-level concordance on the resolvable rows."""
    if comparison.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    res = comparison[comparison["resolvable"]]
    g = comparison.groupby("gene").size().rename("rows").to_frame()
    g["resolvable"] = res.groupby("gene").size()
    for col in ("legacy_named", "exact", "legacy_exact", "function"):
        g[col] = res.groupby("gene")[col].sum()
    g = g.fillna(0).astype(int)
    for col in ("exact", "legacy_exact", "function"):
        g[f"{col}_rate"] = (g[col] / g["resolvable"].where(g["resolvable"] > 0)).round(4)
    return g.reset_index()[list(SUMMARY_COLUMNS)]


def true_disagreements(comparison: pd.DataFrame) -> pd.DataFrame:
    """Resolvable rows that still disagree once legacy names are translated."""
    if comparison.empty:
        return comparison
    return comparison[comparison["resolvable"] & ~comparison["legacy_exact"]]


def unresolvable_counts(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per gene and reason: how many truth rows the input cannot reproduce."""
    rest = comparison[~comparison["resolvable"]] if not comparison.empty else comparison
    if rest.empty:
        return pd.DataFrame(columns=["gene", "unresolvable_because", "rows"])
    return rest.groupby(["gene", "unresolvable_because"]).size().rename("rows").reset_index()


def call_rates(calls: pd.DataFrame, populations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per gene (and population when given): call, ambiguity, no-call and novel-variant rates."""
    df = calls.copy()
    keys = ["gene"]
    if populations is not None:
        df = df.merge(populations.rename(columns={"sample": "sample_id"}), on="sample_id", how="left")
        keys = ["superpopulation", "gene"]
    df["is_called"] = df["call_status"].isin(["called", "ambiguous"])
    df["is_ambiguous"] = df["call_status"] == "ambiguous"
    df["is_no_call"] = df["call_status"] == "no_call"
    df["has_novel"] = df["novel_variants"].map(len) > 0
    out = df.groupby(keys).agg(
        samples=("sample_id", "size"),
        call_rate=("is_called", "mean"),
        ambiguity_rate=("is_ambiguous", "mean"),
        no_call_rate=("is_no_call", "mean"),
        novel_variant_rate=("has_novel", "mean"),
    )
    return out.round(4).reset_index()


def read_populations(path: Path | str) -> pd.DataFrame:
    """A sample -> population table (``sample`` plus ``superpopulation`` and/or
    ``population``); the coarsest column present is used for grouping."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = df.rename(columns={"sample_id": "sample"})
    if "sample" not in df or not ({"superpopulation", "population"} & set(df.columns)):
        from pgx.errors import InputError

        raise InputError(f"{path}: needs columns sample and superpopulation (or population)")
    if "superpopulation" not in df:
        df["superpopulation"] = df["population"]
    return df[["sample", "superpopulation"]]


def write_validation(
    calls: pd.DataFrame,
    kb: KnowledgeBase,
    out_dir: Path | str,
    *,
    truth: pd.DataFrame | None = None,
    populations: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write the accuracy and call-rate tables as TSVs under ``out_dir``; return their paths.

    With a truth table: ``concordance`` (per gene, :func:`summarize`), ``unresolvable``
    (rows the input cannot reproduce, by reason), ``comparison`` (every truth row scored,
    with its translation and reason) and ``disagreements`` (the true disagreements).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {"call_rates": call_rates(calls)}
    if populations is not None:
        tables["call_rates_by_population"] = call_rates(calls, populations)
    if truth is not None:
        comparison = compare(calls, truth[truth["gene"].isin(set(calls["gene"]))], kb)
        tables["concordance"] = summarize(comparison)
        tables["unresolvable"] = unresolvable_counts(comparison)
        tables["comparison"] = comparison
        tables["disagreements"] = true_disagreements(comparison)
    paths = {}
    for name, df in tables.items():
        paths[name] = out_dir / f"{name}.tsv"
        df.to_csv(paths[name], sep="\t", index=False)
    return paths
