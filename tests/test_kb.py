"""The knowledge base: integrity of the committed tables, the builder's parsers, and a
rebuild from the upstream sources that must reproduce the committed files exactly."""

from __future__ import annotations

import json
import math
import os
import sys
from itertools import combinations_with_replacement
from pathlib import Path

import pandas as pd
import pytest

from pgx.errors import KnowledgeBaseError
from pgx.kb import (
    DEFAULT_KB_DIR,
    KnowledgeBase,
    describe,
    load_kb,
    lookup_key_values,
    reachable_results,
    read_table,
    score_text,
    unreachable_keys,
    validate,
)
from pgx.kb_build import DEFAULT_GENES, MITO_GENES, OUTSIDE_GENES, VCF_GENES, build_gene_tables, build_kb
from pgx.kb_build.alleles import IUPAC, check_bases, is_lower_bound, parse_activity, pypgx_function_map
from pgx.kb_build.alleles import PYPGX_UNASSIGNED, phenotype_path, pypgx_alleles
from pgx.kb_build.outside_results import diplotype_score_text
from pgx.kb_build.phenotypes import (
    check_rule_coverage,
    function_phenotype_rows,
    parse_equation,
    rule_holds,
)
from pgx.kb_build.sources import SourceReader, sha256_bytes
from pgx.kb_build.tables import definition_date, format_cell, kb_version, table_bytes
from pgx.schema import KB_TABLES

KB_DIR = DEFAULT_KB_DIR


@pytest.fixture(scope="module")
def kb():
    return load_kb(KB_DIR)


def fresh_tables() -> dict[str, pd.DataFrame]:
    """The committed tables, freshly read (safe to modify)."""
    return {name: read_table(KB_DIR, name) for name in KB_TABLES}


def test_derived_indexes_are_kept_on_the_kb_and_not_pickled(kb):
    import pickle

    from pgx.match import _gene_setup
    from pgx.phenotype import gene_tables
    from pgx.recommend import lookup_index

    fresh = KnowledgeBase(kb.root, kb.manifest, kb.tables)
    empty_size = len(pickle.dumps(fresh))
    assert gene_tables(fresh) is gene_tables(fresh) and lookup_index(fresh) is lookup_index(fresh)
    assert _gene_setup(fresh, "CYP2C19") is _gene_setup(fresh, "CYP2C19")
    assert gene_tables(fresh) is not gene_tables(kb)  # one KB's indexes are its own
    built = []
    assert (
        fresh.derived(("test", 1), lambda: built.append(1) or "x") == "x" == fresh.derived(("test", 1), lambda: built.append(1))
    )
    assert built == [1]
    assert len(pickle.dumps(fresh)) == empty_size  # the indexes travel to no worker
    copy = pickle.loads(pickle.dumps(fresh))
    assert copy.version == kb.version and copy.tables["alleles"].equals(kb.tables["alleles"])
    assert copy.derived(("test", 1), lambda: "rebuilt") == "rebuilt"  # a copy starts empty
    assert len(lookup_index(copy).drugs) == len(lookup_index(fresh).drugs) > 0


# --- the committed tables -------------------------------------------------------------


def test_committed_kb_covers_default_genes(kb):
    assert sorted(kb.tables["genes"]["gene"]) == sorted(DEFAULT_GENES)
    assert kb.genes == sorted(VCF_GENES + MITO_GENES)
    assert kb.manifest["genes"] == list(DEFAULT_GENES)
    outside = kb.tables["genes"].set_index("gene")["called_from"]
    assert sorted(outside[outside == "outside"].index) == sorted(OUTSIDE_GENES)


def test_no_duplicate_alleles_loci_or_definitions(kb):
    assert not kb.tables["alleles"].duplicated(["gene", "allele"]).any()
    assert not kb.tables["loci"].duplicated(["gene", "pos"]).any()
    assert not kb.tables["allele_definitions"].duplicated(["gene", "allele", "pos"]).any()
    assert not kb.tables["genes"].duplicated(["gene"]).any()
    assert not kb.tables["function_phenotypes"].duplicated(["gene", "function_1", "function_2"]).any()
    assert not kb.tables["outside_results"].duplicated(["gene", "kind", "result"]).any()
    assert not kb.tables["gene_rules"].duplicated(["gene", "rule", "value"]).any()


def test_every_definition_is_at_a_core_locus_of_its_gene(kb):
    loci = kb.tables["loci"]
    core = set(zip(loci.loc[loci["role"] == "core", "gene"], loci.loc[loci["role"] == "core", "pos"]))
    defs = kb.tables["allele_definitions"]
    assert set(zip(defs["gene"], defs["pos"])) <= core


def test_callable_alleles_are_exactly_the_defined_ones(kb):
    """VCF genes: every non-structural allele has a definition (except the ones a gene rule
    leaves to outside calls) and every definition an allele; structural alleles and
    outside-call genes have none."""
    defs = kb.tables["allele_definitions"]
    alleles = kb.tables["alleles"]
    rules = kb.tables["gene_rules"]
    outside_only = set(
        zip(rules.loc[rules["rule"] == "outside_only_allele", "gene"], rules.loc[rules["rule"] == "outside_only_allele", "value"])
    )
    vcf = alleles["gene"].isin(VCF_GENES + MITO_GENES)
    callable_ = alleles[vcf & ~alleles["is_structural"]]
    expected = set(zip(callable_["gene"], callable_["allele"])) - outside_only
    assert set(zip(defs["gene"], defs["allele"])) == expected
    assert outside_only == {("MT-RNR1", "m.961T>del+Cn")}
    assert not (alleles.loc[~vcf, "gene"].isin(defs["gene"])).any()
    assert kb.tables["loci"]["gene"].isin(VCF_GENES + MITO_GENES).all()


def test_structural_alleles_are_copy_number_forms_or_known_structural_variants(kb):
    alleles = kb.tables["alleles"]
    structural = alleles[alleles["is_structural"]].groupby("gene")["allele"].apply(set).to_dict()
    assert set(structural) == {"CYP2B6", "CYP2C19", "CYP2D6", "SLCO1B1"}
    assert structural["CYP2C19"] == {"*36", "*37"}
    assert {"*5", "*13", "*1x2", "*1x≥3", "*41x3", "*68"} <= structural["CYP2D6"]
    d6 = kb.table("alleles", "CYP2D6").set_index("allele")
    assert d6.loc["*1x2", "activity_value"] == 2.0
    assert d6.loc["*41x3", "activity_value"] == 0.75  # CPIC's value, not base x copies by rule
    assert pd.isna(d6.loc["*1x≥3", "activity_value"])  # a lower bound: see outside_results
    assert d6.loc["*1x≥3", "function"] == "Increased function"


def test_definition_bases_are_ref_alt_or_iupac_over_them(kb):
    loci = kb.tables["loci"].set_index(["gene", "pos"])
    for gene, allele, pos, bases in kb.tables["allele_definitions"].itertuples(index=False):
        locus = loci.loc[(gene, pos)]
        known = [locus["ref"], *locus["alts"].split(",")]
        assert bases in known or set(IUPAC.get(bases, "?")) <= set(known), (gene, allele, pos, bases)


def test_reference_allele_defines_every_core_locus_with_the_ref_base(kb):
    """The reference allele holds REF at every core locus (CYP2D6 *1 writes two of them as
    IUPAC codes that include REF, as PharmCAT does)."""
    for gene in kb.genes:
        ref = kb.table("genes", gene)["reference_allele"].item()
        flagged = kb.table("alleles", gene)
        assert flagged.loc[flagged["is_reference"], "allele"].tolist() == [ref]
        defs = kb.table("allele_definitions", gene)
        defs = defs[defs["allele"] == ref].set_index("pos")["bases"]
        core = kb.loci([gene], roles=("core",)).set_index("pos")["ref"]
        assert set(defs.index) == set(core.index), gene
        for pos, base in defs.items():
            assert base == core[pos] or core[pos] in IUPAC.get(base, ""), (gene, pos, base, core[pos])


def test_cyp2c19_reference_is_star38_and_star1_fully_specified(kb):
    assert kb.table("genes", "CYP2C19")["reference_allele"].item() == "*38"
    defs = kb.table("allele_definitions", "CYP2C19")
    n_core = len(kb.loci(["CYP2C19"], roles=("core",)))
    assert (defs["allele"] == "*1").sum() == n_core


def test_every_allele_function_is_known_or_explicitly_unknown(kb):
    """A function is a string; an empty one means no source gives one, and `pgx kb info`
    lists every such allele by name."""
    alleles = kb.tables["alleles"]
    assert alleles["function"].map(lambda f: isinstance(f, str)).all()
    text = describe(kb)
    section = text.split("function unknown (no source gives one):", 1)[1].split("\n\n", 1)[0]
    unknown = alleles[alleles["function"] == ""]
    for gene, names in unknown.groupby("gene")["allele"]:
        assert f"  {gene} ({len(names)}): " in section, gene
    # the gaps are real gaps in the sources (see the shared-data test below for "no source")
    counts = unknown.groupby("gene").size().to_dict()
    assert counts["RYR1"] == 290  # defined now, absent from the 2023-12 phenotype file
    assert counts["CYP2D6"] == 24  # *150, *151, *164-*185: newer than the 2024-08 file
    assert counts["CYP4F2"] == 21  # no phenotype file; PyPGx says "Unknown Function"


def test_every_known_function_of_a_phenotype_gene_has_function_pairs(kb):
    """Phenotype genes: each function an allele has appears in the gene's function pairs,
    except for genes no source gives any phenotype rule for."""
    genes = kb.tables["genes"].set_index("gene")
    pairs = kb.tables["function_phenotypes"]
    without_rules = set()
    for gene in genes.index[genes["lookup_method"] == "phenotype"]:
        functions = set(kb.table("alleles", gene)["function"]) - {""}
        in_pairs = set(pairs.loc[pairs["gene"] == gene, ["function_1", "function_2"]].to_numpy().ravel()) - {""}
        if not in_pairs:
            without_rules.add(gene)
            continue
        assert functions <= in_pairs, (gene, sorted(functions - in_pairs))
    assert without_rules == {"CYP4F2"}  # CPIC gives CYP4F2 no phenotypes (warfarin: flowchart only)


def test_function_pairs_join_for_every_pair_of_known_functions(kb):
    """Every pair of functions that defined alleles can have looks up a phenotype
    (mitochondrial genes: every single function, as they are haploid)."""
    genes = kb.tables["genes"]
    pairs = kb.tables["function_phenotypes"]
    rules = kb.tables["gene_rules"]
    mito = set(rules.loc[rules["rule"] == "mitochondrial", "gene"])
    assert mito == {"MT-RNR1"}
    for gene in genes.loc[(genes["lookup_method"] == "phenotype") & (genes["called_from"] == "vcf"), "gene"]:
        known = set(zip(*(pairs.loc[pairs["gene"] == gene, c] for c in ("function_1", "function_2"))))
        if not known:
            continue  # CYP4F2, checked above
        functions = sorted({f for f in kb.table("alleles", gene)["function"] if f})
        wanted = [(f, "") for f in functions] if gene in mito else combinations_with_replacement(functions, 2)
        for pair in wanted:
            assert pair in known, (gene, pair)


def test_single_allele_rows_only_for_hemizygous_and_mitochondrial_genes(kb):
    pairs = kb.tables["function_phenotypes"]
    haploid = pairs[pairs["function_2"] == ""]
    assert set(haploid["gene"]) == {"G6PD", "MT-RNR1"}
    assert (haploid["function_1"] != "").all()
    g6pd = set(kb.table("alleles", "G6PD")["function"])
    assert g6pd == set(haploid.loc[haploid["gene"] == "G6PD", "function_1"])
    assert (pairs.loc[pairs["gene"] == "MT-RNR1", "function_2"] == "").all()


def test_activity_values_only_for_activity_score_genes(kb):
    genes = kb.tables["genes"].set_index("gene")["lookup_method"]
    alleles = kb.tables["alleles"]
    with_value = set(alleles.loc[alleles["activity_value"].notna(), "gene"])
    assert with_value == set(genes[genes == "activity_score"].index)


def test_phenotype_rules_tile_zero_to_max_score(kb):
    genes = kb.tables["genes"]
    for gene in genes.loc[genes["lookup_method"] == "activity_score", "gene"]:
        rules = kb.table("phenotype_rules", gene).sort_values(["min_score", "max_score"])
        values = kb.table("alleles", gene)["activity_value"].dropna()
        top = 2 * values.max()
        check_rule_coverage(gene, rules.to_dict("records"), top)
        for a, b in combinations_with_replacement(sorted(set(values)), 2):
            holding = [r for r in rules.to_dict("records") if rule_holds(r, a + b)]
            assert len(holding) == 1, (gene, a + b, holding)


def test_cyp2c9_rules_are_the_cpic_ranges(kb):
    rules = kb.table("phenotype_rules", "CYP2C9")
    got = {(r.phenotype, r.min_score, r.max_score) for r in rules.itertuples()}
    assert got == {("Poor Metabolizer", 0.0, 1.0), ("Intermediate Metabolizer", 1.0, 2.0), ("Normal Metabolizer", 2.0, 2.0)}


def test_cyp2d6_and_dpyd_rules_are_the_cpic_ranges(kb):
    got = {(r.phenotype, r.min_score, r.max_score) for r in kb.table("phenotype_rules", "CYP2D6").itertuples()}
    assert got == {
        ("Poor Metabolizer", 0.0, 0.25),
        ("Intermediate Metabolizer", 0.25, 1.25),
        ("Normal Metabolizer", 1.25, 2.5),
        ("Ultrarapid Metabolizer", 2.5, math.inf),
    }
    got = {(r.phenotype, r.min_score, r.max_score) for r in kb.table("phenotype_rules", "DPYD").itertuples()}
    assert got == {("Poor Metabolizer", 0.0, 1.0), ("Intermediate Metabolizer", 1.0, 2.0), ("Normal Metabolizer", 2.0, 2.0)}


def test_extra_position_rs12777823_is_reported_not_core(kb):
    loci = kb.table("loci", "CYP2C9")
    row = loci[loci["rsid"] == "rs12777823"]
    assert row["role"].tolist() == ["extra"]
    assert row["pos"].item() not in set(kb.table("allele_definitions", "CYP2C9")["pos"])


def test_ignored_positions_are_ignored_loci_but_an_snv_sharing_the_position_stays_core(kb):
    """G6PD's ignored delGGT and RYR1's ignored deletion have their padding base where an SNV
    defines Chatham / c.14509C>G; only the listed variant is ignored."""
    loci = kb.tables["loci"].set_index(["gene", "pos"])
    assert loci.loc[("G6PD", 154532439), "role"] == "ignored"
    assert loci.loc[("G6PD", 154532990), "role"] == "core"
    assert loci.loc[("RYR1", 38580126), "role"] == "core"
    defs = kb.tables["allele_definitions"].set_index(["gene", "allele", "pos"])["bases"]
    assert defs[("G6PD", "Chatham", 154532990)] == "T"
    assert defs[("RYR1", "c.14509C>G", 38580126)] == "G"
    assert not (kb.tables["loci"]["role"] == "ignored").groupby(kb.tables["loci"]["gene"]).sum().drop("G6PD").any()
    audit = kb.manifest["audit"]
    assert audit["G6PD"]["ignored_variants_without_locus_row"] == ["chrX:154532990 g.154532991_154532993delGGT"]
    assert audit["RYR1"]["ignored_variants_without_locus_row"] == ["chr19:38580126 g.38580127del"]


# --- phenotypes of diplotypes, from the KB tables alone ---------------------------------


def _lookups(kb: KnowledgeBase, gene: str) -> dict:
    """One gene's KB tables as plain dicts (kept on the KB: the source check runs ~50,000 diplotypes)."""

    def build() -> dict:
        alleles = kb.table("alleles", gene)
        out = kb.table("outside_results", gene)
        bounds = out[out["kind"] == "allele_activity"]
        fp = kb.table("function_phenotypes", gene)
        return {
            "method": kb.table("genes", gene)["lookup_method"].item(),
            "function": dict(zip(alleles["allele"], alleles["function"])),
            "activity": {a: (None if pd.isna(v) else float(v)) for a, v in zip(alleles["allele"], alleles["activity_value"])},
            "bounds": dict(zip(bounds["result"], bounds["lookup_key"])),
            "pairs": dict(zip(zip(fp["function_1"], fp["function_2"]), fp["phenotype"])),
            "rules": kb.table("phenotype_rules", gene).to_dict("records"),
        }

    return kb.derived(("tests.lookups", gene), build)


def kb_result(kb, gene: str, *alleles: str) -> tuple[str | None, str | None]:
    """(phenotype, lookup key) of a diplotype (or one allele) from the KB tables alone:
    function pairs, or activity values (lower bounds from outside_results) and score rules."""
    t = _lookups(kb, gene)
    if t["method"] == "activity_score":
        values = []
        for a in alleles:
            if a in t["bounds"]:
                values.append((float(t["bounds"][a].lstrip("≥")), True))
            elif t["activity"][a] is None:
                return "Indeterminate", "n/a"
            else:
                values.append((t["activity"][a], False))
        score = sum(v for v, _ in values)
        holding = [r["phenotype"] for r in t["rules"] if rule_holds(r, score)]
        return (holding[0] if holding else None), score_text(score, any(b for _, b in values))
    functions = [t["function"][a] for a in alleles]
    if not all(functions):
        return "Indeterminate", "Indeterminate"
    pair = (functions[0], "") if len(functions) == 1 else tuple(sorted(functions))
    phenotype = t["pairs"].get(pair)
    return phenotype, phenotype


@pytest.mark.parametrize(
    ("gene", "alleles", "phenotype", "key"),
    [
        ("CYP2C19", ("*1", "*1"), "Normal Metabolizer", None),
        ("CYP2C19", ("*2", "*17"), "Intermediate Metabolizer", None),
        ("CYP2C19", ("*17", "*17"), "Ultrarapid Metabolizer", None),
        ("CYP2C19", ("*2", "*36"), "Poor Metabolizer", None),  # *36: whole-gene deletion (outside call)
        ("TPMT", ("*3A", "*3A"), "Poor Metabolizer", None),
        ("TPMT", ("*1", "*42"), "Indeterminate", None),  # *42: function unknown in every source
        ("NUDT15", ("*1", "*3"), "Intermediate Metabolizer", None),
        ("NUDT15", ("*3", "*10"), "Possible Intermediate Metabolizer", None),  # *10 from PyPGx
        ("CYP2B6", ("*6", "*6"), "Poor Metabolizer", None),
        ("CYP3A5", ("*3", "*3"), "Poor Metabolizer", None),
        ("CYP3A4", ("*1", "*22"), "Intermediate Metabolizer", None),
        ("UGT1A1", ("*28", "*28"), "Poor Metabolizer", None),
        ("NAT2", ("*5", "*5"), "Poor Metabolizer", None),
        ("NAT2", ("*4", "*5"), "Intermediate Metabolizer", None),
        ("SLCO1B1", ("*5", "*5"), "Poor Function", None),
        ("SLCO1B1", ("*1", "*14"), "Normal Function", None),
        ("ABCG2", ("rs2231142 reference (G)", "rs2231142 variant (T)"), "Decreased Function", None),
        ("ABCG2", ("rs2231142 variant (T)", "rs2231142 variant (T)"), "Poor Function", None),
        ("VKORC1", ("rs9923231 variant (T)", "rs9923231 variant (T)"), "-1639 AA", None),
        ("CFTR", ("G551D", "ivacaftor non-responsive CFTR sequence"), "ivacaftor responsive in CF patients", None),
        ("CFTR", ("ivacaftor non-responsive CFTR sequence",) * 2, "ivacaftor non-responsive in CF patients", None),
        ("RYR1", ("Reference", "c.7300G>A"), "Malignant Hyperthermia Susceptibility", None),
        ("RYR1", ("Reference", "Reference"), "Uncertain Susceptibility", None),
        ("CACNA1S", ("Reference", "c.520C>T"), "Malignant Hyperthermia Susceptibility", None),
        ("G6PD", ("A- 202A_376G",), "Deficient", None),  # hemizygous male
        ("G6PD", ("Aachen",), "Deficient with CNSHA", None),
        ("G6PD", ("B (reference)",), "Normal", None),
        ("G6PD", ("A- 202A_376G", "B (reference)"), "Variable", None),  # heterozygous female
        ("G6PD", ("A- 202A_376G", "A- 202A_376G"), "Deficient", None),
        ("MT-RNR1", ("m.1555A>G",), "increased risk of aminoglycoside-induced hearing loss", None),
        ("MT-RNR1", ("Reference",), "normal risk of aminoglycoside-induced hearing loss", None),
        # activity-score genes, at the range boundaries
        ("CYP2C9", ("*3", "*3"), "Poor Metabolizer", "0.0"),
        ("CYP2C9", ("*2", "*3"), "Poor Metabolizer", "0.5"),
        ("CYP2C9", ("*1", "*3"), "Intermediate Metabolizer", "1.0"),
        ("CYP2C9", ("*1", "*2"), "Intermediate Metabolizer", "1.5"),
        ("CYP2C9", ("*1", "*1"), "Normal Metabolizer", "2.0"),
        ("DPYD", ("c.1905+1G>A (*2A)", "c.1905+1G>A (*2A)"), "Poor Metabolizer", "0.0"),
        ("DPYD", ("c.1905+1G>A (*2A)", "c.2846A>T"), "Poor Metabolizer", "0.5"),
        ("DPYD", ("Reference", "c.1905+1G>A (*2A)"), "Intermediate Metabolizer", "1.0"),
        ("DPYD", ("Reference", "c.2846A>T"), "Intermediate Metabolizer", "1.5"),
        ("DPYD", ("Reference", "Reference"), "Normal Metabolizer", "2.0"),
        ("CYP2D6", ("*4", "*4"), "Poor Metabolizer", "0.0"),
        ("CYP2D6", ("*4", "*10"), "Intermediate Metabolizer", "0.25"),
        ("CYP2D6", ("*4", "*1"), "Intermediate Metabolizer", "1.0"),
        ("CYP2D6", ("*1", "*10"), "Normal Metabolizer", "1.25"),
        ("CYP2D6", ("*1x2", "*10"), "Normal Metabolizer", "2.25"),
        ("CYP2D6", ("*1x2", "*17"), "Ultrarapid Metabolizer", "2.5"),
        ("CYP2D6", ("*1", "*1x2"), "Ultrarapid Metabolizer", "3.0"),
        ("CYP2D6", ("*1", "*1x≥3"), "Ultrarapid Metabolizer", "≥4.0"),
        ("CYP2D6", ("*4", "*1x≥3"), "Ultrarapid Metabolizer", "≥3.0"),
        ("CYP2D6", ("*10", "*2x≥3"), "Ultrarapid Metabolizer", "≥3.25"),
        ("CYP2D6", ("*1", "*28"), "Indeterminate", "n/a"),
    ],
)
def test_diplotypes_through_the_phenotype_tables(kb, gene, alleles, phenotype, key):
    assert kb_result(kb, gene, *alleles) == (phenotype, key or phenotype)


def test_score_lookup_keys_at_the_boundaries_have_their_phenotypes(kb):
    """The outside activity scores (incl. the "≥" ones) sit in the rule their number falls in."""
    out = kb.tables["outside_results"]
    scores = out[out["kind"] == "activity_score"]
    assert set(scores["gene"]) == {"CYP2C9", "CYP2D6", "DPYD"}
    table = {(g, r): p for g, r, p in zip(scores["gene"], scores["result"], scores["phenotype"])}
    assert table[("CYP2D6", "1.0")] == "Intermediate Metabolizer"
    assert table[("CYP2D6", "1.25")] == "Normal Metabolizer"
    assert table[("CYP2D6", "2.25")] == "Normal Metabolizer"
    assert table[("CYP2D6", "2.5")] == "Ultrarapid Metabolizer"
    for bound in ("≥3.0", "≥3.25", "≥3.5", "≥3.75", "≥4.0", "≥5.0", "≥6.0"):
        assert table[("CYP2D6", bound)] == "Ultrarapid Metabolizer"
    assert table[("DPYD", "0.5")] == "Poor Metabolizer" and table[("DPYD", "1.0")] == "Intermediate Metabolizer"
    assert table[("CYP2C9", "1.5")] == "Intermediate Metabolizer" and table[("CYP2C9", "2.0")] == "Normal Metabolizer"
    activity = out[out["kind"] == "allele_activity"]
    assert dict(zip(activity["result"], activity["lookup_key"])) == {"*1x≥3": "≥3.0", "*2x≥3": "≥3.0"}


def test_hla_allele_statuses_are_outside_results(kb):
    out = kb.tables["outside_results"]
    status = out[out["kind"] == "allele_status"]
    got = {(g, r) for g, r in zip(status["gene"], status["result"])}
    for gene, allele in (("HLA-B", "*57:01"), ("HLA-B", "*58:01"), ("HLA-B", "*15:02"), ("HLA-A", "*31:01")):
        assert {(gene, f"{allele} positive"), (gene, f"{allele} negative")} <= got
    assert (status["lookup_key"] == status["result"]).all()
    assert (status["note"] != "").all()


# --- gene rules ---------------------------------------------------------------------------


def test_gene_rules_reference_known_genes_positions_and_alleles(kb):
    rules = kb.tables["gene_rules"]
    assert set(rules["gene"]) <= set(kb.tables["genes"]["gene"])
    assert (rules["note"] != "").all()
    loci = kb.tables["loci"]
    core = set(zip(loci.loc[loci["role"] == "core", "gene"], loci.loc[loci["role"] == "core", "pos"]))
    for gene, rule, value in zip(rules["gene"], rules["rule"], rules["value"]):
        if rule.endswith("_position"):
            assert (gene, int(value)) in core, (gene, rule, value)


def test_gene_rules_hold_the_cpic_practice_rules(kb):
    rules = kb.tables["gene_rules"]
    by_rule = {r: set(zip(g["gene"], g["value"])) for r, g in rules.groupby("rule")}
    assert by_rule["lowest_function"] == {("DPYD", ""), ("RYR1", ""), ("CACNA1S", "")}
    assert by_rule["hemizygous"] == {("G6PD", "chrX")}
    assert by_rule["copy_number_not_assessed"] == {("CYP2D6", "")}
    rs4149056 = kb.table("loci", "SLCO1B1").query("rsid == 'rs4149056'")["pos"].item()
    assert by_rule["fallback_position"] == {("SLCO1B1", str(rs4149056))}
    assert by_rule["ignored_allele"] == {("G6PD", "Mediterranean Haplotype")}
    assert {g for g, _ in by_rule["required_position"]} == {"NAT2"} and len(by_rule["required_position"]) == 5
    notes = dict(zip(zip(rules["gene"], rules["rule"]), rules["note"]))
    assert "PMID 29152729" in notes[("DPYD", "lowest_function")]
    assert "PMID 30499100" in notes[("RYR1", "lowest_function")]


# --- every guideline key is reachable ----------------------------------------------------

#: DPWG key values the DPWG rows use that no genotype gives (they need the recommendation
#: side to interpret them): DPYD activity measured by phenotyping, and a combined HLA-B status
DPWG_UNREACHABLE = {
    "DPYD": {"0.5 (Phenotyping)", "1.0 (Phenotyping)"},
    "HLA-B": {"*15:02 positive + *15:11 positive"},
}


def test_every_cpic_lookup_key_of_the_recommendations_is_reachable(kb):
    recs = kb.tables["recommendations"]
    missing = unreachable_keys(kb, lookup_key_values(recs[recs["source"] == "CPIC"]))
    assert missing == {}, f"CPIC lookup keys no diplotype or outside result reaches: {missing}"


def test_dpwg_lookup_keys_unreachable_only_where_known(kb):
    recs = kb.tables["recommendations"]
    missing = unreachable_keys(kb, lookup_key_values(recs[recs["source"] == "DPWG"]))
    extra = {g: sorted(set(v) - DPWG_UNREACHABLE.get(g, set())) for g, v in missing.items()}
    assert not any(extra.values()), f"DPWG lookup keys no diplotype or outside result reaches: {extra}"


def test_reachability_check_names_what_is_missing(kb):
    """The check is real: without the outside results, HLA and the CYP2D6 "≥" keys are listed."""
    tables = dict(kb.tables)
    tables["outside_results"] = kb.tables["outside_results"].iloc[0:0]
    bare = KnowledgeBase(root=kb.root, manifest=kb.manifest, tables=tables)
    keys = {"HLA-B": {"*57:01 positive", "No Result"}, "CYP2D6": {"≥4.0", "3.0", "n/a"}, "NOPE": {"x"}}
    assert unreachable_keys(bare, keys) == {"CYP2D6": ["≥4.0"], "HLA-B": ["*57:01 positive"], "NOPE": ["x"]}
    assert unreachable_keys(kb, keys) == {"NOPE": ["x"]}


# --- files, manifest, description ---------------------------------------------------------


def test_committed_files_are_in_canonical_form():
    """Re-serialising each table gives the committed bytes: sorted, fixed formatting."""
    for name in KB_TABLES:
        path = KB_DIR / f"{name}.tsv"
        assert table_bytes(name, read_table(KB_DIR, name)) == path.read_bytes(), name


def test_manifest_checksums_and_version_match_the_files(kb):
    checksums = {f"{name}.tsv": sha256_bytes((KB_DIR / f"{name}.tsv").read_bytes()) for name in KB_TABLES}
    assert kb.manifest["tables"] == checksums
    versions = [s["data_version"] for s in kb.manifest["sources"] if s["path"].endswith("_translation.json")]
    assert kb.version == kb_version(versions, checksums)
    assert all(not Path(s["path"]).is_absolute() for s in kb.manifest["sources"])


def test_manifest_audit_names_fallbacks_and_left_out_alleles(kb):
    audit = kb.manifest["audit"]
    assert set(audit) == set(DEFAULT_GENES)
    assert audit["G6PD"]["function_from_pypgx"] == {
        "Telti, Kobe": "I/Deficient with CNSHA (PyPGx: Class I (Deficient with CNSHA))"
    }
    assert set(audit["NUDT15"]["function_from_pypgx"]) == {f"*{n}" for n in range(10, 21)}
    assert audit["CYP4F2"]["function_from_pypgx"] == {"*1": "Normal function (PyPGx: Normal Function)"}
    assert audit["G6PD"]["phenotype_file_alleles_not_listed"] == ["Mediterranean Haplotype", "Telti/Kobe", "Villeurbanne"]
    # the definitions name SLCO1B1's *45 by its suballeles, which report (and take the function of) *45
    assert "phenotype_file_alleles_not_listed" not in audit["SLCO1B1"]
    slco = kb.table("alleles", "SLCO1B1").set_index("allele")
    assert slco.loc[["*45.001", "*45.002"], "guideline_name"].tolist() == ["*45", "*45"]
    assert slco.loc[["*45.001", "*45.002"], "function"].tolist() == ["No function", "No function"]
    function = kb.tables["alleles"].set_index(["gene", "allele"])["function"]
    for gene, fills in audit.items():
        for allele, text in fills.get("function_from_pypgx", {}).items():
            assert text.startswith(function[(gene, allele)] + " (PyPGx: ")


def test_describe_names_version_genes_counts_and_sources(kb):
    text = describe(kb)
    assert kb.version in text
    for gene in DEFAULT_GENES:
        assert f"\n  {gene} " in text
    for header in ("alleles", "with function", "function unknown", "loci core/extra/ignored", "phenotype rules", "gene rules"):
        assert header in text
    assert "recommendation rows:" in text and "drugs: CPIC" in text
    assert "pharmcat/phenotype-older/CYP2D6.json  2024-08-27-21-12" in text
    row = next(line for line in text.splitlines() if line.startswith("  NAT2 "))
    assert "required_position x5" in row and "unphased_priority x29" in row
    assert "guideline lookup keys" in text


# --- validation ------------------------------------------------------------------------


def test_validate_accepts_the_committed_tables():
    validate(fresh_tables())


def test_validate_rejects_a_duplicate_allele():
    tables = fresh_tables()
    tables["alleles"] = pd.concat([tables["alleles"], tables["alleles"].iloc[[3]]])
    with pytest.raises(KnowledgeBaseError, match="alleles has duplicate rows"):
        validate(tables)


def test_validate_rejects_a_definition_at_an_unknown_position():
    tables = fresh_tables()
    defs = tables["allele_definitions"].copy()
    defs.loc[defs.index[0], "pos"] = 1
    tables["allele_definitions"] = defs
    with pytest.raises(KnowledgeBaseError, match="not core loci"):
        validate(tables)


def test_validate_rejects_two_reference_alleles():
    tables = fresh_tables()
    alleles = tables["alleles"].copy()
    alleles.loc[alleles["allele"] == "*2", "is_reference"] = True
    tables["alleles"] = alleles
    with pytest.raises(KnowledgeBaseError, match="reference allele"):
        validate(tables)


# --- builder parts (no upstream data needed) ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 <= score < 1", (0.0, 1.0, False)),
        ("1.25 <= score < 2.5", (1.25, 2.5, False)),
        ("2.5 <= score", (2.5, math.inf, False)),
        ("2 == score", (2.0, 2.0, True)),
        ("score < 0.25", (0.0, 0.25, False)),
    ],
)
def test_parse_equation_reads_numbers(text, expected):
    assert parse_equation(text) == expected


@pytest.mark.parametrize("text", ["1 < score", "score <= 2", "__import__('os')", "2 <= score < 1", "score"])
def test_parse_equation_rejects_other_forms(text):
    with pytest.raises(KnowledgeBaseError, match="cannot read score rule"):
        parse_equation(text)


def test_rule_coverage_rejects_gap_and_short_top():
    rules = [
        {"gene": "G", "phenotype": "PM", "min_score": 0.0, "max_score": 1.0},
        {"gene": "G", "phenotype": "NM", "min_score": 1.5, "max_score": math.inf},
    ]
    with pytest.raises(KnowledgeBaseError, match="gap or overlap at 1.0"):
        check_rule_coverage("G", rules, 2.0)
    with pytest.raises(KnowledgeBaseError, match="short of the maximum"):
        check_rule_coverage("G", rules[:1], 2.0)


def _diplotype(a: str, b: str, phenotype: str) -> dict:
    key = {a: 2} if a == b else {a: 1, b: 1}
    return {"diplotype": f"{a}/{b}", "diplotypekey": key, "phenotype": phenotype}


def test_function_pairs_are_unordered_and_unique():
    functions = {"*1": "Normal function", "*2": "No function", "*3": "No function"}
    pheno = {"diplotypes": [_diplotype("*1", "*2", "IM"), _diplotype("*3", "*1", "IM"), _diplotype("*2", "*2", "PM")]}
    rows = function_phenotype_rows("G", pheno, functions)
    assert [(r["function_1"], r["function_2"], r["phenotype"]) for r in rows] == [
        ("No function", "No function", "PM"),
        ("No function", "Normal function", "IM"),
    ]


def test_function_pair_with_two_phenotypes_is_an_error_naming_both():
    functions = {"*1": "Normal function", "*2": "No function", "*3": "No function"}
    pheno = {"diplotypes": [_diplotype("*1", "*2", "IM"), _diplotype("*1", "*3", "PM")]}
    with pytest.raises(KnowledgeBaseError, match=r"No function \+ Normal function -> IM \(e.g. \*1/\*2\); PM"):
        function_phenotype_rows("G", pheno, functions)


def test_check_bases_accepts_iupac_over_ref_alt_only():
    variant = {"position": 10, "ref": "C", "alts": ["T"]}
    check_bases("G", "*4", variant, "Y")
    check_bases("G", "*4", variant, "T")
    with pytest.raises(KnowledgeBaseError, match="neither REF/ALT"):
        check_bases("G", "*4", variant, "R")


def test_parse_activity_treats_na_as_empty():
    assert parse_activity("n/a", "x") is None
    assert parse_activity(None, "x") is None
    assert parse_activity("0.5", "x") == 0.5
    with pytest.raises(KnowledgeBaseError, match="not a number"):
        parse_activity("≥3.0", "x")


def test_cells_have_one_spelling():
    assert format_cell(1, "float64") == "1.0"
    assert format_cell(0.25, "Float64") == "0.25"
    assert format_cell(math.inf, "float64") == "inf"
    assert format_cell(None, "Float64") == ""
    assert format_cell(96521657.0, "Int64") == "96521657"
    assert format_cell(True, "boolean") == "true"


def test_definition_date_is_the_newest():
    assert definition_date(["2025-11-05-00-25", "2024-08-27-21-12"]) == "2025.11.05"
    with pytest.raises(KnowledgeBaseError):
        definition_date(["v1.30.0"])


# --- rebuild from the upstream sources -------------------------------------------------


@pytest.mark.shared_data
def test_rebuild_reproduces_committed_kb_byte_for_byte(shared_data, tmp_path, monkeypatch):
    # --sources given relative to the working directory, as in the README (../shared/data)
    monkeypatch.chdir(tmp_path)
    manifest_path = build_kb(Path(os.path.relpath(shared_data, tmp_path)), tmp_path)
    for name in KB_TABLES:
        assert (tmp_path / f"{name}.tsv").read_bytes() == (KB_DIR / f"{name}.tsv").read_bytes(), name
    built = json.loads(manifest_path.read_text())
    committed = json.loads((KB_DIR / "manifest.json").read_text())
    built.pop("pipeline_version")
    committed.pop("pipeline_version")
    assert built == committed


@pytest.mark.shared_data
def test_indels_are_vcf_alleles_with_padding_base(shared_data):
    tables, _, _ = build_gene_tables(SourceReader(shared_data), ("UGT1A1", "CYP2C9", "TPMT"))
    defs = tables["allele_definitions"].set_index(["gene", "allele", "pos"])["bases"]
    assert defs[("UGT1A1", "*1", 233760233)] == "CAT"  # TA(7)
    assert defs[("UGT1A1", "*28", 233760233)] == "CATAT"  # TA(8)
    assert defs[("UGT1A1", "*36", 233760233)] == "C"  # TA(6)
    assert defs[("CYP2C9", "*6", 94949281)] == "G"  # delA
    assert defs[("CYP2C9", "*25", 94942205)] == "C"  # delAGAAATGGAA
    assert defs[("TPMT", "*42", 18149032)] == "CT"  # insT
    loci = tables["loci"].set_index(["gene", "pos"])
    assert loci.loc[("UGT1A1", 233760233), "alts"] == "C,CATAT,CATATAT"
    # PyPGx writes this deletion at another position: no GRCh37 position rather than a wrong one
    assert pd.isna(loci.loc[("CYP2C9", 94942205), "grch37_pos"])


@pytest.mark.shared_data
def test_build_without_recommendation_module_fails_and_writes_nothing(shared_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pgx.kb_build.recommendations", None)
    with pytest.raises(KnowledgeBaseError, match="drugs and recommendations"):
        build_kb(shared_data, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_every_reachable_phenotype_or_score_is_a_lookup_key(kb):
    """Joins that must not fail: each phenotype or score the KB can give is a lookup key."""
    from pgx.phenotype import format_activity_score

    keys: dict[str, set[str]] = {}
    for key in kb.tables["recommendations"]["lookup_key"]:
        for part in key.split(";"):
            gene, _, value = part.partition("=")
            keys.setdefault(gene, set()).add(value)
    genes = kb.tables["genes"].set_index("gene")["lookup_method"]
    for gene, method in genes.items():
        if gene not in keys:
            continue  # no guideline keyed on this gene alone
        if method == "activity_score":
            values = sorted(set(kb.table("alleles", gene)["activity_value"].dropna()))
            reachable = {format_activity_score(a + b) for a, b in combinations_with_replacement(values, 2)}
        else:
            reachable = set(kb.table("function_phenotypes", gene)["phenotype"])
        assert reachable <= keys[gene], (gene, sorted(reachable - keys[gene]))


# --- against the upstream sources -----------------------------------------------------------


@pytest.mark.shared_data
def test_every_pharmcat_diplotype_gets_its_phenotype_and_key_from_the_kb(kb, shared_data):
    """Each gene's phenotype file, diplotype by diplotype (CYP2D6: 15,051 rows with the "≥"
    scores; G6PD: hemizygous rows): the KB tables give the same phenotype and lookup key.
    Diplotypes naming an allele the KB does not list (renamed or retired) are skipped."""
    reader = SourceReader(shared_data)
    checked = {}
    for gene in sorted(kb.tables["genes"]["gene"]):
        rel = phenotype_path(reader, gene)
        if rel is None:
            continue
        listed = set(kb.table("alleles", gene)["allele"])
        wrong, n = [], 0
        for d in reader.json(rel).get("diplotypes") or []:
            alleles = [a for a, c in d["diplotypekey"].items() for _ in range(int(c))]
            if not set(alleles) <= listed:
                continue
            n += 1
            want = (d.get("phenotype") or d["generesult"], d["lookupkey"])
            got = kb_result(kb, gene, *alleles)
            if got != want:
                wrong.append((d["diplotype"], got, want))
        assert not wrong, (gene, len(wrong), wrong[:5])
        checked[gene] = n
    assert checked["CYP2D6"] == 15051 and checked["MT-RNR1"] == 25 and checked["G6PD"] > 17000
    assert checked["IFNL3"] == 0  # IFNL3's file has no diplotypes: no phenotype rule exists


@pytest.mark.shared_data
def test_every_cpic_lookup_key_in_the_sources_is_reachable(kb, shared_data):
    """All keys of cpic/recommendation.json and the v1.30 ondansetron/tropisetron files."""
    rows = json.loads((shared_data / "cpic" / "recommendation.json").read_text())
    for drug in ("ondansetron", "tropisetron"):
        rows += json.loads((shared_data / "cpic" / "cpic-v1.30" / f"{drug}.json").read_text())["recommendations"]
    keys: dict[str, set[str]] = {}
    for row in rows:
        for gene, value in (row.get("lookupkey") or {}).items():
            keys.setdefault(gene, set()).add(value)
    assert len(keys) == 19
    missing = unreachable_keys(kb, keys)
    assert missing == {}, f"CPIC lookup keys no diplotype or outside result reaches: {missing}"


@pytest.mark.shared_data
def test_phenotype_vocabulary_matches_pharmcat_phenotypes_tsv(kb, shared_data):
    """Each gene's phenotypes are the CPIC phenotypes PharmCAT lists for it, all reachable."""
    reader = SourceReader(shared_data)
    listed = {r["Gene"]: set(filter(None, r["CPIC Phenotypes"].split(";"))) for r in reader.tsv_rows("pharmcat/phenotypes.tsv")}
    reachable = reachable_results(kb)
    for gene in kb.tables["genes"]["gene"]:
        ours = set(kb.table("function_phenotypes", gene)["phenotype"]) | set(kb.table("phenotype_rules", gene)["phenotype"])
        assert ours <= listed[gene] | {"Indeterminate"}, (gene, sorted(ours - listed[gene]))
        if gene != "VKORC1":  # PharmCAT lists VKORC1's genotypes, which are its phenotypes here
            assert listed[gene] - {"Indeterminate"} <= reachable[gene], (gene, sorted(listed[gene] - reachable[gene]))


@pytest.mark.shared_data
def test_alleles_without_function_have_none_in_any_source(kb, shared_data):
    """An empty function is a real gap: no phenotype file names the allele with a function
    and PyPGx gives none (or only its "Unknown Function" placeholder)."""
    reader = SourceReader(shared_data)
    pypgx = pypgx_alleles(reader.csv_rows("pypgx/allele-table.csv"))
    files = [p for p in (shared_data / "pharmcat").glob("phenotype*/*.json")]
    named: dict[str, dict[str, str]] = {}
    for path in files:
        doc = json.loads(path.read_text())
        for entry in doc.get("namedAlleles") or []:
            if entry.get("functionValue"):
                named.setdefault(doc["gene"], {})[entry["name"]] = entry["functionValue"]
        for name, value in (doc.get("haplotypes") or {}).items():
            if not doc.get("activityValues") and value:
                named.setdefault(doc["gene"], {})[name] = value
    alleles = kb.tables["alleles"]
    for gene, allele in zip(alleles.loc[alleles["function"] == "", "gene"], alleles.loc[alleles["function"] == "", "allele"]):
        assert allele not in named.get(gene, {}), (gene, allele)
        term = pypgx[gene].functions.get(allele, "") if gene in pypgx else ""
        assert term in PYPGX_UNASSIGNED, (gene, allele, term)


@pytest.mark.shared_data
def test_grch37_positions_come_from_pypgx_rows_with_the_same_reference(kb, shared_data):
    reader = SourceReader(shared_data)
    rows = reader.csv_rows("pypgx/variant-table.csv")
    known = {(r["Chromosome"], int(r["GRCh38Position"]), int(r["GRCh37Position"]), r["GRCh38Allele"][:1])
             for r in rows if r["GRCh38Position"].isdigit() and r["GRCh37Position"].isdigit()}  # fmt: skip
    loci = kb.tables["loci"]
    with37 = loci[loci["grch37_pos"].notna()]
    for row in with37.itertuples():
        assert (row.chrom.removeprefix("chr"), row.pos, int(row.grch37_pos), row.ref[:1]) in known, row
    core = loci[loci["role"] == "core"]
    assert core["grch37_pos"].notna().mean() > 0.6
    assert kb.table("loci", "CYP2C19").set_index("rsid").loc["rs12248560", "grch37_pos"] == 96521657


# --- builder parts for the new vocabularies ------------------------------------------------


def test_pypgx_functions_translate_only_where_both_sources_agree():
    pharmcat = {
        "*1": "Normal function",
        "*2": "No function",
        "*3": "No function",
        "*4": "No function",
        "*5": "Decreased function",
    }
    pypgx = {"*1": "Normal Function", "*2": "No Function", "*3": "No Function", "*4": "No Function", "*5": "No Function",
             "*6": "Unknown Function", "*9": "Uncertain Function"}  # fmt: skip
    # "No Function" is also given to a decreased-function allele: not unanimous, not used;
    # "Normal Function" agrees once only (fewer than MIN_AGREEING); "Unknown Function" is no information
    assert pypgx_function_map(pharmcat, pypgx) == {}
    pharmcat["*5"] = "No function"
    assert pypgx_function_map(pharmcat, pypgx) == {"No Function": "No function"}
    # a gene without any phenotype file: CPIC's generic terms by spelling only
    assert pypgx_function_map({}, {"*1": "Normal Function", "*2": "Unknown Function", "*3": "Class I (x)"}) == {
        "Normal Function": "Normal function"
    }


def test_lower_bound_scores_keep_their_sign():
    assert is_lower_bound("≥3.0") and not is_lower_bound("3.0") and not is_lower_bound("n/a")
    assert diplotype_score_text([(3.0, True), (1.0, False)]) == "≥4.0"
    assert diplotype_score_text([(3.0, True), (0.25, False)]) == "≥3.25"
    assert diplotype_score_text([(2.0, False), (1.0, False)]) == "3.0"
    assert score_text(0.0) == "0.0" and score_text(1.25) == "1.25" and score_text(6.0, True) == "≥6.0"


def test_validate_rejects_bad_gene_rules_and_outside_results():
    tables = fresh_tables()
    rules = tables["gene_rules"]
    bad = pd.DataFrame(
        [
            {"gene": "SLCO1B1", "rule": "fallback_position", "value": "1", "note": "x"},
            {"gene": "G6PD", "rule": "hemizygous", "value": "chr1", "note": "x"},
            {"gene": "NOPE", "rule": "lowest_function", "value": "", "note": "x"},
            {"gene": "DPYD", "rule": "made_up", "value": "", "note": "x"},
        ]
    )
    tables["gene_rules"] = pd.concat([rules, bad], ignore_index=True)
    with pytest.raises(KnowledgeBaseError) as err:
        validate(tables)
    for text in (
        "not a core locus of SLCO1B1",
        "G6PD is on chrX",
        "NOPE lowest_function '': unknown gene",
        "not in the vocabulary",
    ):
        assert text in str(err.value)
    tables = fresh_tables()
    out = tables["outside_results"]
    tables["outside_results"] = pd.concat(
        [out, pd.DataFrame([{"gene": "HLA-B", "kind": "guess", "result": "x", "phenotype": "", "lookup_key": "x", "note": ""}])],
        ignore_index=True,
    )
    with pytest.raises(KnowledgeBaseError, match="outside_results kind 'guess' unknown"):
        validate(tables)


def test_validate_rejects_loci_for_an_outside_call_gene():
    tables = fresh_tables()
    loci = tables["loci"]
    row = loci.iloc[[0]].copy()
    row["gene"] = "HLA-B"
    tables["loci"] = pd.concat([loci, row], ignore_index=True)
    with pytest.raises(KnowledgeBaseError, match="outside-call genes have loci or definitions: HLA-B"):
        validate(tables)


@pytest.mark.shared_data
def test_a_gene_without_definitions_must_be_a_cpic_gene(shared_data):
    with pytest.raises(KnowledgeBaseError, match="CYP2C191: no PharmCAT definition file"):
        build_gene_tables(SourceReader(shared_data), ("CYP2C191",))


def test_coverage_tables_account_for_every_gene_and_recommendation_row():
    from pgx.kb import coverage_markdown, coverage_tables, load_kb

    kb = load_kb()
    tabs = coverage_tables(kb)
    assert set(tabs["genes"]["gene"]) == set(kb.tables["genes"]["gene"])
    assert tabs["drugs"]["rows"].sum() == len(kb.tables["recommendations"])
    assert tabs["genes"].set_index("gene").loc["CYP2C19", "alleles"] == (kb.tables["alleles"]["gene"] == "CYP2C19").sum()
    assert kb.version in coverage_markdown(kb)
