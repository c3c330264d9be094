"""Chain the stages for one batch: VCF(s) -> Parquet tables -> PDFs.

This is what ``pgx run`` and the Snakemake scripts call. Samples are processed in
chunks so memory stays flat on large multi-sample VCFs: the genotype table is streamed
to Parquet chunk by chunk; calls and recommendations (a few rows per sample) are kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pgx import __version__
from pgx.builds import BUILDS, GRCH38, expand_to_kb, loci_on_build
from pgx.errors import ConfigError, InputError
from pgx.genotypes import genotype_frame
from pgx.kb import KnowledgeBase, load_kb
from pgx.match import call_diplotypes
from pgx.outputs import ChunkedTableWriter, read_table, write_table
from pgx.outside import apply_outside_calls, read_outside_calls
from pgx.phenotype import assign_phenotypes
from pgx.overlay import as_overlay, find_overlay, overlay_provenance
from pgx.recommend import recommendation_table
from pgx.schema import GENOTYPE_STATUSES
from pgx.vcf import header_build, iter_genotype_chunks

log = logging.getLogger(__name__)

TABLES = ("genotypes", "calls", "recommendations", "provenance")
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
        rows.append((f"input_sha256:{Path(path).name}", file_sha256(Path(path))))
    for key in sorted(options):
        rows.append((f"option:{key}", str(options[key]).lower() if isinstance(options[key], bool) else str(options[key])))
    return pd.DataFrame(rows, columns=["key", "value"])


def resolve_build(vcfs: Sequence[Path], build: str) -> str:
    """``build`` itself, or for ``auto`` the build every file's header agrees on
    (GRCh38 when no header says)."""
    if build != "auto":
        if build not in BUILDS:
            raise ConfigError(f"unknown genome build {build!r}; use auto, {' or '.join(BUILDS)}")
        return build
    found = {str(v): header_build(v) for v in vcfs}
    named = {b for b in found.values() if b}
    if len(named) > 1:
        listing = "; ".join(f"{v}: {b or 'unknown'}" for v, b in found.items())
        raise ConfigError(f"the input VCFs are on different genome builds ({listing}); run each build separately")
    return named.pop() if named else GRCH38


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
) -> dict[str, Path]:
    """Call every sample of ``vcfs`` and write the batch's tables (and PDFs) to ``out_dir``.

    ``combinations`` reports haplotypes only a combination of defined alleles explains
    (``[*6 + *18]``, phenotype Indeterminate) instead of a no-call (see ``pgx.match``).

    ``outside_calls`` is a TSV of results from other assays (see ``pgx.outside``) that
    fill or override genes, e.g. CYP2D6 copy number or HLA types. ``build`` is GRCh38,
    GRCh37 (read at the KB's GRCh37 positions) or auto (from the VCF headers).
    ``overlay`` is a CPIC export imported with ``pgx kb import-cpic`` whose verbatim
    texts are added to the recommendations: ``auto`` uses the imported one if any,
    None uses none.
    """
    kb = kb or load_kb()
    vcfs = [Path(v) for v in vcfs]
    for v in vcfs:
        if not v.exists():
            raise InputError(f"{v}: no such file; check the path in your command or sample sheet")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    genes = list(genes) if genes else kb.genes
    loci = kb.loci(genes)
    build = resolve_build(vcfs, build)
    paths = {name: out_dir / f"{name}.parquet" for name in TABLES}
    outside = read_outside_calls(outside_calls) if outside_calls else None
    overlay = find_overlay() if overlay == "auto" else (as_overlay(overlay) if overlay else None)
    samples: set[str] = set()
    # every table is streamed chunk by chunk: memory stays bounded by the sample chunk
    with (
        ChunkedTableWriter("genotypes", paths["genotypes"]) as gw,
        ChunkedTableWriter("calls", paths["calls"]) as cw,
        ChunkedTableWriter("recommendations", paths["recommendations"]) as rw,
    ):
        for gm in _genotype_chunks(vcfs, loci, assume_reference=assume_reference, chunk_size=chunk_size, build=build):
            gw.write(genotype_frame(gm, kb.version, GENOTYPE_STATUSES))
            calls = assign_phenotypes(call_diplotypes(gm, kb, genes, combinations=combinations), kb)
            if outside is not None:
                calls = apply_outside_calls(calls, outside, kb)
            cw.write(calls)
            rw.write(recommendation_table(calls, kb, overlay=overlay))
            samples.update(gm.samples)
    options = {
        "assume_reference": assume_reference,
        "find_combinations": combinations,
        "genes": ",".join(genes),
        "chunk_size": chunk_size,
    }
    inputs = list(vcfs)
    if outside is not None:
        options["outside_calls"] = str(outside_calls)
        inputs.append(Path(outside_calls))
        unmatched = sorted(set(outside["sample_id"]) - samples)
        if unmatched:
            options["outside_calls_unmatched_samples"] = ",".join(unmatched)
            log.warning("%s: outside calls for samples not in this batch were ignored: %s", outside_calls, ", ".join(unmatched))
    provenance = provenance_frame(kb, inputs, batch=batch, options=options, n_samples=len(samples), build=build)
    if overlay is not None:
        extra = pd.DataFrame(sorted(overlay_provenance(overlay).items()), columns=["key", "value"])
        provenance = pd.concat([provenance, extra], ignore_index=True)
    write_table(provenance, "provenance", paths["provenance"])
    if reports:
        paths["reports"] = out_dir / "reports"
        render_batch_reports(out_dir, paths["reports"])
    return paths


def render_batch_reports(results_dir: Path | str, reports_dir: Path | str, *, workers: int | None = None) -> list[Path]:
    """One PDF per sample of a batch, from the batch's Parquet tables.

    Samples are rendered by a pool of ``workers`` processes (default: one per CPU;
    ``workers=1`` renders in this process). Each task carries only its own samples' rows.
    Every PDF depends on its sample's rows alone, so the files are the same whatever the
    number of workers; the paths come back in the order of the calls table.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from pgx.report import render_reports

    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    calls = read_table(results_dir / "calls.parquet")
    recs = read_table(results_dir / "recommendations.parquet")
    prov = read_table(results_dir / "provenance.parquet")
    provenance = dict(zip(prov["key"], prov["value"]))
    batch = provenance.get("batch", results_dir.name)
    recs_by_sample = dict(tuple(recs.groupby("sample_id", sort=False)))
    empty = recs.iloc[0:0]
    jobs = [
        (sample_id, sample_calls, recs_by_sample.get(sample_id, empty), str(reports_dir / f"{sample_id}.pdf"))
        for sample_id, sample_calls in calls.groupby("sample_id", sort=False)
    ]
    written = [Path(job[3]) for job in jobs]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        render_reports(jobs, provenance, batch)
        return written
    # small chunks keep the workers evenly busy; each chunk pickles only its own rows
    size = max(1, min(64, len(jobs) // (workers * 8)))
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    # fork where there is one: forkserver and spawn re-run the caller's main module, which
    # breaks callers without a __main__ guard (Snakemake's script rules, plain scripts)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        for future in [pool.submit(render_reports, chunk, provenance, batch) for chunk in chunks]:
            future.result()  # re-raises a worker's error here
    return written


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
    build = resolve_build(vcfs, build)
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
        batch_build = named[0] if len(named) == 1 else GRCH38
    else:
        batch_build = resolve_build(unique, build)
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
    from pgx.vcf import SAFE_SAMPLE_ID

    try:
        scan.read_file(path, loci, counted=counted, build=build)
        return []
    except PgxError as exc:
        first = exc
    except (OSError, EOFError) as exc:
        return [f"{path}: cannot be read ({exc}); check that the file is there, complete and readable"]
    problems = [_one_line(first)]
    samples = _header_samples(path)
    if samples is None:
        return problems
    seen: set[str] = set()
    dups = sorted({s for s in samples if s in seen or seen.add(s)})
    unsafe = [s for s in samples if not SAFE_SAMPLE_ID.fullmatch(s)]
    reader_said = ("dups" if dups else "unsafe") if isinstance(first, SampleError) else None
    if dups and reader_said != "dups":
        problems.append(
            f"{path}: sample ID(s) {', '.join(map(repr, dups[:5]))} appear more than once in the #CHROM line; "
            "give every sample a unique ID (e.g. bcftools reheader -s new_names.txt)"
        )
    if unsafe and reader_said != "unsafe":
        problems.append(
            f"{path}: sample ID(s) {', '.join(map(repr, unsafe[:5]))}{' ...' if len(unsafe) > 5 else ''} are not "
            "safe as file names (allowed: letters, digits, '_', '.', '+', '-'; not starting with '-' or '.'; "
            "at most 200 characters); rename them, e.g. bcftools reheader -s new_names.txt"
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


def _header_samples(path: Path) -> list[str] | None:
    """The sample IDs of a VCF's #CHROM line (None when it cannot be read)."""
    import gzip
    import zlib

    try:
        opener = gzip.open if _compression(path) != "plain" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    return line.rstrip("\r\n").split("\t")[9:]
                if not line.startswith("#"):
                    return None
    except (OSError, EOFError, zlib.error):
        return None
    return None


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
