"""Chain the stages for one batch: VCF(s) -> Parquet tables -> PDFs.

This is what ``pgx run`` and the Snakemake scripts call. Samples are processed in
chunks so memory stays flat on large multi-sample VCFs: the genotype table is streamed
to Parquet chunk by chunk; calls and recommendations (a few rows per sample) are kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pgx import __version__
from pgx.builds import BUILDS, GRCH37, GRCH38, expand_to_kb, loci_on_build
from pgx.errors import ConfigError, InputError, OutsideCallError
from pgx.genotypes import genotype_frame
from pgx.kb import KnowledgeBase, load_kb
from pgx.calling import call_diplotypes
from pgx.genotypes import STATUS_MISSING
from pgx.outputs import StagedRun, clean_stale_temporaries, make_folder, read_table, run_id, verify_run, writing
from pgx.schema import OUTPUT_SCHEMAS, SCHEMA_VERSION
from pgx.outside import apply_outside_calls, assign_single_sample, read_outside_calls
from pgx.phenotype import assign_phenotypes
from pgx.overlay import as_overlay, find_overlay, overlay_provenance
from pgx.recommend import recommendation_table
from pgx.schema import GENOTYPE_STATUSES
from pgx.vcf import header_build, header_evidence, header_sample_ids, iter_genotype_chunks, kb_site_agreement

log = logging.getLogger(__name__)

TABLES = tuple(OUTPUT_SCHEMAS)  # genotypes, calls, recommendations, provenance
DEFAULT_CHUNK_SIZE = 2000


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


#: agreeing KB positions that settle a build when no header names one
SNIFF_ENOUGH = 20


def resolve_build(vcfs: Sequence[Path], build: str, loci: pd.DataFrame | None = None) -> str:
    """The genome build the VCFs are read as (see :func:`choose_build`)."""
    return choose_build(vcfs, build, loci)[0]


def choose_build(vcfs: Sequence[Path], build: str, loci: pd.DataFrame | None = None) -> tuple[str, str]:
    """(build, why): ``build`` itself; for ``auto`` the build the files' headers name
    (``##contig`` lengths or RefSeq names, ``##reference``); when no header names one,
    the build at whose positions the records' REF bases agree with the KB loci ``loci``
    (GRCh38 when they agree with neither, or without ``loci``)."""
    if build != "auto":
        if build not in BUILDS:
            raise ConfigError(f"unknown genome build {build!r}; use auto, {' or '.join(BUILDS)}")
        return build, "given with --build (workflow: `build` in the config)"
    found = {str(v): header_evidence(v) for v in vcfs}
    named = {b for b, _ in found.values() if b}
    if len(named) > 1:
        listing = "; ".join(f"{v}: {b or 'unknown'}" for v, (b, _) in found.items())
        raise ConfigError(f"the input VCFs are on different genome builds ({listing}); run each build separately")
    if named:
        chosen = named.pop()
        files = [v for v, (b, _) in found.items() if b == chosen]
        why = next(w for b, w in found.values() if b == chosen)
        more = f" and {len(files) - 1} more file(s)" if len(files) > 1 else ""
        return chosen, f"{why} ({Path(files[0]).name}{more})"
    unstated = "no VCF header names a build (no ##contig lengths, RefSeq contig names or ##reference)"
    if loci is None:
        return GRCH38, f"{unstated}; GRCh38, the knowledge base's build, was assumed"
    by_build = {b: loci_on_build(loci, b)[0] for b in BUILDS}
    agree = {b: 0 for b in BUILDS}
    for v in vcfs:  # until the records have said enough
        for b, (_, n) in kb_site_agreement(v, by_build, enough=SNIFF_ENOUGH).items():
            agree[b] += n
        if max(agree.values()) >= SNIFF_ENOUGH:
            break
    if agree[GRCH37] > agree[GRCH38]:
        return GRCH37, (
            f"{unstated}; the records' REF bases agree with the knowledge base at {agree[GRCH37]} of its GRCh37 "
            f"positions looked at and at {agree[GRCH38]} of its GRCh38 positions"
        )
    return GRCH38, (
        f"{unstated}; GRCh38, the knowledge base's build, was assumed: the records' REF bases agree with it at "
        f"{agree[GRCH38]} knowledge-base positions looked at (at {agree[GRCH37]} of the GRCh37 positions)"
    )


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
        from pgx.fhir import write_fhir_bundles

        paths["fhir"] = out_dir / "fhir"
        write_fhir_bundles(out_dir, paths["fhir"], kb=kb)
    if patient_json:
        from pgx.patient_json import write_patient_jsons

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
            log.warning("%s: outside calls for %d sample(s) not in this batch were ignored (listed in the provenance table)", plan.outside_calls, len(unmatched))
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
    (:func:`pgx.processes.die_with_parent`). Each task carries only its own samples' rows.
    Every PDF depends on its sample's rows alone, so the files are the same whatever the
    number of workers; the paths come back in the order of the calls table. ``paper`` and
    ``appendix`` are :func:`pgx.report.render_report`'s settings.
    """
    from pgx.outputs import replace_folder, temporary_folder
    from pgx.sample_ids import INDEX_NAME, report_file_names, write_file_index

    from pgx.report import PAPERS

    if paper not in PAPERS:
        raise InputError(f"paper size {paper!r} is not known; use one of {', '.join(PAPERS)}")
    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    verify_run(results_dir, ("calls", "recommendations", "provenance"))
    clean_stale_temporaries(make_folder(reports_dir.parent))
    calls = read_table(results_dir / "calls.parquet")
    recs = read_table(results_dir / "recommendations.parquet")
    prov = read_table(results_dir / "provenance.parquet")
    provenance = dict(zip(prov["key"], prov["value"]))
    batch = provenance.get("batch", results_dir.name)
    recs_by_sample = dict(tuple(recs.groupby("sample_id", sort=False)))
    empty = recs.iloc[0:0]
    by_sample = list(calls.groupby("sample_id", sort=False))
    names = report_file_names(sample_id for sample_id, _ in by_sample)
    with temporary_folder(reports_dir) as staging:
        jobs = [
            (sample_id, sample_calls, recs_by_sample.get(sample_id, empty), str(staging / names[sample_id]))
            for sample_id, sample_calls in by_sample
        ]
        _render_in_pool(jobs, provenance, batch, workers, paper=paper, appendix=appendix)
        with writing(staging):
            write_file_index(names, staging / INDEX_NAME)
        replace_folder(staging, reports_dir)
    return [reports_dir / names[sample_id] for sample_id, _ in by_sample]


def _render_in_pool(jobs: list[tuple], provenance: dict[str, str], batch: str, workers: int | None, *,
                    paper: str = "A4", appendix: bool = True) -> None:  # fmt: skip
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from pgx.processes import die_with_parent
    from pgx.report import render_reports

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        render_reports(jobs, provenance, batch, paper=paper, appendix=appendix)
        return
    # small chunks keep the workers evenly busy; each chunk pickles only its own rows
    size = max(1, min(64, len(jobs) // (workers * 8)))
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    # fork where there is one: forkserver and spawn re-run the caller's main module, which
    # breaks callers without a __main__ guard (Snakemake's script rules, plain scripts)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(render_reports, chunk, provenance, batch, paper=paper, appendix=appendix) for chunk in chunks]
        for future in futures:
            future.result()  # re-raises a worker's error here


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
    from pgx.annotate import write_annotated_vcf
    from pgx.vcf import concat_matrices

    kb = kb or load_kb()
    vcfs = [Path(v) for v in vcfs]
    loci = kb.loci(list(genes) if genes else kb.genes)
    build = resolve_build(vcfs, build, loci)
    chunks = list(_genotype_chunks(vcfs, loci, assume_reference=assume_reference, chunk_size=DEFAULT_CHUNK_SIZE, build=build))
    return write_annotated_vcf(concat_matrices(chunks, loci), kb, out)


# --- input checks of a batch (the workflow's first rule and `pgx batch`) -------------------

#: an unindexed file larger than this gets a note: pgx has to read all of it
UNINDEXED_NOTE_BYTES = 16 << 20


def check_batch(
    vcfs: Sequence[Path | str],
    out: Path | str,
    *,
    assume_reference: bool = False,
    kb: KnowledgeBase | None = None,
    genes: Sequence[str] | None = None,
    build: str = "auto",
    batch: str | None = None,
) -> list[str]:
    """Check every VCF of a batch before anything is called; return every problem found.

    Each file is read at the KB positions on its own, so one bad file does not hide the
    problems of the others: readable (exists, permissions, VCF header, GT, not truncated,
    well-formed records), genome build (headers agree; REF bases agree with the KB, see
    :func:`pgx.vcf.read_genotypes`), sample IDs (safe as file names, unique in the file).
    Across files, a sample may appear in several files only when the files split the
    genome: the same sample with genotypes for the same gene in two files is a problem,
    even when they agree, because pgx cannot tell one person's data given twice from two
    people who were given the same ID (two labs' ``SAMPLE1``). (``pgx run`` itself merges
    agreeing genotypes; this gate is stricter on purpose.)

    Each problem is one line that names the file and says what to do. Notes (an
    unindexed large file, positions missing in every sample, REF disagreements too few to
    mean another build) do not stop a run. The report written to ``out`` lists the files,
    problems, notes and, per gene, how many genotypes are missing (as the run will see
    them, i.e. after ``assume_reference``). Memory is bounded: samples are read in chunks.
    """
    from pgx.outputs import atomic_path

    kb = kb or load_kb()
    vcfs = [Path(v) for v in vcfs]
    genes = list(genes) if genes else kb.genes
    loci = kb.loci(genes)
    problems: list[str] = []
    notes: list[str] = []
    if not vcfs:
        problems.append("no VCF files were given; name the batch's .vcf/.vcf.gz files or their directory")
    seen_paths: dict[Path, Path] = {}
    for v in vcfs:
        key = v.resolve()
        if key in seen_paths:
            problems.append(f"{v}: listed twice (also as {seen_paths[key]}); give every file once")
        seen_paths.setdefault(key, v)
    unique = list(dict.fromkeys(seen_paths.values()))

    headers = {v: _header_build_or_none(v) for v in unique}
    if build == "auto":
        named = sorted({b for b in headers.values() if b})
        if len(named) > 1:
            listing = "; ".join(f"{v}: {b or 'not stated'}" for v, b in headers.items())
            problems.append(
                f"the files are on different genome builds ({listing}); put the files of each build in a "
                "separate batch (or lift them over to GRCh38)"
            )
            batch_build, build_reason = GRCH38, "the files disagree; see the problem"
        else:
            batch_build, build_reason = _choose_build_or_default(unique, loci)
    else:
        batch_build, build_reason = choose_build(unique, build)
        for v, b in headers.items():
            if b and b != batch_build:
                notes.append(
                    f"{v}: the header describes {b}, but the batch is read as {batch_build} (--build); "
                    "the REF check against the knowledge base decides"
                )

    scan = _BatchScan(loci_on_build(loci, batch_build)[0])
    files: list[tuple[str, str]] = []
    for v in unique:
        file_build = headers[v] if build == "auto" and headers[v] else batch_build
        file_loci = scan.loci if file_build == batch_build else loci_on_build(loci, file_build)[0]
        files.append((str(v), f"{_describe_format(v)}; genome build {headers[v] or 'not stated in the header'}"))
        problems.extend(_check_file(scan, v, file_loci, counted=file_build == batch_build, build=file_build))
        notes.extend(_index_notes(v))
    problems.extend(scan.duplicate_problems())
    problems = list(dict.fromkeys(problems))
    notes.extend(scan.warnings)
    table = scan.missing_table(assume_reference)
    notes.extend(_coverage_notes(table, scan.uncovered_genes(), scan.n_samples, assume_reference))

    lines = [f"# batch\t{batch}"] if batch is not None else []
    lines += [
        f"# result\t{'ok' if not problems else f'{len(problems)} problem(s); nothing can be called until they are fixed'}",
        f"# kb_version\t{kb.version}",
        f"# genome_build\t{batch_build}",
        f"# genome_build_reason\t{_one_line(build_reason)}",
        f"# assume_reference\t{str(assume_reference).lower()}",
        *(f"# file\t{name}\t{what}" for name, what in files),
        f"# samples\t{scan.n_samples}",
        *(f"# problem\t{p}" for p in problems),
        *(f"# note\t{_one_line(n)}" for n in dict.fromkeys(notes)),
        "gene\tpositions\tsamples_with_missing\tmissing_genotypes",
        *(f"{g}\t{r.positions}\t{r.samples_with_missing}\t{r.missing_genotypes}" for g, r in table.iterrows()),
    ]
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return problems


class _BatchScan:
    """What check_batch keeps per sample while it reads the files one by one.

    Per sample (rows grow as samples appear), bit-packed over the KB positions: which
    have a genotype in some file of the sample, which have a record in some file of the
    sample; per gene, whether some file of the sample covers it (has a record in or near
    it, :data:`pgx.vcf.GENE_REGION_MARGIN`) and the first file that gave the sample a
    genotype there (to name both files of a duplicate). With these the missing genotypes
    of the whole batch are counted as the run will see them, without the union in memory.
    """

    def __init__(self, loci: pd.DataFrame):
        import numpy as np

        self.loci = loci
        self.genes = sorted(loci["gene"].unique())
        gene = loci["gene"].to_numpy()
        self.gene_cols = [np.flatnonzero(gene == g) for g in self.genes]
        self.gene_of_col = np.zeros(len(loci), dtype=np.int64)
        for g, cols in enumerate(self.gene_cols):
            self.gene_of_col[cols] = g
        self.files: list[Path] = []
        self.row: dict[str, int] = {}
        n_bytes = (len(loci) + 7) // 8
        self.genotyped = np.zeros((0, n_bytes), dtype=np.uint8)
        self.recorded = np.zeros((0, n_bytes), dtype=np.uint8)
        self.gene_covered = np.zeros((0, len(self.genes)), dtype=bool)
        self.first_file = np.zeros((0, len(self.genes)), dtype=np.int32)
        self.duplicates: dict[tuple[int, int], dict[str, set[str]]] = {}
        self.warnings: list[str] = []

    @property
    def n_samples(self) -> int:
        return len(self.row)

    def read_file(
        self, path: Path, loci: pd.DataFrame, *, counted: bool, samples: list[str] | None = None, build: str | None = None
    ) -> None:
        """Read one file (only ``samples`` if given) in sample chunks, raising the reader's
        PgxError; with ``counted``, add its samples to the batch's tallies (a file on
        another genome build than the batch is only checked).

        The file is read with ``assume_reference`` whatever the batch uses: the positions
        the reader would fill tell which genes the file covers.
        """
        from pgx.vcf import iter_genotype_chunks

        if path not in self.files:
            self.files.append(path)
        k = self.files.index(path)
        chunks = iter_genotype_chunks(
            [path], loci, chunk_size=DEFAULT_CHUNK_SIZE, samples=samples, assume_reference=True, build=build
        )
        for gm in chunks:
            self.warnings.extend(gm.warnings)
            if counted:
                self._add(k, gm.samples, gm.status)

    def _add(self, k: int, samples: list[str], status) -> None:
        import numpy as np

        from pgx.genotypes import STATUS_ASSUMED_REFERENCE, STATUS_CALLED, STATUS_PARTIAL

        new = [s for s in samples if s not in self.row]
        if new:
            base = len(self.row)
            self.row.update((s, base + i) for i, s in enumerate(new))
            if len(self.row) > len(self.genotyped):  # grow by doubling: copies stay linear overall
                rows_needed = max(len(self.row), 2 * len(self.genotyped))
                self.genotyped = _grown(self.genotyped, rows_needed, 0)
                self.recorded = _grown(self.recorded, rows_needed, 0)
                self.gene_covered = _grown(self.gene_covered, rows_needed, False)
                self.first_file = _grown(self.first_file, rows_needed, -1)
        if not self.genes:
            return
        rows = np.array([self.row[s] for s in samples], dtype=np.int64)
        genotyped = (status == STATUS_CALLED) | (status == STATUS_PARTIAL)
        assumed = (status == STATUS_ASSUMED_REFERENCE).any(axis=0)  # the same for every sample of a file
        # a position has a record when some sample has a genotype there, or when the file
        # covers the gene and the reader did not have to fill it (a record of ./. only)
        has_record = genotyped.any(axis=0)
        covers = np.array([(assumed[c] | has_record[c]).any() for c in self.gene_cols])
        has_record |= covers[self.gene_of_col] & ~assumed
        self.genotyped[rows] |= np.packbits(genotyped, axis=1)
        self.recorded[rows] |= np.packbits(np.broadcast_to(has_record, genotyped.shape), axis=1)
        self.gene_covered[rows] |= covers
        has_gene = np.stack([genotyped[:, cols].any(axis=1) for cols in self.gene_cols], axis=1)
        first = self.first_file[rows]
        clash = has_gene & (first >= 0)
        for r, g in zip(*np.nonzero(clash)):
            entry = self.duplicates.setdefault((int(first[r, g]), k), {})
            entry.setdefault(samples[r], set()).add(self.genes[g])
        first[has_gene & (first < 0)] = k
        self.first_file[rows] = first

    def duplicate_problems(self) -> list[str]:
        out = []
        for (a, b), who in sorted(self.duplicates.items()):
            names = sorted(who)
            genes = sorted(set().union(*who.values()))
            shown = ", ".join(repr(s) for s in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            out.append(
                f"{self.files[b]}: sample(s) {shown} also in {self.files[a]}, with genotypes for the same "
                f"gene(s) ({', '.join(genes)}) in both files. pgx cannot tell one person's data given twice "
                "from two people given the same ID: if they are different people, give them distinct IDs "
                "(bcftools reheader -s new_names.txt); if it is the same data twice, keep only one of the files"
            )
        return out

    def uncovered_genes(self) -> list[str]:
        """Genes no file covers (no record in or near them): they cannot be called."""
        covered = self.gene_covered[: self.n_samples].any(axis=0)
        return [g for g, c in zip(self.genes, covered) if not c]

    def missing_table(self, assume_reference: bool) -> pd.DataFrame:
        """Per gene: KB positions, samples with a missing genotype, missing genotypes."""
        import numpy as np

        n, n_loci = self.n_samples, len(self.loci)
        with_missing = np.zeros(len(self.genes), dtype=np.int64)
        n_missing = np.zeros(len(self.genes), dtype=np.int64)
        for start in range(0, n, DEFAULT_CHUNK_SIZE):  # unpack a chunk of samples at a time
            sl = slice(start, min(start + DEFAULT_CHUNK_SIZE, n))
            missing = ~np.unpackbits(self.genotyped[sl], axis=1, count=n_loci).astype(bool)
            if assume_reference:  # the reader fills a position no file has a record at, in a covered gene
                recorded = np.unpackbits(self.recorded[sl], axis=1, count=n_loci).astype(bool)
                missing &= recorded | ~self.gene_covered[sl][:, self.gene_of_col]
            for g, cols in enumerate(self.gene_cols):
                m = missing[:, cols]
                with_missing[g] += int(m.any(axis=1).sum())
                n_missing[g] += int(m.sum())
        rows = zip(self.genes, (len(c) for c in self.gene_cols), with_missing.tolist(), n_missing.tolist())
        return pd.DataFrame(
            list(rows), columns=["gene", "positions", "samples_with_missing", "missing_genotypes"]
        ).set_index("gene")


def _grown(arr, rows: int, fill: int):
    """``arr`` with ``rows`` rows, the new ones set to ``fill``."""
    import numpy as np

    out = np.full((rows, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def _coverage_notes(table: pd.DataFrame, uncovered: list[str], n_samples: int, assume_reference: bool) -> list[str]:
    """Genes the VCFs do not cover at all, and genes every sample misses positions of."""
    from pgx.vcf import GENE_REGION_MARGIN

    if not n_samples:
        return []
    notes = []
    if uncovered:
        notes.append(
            f"no file has any record in or near (within {GENE_REGION_MARGIN // 1000} kb of its positions) "
            f"{', '.join(uncovered)}: these genes will be reported as not called"
        )
    partial = [g for g, r in table.iterrows() if g not in uncovered and r["samples_with_missing"] == n_samples]
    if partial and not assume_reference:
        notes.append(
            f"every sample misses some knowledge-base positions of {', '.join(partial)}: if the VCFs list only "
            "variant sites (most lab VCFs do), run with --assume-reference (workflow: assume_reference: true)"
        )
    return notes


def _check_file(scan: _BatchScan, path: Path, loci: pd.DataFrame, *, counted: bool, build: str | None = None) -> list[str]:
    """The problems of one file (none: its samples are now in ``scan``).

    The reader stops at a file's first problem; to report them all, the sample IDs of a
    file that failed are checked from its header too, and a file whose only fault is some
    unsafe sample IDs is read again for its other samples (format, build, duplicates).
    """
    from pgx.errors import PgxError, SampleError
    from pgx.sample_ids import MAX_SAMPLE_ID_CHARS, describe_unusable, shown, unusable_sample_ids

    try:
        scan.read_file(path, loci, counted=counted, build=build)
        return []
    except PgxError as exc:
        first = exc
    except (OSError, EOFError) as exc:
        return [f"{path}: cannot be read ({exc}); check that the file is there, complete and readable"]
    problems = [_one_line(first)]
    samples = header_sample_ids(path)
    if samples is None:
        return problems
    seen: set[str] = set()
    dups = sorted({s for s in samples if s in seen or seen.add(s)})
    bad = unusable_sample_ids(samples)
    unsafe = [s for s, _ in bad]
    reader_said = ("dups" if dups else "unsafe") if isinstance(first, SampleError) else None
    if dups and reader_said != "dups":
        problems.append(
            f"{path}: sample ID(s) {', '.join(map(shown, dups[:5]))} appear more than once in the #CHROM line; "
            "give every sample a unique ID (e.g. bcftools reheader -s new_names.txt)"
        )
    if unsafe and reader_said != "unsafe":
        problems.append(
            f"{path}: sample ID(s) that cannot be used: {describe_unusable(bad)}. A sample ID may be any printable "
            f"text (spaces and quotes too) of at most {MAX_SAMPLE_ID_CHARS} characters; rename these, e.g. "
            "bcftools reheader -s new_names.txt"
        )
    if reader_said != "unsafe":
        return problems
    try:  # the file's only fault so far is some sample IDs: check the rest with the others
        scan.read_file(path, loci, counted=counted, samples=[s for s in samples if s not in set(unsafe)], build=build)
    except PgxError as exc:
        problems.append(_one_line(exc))
    except (OSError, EOFError) as exc:
        problems.append(f"{path}: cannot be read ({exc}); check that the file is there, complete and readable")
    return problems


def _choose_build_or_default(vcfs: list[Path], loci: pd.DataFrame) -> tuple[str, str]:
    """:func:`choose_build` (auto) over the files that can be read (the others' checks say
    why they cannot); GRCh38 when none can."""
    import zlib

    from pgx.errors import PgxError

    readable = []
    for v in vcfs:
        try:
            header_evidence(v)
            readable.append(v)
        except (PgxError, OSError, EOFError, zlib.error, UnicodeDecodeError):
            pass
    if not readable:
        return GRCH38, "GRCh38, the knowledge base's build, was assumed (no file could be read)"
    try:
        return choose_build(readable, "auto", loci)
    except (PgxError, OSError, EOFError, zlib.error, UnicodeDecodeError):
        return GRCH38, "GRCh38, the knowledge base's build, was assumed (a file could not be read to the end)"


def _header_build_or_none(path: Path) -> str | None:
    """The build a file's header names, or None (also when the header cannot be read:
    the file check then says why)."""
    import zlib

    from pgx.errors import PgxError

    try:
        return header_build(path)
    except (PgxError, OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None


def _compression(path: Path) -> str:
    """bgzip | gzip | plain, from the first bytes (BGZF has a 'BC' extra subfield)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    return "bgzip" if len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC" else "gzip"


def _index_of(path: Path) -> Path | None:
    for suffix in (".tbi", ".csi"):
        idx = Path(f"{path}{suffix}")
        if idx.exists():
            return idx
    return None


def _describe_format(path: Path) -> str:
    try:
        kind = _compression(path)
    except OSError:
        return "unreadable"
    idx = _index_of(path)
    if kind == "bgzip":
        return f"bgzip, indexed ({idx.name})" if idx else "bgzip, not indexed"
    return "gzip (not bgzip, so it cannot be indexed)" if kind == "gzip" else "plain text (not compressed)"


def _index_notes(path: Path) -> list[str]:
    """A note when a large file has to be read whole (no index, or not indexable)."""
    try:
        size, kind = path.stat().st_size, _compression(path)
    except OSError:
        return []
    if size < UNINDEXED_NOTE_BYTES or (kind == "bgzip" and _index_of(path)):
        return []
    how = {
        "bgzip": f"index it (tabix -p vcf {path})",
        "gzip": f"re-compress it with bgzip and index it (zcat {path} | bgzip > new.vcf.gz; tabix -p vcf new.vcf.gz)",
        "plain": f"compress and index it (bgzip {path}; tabix -p vcf {path}.gz)",
    }[kind]
    return [f"{path}: not indexed, so pgx reads the whole file ({size >> 20} MB); to read only the pharmacogene positions, {how}"]


def _one_line(message: object) -> str:
    return " ".join(str(message).split())
