"""pgx annotate: a bgzipped, indexed VCF of the batch's pharmacogene variants."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pgx.annotate import encode, write_annotated_vcf
from pgx.kb import load_kb
from pgx.simulate import write_cohort
from pgx.vcf import read_genotypes


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(scope="module")
def annotated(kb, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annot")
    assignment = {"P1": {"CYP2C19": ("*2", "*17")}, "P2": {"CYP2C19": ("*38", "*38")}}
    vcf, _ = write_cohort(kb, assignment, tmp, phased=True)
    gm = read_genotypes([vcf], kb.loci(["CYP2C19"]))
    return write_annotated_vcf(gm, kb, tmp / "annotated.vcf.gz")


def records(path):
    import gzip

    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]


def test_output_is_bgzipped_and_indexed(annotated):
    assert annotated.read_bytes()[:2] == b"\x1f\x8b"
    assert annotated.with_name(annotated.name + ".tbi").exists()


def test_records_name_the_alleles_each_variant_defines(annotated, kb):
    recs = {int(r[1]): r for r in records(annotated)}
    # *17's promoter variant rs12248560 and *2's splice variant rs4244285
    assert recs[94761900][2] == "rs12248560"
    info = dict(kv.split("=", 1) for kv in recs[94761900][7].split(";"))
    assert info["PGX_GENE"] == "CYP2C19"
    assert "*17" in info["PGX_ALLELES"].split("|")
    assert "Increased%20function" in info["PGX_FUNCTION"]
    info2 = dict(kv.split("=", 1) for kv in recs[94781859][7].split(";"))
    assert "*2" in info2["PGX_ALLELES"].split("|")
    assert info["PGX_KB"] == kb.version
    # P2 is *38/*38 (reference everywhere): no record lists only reference genotypes
    for r in records(annotated):
        assert any(gt not in ("0|0", "0/0") for gt in r[9:])


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
def test_bcftools_reads_it(annotated):
    out = subprocess.run(
        ["bcftools", "query", "-r", "chr10:94761900", "-f", "%INFO/PGX_ALLELES[\\t%GT]\\n", str(annotated)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "*17" in out and "|" in out


def test_encode_reserved_characters():
    assert encode("c.1129-5923C>G, c.1236G>A (HapB3)") == "c.1129-5923C>G%2C%20c.1236G>A%20(HapB3)"


def test_annotate_batch_from_vcf_files(kb, tmp_path):
    from pgx.pipeline import annotate_batch

    assignment = {"P1": {"TPMT": ("*1", "*3A")}}
    vcf, _ = write_cohort(kb, assignment, tmp_path, phased=False)
    out = annotate_batch([vcf], tmp_path / "a.vcf.gz", kb=kb, genes=["TPMT"])
    recs = records(out)
    assert len(recs) == 2  # *3A = two variants
    assert all("*3A" in r[7] for r in recs)
