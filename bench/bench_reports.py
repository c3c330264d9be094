#!/usr/bin/env python
"""Time the patient PDFs of the 1000 Genomes samples through the path `pgx run` and the
workflow take (`pgx.pipeline.render_batch_reports`), with the split per stage.

1. The tables: `run_batch(reports=False, assume_reference=True)` over every KB gene with a
   file in --data (cached in --work; reused when present).
2. A committed run holding the first --samples samples (all by default) is written beside it.
3. `render_batch_reports(..., workers=W)` renders it, once per --workers value, each in a
   fresh process: wall time and CPU time of that process and its workers (user + system,
   ``RUSAGE_SELF`` + ``RUSAGE_CHILDREN``), per patient, and the ratio to the 20 ms goal;
   the peak RSS of the process (``VmHWM``) and of its largest worker (``ru_maxrss``).
   With workers=1 the stages are timed inside (CPU): reading and grouping the tables, the
   story (records, placement, flowables), layout and drawing, PDF write-out (footers,
   serialisation, compression, font subsets), writing the file.

With --pgx-run, the command users run instead: ``pgx run`` on the 19 files of --data
(``--assume-reference``), once with ``--no-reports`` and once with the PDFs, each in a fresh
process; the PDFs' cost per patient is the difference of the two runs' CPU (the process and
its workers) and wall time.

    python bench/bench_reports.py [--samples 200] [--workers 1 2] [--no-appendix] [--paper letter]
                                  [--work /tmp/pgx-bench-reports] [--profile out.prof] [--json out.json]
    python bench/bench_reports.py --pgx-run [--runs 2] [--no-appendix] [--paper letter]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("PGX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "1kgp" / "GRCh38"
GOAL_MS = 20.0


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def make_tables(data: Path, work: Path) -> Path:
    """The batch's Parquet tables (no PDFs), made once and reused."""
    from pgx.kb import load_kb
    from pgx.outputs import verify_run
    from pgx.pipeline import run_batch

    out = work / "tables"
    try:
        verify_run(out)
        return out
    except Exception:  # noqa: BLE001 - absent or incomplete: make it
        pass
    kb = load_kb()
    vcfs = [data / f"{g}.vcf.gz" for g in kb.genes if (data / f"{g}.vcf.gz").exists()]
    if not vcfs:
        raise SystemExit(f"no KB gene has a file in {data}; give --data (or set PGX_SHARED_DATA)")
    run_batch(vcfs, out, batch="1000 Genomes", assume_reference=True, reports=False)
    return out


def subset(tables: Path, n: int | None, work: Path) -> tuple[Path, int]:
    """A committed run with the first n samples of ``tables`` (all when n is None)."""
    from pgx.outputs import StagedRun, read_table, run_id

    calls = read_table(tables / "calls.parquet")
    ids = list(dict.fromkeys(calls["sample_id"]))
    if n is None or n >= len(ids):
        return tables, len(ids)
    keep = set(ids[:n])
    out = work / f"first{n}"
    frames = {
        "calls": calls[calls["sample_id"].isin(keep)],
        "recommendations": (r := read_table(tables / "recommendations.parquet"))[r["sample_id"].isin(keep)],
        "provenance": read_table(tables / "provenance.parquet"),
    }
    with StagedRun(out, run_id({"bench": "reports", "n": n})) as staged:
        for name, frame in frames.items():
            staged.write(frame.reset_index(drop=True), name)
        staged.commit(list(frames))
    return out, n


def child(results: Path, workers: int, paper: str, appendix: bool, profile: str | None) -> dict:
    """Runs in a fresh process: render the batch and time it (stages when workers == 1)."""
    from reportlab.platypus import SimpleDocTemplate

    from pgx import pipeline, report

    stages: dict[str, float] = {}

    def timed(owner: object, name: str, stage: str) -> None:
        inner = getattr(owner, name, None)
        if inner is None:  # an older pgx without this stage: it is counted in the enclosing one
            return

        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                stages[stage] = stages.get(stage, 0.0) + time.process_time() - start

        setattr(owner, name, wrapper)

    if workers == 1:  # nested: each stage's time includes the ones inside it; subtracted below
        timed(pipeline, "_render_in_pool", "_pool")
        timed(report, "render_report", "_render")
        timed(report, "_story", "story")
        timed(SimpleDocTemplate, "build", "_build")
        timed(report._FooterCanvas, "save", "pdf write-out")
    out = Path(tempfile.mkdtemp(prefix="pgx-bench-pdf-"))
    tasks = out / "tasks"  # with a forked pool: when each task ran, in which worker
    tasks.mkdir()
    forked = getattr(pipeline, "_render_forked", None)
    if workers > 1 and forked is not None:

        def logged(*args: object, **kwargs: object) -> None:
            start, cpu = time.time(), time.process_time()
            forked(*args, **kwargs)
            with open(tasks / str(os.getpid()), "a") as fh:
                fh.write(f"{start}\t{time.time()}\t{time.process_time() - cpu}\n")

        logged.__module__, logged.__qualname__ = pipeline.__name__, "_render_forked"  # pickled by name
        pipeline._render_forked = logged  # forked workers inherit the patched module
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    wall, cpu = time.perf_counter(), cpu_seconds()
    settings = {"paper": paper, "appendix": appendix} if hasattr(report, "PAPERS") else {}  # older pgx: A4, appendix
    paths = pipeline.render_batch_reports(results, out / "reports", workers=workers, **settings)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    split = {}
    if workers == 1:
        split = {
            "read and group the tables": cpu - stages["_pool"],
            "story (records, placement, flowables)": stages.get("story", 0.0),
            "layout and drawing": stages["_build"] - stages["pdf write-out"],
            "pdf write-out (footers, serialise, compress, fonts)": stages["pdf write-out"],
            "write the file": stages["_render"] - stages["_build"] - stages.get("story", 0.0),
            "pool and index": stages["_pool"] - stages["_render"],
        }
    overlap = _overlap(tasks)
    from pypdf import PdfReader

    pages = [len(PdfReader(p).pages) for p in paths[:50]]
    hg = next((p for p in paths if p.stem == "HG00096"), None)
    hg_pages = len(PdfReader(hg).pages) if hg else None
    shutil.rmtree(out)  # 3,202 PDFs are about 300 MB
    return {"pgx": str(Path(pipeline.__file__).parents[1]), "workers": workers, "n": len(paths), "wall": wall, "cpu": cpu, "split": split,
            "pages_first_50": pages, "hg00096_pages": hg_pages,
            "load_1min": os.getloadavg()[0], "pool": overlap,
            "peak_rss_mb": {"process": peak_rss_mb(),
                            "largest worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}  # fmt: skip


def pgx_run(data: Path, work: Path, runs: int, paper: str, appendix: bool) -> dict:
    """``pgx run`` without and with the PDFs (alternating, ``runs`` times each): CPU (user +
    system of the run and its workers) and wall seconds of each run."""
    from pgx.kb import load_kb

    vcfs = [str(data / f"{g}.vcf.gz") for g in load_kb().genes if (data / f"{g}.vcf.gz").exists()]
    pgx = str(Path(sys.executable).with_name("pgx"))
    measured: dict[str, list] = {"tables": [], "tables and PDFs": []}
    for _ in range(runs):
        for label, extra in (("tables", ["--no-reports"]), ("tables and PDFs", ["--paper", paper])):
            if label != "tables" and not appendix:
                extra.append("--no-appendix")
            out = Path(tempfile.mkdtemp(prefix="pgx-bench-run-", dir=work))
            before, wall = cpu_seconds(), time.perf_counter()
            subprocess.run([pgx, "run", *vcfs, "--assume-reference", "--batch", "1000 Genomes", "--out", str(out), *extra],
                           check=True, capture_output=True)  # fmt: skip
            wall = time.perf_counter() - wall
            pdfs = len(list((out / "reports").glob("*.pdf"))) if (out / "reports").is_dir() else 0
            measured[label].append({"cpu": cpu_seconds() - before, "wall": wall, "pdfs": pdfs,
                                    "load_1min": os.getloadavg()[0]})  # fmt: skip
            shutil.rmtree(out)
    return measured


def peak_rss_mb() -> float:
    """This process's peak resident memory: the kernel's high-water mark of its memory
    (``VmHWM``; ``ru_maxrss`` would include the parent's, which Linux carries over an exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _overlap(tasks: Path) -> dict:
    """Per worker, its CPU in tasks; and the share of the time some task ran during which
    tasks ran in two or more workers at once (0: no parallelism)."""
    spans = {f.name: [tuple(map(float, line.split("\t"))) for line in f.read_text().splitlines()]
             for f in tasks.iterdir()}  # fmt: skip
    if not spans:
        return {}
    events = sorted((t, d) for rows in spans.values() for a, b, _ in rows for t, d in ((a, 1), (b, -1)))
    busy = both = 0.0
    running, last = 0, events[0][0]
    for t, d in events:
        busy += (t - last) if running else 0.0
        both += (t - last) if running >= 2 else 0.0
        running, last = running + d, t
    return {
        "workers": len(spans),
        "cpu_per_worker": [round(sum(c for *_, c in rows), 2) for rows in spans.values()],
        "share_parallel": round(both / busy, 3) if busy else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pgx-bench-reports")
    ap.add_argument("--samples", type=int, help="the first N samples (default: all 3,202)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--paper", default="A4")
    ap.add_argument("--no-appendix", action="store_true")
    ap.add_argument("--profile", help="cProfile stats of the workers=1 run to this file")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--pgx-run", action="store_true", help="time `pgx run` without and with the PDFs instead")
    ap.add_argument("--runs", type=int, default=1, help="with --pgx-run: runs of each (the best is shown)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(child(Path(spec["results"]), spec["workers"], spec["paper"], spec["appendix"], spec["profile"])))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    if args.pgx_run:
        measured = pgx_run(args.data, args.work, args.runs, args.paper, not args.no_appendix)
        best = {label: min(runs, key=lambda r: r["cpu"]) for label, runs in measured.items()}
        n = best["tables and PDFs"]["pdfs"]
        for label, run in best.items():
            print(f"pgx run, {label}: {run['cpu']:.1f} s CPU, {run['wall']:.1f} s wall; load {run['load_1min']:.2f}")
        cpu = best["tables and PDFs"]["cpu"] - best["tables"]["cpu"]
        wall = best["tables and PDFs"]["wall"] - best["tables"]["wall"]
        print(f"the PDFs: {n} patients, {1000 * cpu / n:.1f} ms CPU and {1000 * wall / n:.1f} ms wall per patient; "
              f"{1000 * cpu / n / GOAL_MS:.2f}x the {GOAL_MS:.0f} ms goal")  # fmt: skip
        if args.json:
            args.json.write_text(
                json.dumps({"pgx_run": measured, "paper": args.paper, "appendix": not args.no_appendix}, indent=2) + "\n"
            )
        return 0
    tables = make_tables(args.data, args.work)
    results, n = subset(tables, args.samples, args.work)
    runs = []
    for workers in args.workers:
        spec = {"results": str(results), "workers": workers, "paper": args.paper, "appendix": not args.no_appendix,
                "profile": args.profile if workers == 1 else None}  # fmt: skip
        load = os.getloadavg()[0]
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True,
                              capture_output=True, text=True)  # fmt: skip
        run = json.loads(done.stdout.strip().splitlines()[-1]) | {"load_before": load}
        runs.append(run)
        per = 1000 * run["cpu"] / run["n"]
        print(
            f"[{run['pgx']}] workers={workers}: {run['n']} PDFs, {run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU; "
            f"{per:.1f} ms CPU and {1000 * run['wall'] / run['n']:.1f} ms wall per patient; "
            f"{per / GOAL_MS:.2f}x the {GOAL_MS:.0f} ms goal; load {run['load_before']:.2f}/{run['load_1min']:.2f}"
        )
        if run.get("pool"):
            pool = run["pool"]
            print(
                f"    pool: {pool['workers']} workers, CPU in tasks {pool['cpu_per_worker']} s; two or more "
                f"workers busy {100 * pool['share_parallel']:.0f}% of the time any was"
            )
        rss = run["peak_rss_mb"]
        print(f"    peak RSS: this process {rss['process']:.0f} MB, largest worker {rss['largest worker']:.0f} MB")
        for stage, seconds in run["split"].items():
            print(f"    {stage:<55} {1000 * seconds / run['n']:7.2f} ms")
        print(
            f"    pages: HG00096 {run['hg00096_pages']}, first 50 samples {min(run['pages_first_50'])}-"
            f"{max(run['pages_first_50'])}"
        )
    if args.json:
        args.json.write_text(json.dumps({"samples": n, "appendix": not args.no_appendix, "paper": args.paper,
                                         "runs": runs}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
