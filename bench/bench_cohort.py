#!/usr/bin/env python
"""Time pgx on synthetic cohorts of growing size against the htslib floor.

For each cohort size N, ``bench/make_cohort.py`` writes one VCF per gene (haplotypes
resampled from 1000 Genomes; reused when already there), then:

* **floor**: ``bcftools query -T <KB positions> -f '[%GT\\t]\\n'`` over every file,
  sequentially, output discarded (best of ``--floor-runs``): the least any tool must do
  to read those genotypes;
* **pgx**: ``pgx.pipeline.run_batch(..., reports=False, assume_reference=True)`` in a
  fresh process: wall time, CPU time (all threads), peak RSS (``ru_maxrss``), and the
  time spent inside each stage the pipeline calls (read, genotype table, match,
  phenotype, recommend, Parquet writes).

It prints one row per N with the ratios, then whether time grows linearly (ms per
genome steady) and memory stays flat (peak RSS independent of N).

    python bench/bench_cohort.py [--sizes 3202 10000 30000 100000] [--work /tmp/pgx-bench]
                                 [--genes ...] [--kb DIR] [--json results.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("PGX_SHARED_DATA") or ROOT.parent / "shared" / "data") / "1kgp" / "GRCh38"
DEFAULT_SIZES = (3202, 10_000, 30_000, 100_000)

#: names in pgx.pipeline timed per stage (whatever of them the pipeline imports)
STAGES = {
    "iter_genotype_chunks": "read",
    "_genotype_chunks": "read",
    "genotype_frame": "genotype_table",
    "call_diplotypes": "match",
    "assign_phenotypes": "phenotype",
    "recommend": "recommend",
    "recommendation_table": "recommend",
    "write_table": "write_tables",
}


# --- the floor --------------------------------------------------------------------------------


def floor_seconds(vcfs: list[Path], positions: Path, runs: int = 3) -> dict:
    """Best wall time (and its CPU) of ``bcftools query -T`` over every file, sequentially."""
    best = None
    for _ in range(max(runs, 1)):
        cpu0 = _children_cpu()
        start = time.perf_counter()
        for vcf in vcfs:
            subprocess.run(
                ["bcftools", "query", "-T", str(positions), "-f", "[%GT\t]\n", str(vcf)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        wall = time.perf_counter() - start
        if best is None or wall < best["wall"]:
            best = {"wall": wall, "cpu": _children_cpu() - cpu0}
    return best


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def write_positions(kb, genes: list[str], path: Path) -> int:
    loci = kb.loci(genes)
    loci[["chrom", "pos"]].drop_duplicates().to_csv(path, sep="\t", header=False, index=False)
    return len(loci)


# --- pgx in a fresh process ---------------------------------------------------------------------


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc), to see which stage memory grows in."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def _note(acc: dict, rss: dict, name: str, start: float) -> None:
    acc[name] = acc.get(name, 0.0) + time.perf_counter() - start
    rss[name] = max(rss.get(name, 0.0), current_rss_mb())


def _timed(fn, name: str, acc: dict, rss: dict):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _note(acc, rss, name, start)

    return wrapper


def _timed_iter(fn, name: str, acc: dict, rss: dict):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        it = iter(fn(*args, **kwargs))
        while True:
            start = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                _note(acc, rss, name, start)
                return
            _note(acc, rss, name, start)
            yield item

    return wrapper


def child(vcfs: list[str], genes: list[str], out: str, kb_dir: str | None, chunk_size: int | None) -> dict:
    """Run one run_batch here (a fresh process) and return its measurements."""
    sys.path.insert(0, str(ROOT))
    import pgx.outputs
    import pgx.pipeline as pipeline
    from pgx.kb import load_kb

    kb = load_kb(kb_dir) if kb_dir else load_kb()
    stages: dict[str, float] = {}
    stage_rss: dict[str, float] = {}  # the highest RSS seen at the end of a stage call
    # reading is timed once: through the pipeline's own generator when it has one
    readers = [a for a in ("_genotype_chunks", "iter_genotype_chunks") if hasattr(pipeline, a)][:1]
    for attr, name in STAGES.items():
        fn = getattr(pipeline, attr, None)
        if fn is None or (name == "read" and attr not in readers):
            continue
        wrap = _timed_iter if name == "read" else _timed
        setattr(pipeline, attr, wrap(fn, name, stages, stage_rss))
    writer_cls = getattr(pipeline, "ChunkedTableWriter", None)
    if writer_cls is not None:  # converting + handing chunks to the genotypes writer, and finishing it
        writer_cls.write = _timed(writer_cls.write, "chunked_write", stages, stage_rss)
        writer_cls.close = _timed(writer_cls.close, "chunked_close", stages, stage_rss)
    kwargs = {"chunk_size": chunk_size} if chunk_size else {}
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    pipeline.run_batch(vcfs, out, batch="bench", assume_reference=True, reports=False, kb=kb, genes=genes, **kwargs)
    wall = time.perf_counter() - start
    ru = resource.getrusage(resource.RUSAGE_SELF)
    genotypes = Path(out) / "genotypes.parquet"
    return {
        "wall": wall,
        "cpu": (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime),
        "peak_rss_mb": ru.ru_maxrss / 1024,
        "stages": stages,
        "stage_rss_mb": stage_rss,
        "genotypes_parquet_mb": genotypes.stat().st_size / 1e6 if genotypes.exists() else None,
        "pgx_outputs": pgx.outputs.__file__,
    }


def run_child(vcfs: list[Path], genes: list[str], kb_dir: Path | None, chunk_size: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="pgx-bench-out-") as out:
        cmd = [sys.executable, __file__, "--child", "--out", out, "--genes", *genes, "--vcfs", *map(str, vcfs)]
        if kb_dir:
            cmd += ["--kb", str(kb_dir)]
        if chunk_size:
            cmd += ["--chunk-size", str(chunk_size)]
        load0 = os.getloadavg()[0]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    # other work on the machine inflates wall time (not CPU time): keep the load beside it
    out["load_1min"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return out


# --- cohorts ------------------------------------------------------------------------------------


def ensure_cohort(work: Path, n: int, genes: list[str], seed: int, data: Path, all_records: bool = False) -> list[Path]:
    """The cohort's VCFs, generated by make_cohort.py unless the same one is already there."""
    out = work / f"n{n}_seed{seed}{'_all' if all_records else ''}"
    manifest = out / "cohort.json"
    if manifest.exists():
        info = json.loads(manifest.read_text())
        have = {f["gene"] for f in info.get("files", [])}
        same = info.get("n") == n and info.get("seed") == seed and (info.get("flank") == "all records") == all_records
        if same and set(genes) <= have:
            return [out / f"{g}.vcf.gz" for g in genes]
    cmd = [sys.executable, str(ROOT / "bench" / "make_cohort.py"), "--n", str(n), "--seed", str(seed)]
    cmd += ["--out", str(out), "--data", str(data), "--genes", *genes] + (["--all-records"] if all_records else [])
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    print(f"  generated {n} genomes in {time.perf_counter() - start:.1f} s -> {out}", file=sys.stderr)
    return [out / f"{g}.vcf.gz" for g in genes]


# --- report -------------------------------------------------------------------------------------


def verdicts(rows: list[dict]) -> list[str]:
    """Linear time (steady ms/genome) and flat memory, judged from the rows >= 10,000 genomes."""
    big = [r for r in rows if r["n"] >= 10_000] or rows
    lines = []
    if len(big) >= 2:
        a, b = big[0], big[-1]
        per_a, per_b = a["pgx_wall"] / a["n"], b["pgx_wall"] / b["n"]
        growth = per_b / per_a
        kind = "linear (or better)" if growth <= 1.25 else "super-linear"
        lines.append(
            f"time: {1000 * per_a:.3f} -> {1000 * per_b:.3f} ms wall per genome from N={a['n']} to N={b['n']} "
            f"({growth:.2f}x per genome): {kind}"
        )
        rss = b["peak_rss_mb"] / a["peak_rss_mb"]
        slope = (b["peak_rss_mb"] - a["peak_rss_mb"]) / ((b["n"] - a["n"]) / 10_000)
        kind = "flat" if rss <= 1.25 else "growing"
        lines.append(
            f"memory: peak RSS {a['peak_rss_mb']:.0f} -> {b['peak_rss_mb']:.0f} MB from N={a['n']} to N={b['n']} "
            f"({rss:.2f}x, {slope:+.1f} MB per 10,000 genomes): {kind}"
        )
    worst = max(r["ratio"] for r in rows)
    cpu = max(r["cpu_ms_per_genome"] for r in rows)
    lines.append(
        f"targets: ratio to floor <= 2x: {'met' if worst <= 2 else 'NOT met'} (worst {worst:.2f}x); "
        f"CPU <= 6 ms/genome: {'met' if cpu <= 6 else 'NOT met'} (worst {cpu:.3f} ms)"
    )
    return lines


def print_table(rows: list[dict], genes: list[str], n_loci: int, files: str = "") -> None:
    print(f"genes ({len(genes)}): {' '.join(genes)}   KB positions: {n_loci}   cores: {os.cpu_count()}   files: {files}")
    head = (
        f"{'N':>8} {'VCF MB':>7} {'floor s':>8} {'pgx s':>8} {'ratio':>6} {'CPU s':>8} "
        f"{'CPU ms/g':>9} {'wall ms/g':>9} {'RSS MB':>7} {'parquet MB':>10} {'load':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['n']:>8} {r['vcf_mb']:>7.1f} {r['floor_wall']:>8.2f} {r['pgx_wall']:>8.2f} {r['ratio']:>5.2f}x "
            f"{r['pgx_cpu']:>8.2f} {r['cpu_ms_per_genome']:>9.3f} {1000 * r['pgx_wall'] / r['n']:>9.3f} "
            f"{r['peak_rss_mb']:>7.0f} {r['genotypes_parquet_mb'] or 0:>10.1f} "
            f"{'/'.join(f'{x:.1f}' for x in r.get('load_1min', [])):>9}"
        )
    print()
    names = sorted({k for r in rows for k in r["stages"]})
    print(f"{'stage seconds':<22}" + "".join(f"{r['n']:>10}" for r in rows))
    for name in names:
        print(f"{name:<22}" + "".join(f"{r['stages'].get(name, 0):>10.2f}" for r in rows))
    print()
    print(f"{'RSS MB after stage':<22}" + "".join(f"{r['n']:>10}" for r in rows))
    for name in sorted({k for r in rows for k in r.get("stage_rss_mb", {})}):
        print(f"{name:<22}" + "".join(f"{r.get('stage_rss_mb', {}).get(name, 0):>10.0f}" for r in rows))
    print()
    for line in verdicts(rows):
        print(line)
    print(
        f"load = 1-minute load average before/after each pgx run ({os.cpu_count()} cores): above the core "
        "count, other processes shared the CPUs and wall times are inflated; CPU times are not"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pgx-bench-cohorts")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--genes", nargs="*", help="default: every KB gene with a 1000 Genomes file")
    ap.add_argument("--kb", type=Path, help="knowledge-base directory (default: the installed KB)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--floor-runs", type=int, default=3)
    ap.add_argument(
        "--all-records", action="store_true", help="cohorts keep every 1000 Genomes record (as dense as bench_1kgp's files)"
    )
    ap.add_argument("--chunk-size", type=int, help="run_batch chunk_size (default: the pipeline's)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--vcfs", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kb_dir = str(args.kb) if args.kb else None
        print(json.dumps(child(args.vcfs, args.genes, args.out, kb_dir, args.chunk_size)))
        return 0

    sys.path.insert(0, str(ROOT))
    from pgx.kb import load_kb

    kb = load_kb(args.kb) if args.kb else load_kb()
    genes = args.genes or [g for g in kb.genes if (args.data / f"{g}.vcf.gz").exists()]
    if not genes:
        ap.error(f"no KB gene has a 1000 Genomes file in {args.data}; give --data (or set PGX_SHARED_DATA)")
    absent = [g for g in genes if g not in kb.genes]
    if absent:
        ap.error(f"not in the knowledge base: {', '.join(absent)}")
    args.work.mkdir(parents=True, exist_ok=True)
    positions = args.work / f"kb_positions_{kb.version}.tsv"
    n_loci = write_positions(kb, genes, positions)
    rows = []
    for n in args.sizes:
        vcfs = ensure_cohort(args.work, n, genes, args.seed, args.data, args.all_records)
        floor = floor_seconds(vcfs, positions, args.floor_runs)
        pgx = run_child(vcfs, genes, args.kb, args.chunk_size)
        row = {
            "n": n,
            "vcf_mb": sum(v.stat().st_size for v in vcfs) / 1e6,
            "floor_wall": floor["wall"],
            "floor_cpu": floor["cpu"],
            "pgx_wall": pgx["wall"],
            "pgx_cpu": pgx["cpu"],
            "ratio": pgx["wall"] / floor["wall"],
            "cpu_ms_per_genome": 1000 * pgx["cpu"] / n,
            "peak_rss_mb": pgx["peak_rss_mb"],
            "genotypes_parquet_mb": pgx["genotypes_parquet_mb"],
            "stages": pgx["stages"],
            "stage_rss_mb": pgx["stage_rss_mb"],
            "load_1min": pgx.get("load_1min"),
        }
        rows.append(row)
        print(
            f"  N={n}: floor {floor['wall']:.2f} s, pgx {pgx['wall']:.2f} s ({row['ratio']:.2f}x), "
            f"CPU {row['cpu_ms_per_genome']:.3f} ms/genome, peak RSS {pgx['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )
    print_table(rows, genes, n_loci, "every 1000 Genomes record kept" if args.all_records else "KB records only")
    if args.json:
        meta = {
            "genes": genes,
            "kb_version": kb.version,
            "kb_positions": n_loci,
            "cores": os.cpu_count(),
            "seed": args.seed,
            "all_records": args.all_records,
        }
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
