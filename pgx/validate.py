"""Accuracy against a truth table (e.g. GeT-RM consensus diplotypes) and call-rate summaries.

Truth diplotypes are compared two ways:

* **exact**: the same two allele names (order-free);
* **function**: the same phenotype once both diplotypes go through the knowledge base's
  phenotype rules (so a legacy name such as CYP2C19 ``*1`` where current definitions say
  ``*38`` counts when the function agrees).

A truth row is *resolvable* from the input when a caller of current nomenclature could
reproduce it from these genotypes. It is not when the truth flags a structural variant
(``SV``: copy number, deletions, hybrids), when its diplotype is undefined or unparsable,
when it names an allele the current definitions do not have (a legacy or retired name,
which neither name nor function can be compared against), or when a position defining
one of its alleles (and not one of ours) is absent from the input (no record, filled as
reference or missing). Concordance is over resolvable rows; the others are counted by
reason. ``CONFLICT`` rows count as concordant when either source's diplotype matches.
Every disagreement is listed with a machine-made reason and its kind (``reason_kind``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pgx.naming import definition_matches
from pgx.phenotype import _gene_tables, _one_diplotype

UNRESOLVABLE_FLAGS = ("SV",)


def read_truth(path: Path | str) -> pd.DataFrame:
    """Truth TSV with at least sample, gene, diplotype; optional flags, alt_diplotype."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = df.rename(columns={"sample_id": "sample"})
    for col in ("flags", "alt_diplotype"):
        if col not in df:
            df[col] = ""
    return df.drop_duplicates(subset=["sample", "gene", "diplotype"]).reset_index(drop=True)


def parse_diplotypes(text: str) -> list[tuple[str, str]]:
    """``*1/*2`` -> [('*1','*2')]; ``*1/*2 or *1/*3`` and ``a | b`` give every option;
    parentheses (platform notes) are dropped."""
    text = re.sub(r"\([^)]*\)", "", text or "")
    out = []
    for part in re.split(r"\s+or\s+|\s*\|\s*", text):
        part = part.strip()
        if "/" not in part:
            continue
        a, b = (x.strip() for x in part.split("/", 1))
        if a and b:
            out.append(tuple(sorted((a, b))))
    return out


def _phenotype(kb, gene: str, pair: tuple[str, str]) -> str | None:
    t = _gene_tables(kb)
    known = {a for (g, a) in t["function"] if g == gene}
    if not set(pair) <= known:
        return None
    return _one_diplotype(t, gene, pair[0], pair[1])["phenotype"]


def compare(calls: pd.DataFrame, truth: pd.DataFrame, kb) -> pd.DataFrame:
    """One row per truth row for which there is a call: exact and function agreement."""
    ours = calls.set_index(["sample_id", "gene"])
    rows = []
    for t in truth.itertuples(index=False):
        if (t.sample, t.gene) not in ours.index:
            continue
        call = ours.loc[(t.sample, t.gene)]
        options = parse_diplotypes(t.diplotype) + parse_diplotypes(t.alt_diplotype if "CONFLICT" in t.flags else "")
        ours_pairs = _call_pairs(call)
        exact = any(p in ours_pairs for p in options)
        truth_pheno = {_phenotype(kb, t.gene, p) for p in options} - {None}
        function = exact or (bool(truth_pheno) and call["phenotype"] in truth_pheno)
        flags = set(filter(None, re.split(r"[;,\s]+", t.flags)))
        unresolvable = _unresolvable(kb, t.gene, options, flags, t.diplotype, call)
        rows.append(
            {
                "sample": t.sample,
                "gene": t.gene,
                "truth": t.diplotype,
                "call": call["diplotype"],
                "call_status": call["call_status"],
                "alternatives": ";".join(call["alternatives"]) if len(call["alternatives"]) else "",
                "truth_phenotype": ";".join(sorted(truth_pheno)),
                "phenotype": call["phenotype"],
                "flags": t.flags,
                "resolvable": not unresolvable,
                "unresolvable_because": unresolvable,
                "exact": exact,
                "function": function,
                "reason": "" if exact else _reason(kb, t.gene, options, flags, call),
            }
        )
    out = pd.DataFrame(rows)
    if not out.empty:
        out["kind"] = out["reason"].map(reason_kind)
    return out


def _unresolvable(kb, gene: str, options, flags: set[str], text: str, call) -> str:
    """Why the input cannot reproduce this truth row ("" when it can)."""
    if flags & set(UNRESOLVABLE_FLAGS):
        return "structural variant / copy number"
    if not options or "undefined" in text:
        return "truth undefined or unparsable"
    known = set(kb.table("alleles", gene)["allele"])
    if {a for p in options for a in p} - known:
        return "legacy or retired allele name in truth"
    if _assumed_truth_positions(kb, gene, options, call):
        return "a defining variant of the truth allele is absent from the input"
    return ""


_REASON_KINDS = (
    (r"^$", "agrees"),
    (r"^no call", "our no-call"),
    (r"structural variant", "SV / copy number"),
    (r"legacy or retired", "legacy allele name in truth"),
    (r"undefined or unparsable", "truth undefined / platform-specific"),
    (r"assumed reference", "variant absent from the input"),
    (r"allele names differ", "same phenotype, different name"),
    (r"none of the tested alleles", "truth *1 = untested (targeted assay)"),
    (r"different number of copies", "copy number differs (input vs truth)"),
    (r"does not carry the defining", "genotypes differ between the sources"),
    (r"ambiguous", "our call is ambiguous"),
)


def reason_kind(reason: str) -> str:
    """The kind of a disagreement reason, for summary tables ("unexplained" if none fits)."""
    for pattern, kind in _REASON_KINDS:
        if re.search(pattern, reason):
            return kind
    return "unexplained"


def _call_pairs(call) -> set[tuple[str, str]]:
    dips = list(call["alternatives"]) if len(call["alternatives"]) else [call["diplotype"]]
    return {tuple(sorted(d.split("/", 1))) for d in dips if isinstance(d, str) and "/" in d}


def _reason(kb, gene: str, options, flags: set[str], call) -> str:
    """A first, mechanical explanation of a disagreement."""
    if "SV" in flags:
        return "structural variant / copy number (not resolvable from SNVs and indels)"
    if not options:
        return "truth diplotype undefined or unparsable"
    known = set(kb.table("alleles", gene)["allele"])
    unknown = sorted({a for p in options for a in p} - known)
    if unknown:
        return f"truth uses allele name(s) not in current definitions: {', '.join(unknown)} (legacy or retired name)"
    if call["call_status"] == "no_call":
        return "no call: " + "; ".join(call["warnings"])
    if call["call_status"] == "ambiguous":
        return "our call is ambiguous between the listed alternatives"
    assumed = _assumed_truth_positions(kb, gene, options, call)
    if assumed:
        return (
            "the truth allele's defining position(s) "
            + ", ".join(map(str, assumed))
            + " are absent from the input and were assumed reference"
        )
    ours = _call_pairs(call)
    if any(_phenotype(kb, gene, p) == call["phenotype"] for p in options) and ours and call["phenotype"]:
        diff = sorted({a for p in options for a in p} ^ {a for p in ours for a in p})
        return f"same phenotype, allele names differ ({', '.join(diff)})"
    lacking = _variants_not_in_input(kb, gene, options, ours)
    if lacking:
        return (
            f"the input does not carry the defining variant(s) of {lacking}, and the call was made "
            "with those positions read: the sources' genotypes differ there"
        )
    tested = _tested_allele_dosage(options, ours)
    if tested:
        return (
            f"the input's genotypes give a different number of copies of {tested}, an allele the truth also names "
            "(a deletion or duplication hidden in the genotypes, or a genotype error in one source)"
        )
    untested = _untested_variants(kb, gene, options, ours)
    if untested:
        return (
            f"the call names {untested}: alleles carrying every variant of the truth's allele and more "
            "(truth *1 may mean 'none of the tested alleles'); a targeted assay may not test the extra variants"
        )
    return "different call: to investigate"


def _variants_not_in_input(kb, gene: str, options, ours: set) -> str | None:
    """``*24 (99768424 A)``: truth alleles (not in our call) with defining variants that no
    allele we called carries, at positions the input has; None when there are none."""
    variants = _variant_sets(kb, gene)
    carried = set().union(*(variants.get(a, frozenset()) for p in ours for a in p)) if ours else set()
    ours_alleles = {a for p in ours for a in p}
    for truth_pair in options:
        lacking = {a: sorted(variants.get(a, frozenset()) - carried) for a in truth_pair if a not in ours_alleles}
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


_VARIANT_SETS: dict[tuple, dict[str, frozenset]] = {}


def _variant_sets(kb, gene: str) -> dict[str, frozenset]:
    """(pos, bases) of every allele's definition that the reference base does not satisfy
    (built once per knowledge base and gene: every truth row asks for it)."""
    key = (str(kb.root), kb.version, gene)
    if key not in _VARIANT_SETS:
        _VARIANT_SETS[key] = _build_variant_sets(kb, gene)
    return _VARIANT_SETS[key]


def _build_variant_sets(kb, gene: str) -> dict[str, frozenset]:
    ref = dict(zip(kb.table("loci", gene)["pos"].astype(int), kb.table("loci", gene)["ref"]))
    defs = kb.table("allele_definitions", gene)
    out: dict[str, set] = {}
    for a, p, b in zip(defs["allele"], defs["pos"].astype(int), defs["bases"]):
        out.setdefault(a, set())
        if not definition_matches(b, ref.get(p)):  # a wobble that allows the reference base defines nothing
            out[a].add((p, b))
    return {a: frozenset(v) for a, v in out.items()}


def _untested_variants(kb, gene: str, options, ours: set) -> str | None:
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
                    (ta == "*1" or (ta in variants and cb in variants and variants[ta] <= variants[cb]))
                    for ta, cb in zip(t, order)
                ):
                    return ", ".join(x for x, ta in zip(order, t) if x != ta)
    return None


def _assumed_truth_positions(kb, gene: str, options, call) -> list[int]:
    """Positions defining a truth allele (not in our call) that the input lacked."""
    ours = {a for p in _call_pairs(call) for a in p}
    truth_alleles = {a for p in options for a in p} - ours
    ref = set(kb.table("alleles", gene).query("is_reference")["allele"])
    variants = _variant_sets(kb, gene)
    positions = {p for a in truth_alleles - ref for p, _ in variants.get(a, ())}
    assumed = set(int(x) for x in call["assumed_reference_positions"]) | set(int(x) for x in call["missing_positions"])
    return sorted(positions & assumed)


def summarize(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per gene: rows, resolvable rows, exact and function-level concordance on those."""
    if comparison.empty:
        return pd.DataFrame(columns=["gene", "rows", "resolvable", "exact", "function", "exact_rate", "function_rate"])
    res = comparison[comparison["resolvable"]]
    g = comparison.groupby("gene").size().rename("rows").to_frame()
    g["resolvable"] = res.groupby("gene").size()
    g["exact"] = res.groupby("gene")["exact"].sum()
    g["function"] = res.groupby("gene")["function"].sum()
    g = g.fillna(0).astype(int)
    g["exact_rate"] = (g["exact"] / g["resolvable"].where(g["resolvable"] > 0)).round(4)
    g["function_rate"] = (g["function"] / g["resolvable"].where(g["resolvable"] > 0)).round(4)
    return g.reset_index()


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
    calls: pd.DataFrame, kb, out_dir: Path | str, *, truth: pd.DataFrame | None = None, populations: pd.DataFrame | None = None
) -> dict[str, Path]:
    """Write the accuracy and call-rate tables as TSVs under ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {"call_rates": call_rates(calls)}
    if populations is not None:
        tables["call_rates_by_population"] = call_rates(calls, populations)
    if truth is not None:
        comparison = compare(calls, truth[truth["gene"].isin(set(calls["gene"]))], kb)
        tables["concordance"] = summarize(comparison)
        tables["unresolvable"] = unresolvable_counts(comparison)
        tables["disagreements"] = comparison[~comparison["exact"]] if not comparison.empty else comparison
    paths = {}
    for name, df in tables.items():
        paths[name] = out_dir / f"{name}.tsv"
        df.to_csv(paths[name], sep="\t", index=False)
    return paths
