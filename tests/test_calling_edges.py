"""Clinical correctness at the edges (issue 9), on the shipped knowledge base.

Each test builds a small VCF (every KB position of the gene reference unless the test
says otherwise), runs the stages, and checks the call, the phenotype and, where the
result changes a prescription, the recommendation and page 1 of the PDF. The rules and
their sources are listed in docs/accuracy.md ("Calling rules and their sources").
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pgx.kb import load_kb
from pgx.calling import call_diplotypes
from pgx.phenotype import assign_phenotypes
from pgx.pipeline import run_batch
from pgx.recommend import recommend
from pgx.vcf import read_genotypes
from tests.conftest import write_vcf
from tests.test_report import summary_rows

# DPYD variants (rsID: CPIC name, function)
C1905 = "rs3918290"  # c.1905+1G>A (*2A), no function
C2846 = "rs67376798"  # c.2846A>T, decreased function
C2933 = "rs72547601"  # c.2933A>G, no function
C2582 = "rs60139309"  # c.2582A>G, normal function
C498 = "rs139834141"  # c.498G>A, normal function
C61 = "rs72549310"  # c.61C>T, no function
C313 = "rs150385342"  # c.313G>A, normal function
C1236 = "rs56038477"  # c.1236G>A, HapB3's exonic variant
C1129 = "rs75017182"  # c.1129-5923C>G, HapB3's causal intronic variant
HAPB3 = "c.1129-5923C>G, c.1236G>A (HapB3)"
RYR1_MH = "rs193922747"  # RYR1 c.103T>C, Malignant Hyperthermia associated


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def locus(kb, gene: str, rsid: str):
    rows = kb.loci([gene])
    return next(r for r in rows.itertuples() if r.rsid == rsid)


def vcf_for(kb, tmp_path: Path, gene: str, gts: dict[str, str], *, missing=(), alts: dict[str, str] | None = None,
            ps: dict[str, int] | None = None, name: str = "x.vcf") -> Path:  # fmt: skip
    """One sample ``S``: ``gts`` rsID -> GT; ``missing`` rsIDs have no record; ``alts``
    overrides a record's ALT column (a multi-allelic record with an ALT the KB lacks);
    ``ps`` gives a phase set per rsID (FORMAT GT:PS)."""
    loci = kb.loci([gene])
    records = []
    for rsid, gt in gts.items():
        r = locus(kb, gene, rsid)
        alt = (alts or {}).get(rsid, r.alts)
        records.append((r.chrom, int(r.pos), r.ref, alt, [f"{gt}:{ps[rsid]}" if ps else gt]))
    skip = {int(locus(kb, gene, rsid).pos) for rsid in missing}
    keep = loci[~loci["pos"].isin(skip)]
    if ps:  # every other record needs the PS field too
        named = {(c, int(p)) for c, p, *_ in records}
        records += [
            (r.chrom, int(r.pos), r.ref, r.alts, ["0/0:."]) for r in keep.itertuples() if (r.chrom, int(r.pos)) not in named
        ]
        return write_vcf(tmp_path / name, records=records, fmt="GT:PS")
    return write_vcf(tmp_path / name, records=records, loci=keep)


def call(kb, vcf: Path, gene: str, **kw) -> pd.Series:
    gm = read_genotypes([vcf], kb.loci([gene]))
    return assign_phenotypes(call_diplotypes(gm, kb, [gene], **kw), kb).iloc[0]


def recs(kb, row: pd.Series, drug: str, source: str = "CPIC") -> pd.DataFrame:
    out = recommend(pd.DataFrame([row]), kb)
    return out[(out["drug"] == drug) & (out["source"] == source)]


def page_one_group(kb, tmp_path: Path, vcf: Path, gene: str, drug: str) -> str:
    """The page-1 summary group (pgx.report.GROUPS key) listing ``drug``, via ``pgx run``'s path."""
    out = run_batch([vcf], tmp_path / "run", batch="edges", genes=[gene], kb=kb)
    pdf = next((Path(out["calls"]).parent / "reports").glob("*.pdf"))
    rows = summary_rows(pdf)
    hits = [key for key, text in rows.items() if f"{drug}(" in text]
    assert len(hits) == 1, rows
    return hits[0]


# --- 1. phase in lowest-function genes --------------------------------------------------


def test_dpyd_no_function_and_decreased_in_cis_leave_one_intact_copy(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C1905: "0|1", C2846: "0|1"})
    row = call(kb, vcf, "DPYD")
    assert row["diplotype"] == "Reference/[c.1905+1G>A (*2A) + c.2846A>T]"
    assert (row["allele_1"], row["allele_2"]) == ("Reference", "c.1905+1G>A (*2A)")
    assert row["activity_score"] == 1.0 and row["phenotype"] == "Intermediate Metabolizer"
    assert recs(kb, row, "fluorouracil")["action"].tolist() == ["reduce_dose"]
    assert page_one_group(kb, tmp_path, vcf, "DPYD", "fluorouracil") == "adjust"


def test_dpyd_same_pair_in_trans_is_a_poor_metabolizer_who_avoids_fluorouracil(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C1905: "0|1", C2846: "1|0"})
    row = call(kb, vcf, "DPYD")
    assert row["diplotype"] == "c.1905+1G>A (*2A)/c.2846A>T"
    assert row["activity_score"] == 0.5 and row["phenotype"] == "Poor Metabolizer"
    assert recs(kb, row, "fluorouracil")["action"].tolist() == ["avoid"]
    assert page_one_group(kb, tmp_path, vcf, "DPYD", "fluorouracil") == "avoid"


def test_dpyd_cis_pair_linked_by_a_shared_phase_set(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C1905: "0|1", C2846: "0|1"}, ps={C1905: 7, C2846: 7})
    row = call(kb, vcf, "DPYD")
    assert row["phased"] and row["activity_score"] == 1.0


def test_dpyd_hets_in_different_phase_sets_are_assumed_in_trans(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C1905: "0|1", C2846: "0|1"}, ps={C1905: 7, C2846: 9})
    row = call(kb, vcf, "DPYD")
    assert not row["phased"] and row["activity_score"] == 0.5
    assert "assumed_trans" in list(row["reason_codes"])


def test_dpyd_unphased_lists_every_variant_and_scores_the_two_lowest(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C2846: "0/1", C2933: "0/1", C2582: "0/1", C498: "0/1"})
    row = call(kb, vcf, "DPYD")
    assert list(row["alleles_found"]) == ["c.498G>A", "c.2582A>G", "c.2846A>T", "c.2933A>G"]
    assert row["diplotype"] == "c.2846A>T/c.2933A>G"
    assert row["activity_score"] == 0.5
    assert "assumed_trans" in list(row["reason_codes"])


def test_dpyd_phased_haplotypes_keep_every_variant_each_scored_by_its_lowest(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C2846: "0|1", C2933: "0|1", C2582: "1|0", C498: "1|0"})
    row = call(kb, vcf, "DPYD")
    assert row["diplotype"] == "[c.498G>A + c.2582A>G]/[c.2846A>T + c.2933A>G]"
    assert (row["allele_1"], row["allele_2"]) == ("c.498G>A", "c.2933A>G")
    assert row["activity_score"] == 1.0


def test_homozygous_variant_with_one_het_needs_no_phase(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C61: "1/1", C313: "0/1"})
    row = call(kb, vcf, "DPYD")
    assert row["diplotype"] == "c.61C>T/[c.61C>T + c.313G>A]"
    assert row["activity_score"] == 0.0 and row["phenotype"] == "Poor Metabolizer"


# --- 2. a risk allele seen in part is never 'Normal' -------------------------------------


def test_hapb3_inferred_from_c1236_when_the_intronic_variant_is_missing(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C1236: "0/1"}, missing=[C1129])
    row = call(kb, vcf, "DPYD")
    assert row["diplotype"] == f"Reference/{HAPB3}"
    assert row["activity_score"] == 1.5 and row["phenotype"] == "Intermediate Metabolizer"
    assert "inferred_allele" in list(row["reason_codes"])
    assert any("inferred" in w for w in row["warnings"])
    assert page_one_group(kb, tmp_path, vcf, "DPYD", "capecitabine") == "adjust"


def test_c1236_without_the_causal_variant_present_is_not_reference(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "DPYD", {C1236: "0/1", C1129: "0/0"})
    row = call(kb, vcf, "DPYD")
    assert row["call_status"] == "no_call" and row["lookup_key"] == "No Result"
    assert "unexplained_variant" in list(row["reason_codes"])
    assert page_one_group(kb, tmp_path, vcf, "DPYD", "fluorouracil") == "untested"


def test_both_hapb3_variants_present_call_hapb3(kb, tmp_path):
    row = call(kb, vcf_for(kb, tmp_path, "DPYD", {C1236: "0/1", C1129: "0/1"}), "DPYD")
    assert row["diplotype"] == f"Reference/{HAPB3}" and row["call_status"] == "called"
    assert "inferred_allele" not in list(row["reason_codes"])


def test_unexplained_variant_beside_a_called_variant_is_reported_not_counted(kb, tmp_path):
    row = call(kb, vcf_for(kb, tmp_path, "DPYD", {C1236: "0/1", C1129: "0/0", C2846: "0/1"}), "DPYD")
    assert row["diplotype"] == "Reference/c.2846A>T" and row["activity_score"] == 1.5
    assert "unexplained_variant" in list(row["reason_codes"])


# --- 3. a documented ALT beside an unknown one ---------------------------------------------


def test_ryr1_documented_alt_of_a_multiallelic_record_is_called_and_decides(kb, tmp_path):
    r = locus(kb, "RYR1", RYR1_MH)
    novel = next(b for b in "ACGT" if b not in (r.ref, r.alts))
    vcf = vcf_for(kb, tmp_path, "RYR1", {RYR1_MH: "1/2"}, alts={RYR1_MH: f"{r.alts},{novel}"})
    row = call(kb, vcf, "RYR1")
    assert row["diplotype"] == "Reference/c.103T>C" and row["call_status"] == "called"
    assert row["phenotype"] == "Malignant Hyperthermia Susceptibility"
    assert list(row["novel_variants"]) == [f"{r.chrom}:{r.pos}:{r.ref}>{novel}"]
    assert set(recs(kb, row, "sevoflurane")["action"]) <= {"avoid", "use_alternative"}
    assert page_one_group(kb, tmp_path, vcf, "RYR1", "sevoflurane") in ("avoid", "alternative")


def test_unknown_alt_at_a_star_allele_position_is_a_no_call(kb, tmp_path):
    r = locus(kb, "CYP2C19", "rs4244285")
    novel = next(b for b in "ACGT" if b not in (r.ref, r.alts))
    vcf = vcf_for(kb, tmp_path, "CYP2C19", {"rs4244285": "1/2"}, alts={"rs4244285": f"{r.alts},{novel}"})
    row = call(kb, vcf, "CYP2C19")
    assert row["call_status"] == "no_call" and "novel_variant" in list(row["reason_codes"])


# --- 4. half-calls ---------------------------------------------------------------------


#: CYP2C19 *2 is defined by three variants (with *1's rs3758581); *38 is the reference
STAR2 = ("rs12769205", "rs4244285", "rs3758581")


def test_half_call_at_a_star_allele_position_is_a_no_call_not_star1(kb, tmp_path):
    # *2's other variants het, ./1 at rs4244285: *2/*38 or a genotype no pair explains
    vcf = vcf_for(kb, tmp_path, "CYP2C19", {STAR2[0]: "0/1", STAR2[1]: "./1", STAR2[2]: "0/1"})
    row = call(kb, vcf, "CYP2C19")
    assert row["call_status"] == "no_call" and row["diplotype"] is None
    assert "partial_genotype" in list(row["reason_codes"])
    assert row["lookup_key"] == "No Result"
    assert page_one_group(kb, tmp_path, vcf, "CYP2C19", "clopidogrel") == "untested"


def test_half_call_in_a_star_allele_gene_whose_completions_agree(kb, tmp_path):
    # *2's other variants homozygous: *2/*2 or *2/*35, both Poor Metabolizer
    row = call(kb, vcf_for(kb, tmp_path, "CYP2C19", {STAR2[0]: "1/1", STAR2[1]: "./1", STAR2[2]: "1/1"}), "CYP2C19")
    assert row["call_status"] == "ambiguous" and row["phenotype"] == "Poor Metabolizer"
    assert row["diplotype"] == "*2/*2 or *2/*35"


def test_half_call_whose_completions_agree_gives_the_shared_phenotype(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "RYR1", {RYR1_MH: "./1"})
    row = call(kb, vcf, "RYR1")
    assert row["call_status"] == "ambiguous"
    assert list(row["alternatives"]) == ["Reference/c.103T>C", "c.103T>C/c.103T>C"]
    assert row["phenotype"] == "Malignant Hyperthermia Susceptibility"
    assert any("every possible genotype gives" in w for w in row["warnings"])
    assert page_one_group(kb, tmp_path, vcf, "RYR1", "desflurane") in ("avoid", "alternative")


def test_dpyd_half_call_with_different_activity_scores_is_a_no_call(kb, tmp_path):
    # ./1 at c.2846A>T: 1.5 or 1.0 (both Intermediate): the score decides the dose, so no call
    row = call(kb, vcf_for(kb, tmp_path, "DPYD", {C2846: "./1"}), "DPYD")
    assert row["call_status"] == "no_call" and pd.isna(row["activity_score"])


# --- 5. combinations and ties -------------------------------------------------------------


def test_tie_lists_every_diplotype_and_picks_none(kb, tmp_path):
    # NAT2 rs1801280 het with rs79050330 missing: *1/*5 and *1/*49 cannot be told apart
    row = call(kb, vcf_for(kb, tmp_path, "NAT2", {"rs1801280": "0/1"}, missing=["rs79050330"]), "NAT2")
    assert row["call_status"] == "ambiguous"
    assert list(row["alternatives"]) == ["*1/*5", "*1/*49"]
    assert row["diplotype"] == "*1/*5 or *1/*49" and row["allele_1"] is None and row["allele_2"] is None
    assert {"tie", "unassessed_alleles"} <= set(row["reason_codes"])
    assert row["phenotype"] == "Intermediate Metabolizer"  # both tied diplotypes agree


def test_nat2_unphased_tie_reports_the_documented_priority_pick(kb, tmp_path):
    vcf = vcf_for(kb, tmp_path, "NAT2", {"rs1801280": "0/1", "rs1799930": "0/1", "rs1208": "0/1"})
    row = call(kb, vcf, "NAT2")
    assert row["diplotype"] == "*5/*6" and row["call_status"] == "called"
    assert "priority_pick" in list(row["reason_codes"])
    assert any("*1/*30" in w and "*16/*34" in w for w in row["warnings"])


# --- 7. names as guidelines write them -----------------------------------------------------


def test_suballele_reported_as_its_star_allele_with_its_function(kb, tmp_path):
    row = call(kb, vcf_for(kb, tmp_path, "SLCO1B1", {"rs71581941": "0/1"}), "SLCO1B1")
    assert row["diplotype"] == "*1/*45" and list(row["suballeles"]) == ["*45.001"]
    assert row["function_2"] == "No function" and row["phenotype"] == "Decreased Function"


def test_reference_sequences_are_written_reference(kb, tmp_path):
    for gene in ("CFTR", "DPYD", "RYR1", "CACNA1S"):
        row = call(kb, vcf_for(kb, tmp_path, gene, {}, name=f"{gene}.vcf"), gene)
        assert row["diplotype"] == "Reference/Reference", gene


def test_ryr1_variant_without_a_function_in_the_sources_is_flagged_uncertain(kb, tmp_path):
    # c.4024A>G (rs34694816): listed by the current definitions, not by the mirrored phenotype file
    row = call(kb, vcf_for(kb, tmp_path, "RYR1", {"rs34694816": "0/1"}), "RYR1")
    assert row["phenotype"] == "Uncertain Susceptibility" and row["function_2"] is None
    assert "unassigned_function" in list(row["reason_codes"])


def test_unphased_nested_alleles_count_the_copies_the_larger_one_leaves(kb, tmp_path):
    # c.1129-5923C>G on both copies, c.1236G>A on one: HapB3 once and c.1129-5923C>G once,
    # not one variant 'unexplained'; with c.61C>T (no function) the score is 0.0 + 0.5
    vcf = vcf_for(kb, tmp_path, "DPYD", {C1236: "0/1", C1129: "1/1", C61: "0/1"})
    row = call(kb, vcf, "DPYD")
    assert list(row["alleles_found"]) == ["c.61C>T", "c.1129-5923C>G", HAPB3]
    assert row["diplotype"] == f"c.61C>T/{HAPB3}"  # equal function: the more specific allele
    assert row["activity_score"] == 0.5
    assert "unexplained_variant" not in list(row["reason_codes"])
