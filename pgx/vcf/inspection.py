"""One input file before it is read: compression, index, header (bounded in size), sample
line and the genome build the header states, plus the cheap sniffs the input check uses
(:func:`header_evidence`, :func:`kb_site_agreement`) and :func:`bgzip_vcf`
(see :mod:`pgx.vcf`)."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pgx.builds import GRCH37, canonical_contig, describe_build, detect_build
from pgx.sample_ids import MAX_SAMPLE_ID_CHARS, describe_unusable, shown, unusable_sample_ids
from pgx.tabix import index_problem
from pgx.errors import SampleError, VcfError
from pgx.vcf.records import MAX_LISTED, as_text, ref_agrees, split_alts


#: the longest line (header or record) pgx reads: 64 MiB holds a record of about two
#: million samples with GT only, or 500,000 with GT:AD:DP:GQ:PL; a longer line is refused
#: before it is read into memory (a damaged or hostile file could have a line of GBs)
MAX_LINE_BYTES = 64 << 20

#: the largest header (every line up to and including #CHROM) pgx reads
MAX_HEADER_BYTES = 64 << 20

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


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
    vf = inspect_file(path)
    wanted: dict[str, dict[tuple[str, int], list[tuple[str, list[str]]]]] = {}
    for build, loci in loci_by_build.items():
        sites = wanted.setdefault(build, {})
        for chrom, pos, ref, alts in zip(loci["chrom"], loci["pos"], loci["ref"], loci["alts"]):
            sites.setdefault((canonical_contig(str(chrom)), int(pos)), []).append((str(ref).upper(), split_alts(alts)))
    seen: dict[str, dict[tuple[str, int], bool]] = {b: {} for b in wanted}

    def look(chrom: str, pos: int, ref: str) -> None:
        key = (canonical_contig(chrom), pos)
        for build, sites in wanted.items():
            for kb_ref, kb_alts in sites.get(key, ()):
                agrees = ref_agrees(ref.upper(), kb_ref, kb_alts, build == GRCH37)
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
        with open_binary(vf.path, vf.kind) as fh:
            for _, line in bounded_lines(fh, vf.name):
                if line[:1] != b"#":
                    f = line.split(b"\t", 4)
                    if len(f) > 4 and f[1].isdigit():
                        look(as_text(f[0]), int(f[1]), as_text(f[3]))
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


def stated_build(header: bytes, lengths: dict[str, int], contigs: Sequence[str] = ()) -> str | None:
    """The build a header states (contig lengths and RefSeq names, ``##reference``), or None."""
    return detect_build(lengths, _reference_line(header), contigs)


def bgzip_vcf(src: Path | str, dst: Path | str | None = None, *, index: str | None = "tbi") -> Path:
    """Compress a plain VCF with BGZF (``dst``, default ``src.gz``) and index it.

    ``index`` is ``"tbi"``, ``"csi"`` or None. For modules that write VCFs (simulate) and
    for tests: :mod:`pgx.vcf` is the project's only user of pysam.
    """
    import pysam

    dst = Path(dst) if dst else Path(f"{src}.gz")
    pysam.tabix_compress(str(src), str(dst), force=True)
    if index:
        if index not in ("tbi", "csi"):
            raise ValueError(f"index must be 'tbi', 'csi' or None, not {index!r}")
        pysam.tabix_index(str(dst), preset="vcf", force=True, csi=index == "csi")
    return dst


@dataclass
class VcfFile:
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


def open_binary(path: Path, kind: str):
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
        with open_binary(p, kind) as fh:
            lines = bounded_lines(fh, name)
            first = fh.readline(len(b"##fileformat=VCF"))
            if not first.startswith(b"##fileformat=VCF"):
                what = "a BCF file (convert it: bcftools view -Oz -o x.vcf.gz x.bcf)" if first.startswith(b"BCF") else "not a VCF"
                raise VcfError(
                    f"{name}: {what}: the first line must be '##fileformat=VCFv4.x'; give a VCF (plain, .vcf.gz or .vcf.bgz)"
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


def inspect_file(path: Path | str) -> VcfFile:
    """Check one VCF's header (format, samples, GT, contigs, index) without reading its data."""
    name = str(path)
    p = Path(path)
    kind = _compression(p, name)
    head = _read_header(p, kind, name)
    samples = _header_samples(head.lines[-1], name)
    _check_gt(name, head.gt_declared, head.first_record)
    vf = VcfFile(p, name, kind, b"".join(head.lines), samples, head.contigs, None)
    vf.index = _fresh_index(vf)
    return vf


def bounded_lines(fh, name: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a binary stream, from its current position; a line longer
    than ``MAX_LINE_BYTES`` is a :class:`VcfError`, raised before it is held in memory."""
    lineno = 0
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_LINE_BYTES:
            raise VcfError(line_too_long(name, f"line {lineno}"))
        yield lineno, line


def line_too_long(name: str, where: str) -> str:
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
        raise VcfError(f"{name}: the VCF has no sample columns (a sites-only VCF); pgx needs per-sample genotypes (FORMAT/GT)")
    samples = cols[9:]
    seen: set[str] = set()
    dups = sorted({s for s in samples if s in seen or seen.add(s)})
    if dups:
        raise SampleError(
            f"{name}: sample ID(s) {', '.join(map(shown, dups[:MAX_LISTED]))} appear more than once in the #CHROM line; "
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
            f"{name}: no GT field in FORMAT (FORMAT is {shown}); pgx needs genotypes: re-export the VCF with FORMAT/GT"
        )


def _fresh_index(vf: VcfFile) -> Path | None:
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
            raise VcfError(wrong_index(vf, idx, problem))
        return idx
    return None


def wrong_index(vf: VcfFile, idx: Path, why: str) -> str:
    return (
        f"{vf.name}: its index {idx.name} does not belong to this file ({why}): it was probably copied from "
        f"another VCF. Re-index the file: tabix -f -p vcf {vf.name} (or bcftools index -f {vf.name})"
    )


def check_sample_ids(vf: VcfFile, wanted: set[str] | None) -> None:
    bad = unusable_sample_ids(s for s in vf.samples if wanted is None or s in wanted)
    if bad:
        raise SampleError(
            f"{vf.name}: sample ID(s) that cannot be used: {describe_unusable(bad)}. A sample ID may be any "
            "printable text (spaces and quotes too) of at most "
            f"{MAX_SAMPLE_ID_CHARS} characters; rename these, e.g. bcftools reheader -s new_names.txt"
        )
