#!/usr/bin/env python
"""Time pgx on the 1000 Genomes VCFs against the htslib floor, and print ratios.

The floor streams the same files through ``bcftools query -T <KB positions>`` printing
every genotype: the least any tool must do to read those genotypes. pgx is timed
in-process stage by stage (read, match + phenotype, recommend) and as a whole
``run_batch`` (Parquet out, no PDFs), each in a fresh process so peak memory
(ru_maxrss) is the run's own.

    python bench/bench_1kgp.py [--data ../shared/data/1kgp/GRCh38] [--genes CYP2C19 ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "1kgp" / "GRCh38"


def floor_seconds(vcfs: list[Path], positions: Path) -> float:
    """bcftools query over the KB positions of every file, sequentially."""
    start = time.perf_counter()
    for vcf in vcfs:
        subprocess.run(
            ["bcftools", "query", "-T", str(positions), "-f", "[%GT\t]\n", str(vcf)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return time.perf_counter() - start


def _child(mode: str, vcfs: list[str], genes: list[str], out: str) -> None:
    """Run one timed mode in this (child) process and print JSON timings."""
    sys.path.insert(0, str(ROOT))
    from pgx.kb import load_kb
    from pgx.match import call_diplotypes
    from pgx.phenotype import assign_phenotypes
    from pgx.pipeline import run_batch
    from pgx.recommend import recommend
    from pgx.vcf import read_genotypes

    kb = load_kb()
    t = {}
    cpu0 = time.process_time()
    start = time.perf_counter()
    if mode == "stages":
        gm = read_genotypes(vcfs, kb.loci(genes), assume_reference=True)
        t["read"] = time.perf_counter() - start
        s = time.perf_counter()
        calls = assign_phenotypes(call_diplotypes(gm, kb, genes), kb)
        t["match_phenotype"] = time.perf_counter() - s
        s = time.perf_counter()
        recommend(calls, kb)
        t["recommend"] = time.perf_counter() - s
        t["samples"] = len(gm.samples)
    else:
        run_batch(vcfs, out, batch="bench", assume_reference=True, reports=False, kb=kb, genes=genes)
    t["total"] = time.perf_counter() - start
    t["cpu"] = time.process_time() - cpu0
    t["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(t))


def run_child(mode: str, vcfs: list[Path], genes: list[str], out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--out", str(out), "--genes", *genes, "--vcfs", *map(str, vcfs)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--genes", nargs="*")
    ap.add_argument("--child")
    ap.add_argument("--vcfs", nargs="*")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.vcfs, args.genes, args.out)
        return 0

    sys.path.insert(0, str(ROOT))
    from pgx.kb import load_kb

    kb = load_kb()
    genes = args.genes or [g for g in kb.genes if (args.data / f"{g}.vcf.gz").exists()]
    vcfs = [args.data / f"{g}.vcf.gz" for g in genes]
    with tempfile.TemporaryDirectory() as tmp:
        positions = Path(tmp) / "positions.tsv"
        loci = kb.loci(genes)
        loci[["chrom", "pos"]].to_csv(positions, sep="\t", header=False, index=False)
        floor = floor_seconds(vcfs, positions)
        stages = run_child("stages", vcfs, genes, Path(tmp) / "stages")
        full = run_child("full", vcfs, genes, Path(tmp) / "full")
    n = stages["samples"]
    print(f"genes: {' '.join(genes)}  samples: {n}  KB positions: {len(loci)}")
    print(f"htslib floor (bcftools query -T)  {floor:8.2f} s")
    for k in ("read", "match_phenotype", "recommend", "total"):
        print(f"pgx stages: {k:<20} {stages[k]:8.2f} s")
    print(f"pgx run_batch (parquet, no PDF)   {full['total']:8.2f} s   ratio to floor {full['total'] / floor:5.2f}x")
    print(f"CPU per genome (run_batch)        {1000 * full['cpu'] / n:8.3f} ms")
    print(f"peak RSS: stages {stages['peak_rss_mb']:.0f} MB, run_batch {full['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
