#!/usr/bin/env python
"""Time pgx on the 1000 Genomes VCFs against the htslib floor, and print ratios.

The floor streams the same files through ``bcftools query -T <KB positions>`` printing
every genotype: the least any tool must do to read those genotypes (best of
``--floor-runs``). pgx runs ``run_batch`` (Parquet out, no PDFs, ``assume_reference``:
these files list only sites that vary in the cohort) in a fresh process, so peak memory
(ru_maxrss) is the run's own; the time inside each pipeline stage is reported too.

    python bench/bench_1kgp.py [--data ../shared/data/1kgp/GRCh38] [--genes CYP2C19 ...]
                               [--kb DIR] [--runs 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cohort import DEFAULT_DATA, ROOT, floor_seconds, run_child, write_positions  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--genes", nargs="*", help="default: every KB gene with a file in --data")
    ap.add_argument("--kb", type=Path, help="knowledge-base directory (default: the installed KB)")
    ap.add_argument("--floor-runs", type=int, default=3)
    ap.add_argument("--runs", type=int, default=1, help="pgx runs (each in a fresh process); the best is shown")
    ap.add_argument("--chunk-size", type=int, help="run_batch chunk_size (default: the pipeline's)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from pgx.kb import load_kb

    kb = load_kb(args.kb) if args.kb else load_kb()
    genes = args.genes or [g for g in kb.genes if (args.data / f"{g}.vcf.gz").exists()]
    if not genes:
        ap.error(f"no KB gene has a file in {args.data}; give --data (or set PGX_SHARED_DATA)")
    vcfs = [args.data / f"{g}.vcf.gz" for g in genes]
    with tempfile.TemporaryDirectory() as tmp:
        positions = Path(tmp) / "positions.tsv"
        n_loci = write_positions(kb, genes, positions)
        floor = floor_seconds(vcfs, positions, args.floor_runs)
    runs = [run_child(vcfs, genes, args.kb, args.chunk_size) for _ in range(max(args.runs, 1))]
    full = min(runs, key=lambda r: r["wall"])
    n = int(os.popen(f"bcftools query -l {vcfs[0]} | wc -l").read())
    ratio = full["wall"] / floor["wall"]
    print(f"genes ({len(genes)}): {' '.join(genes)}")
    print(f"samples: {n}  KB positions: {n_loci}  cores: {os.cpu_count()}  KB: {kb.version}")
    print(f"htslib floor (bcftools query -T)   {floor['wall']:8.2f} s wall  {floor['cpu']:8.2f} s CPU")
    print(
        f"pgx run_batch (parquet, no PDF)    {full['wall']:8.2f} s wall  {full['cpu']:8.2f} s CPU   ratio to floor {ratio:5.2f}x"
    )
    print(f"CPU per genome                     {1000 * full['cpu'] / n:8.3f} ms   (wall {1000 * full['wall'] / n:.3f} ms)")
    print(f"peak RSS                           {full['peak_rss_mb']:8.0f} MB")
    busy = max(full["load_1min"]) > (os.cpu_count() or 1)
    print(
        f"1-minute load average before/after  {full['load_1min'][0]:.2f} / {full['load_1min'][1]:.2f}"
        + (f" (above {os.cpu_count()} cores: other processes shared the CPUs, wall times are inflated)" if busy else "")
    )
    print("time inside pipeline stages (s):  " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(full["stages"].items())))
    if len(runs) > 1:
        print("all runs (wall s): " + ", ".join(f"{r['wall']:.2f}" for r in runs))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"genes": genes, "samples": n, "kb_positions": n_loci, "kb_version": kb.version, "floor": floor, "runs": runs},
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
