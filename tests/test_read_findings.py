"""What the reader finds about a sample's input reaches that sample's call: a structural
variant over a gene (no-call), a record whose REF disagrees with the knowledge base or
that has no GT (a warning, the position missing). Logs count samples; they never name one."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pandas as pd
import pytest

from pgx.kb import load_kb
from pgx.calling import call_diplotypes
from pgx.simulate import write_cohort
from pgx.vcf import bgzip_vcf, read_genotypes

GENES = ["CYP2C19", "CYP2C9"]
#: four patients: P1 carries the SV, P2 does not, P3 has no genotype for it, P4 by CN only
ASSIGNMENT = {s: {"CYP2C19": ("*1", "*2"), "CYP2C9": ("*1", "*3")} for s in ("P1", "P2", "P3", "P4")}
SV_HEADER = [
    '##ALT=<ID=DEL,Description="Deletion">',
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End of the variant">',
    '##INFO=<ID=SVLEN,Number=A,Type=Integer,Description="Length of the variant">',
    '##FORMAT=<ID=CN,Number=1,Type=Integer,Description="Copy number">',
]


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def cohort_with(tmp_path: Path, kb, extra: list[str], *, index: bool = False) -> Path:
    """The simulated four patients plus ``extra`` records (text lines), as one VCF."""
    vcf, _ = write_cohort(kb, ASSIGNMENT, tmp_path / "sim")
    lines = gzip.open(vcf, "rt").read().splitlines()
    header = [line for line in lines if line.startswith("##")]
    body = [line for line in lines if not line.startswith("#")] + extra
    body.sort(key=lambda line: (line.split("\t")[0], int(line.split("\t")[1])))
    chrom_line = [line for line in lines if line.startswith("#CHROM")]
    plain = tmp_path / "input.vcf"
    plain.write_text("\n".join(header + SV_HEADER + chrom_line + body) + "\n")
    return bgzip_vcf(plain, tmp_path / "input.vcf.gz") if index else plain


def c19_span(kb) -> tuple[int, int]:
    pos = kb.loci(["CYP2C19"])["pos"]
    return int(pos.min()), int(pos.max())


def calls_of(path: Path, kb):
    gm = read_genotypes([path], kb.loci(GENES))
    return call_diplotypes(gm, kb, GENES).set_index(["sample_id", "gene"])


@pytest.mark.parametrize("alt", ["<DEL>", "<DUP>", "<CNV>", "<INV>", "<DUP:TANDEM>"])
@pytest.mark.parametrize("index", [False, True], ids=["streamed", "indexed"])
def test_a_structural_variant_over_a_gene_makes_its_carriers_a_no_call(tmp_path, kb, alt, index, caplog):
    first, last = c19_span(kb)
    sv = "\t".join(
        [
            "chr10",
            str(first - 500),
            "sv1",
            "N",
            alt,
            ".",
            "PASS",
            f"END={last + 500}",
            "GT:CN",
            "0/1:1",
            "0/0:2",
            "./.:.",
            "./.:.",
        ]
    )
    calls = calls_of(cohort_with(tmp_path, kb, [sv], index=index), kb)
    carrier = calls.loc[("P1", "CYP2C19")]
    assert carrier["call_status"] == "no_call" and pd.isna(carrier["diplotype"]) and pd.isna(carrier["score"])
    text = " ".join(carrier["warnings"])
    assert f"structural variant {alt}" in text and "may have one copy, or more" in text and "outside call" in text
    assert "alone give *1/*2" in text  # what the SNVs said is kept, not lost
    assert "structural_variant" in list(carrier["reason_codes"])
    assert calls.loc[("P2", "CYP2C19")]["call_status"] == "called"  # 0/0: two copies
    assert calls.loc[("P2", "CYP2C19")]["warnings"] == []
    unknown = calls.loc[("P3", "CYP2C19")]
    assert unknown["call_status"] == "called" and any("no genotype for it" in w for w in unknown["warnings"])
    assert "structural_variant_unknown" in list(unknown["reason_codes"])
    assert calls.loc[("P1", "CYP2C9")]["call_status"] == "called"  # another gene: untouched
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "1 sample(s) carry the structural variant" in logged and "P1" not in logged


def test_copy_number_alone_decides_without_a_genotype(tmp_path, kb):
    first, last = c19_span(kb)
    cnv = "\t".join(
        [
            "chr10",
            str(first - 10),
            "cnv",
            "N",
            "<CNV>",
            ".",
            "PASS",
            f"END={last + 10}",
            "GT:CN",
            "./.:2",
            "./.:2",
            "./.:3",
            "./.:1",
        ]
    )
    calls = calls_of(cohort_with(tmp_path, kb, [cnv]), kb)
    assert [calls.loc[(s, "CYP2C19")]["call_status"] for s in ("P1", "P2", "P3", "P4")] == [
        "called",
        "called",
        "no_call",
        "no_call",
    ]


def test_svlen_gives_the_extent_when_end_is_absent(tmp_path, kb):
    first, last = c19_span(kb)
    sv = "\t".join(
        [
            "chr10",
            str(first - 1),
            "sv",
            "N",
            "<DEL>",
            ".",
            "PASS",
            f"SVLEN=-{last - first + 10}",
            "GT",
            "1/1",
            "0/0",
            "0/0",
            "0/0",
        ]
    )
    calls = calls_of(cohort_with(tmp_path, kb, [sv]), kb)
    assert calls.loc[("P1", "CYP2C19")]["call_status"] == "no_call"
    assert calls.loc[("P2", "CYP2C19")]["call_status"] == "called"


def test_a_structural_variant_away_from_every_kb_position_changes_nothing(tmp_path, kb):
    first, _ = c19_span(kb)
    sv = "\t".join(
        ["chr10", str(first - 50_000), "sv", "N", "<DEL>", ".", "PASS", f"END={first - 40_000}", "GT", "1/1", "1/1", "1/1", "1/1"]
    )
    calls = calls_of(cohort_with(tmp_path, kb, [sv]), kb)
    assert (calls["call_status"] == "called").all()
    assert all(list(w) == [] for w in calls.loc[(slice(None), "CYP2C19"), "warnings"])


def test_a_ref_that_disagrees_with_the_kb_is_missing_and_the_call_says_why(tmp_path, kb):
    loci = kb.loci(["CYP2C19"])
    row = loci[loci["role"] == "core"].iloc[0]
    vcf = cohort_with(tmp_path, kb, [])
    lines = vcf.read_text().splitlines()
    for i, line in enumerate(lines):
        f = line.split("\t")
        if f[0] == row["chrom"] and f[1] == str(row["pos"]):
            wrong = "A" if f[3][0] != "A" else "C"
            f[3] = wrong + f[3][1:]
            lines[i] = "\t".join(f)
    vcf.write_text("\n".join(lines) + "\n")
    calls = calls_of(vcf, kb)
    call = calls.loc[("P1", "CYP2C19")]
    assert int(row["pos"]) in list(call["missing_positions"])
    assert any(f"REF {wrong}" in w and "disagrees with the knowledge base" in w for w in call["warnings"])


def test_a_record_without_gt_is_named_on_the_call(tmp_path, kb):
    loci = kb.loci(["CYP2C9"])
    row = loci[loci["role"] == "core"].iloc[0]
    vcf = cohort_with(tmp_path, kb, [])
    lines = vcf.read_text().splitlines()
    for i, line in enumerate(lines):
        f = line.split("\t")
        if f[0] == row["chrom"] and f[1] == str(row["pos"]):
            lines[i] = "\t".join(f[:8] + ["CN", "2", "2", "2", "2"])
    vcf.write_text("\n".join(lines) + "\n")
    calls = calls_of(vcf, kb)
    assert any("has no GT" in w for w in calls.loc[("P4", "CYP2C9")]["warnings"])
    assert int(row["pos"]) in list(calls.loc[("P4", "CYP2C9")]["missing_positions"])


def test_logs_count_carriers_and_never_name_them(tmp_path, kb, caplog):
    """Two records at one position with different non-reference alleles for one patient:
    the log says how many samples, the patient's call says what."""
    caplog.set_level(logging.WARNING)
    row = kb.loci(["CYP2C19"]).iloc[0]
    alt = row["alts"].split(",")[0]
    other = next(b for b in "ACGT" if b not in (row["ref"], alt))
    extra = "\t".join([row["chrom"], str(row["pos"]), ".", row["ref"], other, ".", "PASS", ".", "GT", "1/1", "0/0", "0/0", "0/0"])
    vcf = cohort_with(tmp_path, kb, [])
    lines = vcf.read_text().splitlines()
    for i, line in enumerate(lines):
        f = line.split("\t")
        if f[0] == row["chrom"] and f[1] == str(row["pos"]):
            lines[i] = "\t".join(f[:3] + [row["ref"], alt] + f[5:9] + ["1/1", "0/0", "0/0", "0/0"])
            lines.insert(i + 1, extra)
            break
    vcf.write_text("\n".join(lines) + "\n")
    calls = calls_of(vcf, kb)
    logged = [r.getMessage() for r in caplog.records if "different non-reference" in r.getMessage()]
    assert logged and all("1 sample(s)" in m and "P1" not in m for m in logged)
    assert any("different non-reference" in w for w in calls.loc[("P1", "CYP2C19")]["warnings"])
    assert not any("different non-reference" in w for w in calls.loc[("P2", "CYP2C19")]["warnings"])
