"""Input check of a batch, before anything is called: the workflow's first rule
(``check_inputs``) and the first step of ``pgx batch``.

:func:`check_batch` reads every VCF at the knowledge-base positions on its own, so one bad
file does not hide the others' problems, and writes a report of the files, their problems
and notes, and the missing genotypes per gene. :func:`choose_build` decides which genome
build a batch is read as (``pgx run`` uses it too). File sniffing (compression, index,
header samples) is the reader's (:mod:`pgx.vcf`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pgx.builds import BUILDS, GRCH37, GRCH38, loci_on_build
from pgx.errors import ConfigError, PgxError, SampleError
from pgx.genotypes import DEFAULT_CHUNK_SIZE, STATUS_ASSUMED_REFERENCE, STATUS_CALLED, STATUS_PARTIAL
from pgx.kb import KnowledgeBase, load_kb
from pgx.outputs import atomic_path
from pgx.sample_ids import MAX_SAMPLE_ID_CHARS, describe_unusable, shown, unusable_sample_ids
from pgx.vcf import (
    GENE_REGION_MARGIN,
    find_index,
    header_build,
    header_evidence,
    header_sample_ids,
    iter_genotype_chunks,
    kb_site_agreement,
    sniff_compression,
)


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
        return pd.DataFrame(list(rows), columns=["gene", "positions", "samples_with_missing", "missing_genotypes"]).set_index(
            "gene"
        )


def _grown(arr, rows: int, fill: int):
    """``arr`` with ``rows`` rows, the new ones set to ``fill``."""
    out = np.full((rows, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def _coverage_notes(table: pd.DataFrame, uncovered: list[str], n_samples: int, assume_reference: bool) -> list[str]:
    """Genes the VCFs do not cover at all, and genes every sample misses positions of."""
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
    try:
        return header_build(path)
    except (PgxError, OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None


def _describe_format(path: Path) -> str:
    try:
        kind = sniff_compression(path)
    except OSError:
        return "unreadable"
    idx = find_index(path)
    if kind == "bgzf":
        return f"bgzip, indexed ({idx.name})" if idx else "bgzip, not indexed"
    return "gzip (not bgzip, so it cannot be indexed)" if kind == "gzip" else "plain text (not compressed)"


def _index_notes(path: Path) -> list[str]:
    """A note when a large file has to be read whole (no index, or not indexable)."""
    try:
        size, kind = path.stat().st_size, sniff_compression(path)
    except OSError:
        return []
    if size < UNINDEXED_NOTE_BYTES or (kind == "bgzf" and find_index(path)):
        return []
    how = {
        "bgzf": f"index it (tabix -p vcf {path})",
        "gzip": f"re-compress it with bgzip and index it (zcat {path} | bgzip > new.vcf.gz; tabix -p vcf new.vcf.gz)",
        "plain": f"compress and index it (bgzip {path}; tabix -p vcf {path}.gz)",
    }[kind]
    return [f"{path}: not indexed, so pgx reads the whole file ({size >> 20} MB); to read only the pharmacogene positions, {how}"]


def _one_line(message: object) -> str:
    return " ".join(str(message).split())
