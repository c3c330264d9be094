"""Read genotypes at knowledge-base positions from VCF files.

This is the only module of ``pgx`` that touches cyvcf2 or pysam. It turns one or more
VCFs into a :class:`pgx.genotypes.GenotypeMatrix` (samples x KB loci x 2 allele codes).

How a file is read (two steps, so memory and work stay proportional to the KB, not to
the file):

1. **Extract.** The data lines that concern a KB position are copied, with the header,
   into a small temporary VCF. A bgzipped file with a fresh ``.tbi``/``.csi`` index is
   read with tabix region queries (KB positions closer than ``QUERY_MERGE_GAP`` share one
   query, so each BGZF block is decompressed once); any other file is streamed once and
   each line is kept or skipped on its CHROM/POS (and, for gVCF reference blocks, its
   INFO/END) before its genotypes are parsed. REF bases, symbolic alleles and contig
   names are checked here.
2. **Decode.** The small VCF is parsed once with cyvcf2, for every sample read.
   Genotypes come out as numpy arrays and are mapped to KB allele codes with one lookup
   table per record: no Python loop over samples. They are kept compact, only at the
   loci the file's records concern (3 bytes per sample and such locus, 7 with FORMAT/PS:
   90 MB for 100,000 samples over the ~300 KB records of whole-genome files that list
   variant sites, 360 MB if every KB position has a record), and each sample chunk
   (``iter_genotype_chunks``) is a slice of them, so no record is parsed twice.

Decisions (the rules a reader of the output can rely on):

* **Contigs.** ``chr10``/``10``, ``chrX``/``X`` and ``chrM``/``chrMT``/``M``/``MT`` name the
  same chromosome; the matrix uses the KB's names. A mitochondrial contig that is not rCRS
  (hg19's 16,571 bp Yoruba ``chrM``, see :func:`pgx.builds.mito_contig_refusal`) is not read,
  with a warning.
* **Which records.** A record concerns a KB locus when its POS equals the locus POS (for
  an indel, the padding base). Records that merely overlap a locus (a deletion starting
  upstream) are not read, except gVCF reference blocks (below) and other forms of a KB
  indel (next).
* **Indels written in another form.** A non-SNV record inside a KB indel's span
  (``loci.ref_context``; from up to ``normalize.MAX_LEFT_PADDING`` bases before it) that
  is that indel moved along its repeat, or written with extra shared bases, is read at the
  KB locus (:mod:`pgx.normalize` decides, from the known reference bases only). Its REF
  is 0, an equivalent ALT the KB code, an ALT normalising to the locus POS a novel code,
  another variant 0. An ALT that cannot be decided, or any allele of a record whose REF
  disagrees with a known base, is MISSING there, and the extract step warns naming the
  line. The same KB allele for one sample on an exact and a shifted record is one variant
  written twice: the first record's genotype is kept, with a warning.
* **Alleles, not lines.** Every allele of a record is rewritten in the KB locus's REF
  frame and looked up among the KB REF (code 0) and ALTs (codes 1..n, KB order). When the
  record REF is shorter than the KB REF (and a prefix of it) the rest of the KB REF is
  appended; when it is longer, its extra tail must end the allele and is trimmed (common
  suffix normalisation). So ``CCTTT>CT`` at the POS of KB ``CCTT>C`` *is* that deletion,
  while an SNV ``C>T`` at the same POS is a different variant: its allele ``TCTT`` is a
  novel allele. Alleles not in the KB get new codes (``len(alts)+1..``) with their
  sequence in ``novel_alleles``; one that cannot be written in the KB frame (the record
  REF is longer and the allele does not end with its tail, e.g. a deletion at the POS of a
  KB SNV) is stored as the record's ``REF>ALT``; ``*`` (an upstream deletion) is the novel
  allele ``*``. Symbolic alleles (``<DEL>``, ``<*>``, ``<NON_REF>``, breakends) are never
  compared: a sample carrying one gets MISSING for that allele, and the read warns.
* **Several records at one locus** (split multi-allelics, or an SNV and an indel at one
  POS): per haplotype slot, a non-reference code beats a reference code (``0|1`` on the
  ALT1 record plus ``0|0`` on the ALT2 record -> ``(0, 1)``), a missing allele beats a
  reference one (the other record's ALT cannot be ruled out), and two different
  non-reference codes conflict: the first record's is kept and the read warns. Unphased
  genotypes may swap slots to avoid a conflict. ``phased`` is the AND over the records,
  ``phase_set`` the first non-zero FORMAT/PS.
* **gVCF reference blocks.** A record whose ALTs are only ``<NON_REF>``/``<*>`` (or ``.``)
  with INFO/END covers POS..END: its genotype (``0/0``) counts for every KB position in
  that span (status called, code 0).
* **Genotypes.** ``./.`` -> MISSING, status missing; ``0/.`` -> status partial (the
  called allele kept). ``|`` -> phased. Haploid calls (chrX in males, chrM) put HAPLOID
  in the second slot and count as phased (one haplotype needs no phasing); a lone ``.``
  is MISSING in both slots (its ploidy is unknown). More than two alleles: MISSING, with
  a warning.
* **Absent positions** are MISSING / status missing. With ``assume_reference`` they are
  code 0 / status assumed_reference, unphased; a sample whose every call on that
  chromosome is haploid gets a haploid assumed genotype ``(0, HAPLOID)``, so hemizygous
  genes (G6PD in males) stay hemizygous.
* **Several files** form one cohort: the union of their samples and loci (files may split
  the genome, the samples, or both). One sample called at one KB position in two files is
  a :class:`VcfError` naming both files, unless the genotypes agree (same alleles; a
  missing or partial genotype never conflicts: the more complete one is kept).
  ``origin`` names the file each genotype was read from (``genotypes.source_file``): the
  one whose genotype was kept, so the first file unless a later one is more complete;
  none (-1) where no file had a record for the sample (missing or assumed reference).
* **Genome build.** A KB position whose record REF disagrees with the KB REF (over their
  common length; ``N`` matches anything) is a warning naming it; when at least two and
  more than ``BUILD_MISMATCH_FRACTION`` of the KB positions present disagree, the file is
  another build: :class:`GenomeBuildError`.
* **Sample IDs** may be any printable text (:mod:`pgx.sample_ids`); file names are derived
  from them safely, never taken as they are.
"""

from __future__ import annotations

import bisect
import gzip
import logging
import os
import re
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pgx import normalize
from pgx.builds import GRCH37, canonical_contig, describe_build, detect_build, mito_contig_refusal, refusal_warning
from pgx.sample_ids import MAX_SAMPLE_ID_CHARS, describe_unusable, shown, unusable_sample_ids
from pgx.tabix import index_problem
from pgx.errors import GenomeBuildError, InputError, KnowledgeBaseError, SampleError, VcfError
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

log = logging.getLogger(__name__)

#: the longest line (header or record) pgx reads: 64 MiB holds a record of about two
#: million samples with GT only, or 500,000 with GT:AD:DP:GQ:PL; a longer line is refused
#: before it is read into memory (a damaged or hostile file could have a line of GBs)
MAX_LINE_BYTES = 64 << 20

#: the largest header (every line up to and including #CHROM) pgx reads
MAX_HEADER_BYTES = 64 << 20

#: more than this fraction of the KB positions present with a disagreeing REF (and at
#: least two of them) means the VCF is on another genome build
BUILD_MISMATCH_FRACTION = 0.1

#: KB positions closer than this share one tabix query (the tabix linear-index window is
#: 16 kb, so a query reads from up to that far before its start anyway)
QUERY_MERGE_GAP = 16_384

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_REF_BLOCK_ALTS = {"<NON_REF>", "<*>"}
_END_RE = re.compile(r"(?:^|;)END=(\d+)")
_SVLEN_RE = re.compile(r"(?:^|;)SVLEN=(-?\d+)")
_MAX_LISTED = 5

#: With --assume-reference, a gene's absent KB positions are filled as reference only
#: when the file has some record within this many bases of the gene's KB positions: a
#: variant-only VCF from genome or exome sequencing has records near every gene it
#: covers, while a file that does not cover the gene (a panel, a per-chromosome split)
#: has none, and its positions stay missing instead of turning into a "normal" call.
GENE_REGION_MARGIN = 20_000


# --- public API ------------------------------------------------------------------------


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
        iter_genotype_chunks(
            paths, loci, chunk_size=chunk_size, assume_reference=assume_reference, samples=samples, build=build
        )
    )
    if len(chunks) == 1:
        return chunks[0]
    return concat_matrices(chunks, _loci_frame(loci))  # no samples: an empty matrix


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


def header_build(path: Path | str) -> str | None:
    """The genome build a VCF's header describes (``##contig`` lengths and RefSeq names,
    ``##reference``), or None when it does not say (see :func:`pgx.builds.detect_build`)."""
    return header_evidence(path)[0]


def header_sample_ids(path: Path | str) -> list[str] | None:
    """The sample IDs of a VCF's #CHROM line as written (duplicates and all), or None when
    the header cannot be read (bounded like every header read)."""
    try:
        p = Path(path)
        head = _read_header(p, _compression(p, str(path), check_end=False), str(path))
        cols = head.lines[-1].rstrip(b"\r\n").decode("utf-8", "replace").split("\t")
    except (VcfError, OSError, EOFError, zlib.error):
        return None
    return cols[9:]


def header_evidence(path: Path | str) -> tuple[str | None, str]:
    """(build, why): the genome build a VCF's header describes and the header lines that
    say so, or (None, "") when it does not say."""
    name = str(path)
    p = Path(path)
    head = _read_header(p, _compression(p, name), name)
    text = b"".join(head.lines)
    return describe_build(contig_lengths(text), _reference_line(text), head.contigs)


#: KB positions per build a file is queried at when telling its build from its records
SNIFF_POSITIONS = 64


def kb_site_agreement(
    path: Path | str, loci_by_build: dict[str, pd.DataFrame], *, enough: int | None = None
) -> dict[str, tuple[int, int]]:
    """Per build, (KB positions the file has a record at, how many of those records' REF
    agree with the KB), reading ``path`` at each build's positions of the KB loci.

    Tells the build of a file whose header does not (no ``##contig`` lengths, no
    ``##reference``): its records sit at one build's positions with that build's reference
    bases. An indexed file is queried at up to ``SNIFF_POSITIONS`` positions of each build,
    spread over the KB; any other file is streamed, until some build has ``enough``
    agreeing positions (to the end when None). Every build is looked at the same way, so
    the counts compare."""
    vf = _inspect(path)
    wanted: dict[str, dict[tuple[str, int], list[tuple[str, list[str]]]]] = {}
    for build, loci in loci_by_build.items():
        sites = wanted.setdefault(build, {})
        for chrom, pos, ref, alts in zip(loci["chrom"], loci["pos"], loci["ref"], loci["alts"]):
            sites.setdefault((canonical_contig(str(chrom)), int(pos)), []).append((str(ref).upper(), _split_alts(alts)))
    seen: dict[str, dict[tuple[str, int], bool]] = {b: {} for b in wanted}

    def look(chrom: str, pos: int, ref: str) -> None:
        key = (canonical_contig(chrom), pos)
        for build, sites in wanted.items():
            for kb_ref, kb_alts in sites.get(key, ()):
                agrees = _ref_agrees(ref.upper(), kb_ref, kb_alts, build == GRCH37)
                seen[build][key] = seen[build].get(key, False) or agrees

    def done() -> bool:
        return enough is not None and any(sum(hits.values()) >= enough for hits in seen.values())

    if vf.index:
        import pysam

        with pysam.TabixFile(str(vf.path), index=str(vf.index)) as tb:
            by_canon = {canonical_contig(c): c for c in tb.contigs}
            for sites in wanted.values():
                present = sorted(k for k in sites if k[0] in by_canon)
                step = max(1, len(present) // SNIFF_POSITIONS)
                for canon, pos in present[::step][:SNIFF_POSITIONS]:
                    for line in tb.fetch(by_canon[canon], pos - 1, pos):
                        f = line.split("\t", 4)
                        if int(f[1]) == pos:
                            look(f[0], pos, f[3])
    else:
        with _open_binary(vf.path, vf.kind) as fh:
            for _, line in _bounded_lines(fh, vf.name):
                if line[:1] != b"#":
                    f = line.split(b"\t", 4)
                    if len(f) > 4 and f[1].isdigit():
                        look(_text(f[0]), int(f[1]), _text(f[3]))
                        if done():
                            break
    return {b: (len(hits), sum(hits.values())) for b, hits in seen.items()}


def contig_lengths(header: bytes | str) -> dict[str, int]:
    """``##contig`` ID -> declared length, from a VCF header."""
    text = header.decode("utf-8", "replace") if isinstance(header, bytes) else header
    out = {}
    for line in text.splitlines():
        if line.startswith("##contig=<"):
            fields = dict(re.findall(r"(\w+)=([^,>]+)", line[len("##contig=<") :]))
            if "ID" in fields and fields.get("length", "").isdigit():
                out[fields["ID"]] = int(fields["length"])
    return out


def _reference_line(header: bytes) -> str | None:
    m = re.search(rb"^##reference=.*$", header, re.M)
    return m.group(0).decode("utf-8", "replace") if m else None


def _header_build(header: bytes, lengths: dict[str, int], contigs: Sequence[str] = ()) -> str | None:
    """The build a header states (contig lengths and RefSeq names, ``##reference``), or None."""
    return detect_build(lengths, _reference_line(header), contigs)


def bgzip_vcf(src: Path | str, dst: Path | str | None = None, *, index: str | None = "tbi") -> Path:
    """Compress a plain VCF with BGZF (``dst``, default ``src.gz``) and index it.

    ``index`` is ``"tbi"``, ``"csi"`` or None. For modules that write VCFs (simulate) and
    for tests: this module is the project's only user of pysam.
    """
    import pysam

    dst = Path(dst) if dst else Path(f"{src}.gz")
    pysam.tabix_compress(str(src), str(dst), force=True)
    if index:
        if index not in ("tbi", "csi"):
            raise ValueError(f"index must be 'tbi', 'csi' or None, not {index!r}")
        pysam.tabix_index(str(dst), preset="vcf", force=True, csi=index == "csi")
    return dst


# --- knowledge-base positions --------------------------------------------------------


@dataclass
class _KbIndex:
    """The KB loci arranged for lookups by (canonical contig, position)."""

    loci: pd.DataFrame
    canon: list[str]  # canonical contig of each locus
    refs: list[str]
    alts: list[list[str]]
    sites: dict[str, dict[int, list[int]]]  # canon contig -> pos -> locus indices
    sorted_pos: dict[str, list[int]]  # canon contig -> sorted distinct positions
    windows: dict[str, list[tuple[int, int, str]]]  # canon contig -> (start, end, gene) regions
    gene_of: list[str]  # gene of each locus ("" when the loci table has no gene column)
    kb_name: dict[str, str]  # canon contig -> the KB's name of it (chr10)
    shift: normalize.ShiftIndex  # KB indel spans and known reference bases (other forms of an indel)

    @classmethod
    def build(cls, loci: pd.DataFrame) -> "_KbIndex":
        loci = _loci_frame(loci)
        canon = [canonical_contig(str(c)) for c in loci["chrom"]]
        refs = [str(r).upper() for r in loci["ref"]]
        alts = [_split_alts(a) for a in loci["alts"]]
        sites: dict[str, dict[int, list[int]]] = {}
        for j, (c, p) in enumerate(zip(canon, loci["pos"].astype("int64"))):
            sites.setdefault(c, {}).setdefault(int(p), []).append(j)
        sorted_pos = {c: sorted(d) for c, d in sites.items()}
        gene_of = [str(g) for g in loci["gene"]] if "gene" in loci.columns else [""] * len(loci)
        windows: dict[str, list[tuple[int, int, str]]] = {}
        spans: dict[tuple[str, str], list[int]] = {}
        for c, p, g in zip(canon, loci["pos"].astype("int64"), gene_of):
            spans.setdefault((c, g), []).append(int(p))
        for (c, g), ps in sorted(spans.items()):
            windows.setdefault(c, []).append((max(1, min(ps) - GENE_REGION_MARGIN), max(ps) + GENE_REGION_MARGIN, g))
        contexts = [str(x) if isinstance(x, str) else "" for x in loci.get("ref_context", [""] * len(loci))]
        shift = normalize.ShiftIndex.build(canon, [int(p) for p in loci["pos"]], refs, alts, contexts)
        kb_name = {c: str(n) for c, n in zip(canon, loci["chrom"])}
        return cls(loci, canon, refs, alts, sites, sorted_pos, windows, gene_of, kb_name, shift)

    @property
    def n(self) -> int:
        return len(self.refs)

    def covered(self, canon: str, start: int, end: int) -> list[int]:
        """KB positions of ``canon`` within [start, end]."""
        ps = self.sorted_pos.get(canon, [])
        return ps[bisect.bisect_left(ps, start) : bisect.bisect_right(ps, end)]

    def kb_names(self) -> list[str]:
        return sorted(set(self.loci["chrom"].astype(str)))


def _loci_frame(loci: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("chrom", "pos", "ref", "alts") if c not in loci.columns]
    if missing:
        raise KnowledgeBaseError(f"the loci table lacks column(s) {', '.join(missing)}; pass a KB loci table")
    return loci.reset_index(drop=True)


def _split_alts(alts: object) -> list[str]:
    if alts is None or (not isinstance(alts, str) and pd.isna(alts)):
        return []
    return [a.strip().upper() for a in str(alts).split(",") if a.strip()]


# --- one input file: inspection -------------------------------------------------------


@dataclass
class _VcfFile:
    path: Path
    name: str  # as the user gave it, for messages and GenotypeMatrix.files
    kind: str  # plain | gzip | bgzf
    header: bytes  # every header line including #CHROM, newline-terminated
    samples: list[str]
    contigs: list[str]  # from ##contig lines
    index: Path | None  # a usable (fresh) tabix/CSI index
    warnings: list[str] = field(default_factory=list)
    extracted: Path | None = None
    covered_genes: set[str] = field(default_factory=set)  # genes with any record in their region
    kb_contigs: list[str] = field(default_factory=list)  # its contigs that name a KB chromosome
    read_build: str | None = None  # the build it is read as (None: unknown, GRCh38 rules)
    seen_contigs: list[str] = field(default_factory=list)  # every contig of its header and records


def _open_binary(path: Path, kind: str):
    return gzip.open(path, "rb") if kind in ("gzip", "bgzf") else open(path, "rb")


def sniff_compression(path: Path | str) -> str:
    """``plain``, ``gzip`` or ``bgzf``, from the first bytes (BGZF: a gzip member with a
    ``BC`` extra subfield). Raises OSError when the file cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    return "bgzf" if len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC" else "gzip"


def find_index(path: Path | str) -> Path | None:
    """The tabix (``.tbi``) or CSI (``.csi``) index beside ``path``, if one exists."""
    for suffix in (".tbi", ".csi"):
        idx = Path(f"{path}{suffix}")
        if idx.exists():
            return idx
    return None


def _compression(path: Path, name: str, check_end: bool = True) -> str:
    if not path.exists():
        raise VcfError(f"{name}: no such file; check the path")
    if path.is_dir():
        raise VcfError(f"{name}: is a directory, not a VCF file")
    kind = sniff_compression(path)
    if kind != "bgzf" or not check_end:
        return kind
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() < len(_BGZF_EOF):
            raise VcfError(f"{name}: the BGZF file is truncated (too short); re-download or re-compress it with bgzip")
        fh.seek(-len(_BGZF_EOF), 2)
        if fh.read() != _BGZF_EOF:
            raise VcfError(
                f"{name}: the BGZF file is truncated (its end-of-file block is missing: the copy was "
                "probably cut short); re-download it or re-compress the VCF with bgzip"
            )
    return "bgzf"


@dataclass
class _Header:
    lines: list[bytes]  # every header line including #CHROM, newline-terminated
    contigs: list[str]  # IDs of the ##contig lines
    gt_declared: bool
    first_record: bytes  # the first data line (b"" when there is none)


def _read_header(p: Path, kind: str, name: str) -> _Header:
    """The header of a VCF, read with bounded memory (``MAX_LINE_BYTES``, ``MAX_HEADER_BYTES``)."""
    header: list[bytes] = []
    contigs: list[str] = []
    gt_declared = False
    try:
        with _open_binary(p, kind) as fh:
            lines = _bounded_lines(fh, name)
            first = fh.readline(len(b"##fileformat=VCF"))
            if not first.startswith(b"##fileformat=VCF"):
                what = "a BCF file (convert it: bcftools view -Oz -o x.vcf.gz x.bcf)" if first.startswith(b"BCF") else "not a VCF"
                raise VcfError(
                    f"{name}: {what}: the first line must be '##fileformat=VCFv4.x'; "
                    "give a VCF (plain, .vcf.gz or .vcf.bgz)"
                )
            first += next(lines, (1, b""))[1]
            header.append(first)
            size = len(first)
            for _, line in lines:
                header.append(line)
                size += len(line)
                if size > MAX_HEADER_BYTES:
                    raise VcfError(
                        f"{name}: the header is larger than {MAX_HEADER_BYTES >> 20} MiB (line {len(header)}); pgx "
                        "refuses headers that large. Check the file; if it is right, remove the header lines it does "
                        "not need (bcftools annotate -x, bcftools reheader)"
                    )
                if line.startswith(b"##contig=<"):
                    m = re.search(rb"[<,]ID=([^,>]+)", line)
                    if m:
                        contigs.append(m.group(1).decode("utf-8", "replace"))
                elif line.startswith(b"##FORMAT=<") and re.search(rb"[<,]ID=GT[,>]", line):
                    gt_declared = True
                elif line.startswith(b"#CHROM"):
                    break
                elif not line.startswith(b"#"):
                    raise VcfError(f"{name}, line {len(header)}: data before the #CHROM header line; the header is incomplete")
            else:
                raise VcfError(f"{name}: no #CHROM header line; the file is not a complete VCF")
            first_record = next(lines, (0, b""))[1]
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise VcfError(
            f"{name}: the compressed file is truncated or corrupt in its header ({exc}); "
            "re-download it or re-compress the VCF with bgzip"
        ) from exc
    return _Header([h.rstrip(b"\r\n") + b"\n" for h in header], contigs, gt_declared, first_record)


def _inspect(path: Path | str) -> _VcfFile:
    """Check one VCF's header (format, samples, GT, contigs, index) without reading its data."""
    name = str(path)
    p = Path(path)
    kind = _compression(p, name)
    head = _read_header(p, kind, name)
    samples = _header_samples(head.lines[-1], name)
    _check_gt(name, head.gt_declared, head.first_record)
    vf = _VcfFile(p, name, kind, b"".join(head.lines), samples, head.contigs, None)
    vf.index = _fresh_index(vf)
    return vf


def _declare_contigs(header: bytes, names: list[str]) -> bytes:
    """``header`` with a ``##contig`` line for each of ``names`` it does not declare."""
    declared = set(re.findall(rb"^##contig=<(?:[^\n]*?[<,])?ID=([^,>\n]+)", header, re.M))
    extra = b"".join(b"##contig=<ID=%s>\n" % n.encode() for n in names if n.encode() not in declared)
    at = header.rfind(b"#CHROM")
    return header[:at] + extra + header[at:]


def _bounded_lines(fh, name: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a binary stream, from its current position; a line longer
    than ``MAX_LINE_BYTES`` is a :class:`VcfError`, raised before it is held in memory."""
    lineno = 0
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_LINE_BYTES:
            raise VcfError(_line_too_long(name, f"line {lineno}"))
        yield lineno, line


def _line_too_long(name: str, where: str) -> str:
    return (
        f"{name}, {where}: longer than {MAX_LINE_BYTES >> 20} MiB; pgx refuses lines that long (the file is "
        "damaged, or holds far more per-sample data than genotypes need). Keep only GT and PS "
        "(bcftools annotate -x ^FORMAT/GT,FORMAT/PS) or split the samples into several files (bcftools view -S)"
    )


def _header_samples(chrom_line: bytes, name: str) -> list[str]:
    try:
        cols = chrom_line.rstrip(b"\r\n").decode("utf-8").split("\t")
    except UnicodeDecodeError as exc:
        raise VcfError(f"{name}: the #CHROM line is not UTF-8 text ({exc}); fix the sample IDs") from exc
    if len(cols) < 10 or cols[8] != "FORMAT":
        raise VcfError(
            f"{name}: the VCF has no sample columns (a sites-only VCF); pgx needs per-sample genotypes (FORMAT/GT)"
        )
    samples = cols[9:]
    seen: set[str] = set()
    dups = sorted({s for s in samples if s in seen or seen.add(s)})
    if dups:
        raise SampleError(
            f"{name}: sample ID(s) {', '.join(map(shown, dups[:_MAX_LISTED]))} appear more than once in the #CHROM line; "
            "give every sample a unique ID (e.g. bcftools reheader -s new_names.txt)"
        )
    return samples


def _check_gt(name: str, gt_declared: bool, first_record: bytes) -> None:
    """A file without genotypes is refused: the header declares no GT and the first record
    has none. When the header declares GT, a record without it has missing genotypes
    (with a warning) and the rest of the file is read."""
    if gt_declared:
        return
    if not first_record.strip():
        raise VcfError(f"{name}: no GT field in FORMAT (the header declares none and there are no records)")
    cols = first_record.rstrip(b"\r\n").split(b"\t")
    fmt = cols[8].split(b":") if len(cols) > 8 else []
    if b"GT" not in fmt:
        shown = b":".join(fmt).decode("utf-8", "replace") or "absent"
        raise VcfError(
            f"{name}: no GT field in FORMAT (FORMAT is {shown}); pgx needs genotypes: "
            "re-export the VCF with FORMAT/GT"
        )


def _fresh_index(vf: _VcfFile) -> Path | None:
    idx = find_index(vf.path)
    if idx is not None:
        if vf.kind != "bgzf":
            vf.warnings.append(f"{vf.name}: index {idx.name} ignored: the VCF is not bgzip-compressed; streaming it")
            return None
        if idx.stat().st_mtime < vf.path.stat().st_mtime:
            vf.warnings.append(
                f"{vf.name}: index {idx.name} is older than the VCF, so it may not match; streaming the "
                "whole file instead (re-index with `tabix -p vcf` or `bcftools index`)"
            )
            return None
        problem = index_problem(vf.path, idx)
        if problem:
            raise VcfError(_wrong_index(vf, idx, problem))
        return idx
    return None


def _wrong_index(vf: _VcfFile, idx: Path, why: str) -> str:
    return (
        f"{vf.name}: its index {idx.name} does not belong to this file ({why}): it was probably copied from "
        f"another VCF. Re-index the file: tabix -f -p vcf {vf.name} (or bcftools index -f {vf.name})"
    )


def _check_sample_ids(vf: _VcfFile, wanted: set[str] | None) -> None:
    bad = unusable_sample_ids(s for s in vf.samples if wanted is None or s in wanted)
    if bad:
        raise SampleError(
            f"{vf.name}: sample ID(s) that cannot be used: {describe_unusable(bad)}. A sample ID may be any "
            "printable text (spaces and quotes too) of at most "
            f"{MAX_SAMPLE_ID_CHARS} characters; rename these, e.g. bcftools reheader -s new_names.txt"
        )


# --- step 1: extract the KB lines -------------------------------------------------------


class _Extractor:
    """Copies the header and the KB-relevant lines of one file to a small plain VCF."""

    def __init__(self, vf: _VcfFile, kbi: _KbIndex, build: str | None = None):
        self.vf, self.kbi = vf, kbi
        self.lengths = contig_lengths(vf.header)
        self.build = build or _header_build(vf.header, self.lengths, vf.contigs)
        vf.read_build = self.build
        self.contig_map: dict[str | bytes, str | None] = {}
        self.seen_contigs: set[str] = set(vf.contigs)
        self.present_sites: set[tuple[str, int]] = set()
        self.ref_checked: set[tuple[str, int]] = set()  # KB positions with a record starting there
        self.ref_mismatch: dict[tuple[str, int], tuple[str, str]] = {}
        self.symbolic: dict[str, list[str]] = {}
        self.filtered: dict[str, list[str]] = {}  # FILTER value -> KB records carrying it
        self.n_columns = 9 + len(vf.samples)
        self.pending_windows = {c: list(w) for c, w in kbi.windows.items()}  # regions not yet seen

    def run(self, out: Path) -> None:
        """Write the header and the KB-relevant records to ``out``.

        Each kept record's CHROM is rewritten to the KB's name of its chromosome, and the
        header declares those names: htslib never has to add a contig to the header while
        it parses, which crashes cyvcf2 when that record is also malformed (found by
        fuzzing: a segmentation fault, not an error)."""
        with open(out, "wb") as dst:
            dst.write(_declare_contigs(self.vf.header, sorted(set(self.kbi.kb_names()))))
            lines = self._fetch() if self.vf.index else self._stream()
            for where, line in lines:
                kept = self._keep(line, where)
                if kept is not None:
                    dst.write(kept)
        self.vf.extracted = out
        self._finish()

    # sources of lines: (where, line) with where = a line number or a region, for messages
    def _stream(self):
        lineno = 0
        last = b""
        try:
            with _open_binary(self.vf.path, self.vf.kind) as fh:
                for lineno, line in _bounded_lines(fh, self.vf.name):
                    if line[:1] != b"#":
                        last = line
                        yield lineno, line
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise VcfError(
                f"{self.vf.name}, line {lineno + 1}: the compressed file is truncated or corrupt ({exc}); "
                "re-download it or re-compress the VCF with bgzip"
            ) from exc
        n_cols = last.count(b"\t") + 1
        if last and not last.endswith(b"\n") and n_cols != self.n_columns:
            self._truncated_last_line(lineno, n_cols)

    def _truncated_last_line(self, lineno: int, n_cols: int) -> None:
        raise VcfError(
            f"{self.vf.name}, line {lineno}: the last line is cut short (no newline, {n_cols} of "
            f"{self.n_columns} columns); the file is truncated, copy it again"
        )

    def _fetch(self):
        import pysam

        try:
            tb = pysam.TabixFile(str(self.vf.path), index=str(self.vf.index))
        except (OSError, ValueError) as exc:
            raise VcfError(_wrong_index(self.vf, self.vf.index, f"htslib cannot open it: {exc}")) from None
        try:
            yield from self._fetch_lines(tb)
        except (OSError, ValueError) as exc:  # htslib: "iteration failed", "could not create iterator"
            raise VcfError(_wrong_index(self.vf, self.vf.index, f"reading through it failed: {exc}")) from None
        finally:
            tb.close()

    def _fetch_lines(self, tb):
        self.seen_contigs.update(tb.contigs)
        for contig in tb.contigs:
            canon = self._canon(contig)
            if canon is None:
                continue
            self._fetch_regions(tb, contig, canon)
            previous = None  # the region of the previous query
            wanted = sorted({*self.kbi.sorted_pos[canon], *(p for w in self.kbi.shift.regions(canon) for p in w)})
            for start, end in _clusters(wanted):
                for line in tb.fetch(contig, start - 1, end):
                    if len(line) > MAX_LINE_BYTES:
                        raise VcfError(_line_too_long(self.vf.name, f"a record in {contig}:{start}-{end}"))
                    # a record that overlaps the previous query's region was returned by it
                    if previous and _overlaps(line, *previous):
                        continue
                    yield f"{contig}:{start}-{end}", line
                previous = (start, end)

    def _canon(self, contig: str | bytes) -> str | None:
        """The canonical KB contig a file contig maps to, or None (cached)."""
        try:
            return self.contig_map[contig]
        except KeyError:
            text = contig.decode("utf-8", "replace") if isinstance(contig, bytes) else contig
            self.seen_contigs.add(text)
            canon = canonical_contig(text)
            result = canon if canon in self.kbi.sites else None
            refusal = mito_contig_refusal(text, self.lengths.get(text), self.build) if result == "MT" else None
            if refusal:
                self.vf.warnings.append(refusal_warning(self.vf.name, refusal))
                result = None
            self.contig_map[contig] = result
            return result

    def _keep(self, line: str | bytes, where: int | str) -> bytes | None:
        """The line (bytes, newline-terminated) if it concerns a KB position, else None."""
        sep = b"\t" if isinstance(line, bytes) else "\t"
        t1 = line.find(sep)
        t2 = line.find(sep, t1 + 1)
        if t1 < 0 or t2 < 0:
            self._malformed(where, "fewer than 8 columns")
        canon = self._canon(line[:t1])
        if canon is None:
            return None
        try:
            pos = int(line[t1 + 1 : t2])
        except ValueError:
            self._malformed(where, f"POS is not a number ({line[t1 + 1 : t2]!r})")
        pending = self.pending_windows.get(canon)
        if pending:
            self._note_region(canon, pending, pos)
        at_site = pos in self.kbi.sites[canon]
        near = self.kbi.shift.near(canon, pos)  # may be another form of a KB indel
        if not at_site and not near:  # only a reference block starting elsewhere can still concern the KB
            t3 = line.find(sep, t2 + 1)
            t4 = line.find(sep, t3 + 1)
            if t4 < 0 or _text(line[t4 + 1 : t4 + 2]) not in ("<", "."):
                return None
        fields = line.split(sep, 8)
        if len(fields) < 9:
            self._malformed(where, "fewer than 9 columns")
        ref, alt, info = (_text(f) for f in (fields[3], fields[4], fields[7]))
        if not ref:
            self._malformed(where, "REF is empty")
        alts = alt.split(",") if alt not in (".", "") else []
        block = _is_ref_block(alts)
        # the span a reference block covers, as cyvcf2's Variant.end computes it
        end = max(_info_end(info) or 0, pos + len(ref) - 1) if block else pos
        sv = not block and _has_sv_allele(alts)
        sv_over_kb = sv and bool(self.kbi.covered(canon, *sv_span(pos, ref, _info_end(info), _info_svlen(info))))
        shifted = near and not block and not sv and self._shifted(canon, pos, ref, alts, where, _text(line[:t1]))
        if not at_site and not shifted and not sv_over_kb and not (block and end > pos and self.kbi.covered(canon, pos, end)):
            return None
        data = line.encode() if isinstance(line, str) else line
        cut_short = isinstance(where, int) and not data.endswith(b"\n")  # a streamed line without newline
        data = data.rstrip(b"\r\n")
        n_cols = data.count(b"\t") + 1
        if n_cols != self.n_columns:
            if cut_short:
                self._truncated_last_line(where, n_cols)
            self._malformed(where, f"{n_cols} columns, but the header names {len(self.vf.samples)} samples")
        if at_site:
            self._check_site(canon, pos, ref.upper(), alts, block)
        flag = _text(fields[6])
        if flag not in _PASSING_FILTERS:
            self.filtered.setdefault(flag, []).append(self._label(canon, pos))
        if block:
            self.present_sites.update((canon, p) for p in self.kbi.covered(canon, pos, end))
        return self.kbi.kb_name[canon].encode() + data[data.index(b"\t") :] + b"\n"

    def _shifted(self, canon: str, pos: int, ref: str, alts: list[str], where: int | str, chrom: str) -> bool:
        """Does the record concern a KB indel written at another position? Warns (once per
        record) when it cannot be placed: its REF disagrees with the known reference, or
        the known bases do not decide whether it is the KB indel."""
        placement = self.kbi.shift.place(canon, pos, ref, alts)
        if placement is None:
            return False
        at = f"{self.vf.name}, {f'line {where}' if isinstance(where, int) else f'a record in {where}'}: {chrom}:{pos} {ref}>{','.join(alts)}"
        loci = _listing(sorted({self._label(canon, self.kbi.shift.pos[j]) for j in placement.loci}))
        if placement.conflict:
            self.vf.warnings.append(
                f"{at}: not matched to the KB indel at {loci}: {placement.conflict}. Check the genome build "
                "and the REF column; samples carrying it are missing there"
            )
        elif placement.unresolved:
            self.vf.warnings.append(
                f"{at}: ALT {','.join(placement.unresolved)} lies in the span of the KB indel at {loci}, but the "
                "known reference bases cannot tell whether it is that indel written at another position; it is "
                "not matched and samples carrying it are missing there. Left-align the file against GRCh38 "
                "(bcftools norm -f GRCh38.fa) and run again"
            )
        return True

    def _note_region(self, canon: str, pending: list[tuple[int, int, str]], pos: int) -> None:
        """Mark the genes whose region holds a record at ``pos`` as covered by the file."""
        for window in [w for w in pending if w[0] <= pos <= w[1]]:
            self.vf.covered_genes.add(window[2])
            pending.remove(window)

    def _fetch_regions(self, tb, contig: str, canon: str) -> None:
        """Indexed files: one tiny region query per gene tells whether the file covers it."""
        for start, end, gene in self.kbi.windows.get(canon, []):
            if gene not in self.vf.covered_genes and next(iter(tb.fetch(contig, start - 1, end)), None) is not None:
                self.vf.covered_genes.add(gene)

    def _check_site(self, canon: str, pos: int, ref: str, alts: list[str], block: bool) -> None:
        self.present_sites.add((canon, pos))
        self.ref_checked.add((canon, pos))
        for j in self.kbi.sites[canon][pos]:
            if not _ref_agrees(ref, self.kbi.refs[j], self.kbi.alts[j], self.build == GRCH37):
                self.ref_mismatch.setdefault((canon, pos), (ref, self.kbi.refs[j]))
        if not block:
            for a in alts:
                if _is_symbolic(a):
                    self.symbolic.setdefault(a, []).append(self._label(canon, pos))

    def _label(self, canon: str, pos: int) -> str:
        """``chr10:94761900``: a position in the KB's contig names (any position, KB or not)."""
        return f"{self.kbi.kb_name[canon]}:{pos}"

    def _malformed(self, where: int | str, why: str) -> None:
        at = f"line {where}" if isinstance(where, int) else f"a record in {where}"
        raise VcfError(f"{self.vf.name}, {at}: malformed VCF record ({why}); fix or re-export the file")

    def _finish(self) -> None:
        vf, kbi = self.vf, self.kbi
        vf.seen_contigs = sorted(self.seen_contigs)
        vf.kb_contigs = [c for c in vf.seen_contigs if canonical_contig(c) in kbi.sites]
        if not vf.kb_contigs:
            shown = ", ".join(sorted(self.seen_contigs)[:_MAX_LISTED]) or "none"
            vf.warnings.append(
                f"{vf.name}: no KB chromosome present: none of its contigs ({shown}) names a chromosome of "
                f"the knowledge base ({', '.join(kbi.kb_names())}; 'chr10' and '10' are both accepted), "
                "so every KB position is missing from it"
            )
        for allele, where in sorted(self.symbolic.items()):
            vf.warnings.append(
                f"{vf.name}: symbolic ALT {allele} ignored at {_listing(where)} "
                "(a sample carrying it has a missing allele there)"
            )
        for flag, where in sorted(self.filtered.items()):
            vf.warnings.append(
                f"{vf.name}: {len(where)} record(s) at KB positions failed the file's filters (FILTER {flag}): "
                f"{_listing(where)}. pgx reads only GT, so their genotypes are used; if they should not count, "
                "remove them first (bcftools view -f PASS,. in.vcf.gz)"
            )
        bad = self.ref_mismatch
        if not bad:
            return
        listed = _listing(
            [f"{self._label(c, p)} (VCF REF {r}, KB REF {k})" for (c, p), (r, k) in sorted(bad.items())]
        )
        n_present = len(self.ref_checked)
        if len(bad) >= 2 and len(bad) > BUILD_MISMATCH_FRACTION * n_present:
            raise GenomeBuildError(
                f"{vf.name}: the REF base disagrees with the knowledge base at {len(bad)} of {n_present} KB "
                f"positions present ({listed}); the file looks like another genome build (the KB is GRCh38). "
                "Lift it over to GRCh38 or give the GRCh38 VCF"
            )
        vf.warnings.append(f"{vf.name}: REF disagrees with the knowledge base at {listed}; check these records")


#: FILTER values of a record that passed (or was not filtered)
_PASSING_FILTERS = ("PASS", ".", "")


def _clusters(positions: list[int]) -> list[tuple[int, int]]:
    """Sorted positions grouped into (start, end) query regions."""
    out: list[list[int]] = []
    for p in positions:
        if out and p - out[-1][1] <= QUERY_MERGE_GAP:
            out[-1][1] = p
        else:
            out.append([p, p])
    return [(a, b) for a, b in out]


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _overlaps(line: str, start: int, end: int) -> bool:
    """Does a VCF record's span (POS .. END, or the end of REF) overlap [start, end]?"""
    fields = line.split("\t", 8)
    pos = int(fields[1])
    if pos > end:
        return False
    stop = pos + len(fields[3]) - 1
    if len(fields) > 7:
        stop = max(stop, _info_end(fields[7]) or 0)
    return stop >= start


def _info_end(info: str) -> int | None:
    m = _END_RE.search(info)
    return int(m.group(1)) if m else None


def _info_svlen(info: str) -> int | None:
    m = _SVLEN_RE.search(info)
    return int(m.group(1)) if m else None


def _is_symbolic(allele: str) -> bool:
    return allele.startswith("<") or "[" in allele or "]" in allele


def _is_ref_block(alts: list[str]) -> bool:
    return all(a in _REF_BLOCK_ALTS for a in alts)


def _ref_agrees(vcf_ref: str, kb_ref: str, kb_alts: list[str], grch37: bool) -> bool:
    """Does a record's REF fit the KB locus? GRCh38: it is the KB REF (over their common
    length). GRCh37: it may also be a KB ALT, because the KB REF is GRCh38's and at a few
    positions GRCh37's reference carries the other allele (CYP2C19 rs3758581)."""
    if _same_reference(vcf_ref, kb_ref):
        return True
    return grch37 and any(_same_reference(vcf_ref, a) for a in kb_alts if len(a) == len(kb_ref))


def _same_reference(vcf_ref: str, kb_ref: str) -> bool:
    """Do two REF strings starting at one POS agree over their common length (N = any)?"""
    return all(a == b or a == "N" or b == "N" for a, b in zip(vcf_ref, kb_ref))


def _listing(items: list[str]) -> str:
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more


# --- step 2: decode genotypes -----------------------------------------------------------


class _NovelAlleles:
    """Codes for alleles the KB does not list, shared by every file and chunk of a read."""

    def __init__(self, kbi: _KbIndex):
        self.kbi = kbi
        self.codes: dict[tuple[int, str], int] = {}
        self.next: dict[int, int] = {}

    def code(self, j: int, seq: str) -> int:
        key = (j, seq)
        if key not in self.codes:
            code = self.next.get(j, len(self.kbi.alts[j]) + 1)
            self.codes[key] = code
            self.next[j] = code + 1
        return self.codes[key]

    def table(self) -> dict[tuple[int, int], str]:
        return {(j, code): seq for (j, seq), code in self.codes.items()}


def _in_kb_frame(rec_ref: str, allele: str, kb_ref: str) -> str | None:
    """``allele`` of a record with REF ``rec_ref`` rewritten over the KB REF's span, or None."""
    if len(rec_ref) <= len(kb_ref):
        return allele + kb_ref[len(rec_ref) :]
    tail = rec_ref[len(kb_ref) :]
    if allele.endswith(tail) and len(allele) > len(tail):
        return allele[: len(allele) - len(tail)]
    return None


def _allele_codes(kbi: _KbIndex, novel: _NovelAlleles, j: int, rec_ref: str, rec_alts: list[str]) -> list[int]:
    """KB code of each allele of a record at locus ``j``'s POS (index = VCF allele index)."""
    kb_ref = kbi.refs[j]
    known = {seq: code for code, seq in enumerate([kb_ref, *kbi.alts[j]])}
    codes = []
    for allele in [rec_ref, *rec_alts]:
        allele = allele.upper()
        if _is_symbolic(allele):
            codes.append(MISSING)
        elif allele == "*":
            codes.append(novel.code(j, "*"))
        else:
            seq = _in_kb_frame(rec_ref, allele, kb_ref)
            if seq is None:
                codes.append(novel.code(j, f"{rec_ref}>{allele}"))
            else:
                codes.append(known[seq] if seq in known else novel.code(j, seq))
    return codes


@dataclass
class _FilePart:
    """One file's genotypes for one chunk of samples, before the union across files."""

    vf: _VcfFile
    samples: list[str]
    cols: np.ndarray  # int64 [P]: the KB loci a record of this file concerns, ascending
    codes: np.ndarray  # int16 [n, P, 2]
    phased: np.ndarray  # bool [n, P]
    phase_set: np.ndarray  # int64 [n, P]
    status: np.ndarray  # int8 [n, P]
    warnings: list[str]
    findings: list[ReadFinding]  # over this part's samples


@dataclass
class _Note:
    """What decoding one record found: for the log (``what``, prefixed by a sample count
    when it concerns only some samples) and for the calls of the samples it concerns
    (``per_sample``, a :class:`pgx.genotypes.ReadFinding` on the genes of ``cols``)."""

    who: np.ndarray | None  # bool [N] over the file's samples read; None: all of them
    where: str  # file: CHROM:POS of the record
    what: str
    per_sample: str
    cols: list[int]  # the KB loci it concerns
    no_call: bool = False
    reason: str = "unusable_record"  # a key of pgx.schema.CALL_REASONS


@dataclass
class _DecodedFile:
    """One file's genotypes, decoded once for every sample read from it, at the KB loci
    its records concern (3 bytes per sample and locus, 7 with phase sets): chunks slice
    it, so no record is parsed twice however many chunks there are."""

    vf: _VcfFile
    samples: list[str]  # the file's samples that are read, in file order
    cols: np.ndarray  # int64 [P]: KB locus indices, ascending
    codes: np.ndarray  # int8 [N, P, 2] (int16 if a code does not fit)
    phased: np.ndarray  # bool [N, P]
    phase_set: np.ndarray | None  # int32 [N, P] (VCF integers); None when no record has a phase set
    notes: list[_Note]
    conflicts: dict[int, np.ndarray]  # locus -> bool [N]: different non-reference alleles on two records

    def part(self, rows: np.ndarray, kbi: _KbIndex) -> _FilePart:
        """The genotypes of the samples at ``rows`` (ascending indices into ``samples``)."""
        codes = self.codes[rows].astype(np.int16)
        n, n_cols = codes.shape[:2]
        ps = np.zeros((n, n_cols), dtype=np.int64) if self.phase_set is None else self.phase_set[rows].astype(np.int64)
        samples = [self.samples[i] for i in rows]
        notes = list(self.notes)
        for j, who in sorted(self.conflicts.items()):
            notes.append(
                _Note(
                    who,
                    f"{self.vf.name}: {kbi.loci['chrom'].iat[j]}:{kbi.loci['pos'].iat[j]}",
                    "sample(s) have different non-reference alleles on two records at this position; kept the "
                    "first record's allele",
                    "two records give different non-reference alleles at this position; the first record's was kept",
                    [j],
                )
            )
        warnings, findings = [], []
        for note in notes:
            who = np.ones(len(rows), dtype=bool) if note.who is None else note.who[rows]
            if not who.any():
                continue
            # the log counts samples; the calls of the samples concerned carry the detail
            warnings.append(f"{note.where}: {note.what}" if note.who is None else f"{note.where}: {int(who.sum())} {note.what}")
            for gene in sorted({kbi.gene_of[j] for j in note.cols}):
                findings.append(ReadFinding(gene, who, f"{note.where}: {note.per_sample}", note.no_call, note.reason))
        return _FilePart(self.vf, samples, self.cols, codes, self.phased[rows], ps, _status(codes), warnings, findings)


def _decode(vf: _VcfFile, kbi: _KbIndex, novel: _NovelAlleles, samples: list[str]) -> _DecodedFile:
    """Parse a file's extracted records once, for ``samples`` (in file order)."""
    import cyvcf2

    subset = None if len(samples) == len(vf.samples) else samples
    try:
        reader = cyvcf2.VCF(str(vf.extracted), samples=subset, lazy=True)
    except Exception as exc:  # noqa: BLE001 - cyvcf2 raises a bare Exception for a header htslib rejects
        raise VcfError(
            f"{vf.name}: htslib cannot parse the header ({exc}); check its ## lines and the #CHROM line "
            "(bcftools view -h shows how htslib reads it), fix them and run again"
        ) from None
    loci: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # locus -> codes, phased, phase_set
    notes: list[_Note] = []
    conflicts: dict[int, np.ndarray] = {}
    expressed: dict[int, set[int]] = {}  # locus -> KB codes the records read so far can write
    n = len(samples)
    try:
        if reader.samples != samples:  # cyvcf2 keeps file order, as ``samples`` has it
            raise RuntimeError(f"{vf.name}: cyvcf2 returned the samples in another order than the file's")
        records = iter(reader)
        k = 0
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception as exc:  # htslib could not parse the record (cyvcf2 raises a bare Exception)
                raise VcfError(_unparsable(vf, k, exc)) from None
            _decode_record(rec, kbi, novel, n, loci, conflicts, notes, vf.name, expressed, vf.read_build == GRCH37)
            k += 1
    finally:
        reader.close()
    cols = np.array(sorted(loci), dtype=np.int64)
    columns = [loci[j] for j in cols.tolist()]
    codes = np.stack([c[0] for c in columns], axis=1) if columns else np.zeros((n, 0, 2), dtype=np.int16)
    if codes.size == 0 or codes.max() <= np.iinfo(np.int8).max:  # codes are small: store them in a byte
        codes = codes.astype(np.int8)
    phased = np.stack([c[1] for c in columns], axis=1) if columns else np.zeros((n, 0), dtype=bool)
    has_ps = any(c[2].any() for c in columns)
    phase_set = np.stack([c[2].astype(np.int32) for c in columns], axis=1) if has_ps else None
    return _DecodedFile(vf, samples, cols, codes, phased, phase_set, notes, conflicts)


def _unparsable(vf: _VcfFile, k: int, exc: Exception) -> str:
    """The message for the ``k``-th extracted record (0-based) that htslib cannot parse."""
    with open(vf.extracted, "rb") as fh:
        lines = (line for line in fh if not line.startswith(b"#"))
        line = next((x for i, x in enumerate(lines) if i == k), b"")
    chrom, _, rest = line.decode("utf-8", "replace").partition("\t")
    where = f"the record at {chrom}:{rest.partition(chr(9))[0]}" if line else "a record"
    return (
        f"{vf.name}: {where} cannot be parsed ({exc}); its GT or other FORMAT values are malformed "
        "(e.g. a GT that is not numbers separated by / or |). Fix or remove the record, then run again "
        "(bcftools view shows it)"
    )


def _decode_record(rec, kbi, novel, n, loci, conflicts, notes, name, expressed, grch37=False) -> None:
    """Map one record's genotypes to KB codes and merge them into ``loci``; a structural
    variant over KB positions becomes a note on the genes it overlaps."""
    canon = canonical_contig(rec.CHROM)
    pos = rec.POS
    alts = list(rec.ALT)
    by_pos = kbi.sites.get(canon, {})
    targets: list[tuple[int, bool]] = []  # (locus, record starts there)
    if _is_ref_block(alts) and rec.end > pos:
        targets = [(j, p == pos) for p in kbi.covered(canon, pos, rec.end) for j in by_pos[p]]
    else:
        targets = [(j, True) for j in by_pos.get(pos, [])]
    shifted = _shifted_codes(kbi, novel, canon, pos, rec.REF, alts) if not _has_sv_allele(alts) else {}
    sv_cols = _sv_loci(kbi, canon, pos, rec.REF, alts, rec.INFO.get("END"), rec.INFO.get("SVLEN"))
    if not targets and not shifted and not sv_cols:
        return
    try:
        gt = rec.genotype
    except Exception:  # cyvcf2 raises a bare Exception for a record whose FORMAT lacks GT
        gt = None
    where = f"{name}: {rec.CHROM}:{pos}"
    cols = sorted({j for j, _ in targets} | set(shifted))
    if gt is None:
        notes.append(_Note(None, where, "the record has no GT; its genotypes are missing",
                           "the record has no GT, so the genotype there is missing", cols or sv_cols))  # fmt: skip
        alleles = np.full((n, 2), -1, dtype=np.int16)
        rec_phased = np.zeros(n, dtype=bool)
    else:
        arr = gt.array()
        alleles, rec_phased = arr[:, :-1], arr[:, -1].astype(bool)
    if alleles.shape[1] > 2:
        poly = (alleles[:, 2:] != HAPLOID).any(axis=1)
        if poly.any():
            notes.append(_Note(poly, where, "genotype(s) with more than two alleles set to missing",
                               "a genotype with more than two alleles was set to missing", cols))  # fmt: skip
        alleles = alleles[:, :2].copy()
        alleles[poly] = -1
    elif alleles.shape[1] == 1:
        alleles = np.concatenate([alleles, np.full((n, 1), HAPLOID, dtype=alleles.dtype)], axis=1)
    beyond = (alleles > len(alts)).any(axis=1)
    if beyond.any():
        notes.append(_Note(beyond, where, f"genotype(s) naming an allele the record does not have (it has {len(alts)} ALT) set to missing",
                           "the genotype names an allele the record does not have; set to missing", cols))  # fmt: skip
        alleles = alleles.copy()
        alleles[beyond] = -1
    if sv_cols:
        notes.extend(_sv_notes(rec, alts, alleles, where, sv_cols, kbi))
    ps = _phase_sets(rec, n)
    for j, starts_here in [*targets, *((j, None) for j in shifted)]:
        if starts_here and not _ref_agrees(rec.REF.upper(), kbi.refs[j], kbi.alts[j], grch37):
            # not the KB's reference here (README: such a record is not matched): missing
            amap = [MISSING] * (len(alts) + 1)
            notes.append(_Note(None, where, f"REF {rec.REF} disagrees with the knowledge base's {kbi.refs[j]}; "
                               "the record is not used, its genotypes are missing",
                               f"REF {rec.REF} disagrees with the knowledge base's {kbi.refs[j]}, so the record was "
                               "not used and the position is missing; check the genome build and the record", [j]))  # fmt: skip
        elif starts_here:
            amap = _allele_codes(kbi, novel, j, rec.REF.upper(), alts)
        elif starts_here is None:  # another form of the KB indel at j (pgx.normalize)
            amap = shifted[j]
        else:  # inside a reference block: its REF base is the KB position's reference
            amap = [0] + [MISSING] * len(alts)
        new = _map_alleles(alleles, amap)
        new_phased = rec_phased.copy()
        new_phased[new[:, 1] == HAPLOID] = True
        new_phased[(new == MISSING).all(axis=1)] = False
        if j in loci:
            if starts_here is None:
                twice = _keep_first_of_repeats(*loci[j][:2], new, new_phased)
                if twice.any():
                    locus = f"{kbi.loci['chrom'].iat[j]}:{kbi.loci['pos'].iat[j]}"
                    notes.append(_Note(twice, where, _WRITTEN_TWICE.format(locus=locus),
                                       f"the KB indel at {locus} is written on this record and on another one at "
                                       "another position; counted once", [j]))  # fmt: skip
            written = _written_codes(amap) if starts_here else set()  # shifted forms: see _keep_first_of_repeats
            disagree = _other_dosage(loci[j][0], new, expressed.get(j, set()) & written)
            if disagree.any():  # the same allele on two records in different numbers: neither is trusted
                loci[j][0][disagree] = MISSING
                new[disagree] = MISSING
                notes.append(_Note(disagree, where, _OTHER_DOSAGE,
                                   "two records at this position give the same allele in different numbers of "
                                   "copies; the genotype there is set to missing", [j]))  # fmt: skip
            conflict = _merge_into(*loci[j], new, new_phased, ps)
            if conflict.any():
                conflicts[j] = conflicts.get(j, np.zeros(n, dtype=bool)) | conflict
        else:
            loci[j] = (new, new_phased, ps.copy())
        if starts_here:
            expressed[j] = expressed.get(j, set()) | _written_codes(amap)


_OTHER_DOSAGE = (
    "sample(s) have an allele of this record in another number of copies on an earlier record at the same "
    "position (a duplicated record that disagrees); their genotype there is set to missing"
)


def _is_sv_allele(allele: str) -> bool:
    """A symbolic structural-variant ALT (``<DEL>``, ``<DUP:TANDEM>``, ``<CNV>``, ``<INV>``,
    a breakend): not a gVCF reference-block allele (``<NON_REF>``, ``<*>``)."""
    return _is_symbolic(allele) and allele not in _REF_BLOCK_ALTS


def _has_sv_allele(alts: list[str]) -> bool:
    return any(_is_sv_allele(a) for a in alts)


def sv_span(pos: int, ref: str, end: object = None, svlen: object = None) -> tuple[int, int]:
    """The bases a structural-variant record changes: POS+1 .. END (POS is its padding base),
    END from INFO/END, else POS + |SVLEN|; a record with neither is the point POS."""
    if isinstance(svlen, (tuple, list)):
        svlen = next((v for v in svlen if v is not None), None)
    stop = None
    if isinstance(end, (int, np.integer)) and end > pos:
        stop = int(end)
    elif isinstance(svlen, (int, np.integer)) and svlen != 0:
        stop = pos + abs(int(svlen))
    return (pos + 1, stop) if stop else (pos, pos + max(len(ref), 1) - 1)


def _sv_loci(kbi: _KbIndex, canon: str, pos: int, ref: str, alts: list[str], end: object, svlen: object) -> list[int]:
    """KB loci inside the span of a structural-variant record (none for other records)."""
    if not _has_sv_allele(alts) or canon not in kbi.sites:
        return []
    start, stop = sv_span(pos, ref, end, svlen)
    return [j for p in kbi.covered(canon, start, stop) for j in kbi.sites[canon][p]]


def _sv_notes(rec, alts: list[str], alleles: np.ndarray, where: str, cols: list[int], kbi: _KbIndex) -> list[_Note]:
    """Notes of a structural variant over KB positions: its carriers cannot be called from
    the SNVs and indels (no-call), and samples with no genotype for it get a warning.

    A sample carries it when its GT names a structural-variant ALT or, with no GT, when
    FORMAT/CN says a copy number other than 2."""
    sv_index = [i + 1 for i, a in enumerate(alts) if _is_sv_allele(a)]
    carrier = np.isin(alleles, sv_index).any(axis=1)
    unknown = ~carrier & (alleles < 0).all(axis=1)
    copies = _copy_numbers(rec, len(alleles))
    if copies is not None:
        known = unknown & (copies >= 0)
        carrier |= known & (copies != 2)
        unknown &= ~known
    start, stop = sv_span(rec.POS, rec.REF, rec.INFO.get("END"), rec.INFO.get("SVLEN"))
    kind = "/".join(a for a in alts if _is_sv_allele(a))
    span = f"{kbi.loci['chrom'].iat[cols[0]]}:{start}-{stop}"
    genes = ", ".join(sorted({kbi.gene_of[j] for j in cols}))
    return [
        _Note(
            carrier, where, f"sample(s) carry the structural variant {kind} over {span} ({genes}); those genes are not called for them",
            f"structural variant {kind} over {span} in this sample: the gene may have one copy, or more, so its "
            "SNVs and indels cannot give the diplotype; not called. Confirm the copy number with a dedicated "
            "assay and give the result as an outside call (--outside-calls)",
            cols, no_call=True, reason="structural_variant",
        ),
        _Note(
            unknown, where, f"sample(s) have no genotype for the structural variant {kind} over {span} ({genes})",
            f"a structural variant {kind} over {span} is in the input, and this sample has no genotype for it: "
            "whether the gene has two copies is not known",
            cols, reason="structural_variant_unknown",
        ),
    ]


def _copy_numbers(rec, n: int) -> np.ndarray | None:
    """FORMAT/CN per sample (-1 when missing), or None when the record has none."""
    try:
        raw = rec.format("CN")
    except Exception:  # cyvcf2 raises for a field of an unexpected type
        return None
    if raw is None or raw.dtype.kind not in "iuf":
        return None
    cn = raw[:, 0]
    out = np.where(np.isfinite(cn) & (cn >= 0) & (cn < 1 << 20), cn, -1) if raw.dtype.kind == "f" else np.where((cn >= 0) & (cn < 1 << 20), cn, -1)
    return out.astype(np.int64)


def _written_codes(amap: list[int]) -> set[int]:
    """The non-reference KB codes a record can write at a locus."""
    return {c for c in amap[1:] if c > 0}


def _other_dosage(cur: np.ndarray, new: np.ndarray, shared: set[int]) -> np.ndarray:
    """Samples whose two records, both able to write an allele (``shared``), give it a
    different number of copies (a duplicated record that disagrees; split multi-allelic
    records each write their own ALT, so they never share one). Missing genotypes: no."""
    if not shared:
        return np.zeros(len(cur), dtype=bool)
    called = (cur != MISSING).all(axis=1) & (new != MISSING).all(axis=1)
    differs = np.zeros(len(cur), dtype=bool)
    for c in shared:
        differs |= (cur == c).sum(axis=1) != (new == c).sum(axis=1)
    return called & differs


def _shifted_codes(kbi: _KbIndex, novel: _NovelAlleles, canon: str, pos: int, ref: str, alts: list[str]) -> dict[int, list[int]]:
    """KB codes of a record's alleles at each KB indel it is another form of (locus -> codes).

    REF and ALTs that are different variants -> 0; an ALT equal to a KB allele -> its code;
    another allele of the locus -> a novel code; undecidable or conflicting -> MISSING.
    """
    placement = kbi.shift.place(canon, pos, ref, alts)
    if placement is None:
        return {}
    out = {}
    for j, outcomes in placement.loci.items():
        codes = []
        for o in outcomes:
            if o[0] == normalize.AT:
                codes.append(_allele_codes(kbi, novel, j, o[1], [o[2]])[1])
            else:
                codes.append(MISSING if o[0] == normalize.UNRESOLVED else 0)
        out[j] = codes
    return out


_WRITTEN_TWICE = (
    "sample(s) carry the KB indel at {locus} on this record and on another one written at another position; "
    "one variant written twice counts once (the first record's genotype is kept)"
)


def _keep_first_of_repeats(cur, cur_phased, new, new_phased) -> np.ndarray:
    """Samples carrying the same KB allele on an exact and a shifted record have one variant
    written twice: the record read first stands for it (``new`` is made equal to it).
    Returns those samples (bool [N])."""
    same = ((new[:, :, None] > 0) & (new[:, :, None] == cur[:, None, :])).any(axis=(1, 2))
    new[same] = cur[same]
    new_phased[same] = cur_phased[same]
    return same


def _phase_sets(rec, n: int) -> np.ndarray:
    try:
        raw = rec.format("PS")
    except Exception:  # cyvcf2 raises when PS has an unexpected type
        raw = None
    if raw is None or raw.dtype.kind not in "iu":
        return np.zeros(n, dtype=np.int64)
    ps = raw[:, 0].astype(np.int64)
    ps[ps < 0] = 0  # missing (int32 min) and vector-end values
    return ps


def _map_alleles(alleles: np.ndarray, amap: list[int]) -> np.ndarray:
    """VCF allele indices [n, 2] -> KB codes via a lookup table (-1 missing, -2 haploid)."""
    k = len(amap)
    lut = np.array([*amap, MISSING, HAPLOID, MISSING], dtype=np.int16)
    a = alleles.astype(np.int32)
    idx = np.where(a >= k, k + 2, np.where(a >= 0, a, k - 1 - a))
    idx = np.clip(idx, 0, k + 2)
    out = lut[idx]
    # a lone '.' (missing, then vector end) says nothing about ploidy
    lone = (out[:, 0] == MISSING) & (out[:, 1] == HAPLOID)
    out[lone, 1] = MISSING
    return out


def _merge_into(cur, cur_phased, cur_ps, new, new_phased, new_ps) -> np.ndarray:
    """Merge a second record's codes into ``cur`` in place; return rows with a conflict."""

    def clash(a, b):
        return ((a > 0) & (b > 0) & (a != b)).sum(axis=1)

    swappable = ~new_phased & (new != HAPLOID).all(axis=1) & (cur != HAPLOID).all(axis=1)
    swap = swappable & (clash(cur, new[:, ::-1]) < clash(cur, new))
    new = np.where(swap[:, None], new[:, ::-1], new)
    conflict = ((cur > 0) & (new > 0) & (cur != new)).any(axis=1)
    merged = np.where(
        cur > 0,
        cur,
        np.where(
            new > 0,
            new,
            np.where((cur == MISSING) | (new == MISSING), MISSING, np.where((cur == 0) | (new == 0), 0, HAPLOID)),
        ),
    )
    cur[:] = merged
    cur_phased &= new_phased
    cur_ps[:] = np.where(cur_ps > 0, cur_ps, new_ps)
    return conflict


def _status(codes: np.ndarray) -> np.ndarray:
    miss = codes == MISSING
    both = miss[..., 0] & (miss[..., 1] | (codes[..., 1] == HAPLOID))
    status = np.full(codes.shape[:2], STATUS_CALLED, dtype=np.int8)
    status[miss.any(axis=2)] = STATUS_PARTIAL
    status[both] = STATUS_MISSING
    return status


# --- several files: the union -----------------------------------------------------------


class _Session:
    """One read of a cohort: the files, their samples, the KB index and the novel codes."""

    def __init__(self, paths: list[Path | str], loci: pd.DataFrame, samples: Sequence[str] | None, build: str | None = None):
        self.build = build
        if not paths:
            raise InputError("no VCF file given")
        self.kbi = _KbIndex.build(loci)
        self.novel = _NovelAlleles(self.kbi)
        self.files = [_inspect(p) for p in paths]
        shared: dict[str, str] = {}  # one string per sample ID, however many files name it
        for vf in self.files:
            vf.samples = [shared.setdefault(s, s) for s in vf.samples]
        wanted = None if samples is None else set(samples)
        if wanted is not None:
            everywhere = set().union(*(vf.samples for vf in self.files))
            absent = [s for s in samples if s not in everywhere]
            if absent:
                raise SampleError(
                    f"sample(s) {_listing([shown(s) for s in absent])} are not in "
                    f"{', '.join(vf.name for vf in self.files)}; check the sample IDs (bcftools query -l lists them)"
                )
        for vf in self.files:
            _check_sample_ids(vf, wanted)
        order: dict[str, None] = {}
        for vf in self.files:
            order.update((s, None) for s in vf.samples if wanted is None or s in wanted)
        self.sample_order = list(order)
        #: by extract(): each file's decoded genotypes, and the row of every sample of
        #: ``sample_order`` in them (-1: not in the file)
        self.decoded: list[tuple[_DecodedFile, np.ndarray]] = []

    def extract(self, scratch: "_Scratch") -> None:
        """Extract every file's KB records, then decode them once for all samples read."""
        for vf in self.files:
            _Extractor(vf, self.kbi, self.build).run(scratch.new_file())
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
                self.decoded.append((_decode(vf, self.kbi, self.novel, mine), row_of))

    def read_chunk(self, start: int, stop: int, assume_reference: bool) -> GenotypeMatrix:
        """The matrix of ``sample_order[start:stop]``."""
        parts = []
        for decoded, row_of in self.decoded:
            rows = row_of[start:stop]
            if (rows >= 0).any():
                parts.append(decoded.part(np.sort(rows[rows >= 0]), self.kbi))  # in file order
        return self._union(self.sample_order[start:stop], parts, assume_reference)

    def _union(self, chunk: list[str], parts: list[_FilePart], assume_reference: bool) -> GenotypeMatrix:
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
            self._check_agreement(parts, k, rows, cols, had, codes[grid], status[grid], origin[grid], chunk)
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

    def _check_agreement(self, parts, k, rows, cols, had, old_codes, old_status, old_origin, chunk) -> None:
        part = parts[k]
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

    def _coverage(self, parts: list[_FilePart], row: dict[str, int]) -> np.ndarray:
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


def _no_kb_chromosome(files: list[_VcfFile], kbi: _KbIndex) -> str:
    """The error for a batch none of whose files names a KB chromosome: nothing could be called."""
    seen = sorted({c for vf in files for c in vf.seen_contigs})
    return (
        f"{', '.join(vf.name for vf in files)}: no contig names a chromosome of the knowledge base "
        f"(contigs found: {_listing(seen) or 'none'}; the knowledge base needs {', '.join(kbi.kb_names())}; "
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
