"""``pgx batch``: the lab-staff entry point. One command from VCFs to PDFs.

    pgx batch /data/incoming/2025-06 --name lab_2025_06

What it does, in order:

1. **Finds the VCFs**: each argument is a VCF file or a directory whose VCFs
   (``*.vcf``, ``*.vcf.gz``, ``*.vcf.bgz``, and ``*.bcf`` so that it can be reported) are
   taken, sorted by name; subdirectories are not searched.
2. **Checks every file first** with :func:`pgx.input_check.check_batch`, the same checks as
   the workflow's first rule. If anything is wrong it lists *every* problem, one per
   line, each naming the file and what to do, and stops with exit code 2. Nothing is run.
3. **Writes the run's configuration**: a Snakemake working directory per batch,
   ``RESULTS/.runs/<name>/``, holding ``config/config.yaml`` and the sample sheet
   ``config/samples.tsv`` (absolute VCF paths), so the project's ``config/samples.tsv``
   is never touched. Its ``results`` entry is a symlink to ``RESULTS``, so the workflow's
   ``results/<batch>/...`` lands in ``RESULTS/<name>/...``; its logs and benchmarks stay
   in the run directory. A bioinformatician can re-run it by hand:
   ``snakemake -s <Snakefile> -d RESULTS/.runs/<name> --cores 4`` (the first line of the run's
   ``snakemake.log`` is the command ``pgx batch`` ran, with the Snakefile's path).
4. **Runs the Snakemake workflow** shipped with pgx (:data:`SNAKEFILE`: in a source checkout,
   the checkout's own ``Snakefile``; in an installed wheel, its copy inside the package),
   with ``python -m snakemake``, and shows
   one line per step as it starts and finishes. Snakemake's full output goes to
   ``RESULTS/.runs/<name>/snakemake.log``. Steps already done (same inputs) are not redone.
5. **Says where everything is**: the patient PDFs, the QC report, the Parquet tables of
   the batch and the cohort dataset of every batch in ``RESULTS``.

Exit codes: 0 done; 2 a problem with the input (every problem listed) or the options;
1 the workflow failed (the step and its log are named); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pgx.builds import BUILDS
from pgx.errors import ConfigError

#: the workflow this command runs. ``pgx/_workflow`` holds links to the checkout's
#: ``Snakefile`` and ``workflow/``, which a wheel ships as package data (pyproject.toml), so
#: this is the checkout's Snakefile in an editable install and the packaged copy otherwise.
SNAKEFILE = (Path(__file__).parent / "_workflow" / "Snakefile").resolve()

#: file names taken from a directory (``.bcf`` is taken so that the check can explain it)
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")

#: a batch name, as the workflow's sample sheet allows (workflow/rules/common.smk)
BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

#: where the per-batch Snakemake working directories go, inside the results directory
RUNS_DIR = ".runs"

#: the workflow's steps in plain words: (while running, when done)
STEPS = {
    "check_inputs": ("checking the VCF files", "checked the VCF files"),
    "prepare": ("reading the VCF files once, by sample chunk", "read the VCF files"),
    "call_chunk": ("calling one chunk of samples", "called one chunk of samples"),
    "call": (
        "calling genotypes, phenotypes and drug recommendations: gathering the chunks into the batch's tables",
        "called genotypes, phenotypes and recommendations",
    ),
    "report_chunk": ("writing the PDF reports of one chunk of patients", "wrote one chunk of PDFs"),
    "reports": ("collecting the PDF reports, one per patient", "wrote the patient PDFs"),
    "fhir": ("writing one FHIR bundle per patient", "wrote the FHIR bundles"),
    "patient_json": ("writing one JSON document per patient", "wrote the patient JSON documents"),
    "qc": ("writing the batch QC report", "wrote the QC report"),
    "cohort": ("updating the tables of all batches (cohort)", "updated the cohort tables"),
    "all": ("finishing", "finished"),
}

#: the QC report of a batch, by the QC step's output name
QC_REPORT_NAMES = ("qc_report.html", "qc_report.pdf")


# --- finding the files ---------------------------------------------------------------------


def is_vcf_name(path: Path) -> bool:
    """Named like a VCF (in any letter case; see :func:`find_vcfs`), and not hidden."""
    return path.name.lower().endswith(VCF_SUFFIXES) and not path.name.startswith(".")


def find_vcfs(inputs: Sequence[Path | str]) -> tuple[list[Path], list[str]]:
    """The VCFs named by ``inputs`` (files as given, directories' VCFs sorted), absolute,
    and the problems found (an input that does not exist, a directory with no VCF)."""
    vcfs: list[Path] = []
    problems: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and is_vcf_name(p))
            if not found:
                sub = [p.name for p in item.iterdir() if p.is_dir()]
                hint = f" (subdirectories are not searched: {', '.join(sorted(sub)[:5])})" if sub else ""
                problems.append(
                    f"{item}: no VCF files in this directory{hint}; pgx batch takes files ending in "
                    f"{', '.join(VCF_SUFFIXES[:3])}, or give the files themselves"
                )
            vcfs.extend(found)
        elif item.is_file():
            vcfs.append(item)
        else:
            problems.append(f"{item}: no such file or directory; check the path")
    for v in dict.fromkeys(vcfs):  # the workflow's sample sheet takes lower-case suffixes only
        if not v.name.endswith(VCF_SUFFIXES):
            how = "in lower case" if is_vcf_name(v) else "like a VCF"
            problems.append(f"{v}: the file name must end {how} ({', '.join(VCF_SUFFIXES[:3])}); rename the file")
    return [v.absolute() for v in dict.fromkeys(vcfs)], problems


def default_name(inputs: Sequence[Path | str]) -> str:
    """The batch name when --name is not given: the (first) directory's or file's name,
    without VCF suffixes, with characters a batch name cannot have replaced by ``_``."""
    first = Path(inputs[0]).absolute() if inputs else Path("batch")
    name = first.name
    for suffix in (".gz", ".bgz", ".vcf", ".bcf"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip("._-")
    return name or "batch"


# --- the run directory -----------------------------------------------------------------------


@dataclass
class BatchRun:
    """Paths of one ``pgx batch`` run."""

    name: str
    results: Path  # the results directory (RESULTS)
    vcfs: list[Path]
    workdir: Path = field(init=False)  # Snakemake's working directory

    def __post_init__(self) -> None:
        self.results = self.results.absolute()
        self.workdir = self.results / RUNS_DIR / self.name

    @property
    def batch_dir(self) -> Path:
        return self.results / self.name

    @property
    def log(self) -> Path:
        return self.workdir / "snakemake.log"

    @property
    def checks(self) -> Path:
        """Where ``pgx batch``'s own first check writes its report."""
        return self.workdir / "checks.txt"


def write_run_config(
    run: BatchRun,
    *,
    assume_reference: bool,
    cores: int,
    outside_calls: Path | None = None,
    outside_sample: str | None = None,
    genes: Sequence[str] | None = None,
    build: str = "auto",
    kb: Path | None = None,
) -> Path:
    """Write the run's ``config/config.yaml`` and ``config/samples.tsv`` and link
    ``results`` to the results directory; return the config path."""
    import yaml

    config_dir = run.workdir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    link = run.workdir / "results"
    if link.is_symlink() or not link.exists():
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(run.results, run.workdir), target_is_directory=True)
    rows = ["batch\tvcf\toutside_calls\toutside_calls_sample"]
    rows += [f"{run.name}\t{v}\t{outside_calls.absolute() if outside_calls else ''}\t{outside_sample or ''}" for v in run.vcfs]
    (config_dir / "samples.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = {
        "samples": "config/samples.tsv",
        "assume_reference": bool(assume_reference),
        "kb": str(kb.absolute()) if kb else None,
        "genes": list(genes) if genes else None,
        "build": build,
        "reports": True,
        "fhir": True,
        "patient_json": True,
        "threads": max(1, cores),
    }
    path = config_dir / "config.yaml"
    header = f"# written by `pgx batch` for batch {run.name}; see workflow/schemas/config.schema.yaml\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# --- running the workflow with a progress display -----------------------------------------


class Progress:
    """Turns Snakemake's output into one plain line per step started and finished."""

    _START = re.compile(r"^(?:local)?rule (\w+):$")
    _JOBID = re.compile(r"^\s+jobid: (\d+)$")
    _FINISHED = re.compile(r"^Finished job(?:id:)? (\d+)")
    _FINISHED_RULE = re.compile(r"\(Rule: (\w+)\)")
    _COUNT = re.compile(r"^(\d+) of (\d+) steps \((\d+%)\) done")
    _ERROR = re.compile(r"^Error in rule (\w+):")
    _LOG = re.compile(r"^\s+log: (.+?)(?: \(check log file\(s\) for error details\))?$")

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.started = time.monotonic()
        self.rule_of_job: dict[str, str] = {}
        self.last_rule: str | None = None
        self.last_finished: str | None = None
        self.failed: list[tuple[str, list[str]]] = []  # (rule, its log files)
        self._in_error: bool = False
        self.nothing_to_do = False
        self.locked = False

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if m := self._START.match(line):
            self.last_rule = m.group(1)
            self._in_error = False
            if self.last_rule != "all":
                self._say(f"  ... {STEPS.get(self.last_rule, (self.last_rule,))[0]}")
        elif (m := self._JOBID.match(line)) and self.last_rule:
            self.rule_of_job[m.group(1)] = self.last_rule
        elif m := self._FINISHED.match(line):
            rm = self._FINISHED_RULE.search(line)
            self.last_finished = rm.group(1) if rm else self.rule_of_job.get(m.group(1))
        elif m := self._COUNT.match(line):
            done, total, _ = m.groups()
            rule = self.last_finished or "?"
            what = STEPS.get(rule, (rule, rule))[1]
            self._say(f"  [{done}/{total}] {what}  ({_elapsed(time.monotonic() - self.started)})")
        elif m := self._ERROR.match(line):
            self.failed.append((m.group(1), []))
            self._in_error = True
        elif self._in_error and (m := self._LOG.match(line)):
            self.failed[-1][1].extend(p.strip() for p in m.group(1).split(","))
        elif line.startswith("Nothing to be done"):
            self.nothing_to_do = True
        elif "LockException" in line or "Directory cannot be locked" in line:
            self.locked = True

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d} elapsed"


def run_workflow(run: BatchRun, *, cores: int, stream: TextIO = sys.stdout) -> tuple[int, Progress]:
    """Run the workflow in the run's working directory, showing progress on ``stream``;
    Snakemake's full output goes to ``run.log``. Returns Snakemake's exit code."""
    if not SNAKEFILE.is_file():
        raise ConfigError(
            f"the Snakemake workflow is missing from the pgx installation (looked for {SNAKEFILE}); "
            "reinstall pgx from a clone of its repository (pip install . or pip install -e .), "
            "or run the workflow from the clone yourself (snakemake --cores N, see README.md)"
        )
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(SNAKEFILE),
        "--directory", str(run.workdir),
        "--cores", str(cores),
        "--rerun-incomplete",
        "--keep-going",
        "--nocolor",
    ]  # fmt: skip
    progress = Progress(stream)
    run.log.parent.mkdir(parents=True, exist_ok=True)
    with open(run.log, "w", encoding="utf-8") as log:
        log.write(f"# pgx batch runs: {shlex.join(cmd)}\n")
        from pgx.processes import terminate_with_parent

        # Snakemake gets SIGTERM (and stops its jobs, releases its lock) if pgx is killed
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
            errors="replace", cwd=run.workdir, bufsize=1, preexec_fn=terminate_with_parent,
        )  # fmt: skip
        try:
            for line in proc.stdout:
                log.write(line)
                progress.feed(line)
        except KeyboardInterrupt:  # Snakemake got the Ctrl-C too: let it clean up
            proc.wait()
            raise
        proc.wait()
    return proc.returncode, progress


# --- the end: where things are --------------------------------------------------------------


def summary(run: BatchRun) -> list[str]:
    """Plain lines saying where the batch's outputs are."""
    from pgx.cohort import COHORT_DIR

    d = run.batch_dir
    pdfs = sorted((d / "reports").glob("*.pdf"))
    lines = [f"Batch {run.name} is done. The results are in {d}"]
    rows = [("Patient reports (one PDF per patient)", f"{d / 'reports'}/  ({len(pdfs)} PDF files)")]
    for folder, label in (("fhir", "FHIR bundles (one per patient)"), ("json", "Patient JSON (one per patient)")):
        if (d / folder).is_dir():
            rows.append((label, f"{d / folder}/  ({len(list((d / folder).glob('*.json')))} files)"))
    qc = next((d / n for n in QC_REPORT_NAMES if (d / n).is_file()), None)
    if qc:
        rows.append(("Batch QC report", str(qc)))
    tables = [t for t in ("calls", "recommendations", "genotypes", "provenance") if (d / f"{t}.parquet").is_file()]
    if tables:
        rows.append(("Tables (Parquet)", f"{d}/  ({', '.join(f'{t}.parquet' for t in tables)})"))
    cohort = run.results / COHORT_DIR
    if cohort.is_dir():
        rows.append(("Tables of all batches together", f"{cohort}/  (one folder per table, split by batch)"))
    rows.append(("Input check", str(d / "checks.txt")))
    rows.append(("Logs", f"{run.workdir / 'logs'}/"))
    width = max(len(label) for label, _ in rows) + 1
    lines += [f"  {label + ':':<{width}} {where}" for label, where in rows]
    return lines


# --- the command -------------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The ``pgx batch`` subcommand's parser (the CLI sets its ``func``)."""
    p = sub.add_parser(
        "batch",
        help="lab staff: check a batch of VCFs, then make every patient's PDF and the tables",
        description=(
            "Check every VCF of a batch (all problems are listed at once), then run the whole "
            "workflow: one PDF per patient, a QC report, and the Parquet tables. Give a folder "
            "of VCF files, or the files themselves."
        ),
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="DIR_OR_VCF", help="a folder of VCF files, or VCF files")
    p.add_argument("--name", metavar="NAME", help="batch name (default: the folder's or file's name)")
    p.add_argument(
        "--out", type=Path, default=Path("results"), metavar="RESULTS",
        help="results folder; the batch goes into RESULTS/NAME (default: ./results)",
    )  # fmt: skip
    p.add_argument(
        "--assume-reference", action="store_true",
        help="treat positions absent from the VCFs as reference (for VCFs that list only variants)",
    )  # fmt: skip
    p.add_argument(
        "--cores", type=int, default=os.cpu_count() or 1, metavar="N",
        help="CPU cores to use (default: all of this machine's)",
    )  # fmt: skip
    p.add_argument(
        "--outside-calls", type=Path, metavar="TSV",
        help="results from other assays (e.g. CYP2D6 copy number, HLA) that fill or override genes",
    )  # fmt: skip
    p.add_argument(
        "--sample", metavar="SAMPLE_ID",
        help="the sample an outside-call file in PharmCAT's format (no header, one sample) belongs to; "
        "not needed when the batch has one sample",
    )  # fmt: skip
    p.add_argument("--genes", nargs="+", metavar="GENE", help="only these genes (default: every gene the KB calls from a VCF)")
    p.add_argument("--build", choices=("auto", *BUILDS), default="auto", help="genome build of the VCFs (default: auto)")
    p.add_argument("--kb", type=Path, metavar="DIR", help="knowledge-base directory (default: $PGX_KB, else the shipped KB)")
    return p


def run_batch_command(args: argparse.Namespace, stream: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``pgx batch``: check, configure, run, and say where the results are."""
    problems = []
    name = args.name or default_name(args.inputs)
    if not BATCH_NAME.fullmatch(name):
        problems.append(
            f"--name {name!r} cannot be a batch name: use letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    if args.cores < 1:
        problems.append(f"--cores must be at least 1, not {args.cores}")
    if args.outside_calls is not None and not args.outside_calls.is_file():
        problems.append(f"--outside-calls {args.outside_calls}: no such file; check the path")
    vcfs, found_problems = find_vcfs(args.inputs)
    problems += found_problems
    if any("\t" in str(v) or "\n" in str(v) for v in vcfs):
        problems.append("a VCF path contains a tab or a line break; rename the file")
    run = BatchRun(name if BATCH_NAME.fullmatch(name) else "batch", args.out, vcfs)

    print(f"pgx batch {run.name}: {len(vcfs)} VCF file(s); results go to {run.batch_dir}", file=stream, flush=True)
    if vcfs:
        print("Checking every file first ...", file=stream, flush=True)
        from pgx.kb import load_kb
        from pgx.input_check import check_batch

        kb = load_kb(args.kb) if args.kb else None
        problems += check_batch(
            vcfs, run.checks, assume_reference=args.assume_reference, kb=kb, genes=args.genes,
            build=args.build, batch=run.name,
        )  # fmt: skip
    if problems:
        print(f"\npgx found {len(problems)} problem(s); nothing was run:", file=err)
        for i, problem in enumerate(problems, 1):
            print(f"  {i}. {problem}", file=err)
        where = f" The full check is in {run.checks}." if run.checks.is_file() else ""
        print(f"\nFix them and run the same command again.{where}", file=err, flush=True)
        return 2
    notes = [
        line.split("\t", 1)[1] for line in run.checks.read_text(encoding="utf-8").splitlines() if line.startswith("# note\t")
    ]
    checked = dict(
        line[2:].split("\t", 1)
        for line in run.checks.read_text(encoding="utf-8").splitlines()
        if line.startswith("# ") and "\t" in line
    )
    print(f"All {len(vcfs)} file(s) are fine: {checked.get('samples', '?')} samples.", file=stream)
    print(
        f"Genome build: {checked.get('genome_build', '?')} ({checked.get('genome_build_reason', 'reason not recorded')})",
        file=stream,
    )
    for note in notes:
        print(f"  Note: {note}", file=stream)

    write_run_config(
        run, assume_reference=args.assume_reference, cores=args.cores, outside_calls=args.outside_calls, outside_sample=args.sample,
        genes=args.genes, build=args.build, kb=args.kb,
    )  # fmt: skip
    print(f"Running the workflow with {args.cores} core(s):", file=stream, flush=True)
    code, progress = run_workflow(run, cores=args.cores, stream=stream)
    if code != 0:
        _explain_failure(run, progress, err)
        return 1
    if progress.nothing_to_do:
        print("  Everything was already up to date: nothing had to be redone.", file=stream)
    print("", file=stream)
    for line in summary(run):
        print(line, file=stream)
    return 0


def _explain_failure(run: BatchRun, progress: Progress, err: TextIO) -> None:
    print("", file=err)
    if progress.locked:
        print(
            f"The workflow did not start: another pgx batch run of {run.name} seems to be running. If none "
            f"is, a killed run left a lock behind: remove {run.workdir / '.snakemake' / 'locks'} and try again.",
            file=err,
        )
    for rule, logs in progress.failed or [(None, [])]:
        what = STEPS.get(rule, (rule,))[0] if rule else "the workflow"
        print(f"The workflow stopped: a step failed ({what}).", file=err)
        for log in logs:
            path = (run.workdir / log) if not Path(log).is_absolute() else Path(log)
            print(f"What went wrong is at the end of {path}:", file=err)
            if path.is_file():
                for line in path.read_text(errors="replace").splitlines()[-12:]:
                    print(f"    {line}", file=err)
    print(f"Snakemake's full output: {run.log}", file=err, flush=True)
