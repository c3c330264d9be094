"""pgx validate: truth parsing, exact/function concordance, rates, the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from pgx.cli import main
from pgx.kb import load_kb
from pgx.pipeline import run_batch
from pgx.simulate import write_cohort
from pgx.validate import compare, parse_diplotypes, summarize, unresolvable_counts


def test_parse_diplotypes_handles_alternatives_and_notes():
    assert parse_diplotypes("*1/*2") == [("*1", "*2")]
    assert parse_diplotypes("*2/*1 or *1/*3") == [("*1", "*2"), ("*1", "*3")]
    assert parse_diplotypes("*1 (*15; *28)/*2") == [("*1", "*2")]
    assert parse_diplotypes("*1/*61 | *1/*2") == [("*1", "*61"), ("*1", "*2")]
    assert parse_diplotypes("undefined") == []


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    kb = load_kb()
    tmp = tmp_path_factory.mktemp("val")
    assignment = {"A": {"CYP2C19": ("*1", "*2")}, "B": {"CYP2C19": ("*38", "*17")}, "C": {"CYP2C19": ("*1", "*1")}}
    vcf, _ = write_cohort(kb, assignment, tmp / "sim")
    paths = run_batch([vcf], tmp / "out", reports=False, kb=kb, genes=["CYP2C19"])
    return kb, tmp, paths


def test_compare_exact_function_and_reasons(run):
    kb, _, paths = run
    calls = pd.read_parquet(paths["calls"])
    truth = pd.DataFrame(
        {
            "sample": ["A", "B", "C"],
            "gene": ["CYP2C19"] * 3,
            "diplotype": ["*1/*2", "*1/*17", "*1/*2"],  # B: legacy *1 for *38; C: wrong
            "flags": ["", "", ""],
            "alt_diplotype": ["", "", ""],
        }
    )
    cmp = compare(calls, truth, kb).set_index("sample")
    assert cmp.loc["A", "exact"] and cmp.loc["A", "function"]
    assert not cmp.loc["B", "exact"] and cmp.loc["B", "legacy_exact"] and cmp.loc["B", "function"]
    assert cmp.loc["B", "kind"] == "agrees after legacy translation"
    assert not cmp.loc["C", "legacy_exact"]
    assert not cmp.loc["C", "function"]
    # A: truth *1/*1 where we find *2 -> the targeted-assay explanation
    truth2 = truth.assign(diplotype=["*1/*1", "*17/*38", "*1/*1"])
    cmp2 = compare(calls, truth2, kb).set_index("sample")
    assert "none of the tested alleles" in cmp2.loc["A", "reason"] and "*2" in cmp2.loc["A", "reason"]
    # a truth allele whose variants our allele contains, plus more: the same explanation
    truth3 = truth.assign(diplotype=["*1/*15", "*1/*17", "*1/*1"])
    calls3 = calls.copy()
    calls3.loc[calls3["sample_id"] == "A", "diplotype"] = "*1/*28"  # *28 carries *15's variants and more
    calls3.loc[calls3["sample_id"] == "A", "phenotype"] = "Intermediate Metabolizer"
    assert "targeted assay" in compare(calls3, truth3, kb).set_index("sample").loc["A", "reason"]
    # same phenotype under another name: *15 and *38 are both normal function
    cmp4 = compare(calls, truth.assign(diplotype=["*1/*2", "*15/*17", "*1/*2"]), kb).set_index("sample")
    assert not cmp4.loc["B", "legacy_exact"] and cmp4.loc["B", "function"]
    assert "allele names differ" in cmp4.loc["B", "reason"]
    s = summarize(cmp.reset_index()).set_index("gene")
    assert s.loc["CYP2C19", "exact"] == 1 and s.loc["CYP2C19", "legacy_exact"] == 2 and s.loc["CYP2C19", "function"] == 2


def test_validate_cli_writes_tables(run, capsys):
    kb, tmp, paths = run
    truth = tmp / "truth.tsv"
    truth.write_text("sample\tgene\tdiplotype\nA\tCYP2C19\t*1/*2\n")
    pops = tmp / "pops.tsv"
    pops.write_text("sample\tpopulation\tsuperpopulation\nA\tGBR\tEUR\nB\tYRI\tAFR\nC\tGBR\tEUR\n")
    assert (
        main(
            [
                "validate",
                "--calls",
                str(paths["calls"]),
                "--truth",
                str(truth),
                "--populations",
                str(pops),
                "--out",
                str(tmp / "v"),
            ]
        )
        == 0
    )
    rates = pd.read_csv(tmp / "v" / "call_rates_by_population.tsv", sep="\t")
    assert set(rates["superpopulation"]) == {"EUR", "AFR"}
    conc = pd.read_csv(tmp / "v" / "concordance.tsv", sep="\t")
    assert conc.loc[0, "exact_rate"] == 1.0
    assert "concordance" in capsys.readouterr().out


def test_rows_the_input_cannot_reproduce_are_counted_apart(run):
    kb, _, paths = run
    calls = pd.read_parquet(paths["calls"])
    truth = pd.DataFrame(
        {
            "sample": ["A", "B", "C", "A"],
            "gene": ["CYP2C19"] * 4,
            # B: a name neither current definitions nor the legacy map have; C: flagged SV; A (2nd): undefined
            "diplotype": ["*1/*2", "*1/*1Z", "*1/*1", "*1/undefined"],
            "flags": ["", "", "SV", ""],
            "alt_diplotype": [""] * 4,
        }
    )
    cmp = compare(calls, truth, kb)
    assert cmp["resolvable"].tolist() == [True, False, False, False]
    assert cmp.loc[1, "unresolvable_because"] == "allele name not in current definitions (nor a known legacy name)"
    assert cmp.loc[2, "unresolvable_because"].startswith("structural variant")
    assert cmp.loc[0, "kind"] == "agrees"
    s = summarize(cmp).set_index("gene")
    assert s.loc["CYP2C19", "rows"] == 4 and s.loc["CYP2C19", "resolvable"] == 1
    counts = unresolvable_counts(cmp).set_index("unresolvable_because")["rows"]
    assert counts.sum() == 3


def test_a_truth_allele_whose_variant_the_input_lacks_is_not_resolvable(run):
    kb, _, paths = run
    calls = pd.read_parquet(paths["calls"])
    c = calls[calls["sample_id"] == "C"].copy()  # called *1/*1
    defs = kb.table("allele_definitions", "CYP2C19")
    loci = kb.table("loci", "CYP2C19")
    ref = dict(zip(loci["pos"].astype(int), loci["ref"]))
    star2 = sorted(
        int(p) for p, b in zip(defs[defs["allele"] == "*2"]["pos"], defs[defs["allele"] == "*2"]["bases"]) if b != ref[int(p)]
    )
    truth = pd.DataFrame({"sample": ["C"], "gene": ["CYP2C19"], "diplotype": ["*1/*2"], "flags": [""], "alt_diplotype": [""]})
    assert compare(c, truth, kb).loc[0, "resolvable"]  # *2's variant was read: a real disagreement
    c["assumed_reference_positions"] = [star2]
    row = compare(c, truth, kb).loc[0]
    assert not row["resolvable"] and "absent from the input" in row["unresolvable_because"]


def test_a_homozygous_call_where_the_truth_is_heterozygous_is_not_blamed_on_the_assay(run):
    kb, _, paths = run
    calls = pd.read_parquet(paths["calls"])
    a = calls[calls["sample_id"] == "A"].copy()  # *1/*2
    a["diplotype"], a["phenotype"] = "*2/*2", "Poor Metabolizer"
    truth = pd.DataFrame({"sample": ["A"], "gene": ["CYP2C19"], "diplotype": ["*1/*2"], "flags": [""], "alt_diplotype": [""]})
    row = compare(a, truth, kb).loc[0]
    assert "different number of copies of *2" in row["reason"]
    assert row["kind"] == "copy number differs (input vs truth)"


def test_a_truth_allele_whose_variant_the_input_does_not_carry_is_named(run):
    kb, _, paths = run
    calls = pd.read_parquet(paths["calls"])
    c = calls[calls["sample_id"] == "C"].copy()  # *1/*1, every position read
    truth = pd.DataFrame({"sample": ["C"], "gene": ["CYP2C19"], "diplotype": ["*1/*2"], "flags": [""], "alt_diplotype": [""]})
    row = compare(c, truth, kb).loc[0]
    assert row["resolvable"] and not row["function"]
    assert "does not carry the defining variant(s) of *2" in row["reason"]


def test_wobble_codes_that_allow_the_reference_base_define_nothing():
    from pgx.validate import _variant_sets

    kb = load_kb()
    loci = kb.table("loci", "CYP2C19")
    ref = dict(zip(loci["pos"].astype(int), loci["ref"]))
    for allele, variants in _variant_sets(kb, "CYP2C19").items():
        for pos, base in variants:
            assert ref[pos] not in {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC"}.get(base, base), (
                allele,
                pos,
                base,
            )


def test_a_no_call_is_its_own_kind_whatever_its_message_mentions(run):
    """The kind is set where the reason is made: a no-call whose warning speaks of assumed
    reference is still "our no-call", not "variant absent from the input"."""
    kb, _, paths = run
    calls = pd.read_parquet(paths["calls"])
    calls["call_status"] = calls["call_status"].astype(str)
    i = calls.index[calls["sample_id"] == "A"][0]
    calls.at[i, "call_status"] = "no_call"
    calls.at[i, "diplotype"] = None
    calls.at[i, "phenotype"] = None
    calls.at[i, "warnings"] = ["3 positions were assumed reference (--assume-reference)"]
    truth = pd.DataFrame({"sample": ["A"], "gene": ["CYP2C19"], "diplotype": ["*1/*3"], "flags": [""], "alt_diplotype": [""]})
    row = compare(calls, truth, kb).set_index("sample").loc["A"]
    assert row["kind"] == "our no-call" and "assumed reference" in row["reason"]
