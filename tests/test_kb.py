"""The knowledge base: integrity of the committed tables, the builder's parsers, and a
rebuild from the upstream sources that must reproduce the committed files exactly."""

from __future__ import annotations

import json
import math
import sys
from itertools import combinations_with_replacement
from pathlib import Path

import pandas as pd
import pytest

from pgx.errors import KnowledgeBaseError
from pgx.kb import DEFAULT_KB_DIR, describe, load_kb, read_table, validate
from pgx.kb_build import DEFAULT_GENES, build_kb, build_gene_tables
from pgx.kb_build.alleles import IUPAC, check_bases, parse_activity
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


# --- the committed tables -------------------------------------------------------------


def test_committed_kb_covers_default_genes(kb):
    assert sorted(kb.genes) == sorted(DEFAULT_GENES)
    assert kb.manifest["genes"] == list(DEFAULT_GENES)


def test_no_duplicate_alleles_loci_or_definitions(kb):
    assert not kb.tables["alleles"].duplicated(["gene", "allele"]).any()
    assert not kb.tables["loci"].duplicated(["gene", "pos"]).any()
    assert not kb.tables["allele_definitions"].duplicated(["gene", "allele", "pos"]).any()
    assert not kb.tables["genes"].duplicated(["gene"]).any()


def test_every_definition_is_at_a_core_locus_of_its_gene(kb):
    loci = kb.tables["loci"]
    core = set(zip(loci.loc[loci["role"] == "core", "gene"], loci.loc[loci["role"] == "core", "pos"]))
    defs = kb.tables["allele_definitions"]
    assert set(zip(defs["gene"], defs["pos"])) <= core


def test_every_defined_allele_is_listed_and_every_listed_allele_is_defined(kb):
    defs = kb.tables["allele_definitions"]
    alleles = kb.tables["alleles"]
    assert set(zip(defs["gene"], defs["allele"])) == set(zip(alleles["gene"], alleles["allele"]))


def test_definition_bases_are_ref_alt_or_iupac_over_them(kb):
    loci = kb.tables["loci"].set_index(["gene", "pos"])
    for gene, allele, pos, bases in kb.tables["allele_definitions"].itertuples(index=False):
        locus = loci.loc[(gene, pos)]
        known = [locus["ref"], *locus["alts"].split(",")]
        assert bases in known or set(IUPAC.get(bases, "?")) <= set(known), (gene, allele, pos, bases)


def test_reference_allele_defines_every_core_locus_with_the_ref_base(kb):
    for gene in kb.genes:
        ref = kb.table("genes", gene)["reference_allele"].item()
        flagged = kb.table("alleles", gene)
        assert flagged.loc[flagged["is_reference"], "allele"].tolist() == [ref]
        defs = kb.table("allele_definitions", gene)
        defs = defs[defs["allele"] == ref].set_index("pos")["bases"]
        core = kb.loci([gene], roles=("core",)).set_index("pos")["ref"]
        assert defs.sort_index().to_dict() == core.sort_index().to_dict()


def test_cyp2c19_reference_is_star38_and_star1_fully_specified(kb):
    assert kb.table("genes", "CYP2C19")["reference_allele"].item() == "*38"
    defs = kb.table("allele_definitions", "CYP2C19")
    n_core = len(kb.loci(["CYP2C19"], roles=("core",)))
    assert (defs["allele"] == "*1").sum() == n_core


def test_every_allele_function_is_a_string_possibly_empty(kb):
    alleles = kb.tables["alleles"]
    assert alleles["function"].map(lambda f: isinstance(f, str)).all()
    # functions known for most alleles; the gaps are real gaps in the sources
    assert (alleles["function"] != "").mean() > 0.8


def test_activity_values_only_for_activity_score_genes(kb):
    genes = kb.tables["genes"].set_index("gene")["lookup_method"]
    alleles = kb.tables["alleles"]
    with_value = set(alleles.loc[alleles["activity_value"].notna(), "gene"])
    assert with_value == set(genes[genes == "activity_score"].index)


def test_function_pairs_join_for_every_pair_of_known_functions(kb):
    """Every pair of functions that defined alleles can have looks up a phenotype."""
    genes = kb.tables["genes"]
    pairs = kb.tables["function_phenotypes"]
    for gene in genes.loc[genes["lookup_method"] == "phenotype", "gene"]:
        functions = sorted({f for f in kb.table("alleles", gene)["function"] if f})
        known = set(zip(*(pairs.loc[pairs["gene"] == gene, c] for c in ("function_1", "function_2"))))
        for pair in combinations_with_replacement(functions, 2):
            assert pair in known, (gene, pair)


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


def test_extra_position_rs12777823_is_reported_not_core(kb):
    loci = kb.table("loci", "CYP2C9")
    row = loci[loci["rsid"] == "rs12777823"]
    assert row["role"].tolist() == ["extra"]
    assert row["pos"].item() not in set(kb.table("allele_definitions", "CYP2C9")["pos"])


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


def test_describe_names_version_genes_and_counts(kb):
    text = describe(kb)
    assert kb.version in text
    for gene in DEFAULT_GENES:
        assert gene in text
    assert "recommendation rows:" in text


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
def test_rebuild_reproduces_committed_kb_byte_for_byte(shared_data, tmp_path):
    manifest_path = build_kb(shared_data, tmp_path)
    for name in KB_TABLES:
        assert (tmp_path / f"{name}.tsv").read_bytes() == (KB_DIR / f"{name}.tsv").read_bytes(), name
    built = json.loads(manifest_path.read_text())
    committed = json.loads((KB_DIR / "manifest.json").read_text())
    built.pop("pipeline_version")
    committed.pop("pipeline_version")
    assert built == committed


@pytest.mark.shared_data
def test_indels_are_vcf_alleles_with_padding_base(shared_data):
    tables, _ = build_gene_tables(SourceReader(shared_data), ("UGT1A1", "CYP2C9", "TPMT"))
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


def test_every_reachable_phenotype_has_recommendation_keys(kb):
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
