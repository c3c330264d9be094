#!/usr/bin/env python
"""The Snakemake workflow on synthetic cohorts: wall, CPU and peak RSS of every job.

For each cohort size N, ``bench/make_cohort.py`` writes one VCF per gene (reused when
already there); the workflow then runs with the local executor and ``--cores`` cores on a
one-batch sample sheet (Parquet only unless ``--reports``; ``assume_reference`` as the
cohort needs), in a fresh working directory. Per job it reads Snakemake's benchmark file
(wall ``s``, ``cpu_time``, ``max_rss``: psutil samples the job's processes, so a short peak
can be missed); the run's wall time is measured here, its total CPU is that of every
process Snakemake started (``RUSAGE_CHILDREN``), and so is the largest peak RSS of any one
of them (the kernel's ``ru_maxrss``: exact, but one number for the whole run, Snakemake
included). The 1-minute load average is sampled every 10 s while the run lasts (the
machine may be shared: wall times are then inflated, CPU times much less).

``--report-chunks K`` then renders the PDFs of the first K sample chunks through the
workflow (rule ``report_chunk``, its own benchmark file), so a chunk's time can be held
against the rule's declared runtime. With ``--single`` it also times ``run_batch`` (what
``pgx run`` calls) in a fresh process on the same files and chunk size, for the
scatter's CPU overhead.

    python bench/bench_workflow.py --sizes 10000 200000 [--chunk-size 2000] [--work /tmp/pgx-bench]
                                   [--single] [--reports | --report-chunks K] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("PGX_SHARED_DATA") or ROOT.parent / "shared" / "data") / "1kgp" / "GRCh38"


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cohort(n: int, work: Path, data: Path) -> list[Path]:
    """The cohort's VCFs (made once per N under ``work``)."""
    out = work / f"cohort{n}"
    if not (out / "cohort.json").is_file():
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "make_cohort.py"), "--n", str(n), "--out", str(out), "--seed", "1",
             "--data", str(data)],
            check=True,
        )  # fmt: skip
    return sorted(out.glob("*.vcf.gz"))


def read_benchmarks(bench_dir: Path) -> list[dict]:
    """One row per job: rule, wall s, CPU s, peak RSS MB (Snakemake's benchmark files)."""
    rows = []
    for path in sorted(bench_dir.rglob("*.tsv")):
        lines = path.read_text().splitlines()
        head, values = lines[0].split("\t"), lines[1].split("\t")
        rec = dict(zip(head, values))
        rel = path.relative_to(bench_dir)
        rule = rel.parent.name if rel.parent.name in ("call_chunk", "report_chunk") else rel.stem
        rows.append({"rule": rule, "job": str(rel), "wall_s": float(rec["s"]), "cpu_s": float(rec.get("cpu_time") or 0),
                     "max_rss_mb": float(rec["max_rss"]) if rec["max_rss"] not in ("", "NA", "-") else None})  # fmt: skip
    return rows


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while a run lasts."""

    def __init__(self, every: float = 10.0):
        self.every, self.samples = every, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        return {"load_start": self.samples[0], "load_end": self.samples[-1],
                "load_mean": sum(self.samples) / len(self.samples), "load_max": max(self.samples)}  # fmt: skip


def snakemake(run_dir: Path, cores: int, *targets: str) -> dict:
    """Run the workflow in ``run_dir`` (for ``targets``, or all); wall, CPU of every process
    it started, the largest peak RSS of any process so far, and the load meanwhile."""
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(ROOT / "Snakefile"), "--cores", str(cores),
           "--directory", str(run_dir), "--configfile", str(run_dir / "config" / "config.yaml")]  # fmt: skip
    cpu0, start = children_cpu(), time.perf_counter()
    with LoadSampler() as load:
        result = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
    if result.returncode != 0:
        sys.exit(f"workflow failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    max_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"wall_s": wall, "cpu_s": cpu, "max_rss_any_process_mb": max_rss, **load.summary()}


def run_workflow(vcfs: list[Path], run_dir: Path, *, cores: int, chunk_size: int, reports: bool) -> dict:
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "config").mkdir(parents=True)
    (run_dir / "config" / "samples.tsv").write_text("batch\tvcf\n" + "".join(f"cohort\t{v}\n" for v in vcfs))
    (run_dir / "config" / "config.yaml").write_text(
        "samples: config/samples.tsv\nassume_reference: true\nfind_combinations: false\nkb: null\ngenes: null\n"
        f"build: auto\nreports: {str(reports).lower()}\nfhir: false\npatient_json: false\nchunk_size: {chunk_size}\n"
        f"threads: {cores}\n"
    )
    res = snakemake(run_dir, cores)
    return {**res, "jobs": read_benchmarks(run_dir / "benchmarks")}


def run_report_chunks(run_dir: Path, *, cores: int, chunks: int) -> dict:
    """The PDFs of the first ``chunks`` sample chunks of the batch, through rule report_chunk."""
    res = snakemake(run_dir, cores, *(f"results/cohort/.scatter/reports/{k}" for k in range(chunks)))
    jobs = [j for j in read_benchmarks(run_dir / "benchmarks") if j["rule"] == "report_chunk"]
    return {**res, "jobs": jobs}


def run_single(vcfs: list[Path], out: Path, *, chunk_size: int) -> dict:
    code = (
        "import sys, resource; from pathlib import Path; from pgx.pipeline import run_batch; "
        f"run_batch([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]), batch='cohort', reports=False, "
        f"assume_reference=True, chunk_size={chunk_size}); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    cpu0, start = children_cpu(), time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, str(out), *map(str, vcfs)], capture_output=True, text=True, check=True)
    return {"wall_s": time.perf_counter() - start, "cpu_s": children_cpu() - cpu0,
            "max_rss_mb": int(result.stdout.split()[-1]) / 1024}  # fmt: skip


def summary(n: int, res: dict) -> list[str]:
    by_rule: dict[str, list[dict]] = {}
    for job in res["jobs"]:
        by_rule.setdefault(job["rule"], []).append(job)
    lines = [f"N={n:,}: workflow wall {res['wall_s']:.1f} s, CPU {res['cpu_s']:.1f} s "
             f"({1000 * res['cpu_s'] / n:.3f} ms CPU per genome); largest peak RSS of any process "
             f"{res['max_rss_any_process_mb']:.0f} MB; load (1 min) {res['load_start']:.1f} at start, "
             f"mean {res['load_mean']:.1f}, max {res['load_max']:.1f}, {res['load_end']:.1f} at end"]  # fmt: skip
    lines.append("| rule | jobs | wall s (max job) | wall s (sum) | CPU s (sum) | peak RSS MB (max job) |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for rule, jobs in by_rule.items():
        rss = [j["max_rss_mb"] for j in jobs if j["max_rss_mb"] is not None]
        lines.append(f"| {rule} | {len(jobs)} | {max(j['wall_s'] for j in jobs):.1f} | {sum(j['wall_s'] for j in jobs):.1f} | "
                     f"{sum(j['cpu_s'] for j in jobs):.1f} | {max(rss) if rss else float('nan'):.0f} |")  # fmt: skip
    if "report_chunks" in res:
        r = res["report_chunks"]
        for j in r["jobs"]:
            lines.append(f"report_chunk {j['job']}: wall {j['wall_s']:.1f} s, CPU {j['cpu_s']:.1f} s, peak RSS "
                         f"{j['max_rss_mb'] or float('nan'):.0f} MB")  # fmt: skip
        lines.append(f"report chunks: load mean {r['load_mean']:.1f} (max {r['load_max']:.1f})")
    if "single" in res:
        s = res["single"]
        lines.append(f"single process (run_batch): wall {s['wall_s']:.1f} s, CPU {s['cpu_s']:.1f} s, peak RSS "
                     f"{s['max_rss_mb']:.0f} MB; workflow/single CPU {res['cpu_s'] / s['cpu_s']:.2f}x")  # fmt: skip
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--chunk-size", type=int, default=2000, help="samples per chunk job (the config's default: 2000)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/pgx-bench"))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--single", action="store_true", help="also time run_batch in one process")
    ap.add_argument("--reports", action="store_true", help="also render the PDFs")
    ap.add_argument("--report-chunks", type=int, default=0, help="then render the PDFs of the first K chunks")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    results = {}
    for n in args.sizes:
        vcfs = cohort(n, args.work, args.data)
        res = run_workflow(vcfs, args.work / f"wf{n}", cores=args.cores, chunk_size=args.chunk_size, reports=args.reports)
        if args.report_chunks and not args.reports:
            res["report_chunks"] = run_report_chunks(args.work / f"wf{n}", cores=args.cores, chunks=args.report_chunks)
        if args.single:
            res["single"] = run_single(vcfs, args.work / f"single{n}", chunk_size=args.chunk_size)
        results[n] = res
        print("\n".join(summary(n, res)), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
