"""bench/make_cohort.py: synthetic cohorts resampled from 1000 Genomes haplotypes."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, requires_shared_data

BENCH = Path(__file__).resolve().parents[1] / "bench" / "make_cohort.py"

pytestmark = pytest.mark.skipif(not shutil.which("bcftools") or not shutil.which("bgzip"), reason="needs bcftools and bgzip")


def _module():
    spec = importlib.util.spec_from_file_location("make_cohort", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_genotype_lines_write_each_genome_from_its_haplotypes():
    mc = _module()
    haps = np.array([[0, 1, 1, 0, -1, 2], [1, 1, 0, 0, 0, -2]], dtype=np.int8)  # 2 records x 6 haplotypes
    first = np.array([0, 3, 4])
    second = np.array([1, 2, -1])  # the third genome is haploid
    lines = mc.genotype_lines(haps, first, second, b"|")
    assert lines == [b"0|1\t0|1\t.\n", b"1|1\t0|0\t0\n"]
    assert mc.genotype_lines(haps, first, second, b"/")[0] == b"0/1\t0/1\t.\n"


def _run(out: Path, *extra: str) -> Path:
    cmd = [sys.executable, str(BENCH), "--n", "40", "--seed", "3", "--out", str(out)]
    cmd += ["--data", str(SHARED_DATA / "1kgp" / "GRCh38"), "--genes", "TPMT", "G6PD", *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@requires_shared_data
def test_cohort_is_deterministic_indexed_and_resampled(tmp_path):
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b")
    for gene in ("TPMT", "G6PD"):
        assert (a / f"{gene}.vcf.gz").read_bytes() == (b / f"{gene}.vcf.gz").read_bytes()
        assert (a / f"{gene}.vcf.gz.tbi").exists()
    samples = subprocess.run(["bcftools", "query", "-l", str(a / "TPMT.vcf.gz")], capture_output=True, text=True).stdout.split()
    assert samples[0] == "SYN0000001" and len(samples) == 40
    gts = subprocess.run(
        ["bcftools", "query", "-f", "[%GT\t]\n", str(a / "G6PD.vcf.gz")], capture_output=True, text=True
    ).stdout.split()
    assert {len(g) for g in gts} == {1, 3}  # haploid (male donors) and diploid genomes on chrX
    other = _run(tmp_path / "c", "--seed", "4")
    assert (other / "TPMT.vcf.gz").read_bytes() != (a / "TPMT.vcf.gz").read_bytes()


@requires_shared_data
def test_every_synthetic_haplotype_is_a_1000_genomes_haplotype(tmp_path):
    out = _run(tmp_path / "a")
    query = ["bcftools", "query", "-f", "%POS[\t%GT]\n"]
    synthetic = subprocess.run([*query, str(out / "TPMT.vcf.gz")], capture_output=True, text=True).stdout.splitlines()
    positions = out / "pos.tsv"
    positions.write_text("".join(f"chr6\t{line.split()[0]}\n" for line in synthetic))
    source = subprocess.run(
        [*query[:2], "-T", str(positions), *query[2:], str(SHARED_DATA / "1kgp" / "GRCh38" / "TPMT.vcf.gz")],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    src = [line.split("\t")[1:] for line in source]
    syn = [line.split("\t")[1:] for line in synthetic]
    known = {tuple(gt.split("|")[k] for gt in col) for col in zip(*src) for k in (0, 1)}
    for col in zip(*syn):
        for k in (0, 1):
            assert tuple(gt.split("|")[k] for gt in col) in known
