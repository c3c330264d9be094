"""Genome builds: contig lengths and telling GRCh37 from GRCh38 by a VCF's header.

The knowledge base is GRCh38; its loci carry GRCh37 positions where a source gives
them, so a GRCh37 VCF can be read at those positions (``pgx run --build GRCh37``, or
detected). Detection looks at the header only: ``##contig`` lengths of the chromosomes
the KB uses (they differ between the builds for every autosome and chrX), then a
``##reference`` line naming the build. Nothing conclusive -> None, and the caller keeps
the GRCh38 default (the REF check against the KB still catches a wrong build).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

GRCH38 = "GRCh38"
GRCH37 = "GRCh37"
BUILDS = (GRCH38, GRCH37)

#: primary-assembly lengths, chr-prefixed names
LENGTHS = {
    GRCH38: {
        "chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr4": 190214555,
        "chr5": 181538259, "chr6": 170805979, "chr7": 159345973, "chr8": 145138636,
        "chr9": 138394717, "chr10": 133797422, "chr11": 135086622, "chr12": 133275309,
        "chr13": 114364328, "chr14": 107043718, "chr15": 101991189, "chr16": 90338345,
        "chr17": 83257441, "chr18": 80373285, "chr19": 58617616, "chr20": 64444167,
        "chr21": 46709983, "chr22": 50818468, "chrX": 156040895, "chrY": 57227415,
        "chrM": 16569,
    },
    GRCH37: {
        "chr1": 249250621, "chr2": 243199373, "chr3": 198022430, "chr4": 191154276,
        "chr5": 180915260, "chr6": 171115067, "chr7": 159138663, "chr8": 146364022,
        "chr9": 141213431, "chr10": 135534747, "chr11": 135006516, "chr12": 133851895,
        "chr13": 115169878, "chr14": 107349540, "chr15": 102531392, "chr16": 90354753,
        "chr17": 81195210, "chr18": 78077248, "chr19": 59128983, "chr20": 63025520,
        "chr21": 48129895, "chr22": 51304566, "chrX": 155270560, "chrY": 59373566,
        "chrM": 16569,
    },
}  # fmt: skip

#: RefSeq accessions of the primary-assembly chromosomes (NCBI GRCh38 = GCF_000001405.26,
#: GRCh37 = GCF_000001405.13; the same as PharmCAT's ``chr_build_mapping.tsv``). Every
#: GRCh38 chromosome is one version past its GRCh37 accession; chrM is rCRS (NC_012920.1)
#: in both (b37's ``MT``; hg19's ``chrM`` is another sequence, NC_001807.4, not listed).
REFSEQ_VERSIONS = {
    # chromosome: (GRCh37 version, GRCh38 version) of NC_0000NN
    **{f"chr{n}": v for n, v in zip(range(1, 23), [
        (10, 11), (11, 12), (11, 12), (11, 12), (9, 10), (11, 12), (13, 14), (10, 11), (11, 12), (10, 11), (9, 10),
        (11, 12), (10, 11), (8, 9), (9, 10), (9, 10), (10, 11), (9, 10), (9, 10), (10, 11), (8, 9), (10, 11),
    ])},
    "chrX": (10, 11),
    "chrY": (9, 10),
}  # fmt: skip
RCRS_ACCESSION = "NC_012920.1"


def _refseq_table() -> dict[str, tuple[str, str | None]]:
    table: dict[str, tuple[str, str | None]] = {RCRS_ACCESSION: ("chrM", None)}
    for chrom, (v37, v38) in REFSEQ_VERSIONS.items():
        number = {"chrX": 23, "chrY": 24}.get(chrom) or int(chrom[3:])
        table[f"NC_{number:06d}.{v37}"] = (chrom, GRCH37)
        table[f"NC_{number:06d}.{v38}"] = (chrom, GRCH38)
    return table


#: RefSeq accession -> (chr-prefixed chromosome, build; None for chrM, the same in both)
REFSEQ = _refseq_table()


def refseq_chromosome(contig: str) -> tuple[str, str | None] | None:
    """``NC_000010.11`` -> ("chr10", "GRCh38"); None for a name that is not one of ``REFSEQ``."""
    return REFSEQ.get(contig)


_REFERENCE_HINTS = {
    GRCH37: re.compile(r"grch37|hg19|b37|hs37|human_g1k_v37", re.I),
    GRCH38: re.compile(r"grch38|hg38|hs38", re.I),
}


def chr_name(contig: str) -> str:
    """``10`` / ``chr10`` -> ``chr10``; ``MT`` / ``M`` -> ``chrM``."""
    known = refseq_chromosome(contig)
    if known:
        return known[0]
    bare = contig[3:] if contig.lower().startswith("chr") else contig
    return "chrM" if bare.upper() in ("M", "MT") else f"chr{bare}"


def detect_build(
    contig_lengths: dict[str, int], reference_line: str | None = None, contig_names: Iterable[str] = ()
) -> str | None:
    """The build a header describes, from contig lengths and RefSeq contig names first,
    then ``##reference``."""
    return describe_build(contig_lengths, reference_line, contig_names)[0]


def describe_build(
    contig_lengths: dict[str, int], reference_line: str | None = None, contig_names: Iterable[str] = ()
) -> tuple[str | None, str]:
    """(build, why) from a header: ``##contig`` lengths (they differ between the builds for
    every autosome and chrX) and RefSeq accessions as contig names (their version names the
    build), else a ``##reference`` line naming the build; (None, "") when nothing says."""
    votes = {b: 0 for b in BUILDS}
    for contig, length in contig_lengths.items():
        name = chr_name(refseq_chromosome(contig)[0] if refseq_chromosome(contig) else contig)
        if name == "chrM":
            continue
        for build in BUILDS:
            if LENGTHS[build].get(name) == length:
                votes[build] += 1
    by_length = dict(votes)
    for contig in dict.fromkeys([*contig_lengths, *contig_names]):
        known = refseq_chromosome(contig)
        if known and known[1]:
            votes[known[1]] += 1
    if votes[GRCH37] != votes[GRCH38]:
        build = max(votes, key=votes.get)
        how = "##contig lengths" if by_length[build] == votes[build] else (
            "RefSeq contig names" if by_length[build] == 0 else "##contig lengths and RefSeq contig names"
        )
        return build, f"the {how} in the VCF header are {build}'s"
    for build, pattern in _REFERENCE_HINTS.items():
        if reference_line and pattern.search(reference_line):
            return build, f"the VCF header's {reference_line.strip()[:120]} names {build}"
    return None, ""


def loci_on_build(loci, build: str):
    """The KB loci with positions on ``build`` (GRCh37: those that have one), and the
    row indices of ``loci`` they came from."""
    import numpy as np

    if build == GRCH38:
        return loci.reset_index(drop=True), np.arange(len(loci))
    if build != GRCH37:
        raise ValueError(f"unknown genome build {build!r}; use one of {', '.join(BUILDS)}")
    have = loci["grch37_pos"].notna().to_numpy()
    sub = loci[have].copy()
    sub["pos"] = sub["grch37_pos"].astype("int64")
    return sub.reset_index(drop=True), np.flatnonzero(have)


def expand_to_kb(gm, loci, index):
    """A GenotypeMatrix read on another build's positions, put back on the KB's GRCh38
    loci; KB positions with no coordinate on that build are missing."""
    import numpy as np

    from pgx.genotypes import MISSING, NO_FILE, STATUS_MISSING, GenotypeMatrix

    n_s, n_l = len(gm.samples), len(loci)
    codes = np.full((n_s, n_l, 2), MISSING, dtype=gm.codes.dtype)
    phased = np.zeros((n_s, n_l), dtype=bool)
    phase_set = np.zeros((n_s, n_l), dtype=gm.phase_set.dtype)
    status = np.full((n_s, n_l), STATUS_MISSING, dtype=gm.status.dtype)
    origin = np.full((n_s, n_l), NO_FILE, dtype=gm.origin.dtype)
    codes[:, index], phased[:, index] = gm.codes, gm.phased
    phase_set[:, index], status[:, index], origin[:, index] = gm.phase_set, gm.status, gm.origin
    novel = {(int(index[j]), code): seq for (j, code), seq in gm.novel_alleles.items()}
    unmapped = n_l - len(index)
    warnings = list(gm.warnings)
    if unmapped:
        warnings.append(f"{unmapped} KB positions have no GRCh37 coordinate and are missing for every sample")
    return GenotypeMatrix(
        gm.samples,
        loci.reset_index(drop=True),
        codes,
        phased,
        phase_set,
        status,
        novel,
        files=gm.files,
        origin=origin,
        warnings=warnings,
        findings=gm.findings,
    )
