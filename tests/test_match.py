"""Matching semantics on a hand-written toy knowledge base (see tests/toy_kb.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pgx.genotypes import HAPLOID, MISSING, STATUS_ASSUMED_REFERENCE, STATUS_CALLED, STATUS_MISSING, GenotypeMatrix
from pgx.kb import KnowledgeBase, load_kb
from pgx.calling import call_diplotypes
from pgx.phenotype import assign_phenotypes, format_activity_score
from tests.toy_kb import write_toy_kb


@pytest.fixture(scope="module")
def toy_kb(tmp_path_factory):
    return load_kb(write_toy_kb(tmp_path_factory.mktemp("toykb")))


def make_matrix(kb, genotypes: dict[str, dict[int, str]], gene: str = "TOY1", default: str | None = "0|0", ps=None):
    """GenotypeMatrix from {sample: {pos: GT}}; positions not given get ``default``
    (None = missing). GT strings use KB allele codes: '0|1', '1/0', '2/2', '.', '1'."""
    loci = kb.loci([gene])
    samples = list(genotypes)
    n_s, n_l = len(samples), len(loci)
    codes = np.full((n_s, n_l, 2), MISSING, dtype=np.int16)
    phased = np.zeros((n_s, n_l), dtype=bool)
    status = np.full((n_s, n_l), STATUS_MISSING, dtype=np.int8)
    phase_set = np.zeros((n_s, n_l), dtype=np.int64)
    for s, sample in enumerate(samples):
        for j, pos in enumerate(loci["pos"]):
            gt = genotypes[sample].get(int(pos), default)
            if gt is None:
                continue
            sep = "|" if "|" in gt else "/"
            parts = gt.split(sep)
            vals = [MISSING if p == "." else int(p) for p in parts]
            if len(vals) == 1:
                vals.append(HAPLOID)
            codes[s, j] = vals
            phased[s, j] = sep == "|"
            status[s, j] = STATUS_CALLED
            if ps and sample in ps:
                phase_set[s, j] = ps[sample].get(int(pos), 0)
    return GenotypeMatrix(samples, loci, codes, phased, phase_set, status)


def call(kb, genotypes, **kw) -> pd.DataFrame:
    gm = make_matrix(kb, genotypes, **kw)
    return assign_phenotypes(call_diplotypes(gm, kb), kb).set_index("sample_id")


def test_all_reference_is_star1_star1(toy_kb):
    c = call(toy_kb, {"S": {}})
    assert c.loc["S", "diplotype"] == "*1/*1"
    assert c.loc["S", "call_status"] == "called"
    assert c.loc["S", "phenotype"] == "Normal Metabolizer"


def test_star1_star2_unphased_and_phased_agree(toy_kb):
    c = call(toy_kb, {"U": {100: "0/1"}, "P": {100: "1|0"}})
    assert c.loc["U", "diplotype"] == c.loc["P", "diplotype"] == "*1/*2"
    assert not c.loc["U", "phased"] and c.loc["P", "phased"]
    assert c.loc["U", "phenotype"] == "Intermediate Metabolizer"


def test_more_specific_allele_wins(toy_kb):
    # T at 100 and G at 200 on one haplotype: *3 (2 positions) beats *2 (1 position)
    c = call(toy_kb, {"S": {100: "1|0", 200: "1|0"}})
    assert c.loc["S", "diplotype"] == "*1/*3"
    assert c.loc["S", "call_status"] == "called"


def test_phase_separates_star2_from_star3(toy_kb):
    # the two variants on different haplotypes: *2 + a haplotype with G at 200 only,
    # which no allele defines -> not *1/*3; unphased, *1/*3 fits
    phased = call(toy_kb, {"S": {100: "1|0", 200: "0|1"}})
    unphased = call(toy_kb, {"S": {100: "0/1", 200: "0/1"}})
    assert unphased.loc["S", "diplotype"] == "*1/*3"
    assert phased.loc["S", "diplotype"] != "*1/*3"


def test_homozygous_and_compound(toy_kb):
    c = call(toy_kb, {"H": {100: "1/1"}, "C": {100: "1/1", 200: "0/1"}})
    assert c.loc["H", "diplotype"] == "*2/*2"
    assert c.loc["H", "phenotype"] == "Poor Metabolizer"
    assert c.loc["C", "diplotype"] == "*2/*3"


def test_indel_allele_by_sequence(toy_kb):
    c = call(toy_kb, {"S": {400: "0/1"}, "T": {400: "1/1"}})
    assert c.loc["S", "diplotype"] == "*1/*5"
    assert c.loc["S", "phenotype"] == "Rapid Metabolizer"
    assert c.loc["T", "diplotype"] == "*5/*5"


def test_iupac_wobble_matches_either_base(toy_kb):
    # *4 is R (A or G) at 300: with A it must be *4; with ref G, *1 and *4 tie
    c = call(toy_kb, {"A": {300: "0/1"}})
    assert c.loc["A", "diplotype"] == "*1/*4"


def test_missing_position_shrinks_definitions_and_ties_are_reported(toy_kb):
    # 200 missing: T at 100 fits *2 and *3 equally (both score 1 there) -> ambiguous
    c = call(toy_kb, {"S": {100: "0/1", 200: None}})
    row = c.loc["S"]
    assert row["call_status"] == "ambiguous"
    assert list(row["alternatives"]) == ["*1/*2", "*1/*3"]
    # no tie is picked: the diplotype names every one, and no allele pair stands for them
    assert row["diplotype"] == "*1/*2 or *1/*3"
    assert row["allele_1"] is None and row["allele_2"] is None
    assert "tie" in list(row["reason_codes"])
    assert list(row["missing_positions"]) == [200]
    # *2 is no function, *3 decreased: both Intermediate with *1 -> phenotype kept
    assert row["phenotype"] == "Intermediate Metabolizer"


def test_uncallable_allele_reported(toy_kb):
    c = call(toy_kb, {"S": {400: None}})
    assert c.loc["S", "diplotype"] == "*1/*1"
    assert any("*5" in w and "could not be assessed" in w for w in c.loc["S", "warnings"])


def test_gene_absent_from_input_is_no_call(toy_kb):
    c = call(toy_kb, {"S": {}}, default=None)
    row = c.loc["S"]
    assert row["call_status"] == "no_call"
    assert row["diplotype"] is None
    assert row["lookup_key"] == "No Result"
    assert any("not covered" in w for w in row["warnings"])


def test_novel_variant_at_a_defining_position_is_a_reported_no_call(toy_kb):
    # code 2 at pos 100 is an allele the KB does not list (a novel ALT): the sample matches
    # neither the reference nor a defined allele there (PharmCAT: "not called")
    gm = make_matrix(toy_kb, {"S": {100: "0/2"}})
    gm.novel_alleles[(0, 2)] = "G"
    c = assign_phenotypes(call_diplotypes(gm, toy_kb), toy_kb).set_index("sample_id")
    row = c.loc["S"]
    assert list(row["novel_variants"]) == ["chr1:100:A>G"]
    assert row["call_status"] == "no_call" and row["diplotype"] is None
    assert row["lookup_key"] == "No Result"
    assert "novel_variant" in list(row["reason_codes"])
    assert any("no definition names" in w for w in row["warnings"])


def test_novel_variant_counts_as_reference_in_a_toxicity_gene(tmp_path):
    # with gene rule undocumented_as_reference: ALT 1 (documented) is called, ALT 2 (novel)
    # is reference there: GT 1/2 gives Reference/v1, the novel allele reported
    kb = load_kb(write_toy_kb(tmp_path / "kb", rules=[("TOY3", "undocumented_as_reference", "", "test")]))
    gm = make_matrix(kb, {"S": {10: "1/2"}, "N": {10: "0/2"}}, gene="TOY3")
    gm.novel_alleles[(0, 2)] = "G"
    c = assign_phenotypes(call_diplotypes(gm, kb), kb).set_index("sample_id")
    assert c.loc["S", "diplotype"] == "Reference/v1"
    assert c.loc["S", "call_status"] == "called"
    assert c.loc["S", "phenotype"] == "Intermediate Metabolizer"
    assert list(c.loc["S", "novel_variants"]) == ["chr3:10:C>G"]
    assert c.loc["N", "diplotype"] == "Reference/Reference"
    assert "novel_variant" in list(c.loc["N", "reason_codes"])


def test_unexplained_combination_is_no_call(toy_kb):
    # homozygous G at 200 without T at 100: no allele carries 200G alone
    c = call(toy_kb, {"S": {200: "1/1"}})
    assert c.loc["S", "call_status"] == "no_call"
    assert c.loc["S", "lookup_key"] == "No Result"


def test_phase_sets_unlink_hets(toy_kb):
    # hets in different phase sets are not linked: matched as unphased -> *1/*3
    c = call(toy_kb, {"S": {100: "1|0", 200: "0|1"}}, ps={"S": {100: 10, 200: 20}})
    assert c.loc["S", "diplotype"] == "*1/*3"
    assert not c.loc["S", "phased"]


def test_haploid_sample_on_chrx(toy_kb):
    kb = toy_kb
    gm = make_matrix(kb, {"M": {100: "1", 200: "0", 300: "0", 400: "0"}})
    gm.loci = gm.loci.assign(chrom="chrX")
    c = call_diplotypes(gm, kb).set_index("sample_id")
    assert c.loc["M", "diplotype"] == "*2"
    assert c.loc["M", "allele_2"] is None


def test_hemizygous_and_diploid_samples_in_one_batch_get_their_own_phenotypes(toy_kb):
    gm = make_matrix(toy_kb, {"M": {100: "1", 200: "0", 300: "0", 400: "0"}, "F": {100: "0/1"}})
    gm.loci = gm.loci.assign(chrom="chrX")
    c = assign_phenotypes(call_diplotypes(gm, toy_kb), toy_kb).set_index("sample_id")
    assert c.loc["M", "diplotype"] == "*2"
    assert c.loc["M", "phenotype"] == "Poor Metabolizer"
    assert c.loc["F", "phenotype"] == "Intermediate Metabolizer"


def test_haploid_genotypes_on_an_autosome_are_not_called(toy_kb):
    c = call(toy_kb, {"M": {100: "1", 200: "0", 300: "0", 400: "0"}})
    assert c.loc["M", "call_status"] == "no_call"
    assert any("haploid genotypes on autosome chr1" in w for w in c.loc["M", "warnings"])


def test_activity_score_gene(toy_kb):
    c = call(toy_kb, {"N": {}, "I": {1000: "0/1"}, "P": {1000: "1/1"}, "D": {1000: "0/1", 2000: "0/1"}}, gene="TOY2")
    assert c.loc["N", "activity_score"] == 2.0 and c.loc["N", "phenotype"] == "Normal Metabolizer"
    assert c.loc["N", "lookup_key"] == "2.0"
    assert c.loc["I", "activity_score"] == 1.5 and c.loc["I", "phenotype"] == "Intermediate Metabolizer"
    assert c.loc["P", "lookup_key"] == "1.0"
    assert c.loc["D", "diplotype"] == "*2/*3"
    assert c.loc["D", "phenotype"] == "Poor Metabolizer"


def test_assumed_reference_positions_are_listed(toy_kb):
    gm = make_matrix(toy_kb, {"S": {100: "0/1"}})
    gm.status[0, 1:] = STATUS_ASSUMED_REFERENCE
    c = call_diplotypes(gm, toy_kb).set_index("sample_id")
    assert list(c.loc["S", "assumed_reference_positions"]) == [200, 300, 400]
    assert any("assumed reference" in w for w in c.loc["S", "warnings"])


def test_identical_patterns_give_identical_rows(toy_kb):
    many = {f"S{i}": ({100: "0/1"} if i % 2 else {}) for i in range(200)}
    c = call(toy_kb, many)
    assert set(c.loc[[f"S{i}" for i in range(1, 200, 2)], "diplotype"]) == {"*1/*2"}
    assert set(c.loc[[f"S{i}" for i in range(0, 200, 2)], "diplotype"]) == {"*1/*1"}


@pytest.mark.parametrize("score,text", [(0.0, "0.0"), (1.5, "1.5"), (2.0, "2.0"), (1.25, "1.25"), (None, "n/a")])
def test_activity_score_spelling(score, text):
    assert format_activity_score(score) == text


# --- gene rules ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules_kb(tmp_path_factory):
    rules = [
        ("TOY1", "required_position", "300", "test"),
        ("TOY1", "unphased_priority", "*1/*2|*1/*3>*1/*3", "test"),
        ("TOY2", "fallback_position", "1000", "test"),
        ("TOY2", "copy_number_not_assessed", "", "test"),
        ("TOY1", "ignored_allele", "*4", "test"),
    ]
    return load_kb(write_toy_kb(tmp_path_factory.mktemp("ruleskb"), version="toy-rules", rules=rules))


def test_lowest_function_gene_reports_the_two_lowest_variants(toy_kb):
    c = call(
        toy_kb,
        {
            "REF": {},
            "ONE": {10: "0/1"},
            "TWO": {10: "0/1", 20: "0/1"},
            "THREE": {10: "0/1", 20: "0/1", 30: "1/1"},
            "HOM": {20: "1/1"},
        },
        gene="TOY3",
    )
    assert c.loc["REF", "diplotype"] == "Reference/Reference"
    assert c.loc["ONE", "diplotype"] == "Reference/v1"
    assert c.loc["ONE", "activity_score"] == 1.0
    assert c.loc["TWO", "diplotype"] == "v1/v2"
    assert c.loc["TWO", "phenotype"] == "Poor Metabolizer"
    assert c.loc["THREE", "diplotype"] == "v1/v2"
    # every variant found is listed, not only the two the phenotype rests on
    assert list(c.loc["THREE", "alleles_found"]) == ["v1", "v2", "v3 (homozygous)"]
    assert "assumed_trans" in list(c.loc["THREE", "reason_codes"])
    assert c.loc["HOM", "diplotype"] == "v2/v2"
    assert list(c.loc["HOM", "alleles_found"]) == ["v2 (homozygous)"]


def test_lowest_function_sub_allele_not_counted_twice(toy_kb):
    c = call(toy_kb, {"H": {30: "0/1", 40: "0/1"}, "P": {30: "1|0", 40: "0|1"}}, gene="TOY3")
    assert c.loc["H", "diplotype"] == "Reference/hap"
    # phased on different haplotypes: no haplotype carries both -> v3 only
    assert c.loc["P", "diplotype"] == "Reference/v3"


def test_required_position_missing_is_no_call(rules_kb):
    c = call(rules_kb, {"S": {300: None}})
    assert c.loc["S", "call_status"] == "no_call"
    assert any("required position" in w and "300" in w for w in c.loc["S", "warnings"])


def test_unphased_priority_resolves_documented_tie(rules_kb):
    c = call(rules_kb, {"S": {100: "0/1", 200: None}})
    assert c.loc["S", "diplotype"] == "*1/*3"
    assert c.loc["S", "call_status"] == "called"
    assert "priority_pick" in list(c.loc["S", "reason_codes"])
    assert any("documented priority" in w for w in c.loc["S", "warnings"])


def test_unphased_priority_applies_when_missing_positions_widen_the_tie():
    """PharmCAT's NAT2 priorities pick their diplotype whenever the tie contains every
    diplotype the priority lists, also when a missing position adds another candidate."""
    from pgx.match import _apply_priority

    priorities = ((frozenset({"*6/*29", "*30/*46", "*5/*15"}), "*5/*15"),)
    widened = [("*29", "*37"), ("*6", "*29"), ("*30", "*46"), ("*5", "*15")]
    dips, notes = _apply_priority(widened, priorities)
    assert dips == [("*5", "*15")]
    assert notes[0][0] == "priority_pick" and "*29/*37" in notes[0][1]
    # a tie that lacks one of the listed diplotypes is not resolved
    partial = [("*6", "*29"), ("*5", "*15")]
    assert _apply_priority(partial, priorities) == (partial, [])


def test_ignored_allele_is_never_called(rules_kb):
    c = call(rules_kb, {"S": {300: "0/1"}})
    assert "*4" not in str(c.loc["S", "diplotype"])


def test_each_kb_keeps_its_own_gene_models_across_calls(toy_kb, rules_kb):
    """Gene models and masks are reused between sample chunks, per KB: alternating two
    KBs with the same gene names gives each its own answer."""
    genotypes = {"S": {300: "0/1"}}
    for _ in range(2):
        assert call(toy_kb, genotypes).loc["S", "diplotype"] == "*1/*4"
        assert "*4" not in str(call(rules_kb, genotypes).loc["S", "diplotype"])


def test_solved_patterns_are_reused_across_chunks_per_allele_sequences(toy_kb, monkeypatch):
    """A chunk repeating earlier patterns solves nothing again and calls the same; the same
    codes with other allele sequences (novel codes mean other things in another read) are
    solved anew."""
    from pgx import match

    solved = []
    real = match._solve_pattern
    monkeypatch.setattr(match, "_solve_pattern", lambda *a: solved.append(1) or real(*a))
    genotypes = {"HET": {100: "0/1"}, "HOM": {100: "1/1", 200: "1/1"}, "REF": {}, "PH": {100: "1|0", 200: "0|1"}}
    first = call(toy_kb, genotypes)
    n_first = len(solved)
    again = call(toy_kb, {f"{s}2": g for s, g in genotypes.items()})
    assert n_first > 0 and len(solved) == n_first
    pd.testing.assert_frame_equal(first.reset_index(drop=True), again.reset_index(drop=True))
    # code 2 at position 100: the reference base in one read, *2's base in another
    calls = []
    for seq in ("A", "T"):
        gm = make_matrix(toy_kb, {"S": {100: "0/2"}})
        gm.novel_alleles = {(int(np.flatnonzero(gm.loci["pos"] == 100)[0]), 2): seq}
        calls.append(call_diplotypes(gm, toy_kb).set_index("gene").loc["TOY1", "diplotype"])
    assert calls == ["*1/*1", "*1/*2"]


def test_fallback_position_when_no_star_call_fits(rules_kb):
    c = call(rules_kb, {"S": {1000: "1/1", 2000: "1/1"}, "T": {1000: "0/1", 2000: "1/1"}}, gene="TOY2")
    # 1000 T on one haplotype and 2000 A on both: no pair of alleles fits -> fallback
    assert c.loc["T", "diplotype"] == "*1/*2"
    assert c.loc["S", "diplotype"] == "*2/*2"
    assert any("fallback" in w for w in c.loc["S", "warnings"])


def test_copy_number_warning_on_every_call(rules_kb):
    c = call(rules_kb, {"S": {}}, gene="TOY2")
    assert any("copy number not assessed" in w for w in c.loc["S", "warnings"])


def test_gene_without_phenotype_rules_reports_functions_only(tmp_path):
    kb = load_kb(write_toy_kb(tmp_path / "kb", version="toy-nopheno"))
    gm = make_matrix(kb, {"S": {1000: "0/1"}}, gene="TOY2")
    # a KB whose TOY2 has no phenotype rules at all
    rules = kb.tables["phenotype_rules"]
    kb = KnowledgeBase(kb.root, kb.manifest, {**kb.tables, "phenotype_rules": rules[rules["gene"] != "TOY2"]})
    c = assign_phenotypes(call_diplotypes(gm, kb), kb).set_index("sample_id")
    assert c.loc["S", "diplotype"] == "*1/*2"
    assert c.loc["S", "function_2"] == "Decreased function"
    assert c.loc["S", "phenotype"] is None
    assert any("no phenotype is defined for TOY2" in w for w in c.loc["S", "warnings"])


def test_phased_haplotype_with_two_named_alleles_is_a_no_call_by_default(toy_kb):
    # hap 1 carries *2's variant (100 T) and *5's deletion (400): no single allele has both;
    # no guideline defines the combination, so by default nothing is called
    c = call(toy_kb, {"S": {100: "1|0", 400: "1|0"}})
    row = c.loc["S"]
    assert row["call_status"] == "no_call" and row["diplotype"] is None
    assert row["lookup_key"] == "No Result"
    assert list(row["reason_codes"]) == ["combination"]
    assert any("*1/[*2 + *5]" in w and "--find-combinations" in w for w in row["warnings"])


def test_combination_view_reports_the_combination_flagged(toy_kb):
    gm = make_matrix(toy_kb, {"S": {100: "1|0", 400: "1|0"}})
    row = assign_phenotypes(call_diplotypes(gm, toy_kb, combinations=True), toy_kb).set_index("sample_id").loc["S"]
    assert row["diplotype"] == "*1/[*2 + *5]"
    assert row["call_status"] == "called"
    assert "combination" in list(row["reason_codes"])
    assert any("several named alleles together" in w for w in row["warnings"])
    assert row["phenotype"] == "Indeterminate"


def test_unphased_unexplained_genotype_is_not_a_combination(toy_kb):
    c = call(toy_kb, {"S": {100: "0/1", 400: "0/1", 200: "1/1"}})
    assert c.loc["S", "call_status"] == "no_call"


def test_blanks_take_the_reference_alleles_wobble(tmp_path):
    # the reference allele *1 accepts C or T (Y) at 200; *2's blank there must too
    import tests.toy_kb as toy

    tables = {k: list(v) for k, v in toy.TABLES.items()}
    tables["allele_definitions"] = [r for r in tables["allele_definitions"] if r[:2] != ("TOY1", "*1") or r[2] != 200]
    tables["allele_definitions"].append(("TOY1", "*1", 200, "S"))  # C or G
    saved = toy.TABLES
    toy.TABLES = tables
    try:
        kb = load_kb(write_toy_kb(tmp_path / "kb", version="toy-wobble"))
    finally:
        toy.TABLES = saved
    c = call(kb, {"S": {100: "1|0", 200: "1|0"}})
    # hap 1: T at 100 and G at 200 -> *3 (both defined) still beats *2 (G allowed by the fill)
    assert c.loc["S", "diplotype"] == "*1/*3"
    # the deletion (*5) with G at 200: *5's blank at 200 takes *1's wobble, so it fits
    c2 = call(kb, {"S": {400: "1|0", 200: "1|0"}})
    assert c2.loc["S", "diplotype"] == "*1/*5"
