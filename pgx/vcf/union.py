"""Several files as one cohort: the union of their samples and loci, read chunk by chunk
of samples (:func:`iter_genotype_chunks`, :func:`read_genotypes`), with the extracted
copies kept where nothing outlives the read (see :mod:`pgx.vcf`)."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pgx.sample_ids import shown
from pgx.errors import InputError, SampleError, VcfError
from pgx.genotypes import (
    HAPLOID,
    MISSING,
    NO_FILE,
    STATUS_ASSUMED_REFERENCE,
    STATUS_CALLED,
    STATUS_MISSING,
    STATUS_PARTIAL,
    GenotypeMatrix,
    ReadFinding,
    merge_findings,
    renumber_origin,
)
from pgx.vcf.records import listing
from pgx.vcf.kb_index import KbIndex, loci_frame
from pgx.vcf.inspection import VcfFile, check_sample_ids, inspect_file
from pgx.vcf.extract import Extractor
from pgx.vcf.decode import DecodedFile, FilePart, NovelAlleles, decode_file


log = logging.getLogger(__name__)


def read_genotypes(
    paths: Sequence[Path | str] | Path | str,
    loci: pd.DataFrame,
    *,
    assume_reference: bool = False,
    samples: Sequence[str] | None = None,
    chunk_size: int | None = None,
    build: str | None = None,
) -> GenotypeMatrix:
    """Genotypes of every sample of ``paths`` at every KB locus of ``loci``.

    Args:
        paths: one or more VCFs (plain, gzip or bgzip; indexed or not) forming one cohort.
        loci: KB loci table (``pgx.schema.KB_TABLES["loci"]``: chrom, pos, ref, alts, ...);
            the matrix has one column per row, in this order.
        assume_reference: fill positions absent from every file with the reference allele
            (status ``assumed_reference``) instead of MISSING.
        samples: read only these samples (every one must be in some file).
        chunk_size: build the matrices this many samples at a time (the result is the
            same). Use :func:`iter_genotype_chunks` to also bound the result.
        build: the genome build the files are read as (None: each file's header decides);
            a GRCh37 file's ``chrM`` is hg19's non-rCRS sequence and is not read.

    Raises:
        VcfError, GenomeBuildError, SampleError: the input cannot be used; the message
            names the file, line or sample and what to do.
    """
    chunks = list(
        iter_genotype_chunks(paths, loci, chunk_size=chunk_size, assume_reference=assume_reference, samples=samples, build=build)
    )
    if len(chunks) == 1:
        return chunks[0]
    return concat_matrices(chunks, loci_frame(loci))  # no samples: an empty matrix


def iter_genotype_chunks(
    paths: Sequence[Path | str] | Path | str,
    loci: pd.DataFrame,
    *,
    chunk_size: int | None = None,
    assume_reference: bool = False,
    samples: Sequence[str] | None = None,
    build: str | None = None,
) -> Iterator[GenotypeMatrix]:
    """Like :func:`read_genotypes`, one :class:`GenotypeMatrix` per ``chunk_size`` samples.

    Every file is scanned once (its KB lines are extracted to a temporary file) and its
    records decoded once into compact codes; each chunk is then built from its own
    samples' codes, so the full matrices are bounded by the chunk. Sample
    order across chunks is the order of :func:`read_genotypes`; allele codes (including
    novel ones) are consistent across chunks. Nothing is yielded when there are no samples.
    """
    session = _Session(_as_path_list(paths), loci, samples, build)
    with _Scratch() as scratch:
        session.extract(scratch)
        order = session.sample_order
        if chunk_size is not None and chunk_size < 1:
            raise InputError(f"chunk_size must be a positive number of samples, not {chunk_size}")
        size = chunk_size or max(len(order), 1)
        for start in range(0, len(order), size):
            yield session.read_chunk(start, min(start + size, len(order)), assume_reference)


class _Session:
    """One read of a cohort: the files, their samples, the KB index and the novel codes."""

    def __init__(self, paths: list[Path | str], loci: pd.DataFrame, samples: Sequence[str] | None, build: str | None = None):
        self.build = build
        if not paths:
            raise InputError("no VCF file given")
        self.kbi = KbIndex.build(loci)
        self.novel = NovelAlleles(self.kbi)
        self.files = [inspect_file(p) for p in paths]
        shared: dict[str, str] = {}  # one string per sample ID, however many files name it
        for vf in self.files:
            vf.samples = [shared.setdefault(s, s) for s in vf.samples]
        wanted = None if samples is None else set(samples)
        if wanted is not None:
            everywhere = set().union(*(vf.samples for vf in self.files))
            absent = [s for s in samples if s not in everywhere]
            if absent:
                raise SampleError(
                    f"sample(s) {listing([shown(s) for s in absent])} are not in "
                    f"{', '.join(vf.name for vf in self.files)}; check the sample IDs (bcftools query -l lists them)"
                )
        for vf in self.files:
            check_sample_ids(vf, wanted)
        order: dict[str, None] = {}
        for vf in self.files:
            order.update((s, None) for s in vf.samples if wanted is None or s in wanted)
        self.sample_order = list(order)
        #: by extract(): each file's decoded genotypes, and the row of every sample of
        #: ``sample_order`` in them (-1: not in the file)
        self.decoded: list[tuple[DecodedFile, np.ndarray]] = []

    def extract(self, scratch: "_Scratch") -> None:
        """Extract every file's KB records, then decode them once for all samples read."""
        for vf in self.files:
            Extractor(vf, self.kbi, self.build).run(scratch.new_file())
            for w in vf.warnings:
                log.warning(w)
        if not any(vf.kb_contigs for vf in self.files):
            raise VcfError(_no_kb_chromosome(self.files, self.kbi))
        position = {s: i for i, s in enumerate(self.sample_order)}
        for vf in self.files:
            mine = [s for s in vf.samples if s in position]
            if mine:
                row_of = np.full(len(self.sample_order), -1, dtype=np.int64)
                row_of[[position[s] for s in mine]] = np.arange(len(mine))
                self.decoded.append((decode_file(vf, self.kbi, self.novel, mine), row_of))

    def read_chunk(self, start: int, stop: int, assume_reference: bool) -> GenotypeMatrix:
        """The matrix of ``sample_order[start:stop]``."""
        parts = []
        for decoded, row_of in self.decoded:
            rows = row_of[start:stop]
            if (rows >= 0).any():
                parts.append(decoded.part(np.sort(rows[rows >= 0]), self.kbi))  # in file order
        return self._union(self.sample_order[start:stop], parts, assume_reference)

    def _union(self, chunk: list[str], parts: list[FilePart], assume_reference: bool) -> GenotypeMatrix:
        n, n_loci = len(chunk), self.kbi.n
        row = {s: i for i, s in enumerate(chunk)}
        codes = np.full((n, n_loci, 2), MISSING, dtype=np.int16)
        phased = np.zeros((n, n_loci), dtype=bool)
        phase_set = np.zeros((n, n_loci), dtype=np.int64)
        status = np.full((n, n_loci), STATUS_MISSING, dtype=np.int8)
        origin = np.full((n, n_loci), NO_FILE, dtype=np.int32)  # which part filled the cell
        warnings = [w for vf in self.files for w in vf.warnings]
        findings: list[ReadFinding] = []
        for k, part in enumerate(parts):
            warnings.extend(part.warnings)
            for w in part.warnings:  # this chunk's record notes (file-level ones were logged by extract)
                log.warning(w)
            rows = np.array([row[s] for s in part.samples], dtype=np.int64)
            for f in part.findings:
                mask = np.zeros(n, dtype=bool)
                mask[rows] = f.samples
                findings.append(ReadFinding(f.gene, mask, f.text, f.no_call, f.reason))
            cols = part.cols
            if cols.size == 0:
                continue
            grid = np.ix_(rows, cols)
            had = origin[grid] >= 0
            if not had.any():  # the usual case: no other file has these samples here
                for dst, src in ((codes, part.codes), (phased, part.phased), (phase_set, part.phase_set), (status, part.status)):
                    dst[grid] = src
                origin[grid] = k
                continue
            self._check_agreement(parts, k, _HeldCells(had, codes[grid], status[grid], origin[grid]), rows, cols, chunk)
            # take the new genotype where the cell was empty or the new one is more complete
            take = ~had | (_completeness(part.status) > _completeness(status[grid]))
            for dst, src in ((codes, part.codes), (phased, part.phased), (phase_set, part.phase_set), (status, part.status)):
                block = dst[grid]
                block[take] = src[take]
                dst[grid] = block
            o = origin[grid]
            o[take] = k
            origin[grid] = o
        if assume_reference:
            self._assume_reference(codes, status, origin, self._coverage(parts, row))
        file_index = {id(vf): i for i, vf in enumerate(self.files)}
        return GenotypeMatrix(
            samples=list(chunk),
            loci=self.kbi.loci,
            codes=codes,
            phased=phased,
            phase_set=phase_set,
            status=status,
            novel_alleles=self.novel.table(),
            files=[vf.name for vf in self.files],
            origin=renumber_origin(origin, [file_index[id(p.vf)] for p in parts], len(self.files)),
            warnings=list(dict.fromkeys(warnings)),
            findings=merge_findings([(0, n, findings)], n),
        )

    def _check_agreement(self, parts: list[FilePart], k: int, held: _HeldCells, rows: np.ndarray, cols: np.ndarray,
                         chunk: list[str]) -> None:  # fmt: skip
        """Raise if part ``k`` gives a sample another called genotype than an earlier part did."""
        part = parts[k]
        had, old_codes, old_status, old_origin = held.had, held.codes, held.status, held.origin
        new_codes, new_status = part.codes, part.status
        both = had & (old_status == STATUS_CALLED) & (new_status == STATUS_CALLED)
        differ = both & (np.sort(old_codes, axis=2) != np.sort(new_codes, axis=2)).any(axis=2)
        if not differ.any():
            return
        r, c = np.argwhere(differ)[0]
        sample = chunk[rows[r]]
        other = parts[old_origin[r, c]].vf.name
        j = cols[c]
        locus = f"{self.kbi.loci['chrom'].iat[j]}:{self.kbi.loci['pos'].iat[j]}"
        n_pos = int(differ[r].sum())
        raise VcfError(
            f"sample {sample!r} is in both {other} and {part.vf.name} with different genotypes at {locus}"
            f"{f' (and {n_pos - 1} more KB positions)' if n_pos > 1 else ''}: "
            f"{self._gt_text(j, old_codes[r, c])} vs {self._gt_text(j, new_codes[r, c])}. If these are two "
            "people, give them distinct sample IDs (bcftools reheader -s); otherwise fix the file that is wrong"
        )

    def _gt_text(self, j: int, pair: np.ndarray) -> str:
        seqs = [self.kbi.refs[j], *self.kbi.alts[j]]
        table = self.novel.table()
        out = []
        for c in pair:
            c = int(c)
            if c == HAPLOID:
                continue
            out.append("." if c < 0 else seqs[c] if c < len(seqs) else table.get((j, c), "?"))
        return "/".join(out)

    def _coverage(self, parts: list[FilePart], row: dict[str, int]) -> np.ndarray:
        """bool [chunk samples, loci]: some file holding the sample covers the locus's gene."""
        cover = np.zeros((len(row), self.kbi.n), dtype=bool)
        gene_of = np.asarray(self.kbi.gene_of, dtype=object)
        for part in parts:
            if part.vf.covered_genes:
                rows = [row[s] for s in part.samples]
                cols = np.flatnonzero(np.isin(gene_of, sorted(part.vf.covered_genes)))
                cover[np.ix_(rows, cols)] = True
        return cover

    def _assume_reference(self, codes, status, origin, cover) -> None:
        absent = (origin < 0) & cover
        if not absent.any():
            return
        haploid_slot = codes[..., 1] == HAPLOID
        called = status == STATUS_CALLED
        canon = np.asarray(self.kbi.canon, dtype=object)
        second = np.zeros(codes.shape[:2], dtype=np.int16)
        for c in set(self.kbi.canon):
            cols = np.flatnonzero(canon == c)
            hap = (haploid_slot[:, cols] & called[:, cols]).any(axis=1)
            dip = (~haploid_slot[:, cols] & called[:, cols]).any(axis=1)
            second[np.ix_(np.flatnonzero(hap & ~dip), cols)] = HAPLOID
        codes[..., 0][absent] = 0
        codes[..., 1][absent] = second[absent]
        status[absent] = STATUS_ASSUMED_REFERENCE


@dataclass
class _HeldCells:
    """What a chunk holds, before a file's part is merged, in the cells the part covers."""

    had: np.ndarray  # bool [rows, cols]: an earlier part filled the cell
    codes: np.ndarray  # int16 [rows, cols, 2]
    status: np.ndarray  # int8 [rows, cols]
    origin: np.ndarray  # int32 [rows, cols]: the part that filled the cell


def _no_kb_chromosome(files: list[VcfFile], kbi: KbIndex) -> str:
    """The error for a batch none of whose files names a KB chromosome: nothing could be called."""
    seen = sorted({c for vf in files for c in vf.seen_contigs})
    return (
        f"{', '.join(vf.name for vf in files)}: no contig names a chromosome of the knowledge base "
        f"(contigs found: {listing(seen) or 'none'}; the knowledge base needs {', '.join(kbi.kb_names())}; "
        "'chr10', '10' and the RefSeq accessions of GRCh38 and GRCh37 such as NC_000010.11 are accepted), so "
        "nothing can be called. Rename the contigs (bcftools annotate --rename-chrs) or give the VCFs that "
        "hold the pharmacogenes"
    )


class _Scratch:
    """Where the extracted KB lines of the input files go while they are decoded: they are
    patient genotypes in plain text, so they must not outlive the read, even a killed one.

    On Linux each is a file of ``$TMPDIR`` that is unlinked the moment it is made and
    reached through ``/proc/self/fd/N``: it has no name, and the kernel frees it when the
    process ends, however it ends. Elsewhere the files live in a hidden folder named
    after this process (:func:`pgx.outputs.temporary_name`), removed at the end, and a
    folder a killed process left is removed by the next read."""

    def __init__(self):
        self._fds: list[int] = []
        self._folder = None
        self._anonymous = Path("/proc/self/fd").is_dir()

    def __enter__(self) -> "_Scratch":
        from pgx.outputs import clean_stale_temporaries, temporary_folder

        tmp = Path(tempfile.gettempdir())
        clean_stale_temporaries(tmp)
        if not self._anonymous:
            self._folder = temporary_folder(tmp / "pgx-vcf")
            self._dir = self._folder.__enter__()
        return self

    def new_file(self) -> Path:
        """A path to a new, empty file that only this read can reach."""
        if not self._anonymous:
            return self._dir / f"{len(self._fds) + len(list(self._dir.iterdir()))}.vcf"
        fd, name = tempfile.mkstemp(prefix="pgx-vcf-", suffix=".vcf")
        os.unlink(name)  # no name from now on: nothing to leave behind
        self._fds.append(fd)
        return Path(f"/proc/self/fd/{fd}")

    def __exit__(self, *exc) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        if self._folder is not None:
            self._folder.__exit__(*exc)


def _completeness(status: np.ndarray) -> np.ndarray:
    """called > partial > missing, for choosing between two files' genotypes."""
    return np.select([status == STATUS_CALLED, status == STATUS_PARTIAL], [2, 1], 0)


def concat_matrices(chunks: list[GenotypeMatrix], loci: pd.DataFrame) -> GenotypeMatrix:
    """One matrix from sample chunks over the same ``loci`` (an empty one for no chunks)."""
    if not chunks:
        shape = (0, len(loci))
        return GenotypeMatrix(
            samples=[],
            loci=loci,
            codes=np.full((*shape, 2), MISSING, dtype=np.int16),
            phased=np.zeros(shape, dtype=bool),
            phase_set=np.zeros(shape, dtype=np.int64),
            status=np.full(shape, STATUS_MISSING, dtype=np.int8),
        )
    novel: dict[tuple[int, int], str] = {}
    warnings: list[str] = []
    ranges, start = [], 0
    for gm in chunks:
        novel.update(gm.novel_alleles)
        warnings.extend(gm.warnings)
        ranges.append((start, start + len(gm.samples), gm.findings))
        start += len(gm.samples)
    files = list(dict.fromkeys(f for gm in chunks for f in gm.files))
    index = {f: i for i, f in enumerate(files)}
    return GenotypeMatrix(
        samples=[s for gm in chunks for s in gm.samples],
        loci=loci,
        codes=np.concatenate([gm.codes for gm in chunks]),
        phased=np.concatenate([gm.phased for gm in chunks]),
        phase_set=np.concatenate([gm.phase_set for gm in chunks]),
        status=np.concatenate([gm.status for gm in chunks]),
        novel_alleles=novel,
        files=files,
        origin=np.concatenate([renumber_origin(gm.origin, [index[f] for f in gm.files], len(files)) for gm in chunks]),
        warnings=list(dict.fromkeys(warnings)),
        findings=merge_findings(ranges, start),
    )


def _as_path_list(paths: Sequence[Path | str] | Path | str) -> list[Path | str]:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)
