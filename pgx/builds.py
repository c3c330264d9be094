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


def canonical_contig(name: str) -> str:
    """The one contig normaliser, bare form: ``chr10`` and ``10`` -> ``10``; ``chrM``,
    ``chrMT``, ``M``, ``MT`` (any case) -> ``MT``; a RefSeq accession of a GRCh38 or GRCh37
    chromosome (``NC_000010.11``) -> its chromosome."""
    refseq = refseq_chromosome(name)
    if refseq is not None:
        name = refseq[0]
    bare = name[3:] if name[:3].lower() == "chr" else name
    return "MT" if bare.upper() in ("M", "MT") else bare


def chr_name(contig: str) -> str:
    """:func:`canonical_contig`, ``chr``-prefixed (the KB's names): ``10`` / ``chr10`` ->
    ``chr10``; ``MT`` / ``M`` -> ``chrM``."""
    bare = canonical_contig(contig)
    return "chrM" if bare == "MT" else f"chr{bare}"


def is_mito_contig(name: str) -> bool:
    """``chrM``, ``chrMT``, ``M``, ``MT`` (any case), or rCRS's RefSeq accession."""
    return canonical_contig(name) == "MT"


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
        how = (
            "##contig lengths"
            if by_length[build] == votes[build]
            else ("RefSeq contig names" if by_length[build] == 0 else "##contig lengths and RefSeq contig names")
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


# --- which chrM: the KB's chrM positions are rCRS --------------------------------------
# GRCh38's ``chrM`` and GRCh37/b37's ``MT`` are rCRS; hg19's ``chrM`` is the Yoruba
# sequence, whose positions differ. The reader skips a contig refused here (with a
# warning), so mitochondrial genes are no-calls that say why (see :mod:`pgx.mito`).

#: rCRS (NC_012920.1), the chrM of GRCh38 and the MT of GRCh37/b37
RCRS_LENGTH = 16_569
#: hg19's chrM: the Yoruba mitochondrial sequence (NC_001807)
YORUBA_LENGTH = 16_571
#: every refusal warning contains this, so the MT-RNR1 no-call can repeat the reason
REFUSAL_MARK = "is not the rCRS mitochondrial sequence"


def mito_contig_refusal(name: str, length: int | None, build: str | None) -> str | None:
    """Why the mitochondrial contig ``name`` cannot be read at rCRS positions, or None.

    ``length`` is the header's declared length (None when undeclared), ``build`` the
    build the file is read as (None when unknown).
    """
    if not is_mito_contig(name):
        return None
    if length == YORUBA_LENGTH:
        return (
            f"contig {name} (length {length:,} bp: hg19's chrM, the Yoruba sequence NC_001807) {REFUSAL_MARK} "
            f"(NC_012920.1, {RCRS_LENGTH:,} bp), so its positions differ from the knowledge base's"
        )
    if length is not None and length != RCRS_LENGTH:
        return f"contig {name} (length {length:,} bp) {REFUSAL_MARK} ({RCRS_LENGTH:,} bp), so its positions cannot be trusted"
    if length is None and build == "GRCh37" and name.lower() == "chrm":
        return (
            f"contig {name} of a GRCh37 file {REFUSAL_MARK} as far as the header shows: UCSC hg19 names the "
            f"Yoruba sequence (NC_001807, {YORUBA_LENGTH:,} bp) chrM, while b37 names rCRS MT; declare "
            f"##contig=<ID={name},length={RCRS_LENGTH}> if it is rCRS"
        )
    return None


def refusal_warning(file_name: str, reason: str) -> str:
    """The reader's warning for a refused mitochondrial contig."""
    return (
        f"{file_name}: {reason}; its records are not read, so mitochondrial genes (MT-RNR1) are not called "
        "from this file (give a GRCh38 or b37 VCF, or an outside call)"
    )
