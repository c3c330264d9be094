"""Run one batch: VCFs -> genotypes -> calls -> phenotypes -> recommendations, written
as Parquet tables, then (when asked) one PDF, FHIR bundle and JSON per patient.

:func:`run_batch` is the one hub that ``pgx run``, ``pgx batch`` and the workflow's
scripts call. Samples go through in chunks so memory stays flat on large multi-sample
VCFs: every table is streamed to Parquet chunk by chunk and committed as one run
(:class:`pgx.outputs.StagedRun`). Checking a batch's inputs before a run, and choosing
the genome build, is :mod:`pgx.input_check`.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pgx import __version__
from pgx.annotate import write_annotated_vcf
from pgx.builds import GRCH38, expand_to_kb, loci_on_build
from pgx.calling import call_diplotypes
from pgx.errors import InputError, OutsideCallError
from pgx.genotypes import DEFAULT_CHUNK_SIZE, STATUS_MISSING, genotype_frame
from pgx.input_check import choose_build, resolve_build
from pgx.kb import KnowledgeBase, load_kb
from pgx.outputs import (
    StagedRun,
    clean_stale_temporaries,
    make_folder,
    read_table,
    replace_folder,
    run_id,
    temporary_folder,
    verify_run,
    writing,
)
from pgx.outside import apply_outside_calls, assign_single_sample, read_outside_calls
from pgx.overlay import as_overlay, find_overlay, overlay_provenance
from pgx.patient_json import write_patient_jsons
from pgx.phenotype import assign_phenotypes
from pgx.processes import die_with_parent
from pgx.recommend import recommendation_table
from pgx.sample_ids import INDEX_NAME, report_file_names, write_file_index
from pgx.schema import GENOTYPE_STATUSES, OUTPUT_SCHEMAS, SCHEMA_VERSION
from pgx.vcf import concat_matrices, header_sample_ids, iter_genotype_chunks

# Deferred on purpose: pgx.report (reportlab) only when PDFs are asked for, and in the
# render workers; pgx.fhir (fhir.resources, pydantic) only when FHIR bundles are.

log = logging.getLogger(__name__)

TABLES = tuple(OUTPUT_SCHEMAS)  # genotypes, calls, recommendations, provenance


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance_frame(
    kb: KnowledgeBase,
    vcfs: Sequence[Path],
    *,
    batch: str,
    options: dict[str, object],
    n_samples: int,
    build: str = "GRCh38",
    checksums: dict[Path, str] | None = None,
) -> pd.DataFrame:
    """Key/value provenance: pipeline and KB versions, sources, inputs, options."""
    rows = [
        ("batch", batch),
        ("pipeline_version", __version__),
        ("kb_version", kb.version),
        ("genome_build", build),
        ("n_samples", str(n_samples)),
    ]
    for src in kb.manifest.get("sources", []):
        version = src.get("data_version") or "unversioned"
        rows.append((f"kb_source:{src['path']}", f"{version} sha256:{src['sha256']}"))
    for path in vcfs:
        rows.append((f"input_sha256:{Path(path).name}", (checksums or {}).get(path) or file_sha256(Path(path))))
    for key in sorted(options):
        rows.append((f"option:{key}", str(options[key]).lower() if isinstance(options[key], bool) else str(options[key])))
    return pd.DataFrame(rows, columns=["key", "value"])


def _genotype_chunks(vcfs, loci, *, assume_reference: bool, chunk_size: int, build: str):
    """Genotype matrices per sample chunk, always on the KB's GRCh38 loci."""
    read_loci, index = loci_on_build(loci, build)
    for gm in iter_genotype_chunks(vcfs, read_loci, chunk_size=chunk_size, assume_reference=assume_reference, build=build):
        yield gm if build == GRCH38 else expand_to_kb(gm, loci, index)


def run_batch(
    vcfs: Sequence[Path | str],
    out_dir: Path | str,
    *,
    batch: str = "batch",
    assume_reference: bool = False,
    reports: bool = True,
    kb: KnowledgeBase | None = None,
    genes: Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    outside_calls: Path | str | None = None,
    build: str = "auto",
    overlay: Path | str | None = "auto",
    combinations: bool = False,
    paper: str = "A4",
    appendix: bool = True,
    fhir: bool = False,
    patient_json: bool = False,
    outside_sample: str | None = None,
) -> dict[str, Path]:
    """Call every sample of ``vcfs`` and write the batch's tables (and PDFs) to ``out_dir``.

    ``paper`` (A4, letter) and ``appendix`` (False leaves the appendix out) set the PDFs
    (:func:`pgx.report.render_report`).

    ``combinations`` reports haplotypes only a combination of defined alleles explains
    (``[*6 + *18]``, phenotype Indeterminate) instead of a no-call (see ``pgx.match``).

    ``outside_calls`` is a TSV of results from other assays (see ``pgx.outside``) that
    fill or override genes, e.g. CYP2D6 copy number or HLA types; in PharmCAT's format
    (one sample, no sample column) its rows are ``outside_sample``'s, or the batch's only
    sample's. ``build`` is GRCh38,
    GRCh37 (read at the KB's GRCh37 positions) or auto (from the VCF headers).
    ``overlay`` is a CPIC export imported with ``pgx kb import-cpic`` whose verbatim
    texts are added to the recommendations: ``auto`` uses the imported one if any,
    None uses none. ``fhir`` and ``patient_json`` also write one FHIR bundle
    (``fhir/``, see ``pgx.fhir``) and one patient JSON (``json/``, see
    ``pgx.patient_json``) per sample.
    """
    kb = kb or load_kb()
    plan = plan_batch(
        vcfs, kb=kb, batch=batch, assume_reference=assume_reference, genes=genes, chunk_size=chunk_size,
        outside_calls=outside_calls, build=build, overlay=overlay, combinations=combinations,
        outside_sample=outside_sample,
    )  # fmt: skip
    out_dir = make_folder(out_dir)
    clean_stale_temporaries(out_dir)
    samples: set[str] = set()
    read_any = False
    with StagedRun(out_dir, plan.run) as staged:
        # every table is streamed chunk by chunk: memory stays bounded by the sample chunk
        with staged.writer("genotypes") as gw, staged.writer("calls") as cw, staged.writer("recommendations") as rw:
            for gm in plan.genotype_chunks():
                genotypes, calls, recs = call_chunk(plan, gm, kb)
                gw.write(genotypes)
                cw.write(calls)
                rw.write(recs)
                samples.update(gm.samples)
                read_any = read_any or bool((gm.status != STATUS_MISSING).any())
            plan.check_something_read(samples, read_any)
        finish_batch(staged, plan, kb, samples)
    paths = {name: out_dir / f"{name}.parquet" for name in TABLES}
    if reports:
        paths["reports"] = out_dir / "reports"
        render_batch_reports(out_dir, paths["reports"], paper=paper, appendix=appendix)
    if fhir:
        from pgx.fhir import write_fhir_bundles  # deferred: fhir.resources

        paths["fhir"] = out_dir / "fhir"
        write_fhir_bundles(out_dir, paths["fhir"], kb=kb, workers=None)
    if patient_json:
        paths["json"] = out_dir / "json"
        write_patient_jsons(out_dir, paths["json"])
    return paths


@dataclass
class BatchPlan:
    """Everything decided before a batch's first sample is called: the files, genes, build,
    options and run id. :func:`run_batch` uses it in one process; the workflow's scatter
    (:mod:`pgx.scatter`) pickles it for its chunk and gather jobs, so both make the same
    run id and the same bytes."""

    vcfs: list[Path]
    batch: str
    kb_version: str
    genes: list[str]
    loci: pd.DataFrame
    build: str
    build_reason: str
    assume_reference: bool
    combinations: bool
    chunk_size: int
    outside_calls: Path | None
    outside: pd.DataFrame | None
    overlay: object
    options: dict[str, object]
    inputs: list[Path]
    checksums: dict[Path, str]
    extra: pd.DataFrame
    run: str

    def genotype_chunks(self):
        """The batch's genotype matrices, ``chunk_size`` samples each."""
        return _genotype_chunks(
            self.vcfs, self.loci, assume_reference=self.assume_reference, chunk_size=self.chunk_size, build=self.build
        )

    def check_something_read(self, samples: set[str], read_any: bool) -> None:
        """A batch that read no genotype at any KB position (and has no outside call for its
        samples) is an error: nothing could be called."""
        outside = self.outside
        if samples and not read_any and (outside is None or not samples & set(outside["sample_id"])):
            raise InputError(_nothing_read(self.vcfs, self.genes, self.build, self.build_reason))


def plan_batch(
    vcfs: Sequence[Path | str],
    *,
    kb: KnowledgeBase,
    batch: str,
    assume_reference: bool,
    genes: Sequence[str] | None,
    chunk_size: int,
    outside_calls: Path | str | None,
    build: str,
    overlay: Path | str | None,
    combinations: bool,
    outside_sample: str | None = None,
) -> BatchPlan:
    """The :class:`BatchPlan` of a batch (see :func:`run_batch` for the arguments)."""
    vcfs = [Path(v) for v in vcfs]
    for v in vcfs:
        if not v.exists():
            raise InputError(f"{v}: no such file; check the path in your command or sample sheet")
    genes = list(genes) if genes else kb.genes
    loci = kb.loci(genes)
    build, build_reason = choose_build(vcfs, build, loci)
    log.info("genome build %s: %s", build, build_reason)
    outside = read_outside_calls(outside_calls, outside_sample) if outside_calls else None
    if outside is not None and (outside.attrs.get("one_sample") or outside_sample is not None):
        batch_samples = _batch_samples(vcfs)
        if outside_sample is not None and outside_sample not in batch_samples:
            raise OutsideCallError(
                f"{outside_calls}: --sample {outside_sample!r} is not a sample of the batch's VCFs; give one of "
                f"{', '.join(repr(s) for s in batch_samples[:5])}{' ...' if len(batch_samples) > 5 else ''}"
            )
        outside = assign_single_sample(outside, batch_samples, outside_calls)
    overlay = find_overlay() if overlay == "auto" else (as_overlay(overlay) if overlay else None)
    options = {
        "assume_reference": assume_reference,
        "find_combinations": combinations,
        "genes": ",".join(genes),
        "chunk_size": chunk_size,
    }
    inputs = list(vcfs)
    if outside is not None:
        options["outside_calls"] = str(outside_calls)
        if outside_sample is not None:
            options["outside_calls_sample"] = outside_sample
        inputs.append(Path(outside_calls))
    checksums = {p: file_sha256(p) for p in inputs}
    extra = pd.DataFrame(sorted(overlay_provenance(overlay).items()) if overlay is not None else [], columns=["key", "value"])
    run = run_id(
        {"pgx_version": __version__, "schema_version": SCHEMA_VERSION, "kb_version": kb.version, "batch": batch,
         "build": build, "options": sorted(options.items()), "inputs": [checksums[p] for p in inputs],
         "overlay": extra.values.tolist()}
    )  # fmt: skip
    return BatchPlan(
        vcfs=vcfs, batch=batch, kb_version=kb.version, genes=genes, loci=loci, build=build, build_reason=build_reason,
        assume_reference=assume_reference, combinations=combinations, chunk_size=chunk_size,
        outside_calls=Path(outside_calls) if outside_calls else None, outside=outside, overlay=overlay,
        options=options, inputs=inputs, checksums=checksums, extra=extra, run=run,
    )  # fmt: skip


def call_chunk(plan: BatchPlan, gm, kb: KnowledgeBase) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(genotypes, calls, recommendations) of one sample chunk's genotype matrix."""
    genotypes = genotype_frame(gm, kb.version, GENOTYPE_STATUSES)
    calls = assign_phenotypes(call_diplotypes(gm, kb, plan.genes, combinations=plan.combinations), kb)
    if plan.outside is not None:
        calls = apply_outside_calls(calls, plan.outside, kb)
    return genotypes, calls, recommendation_table(calls, kb, overlay=plan.overlay)


def finish_batch(staged: StagedRun, plan: BatchPlan, kb: KnowledgeBase, samples: set[str]) -> None:
    """Stage the provenance table (with the outside calls no sample matched) and commit the
    run's tables as one unit."""
    options = dict(plan.options)
    if plan.outside is not None:
        unmatched = sorted(set(plan.outside["sample_id"]) - samples)
        if unmatched:  # named in the provenance table, counted in the log
            options["outside_calls_unmatched_samples"] = ",".join(unmatched)
            log.warning(
                "%s: outside calls for %d sample(s) not in this batch were ignored (listed in the provenance table)",
                plan.outside_calls,
                len(unmatched),
            )
    provenance = provenance_frame(
        kb, plan.inputs, batch=plan.batch, options=options, n_samples=len(samples), build=plan.build, checksums=plan.checksums
    )
    provenance.loc[len(provenance)] = ("genome_build_reason", plan.build_reason)
    provenance = pd.concat([provenance, plan.extra], ignore_index=True)
    staged.write(provenance, "provenance")
    staged.commit(TABLES)


def _batch_samples(vcfs: Sequence[Path]) -> list[str]:
    """The sample IDs of the batch's VCF headers, in order, each once."""
    samples: dict[str, None] = {}
    for v in vcfs:
        samples.update(dict.fromkeys(header_sample_ids(v) or []))
    return list(samples)


def _nothing_read(vcfs: list[Path], genes: list[str], build: str, build_reason: str) -> str:
    """The error for a run that read no genotype at any KB position: nothing can be called."""
    return (
        f"{', '.join(map(str, vcfs))}: no genotype at any knowledge-base position of the genes asked "
        f"({_listing(genes)}), so nothing can be called. Read as {build} ({build_reason}). Check that the "
        "files cover the pharmacogenes and are on that build (--build), or give the files that hold them"
    )


def _listing(items: list[str], most: int = 8) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def render_batch_reports(results_dir: Path | str, reports_dir: Path | str, *, workers: int | None = None,
                         paper: str = "A4", appendix: bool = True) -> list[Path]:  # fmt: skip
    """One PDF per sample of a batch, from the batch's Parquet tables.

    The tables must be one committed run (:func:`pgx.outputs.verify_run`). File names come
    from the sample IDs through :func:`pgx.sample_ids.report_file_names` (the ID itself when
    it is a short plain name, else a slug and a hash), and ``index.tsv`` beside the PDFs maps
    each sample ID to its file. The PDFs are written into a hidden folder that then takes
    the place of ``reports_dir`` as a whole, so the folder never mixes reports of two runs:
    a sample no longer in the batch has no report left.

    Samples are rendered by a pool of ``workers`` processes (default: one per CPU;
    ``workers=1`` renders in this process), which die with this process
    (:func:`pgx.processes.die_with_parent`). Forked workers inherit the batch's rows and a
    task names only its samples' positions; spawned ones get their samples' rows.
    Every PDF depends on its sample's rows alone, so the files are the same whatever the
    number of workers; the paths come back in the order of the calls table. ``paper`` and
    ``appendix`` are :func:`pgx.report.render_report`'s settings.
    """
    from pgx.report import PAPERS, read_sample_rows  # deferred: reportlab

    if paper not in PAPERS:
        raise InputError(f"paper size {paper!r} is not known; use one of {', '.join(PAPERS)}")
    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    verify_run(results_dir, ("calls", "recommendations", "provenance"))
    clean_stale_temporaries(make_folder(reports_dir.parent))
    samples = read_sample_rows(results_dir, lambda path, columns: pq.read_table(path, columns=columns))
    prov = read_table(results_dir / "provenance.parquet")
    provenance = dict(zip(prov["key"], prov["value"]))
    batch = provenance.get("batch", results_dir.name)
    names = report_file_names(sample_id for sample_id, _, _ in samples)
    with temporary_folder(reports_dir) as staging:
        jobs = [(sample_id, calls, recs, str(staging / names[sample_id])) for sample_id, calls, recs in samples]
        _render_in_pool(jobs, provenance, batch, workers, paper=paper, appendix=appendix)
        with writing(staging):
            write_file_index(names, staging / INDEX_NAME)
        replace_folder(staging, reports_dir)
    return [reports_dir / names[sample_id] for sample_id, _, _ in samples]


#: the batch's report jobs while a forked pool renders them: the workers inherit them with
#: the process's memory, so a task carries only its samples' positions (pickling a sample's
#: rows cost ~9 ms of CPU per patient, a fifth of a report)
_POOL_JOBS: list[tuple] = []


def _render_forked(positions: range, provenance: dict[str, str], batch: str, paper: str, appendix: bool) -> None:
    from pgx.report import render_reports

    render_reports([_POOL_JOBS[i] for i in positions], provenance, batch, paper=paper, appendix=appendix)


def _render_in_pool(jobs: list[tuple], provenance: dict[str, str], batch: str, workers: int | None, *,
                    paper: str = "A4", appendix: bool = True) -> None:  # fmt: skip
    from pgx.report import long_lived_frozen, render_reports, warm_up  # deferred: reportlab

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        render_reports(jobs, provenance, batch, paper=paper, appendix=appendix)
        return
    # small chunks keep the workers evenly busy
    size = max(1, min(64, len(jobs) // (workers * 8)))
    ranges = [range(i, min(i + size, len(jobs))) for i in range(0, len(jobs), size)]
    # fork where there is one: forkserver and spawn re-run the caller's main module, which
    # breaks callers without a __main__ guard (Snakemake's script rules, plain scripts)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    global _POOL_JOBS
    if method == "fork":
        warm_up()  # fonts, styles and static blocks once, inherited by every worker
        _POOL_JOBS = jobs
    try:
        with long_lived_frozen(), ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent,
                                                      initargs=(os.getpid(),)) as pool:  # fmt: skip
            if method == "fork":
                futures = [pool.submit(_render_forked, r, provenance, batch, paper, appendix) for r in ranges]
            else:  # spawned workers start empty: each task carries its own samples' rows
                futures = [pool.submit(render_reports, [jobs[i] for i in r], provenance, batch, paper=paper,
                                       appendix=appendix) for r in ranges]  # fmt: skip
            for future in futures:
                future.result()  # re-raises a worker's error here
    finally:
        _POOL_JOBS = []


def annotate_batch(
    vcfs: Sequence[Path | str],
    out: Path | str,
    *,
    assume_reference: bool = False,
    kb: KnowledgeBase | None = None,
    genes: Sequence[str] | None = None,
    build: str = "auto",
) -> Path:
    """Write the batch's variants at KB positions as an annotated, indexed VCF."""
    kb = kb or load_kb()
    vcfs = [Path(v) for v in vcfs]
    loci = kb.loci(list(genes) if genes else kb.genes)
    build = resolve_build(vcfs, build, loci)
    chunks = list(_genotype_chunks(vcfs, loci, assume_reference=assume_reference, chunk_size=DEFAULT_CHUNK_SIZE, build=build))
    return write_annotated_vcf(concat_matrices(chunks, loci), kb, out)
