"""Annotated VCF: the batch's variants at pharmacogene positions, with what they mean.

One record per KB position where at least one sample carries a non-reference allele,
REF/ALT in the KB's representation (plus any allele the KB does not know), the
samples' genotypes, and INFO fields per ALT allele:

* ``PGX_GENE``, ``PGX_RSID``: the gene and dbSNP ID of the KB locus;
* ``PGX_ALLELES`` (Number=A): the star alleles whose definition contains that ALT,
  ``|``-separated, ``.`` when none (a possible novel allele);
* ``PGX_FUNCTION`` (Number=A): their clinical functions, in the same order;
* ``PGX_KB``: the knowledge-base version.

Names and functions are percent-encoded where VCF forbids a character (space, comma,
semicolon, equals, pipe, percent). The text is built here; compression and the tabix
index come from ``pgx.vcf.bgzip_vcf`` (the one module that touches htslib).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pgx import __version__
from pgx.builds import LENGTHS
from pgx.genotypes import HAPLOID, MISSING, GenotypeMatrix
from pgx.kb import KnowledgeBase
from pgx.naming import definition_matches
from pgx.outputs import atomic_indexed

_ENCODE = {" ": "%20", ",": "%2C", ";": "%3B", "=": "%3D", "|": "%7C", "%": "%25", ":": "%3A"}

HEADER_INFO = [
    '##INFO=<ID=PGX_GENE,Number=1,Type=String,Description="Pharmacogene of this knowledge-base position">',
    '##INFO=<ID=PGX_RSID,Number=1,Type=String,Description="dbSNP ID of the position">',
    '##INFO=<ID=PGX_ALLELES,Number=A,Type=String,Description="Star alleles whose definition contains this ALT, |-separated; . = none (possible novel allele)">',
    '##INFO=<ID=PGX_FUNCTION,Number=A,Type=String,Description="Clinical function of those alleles, |-separated, same order">',
    '##INFO=<ID=PGX_KB,Number=1,Type=String,Description="pgx knowledge-base version">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
]


def encode(text: str) -> str:
    """Percent-encode the characters a VCF INFO value may not hold."""
    return "".join(_ENCODE.get(c, c) for c in text)


def alleles_by_alt(kb: KnowledgeBase, gene: str, pos: int, ref: str, alts: list[str]) -> list[list[str]]:
    """Per ALT sequence, the non-reference alleles of ``gene`` defined by it at ``pos``."""
    defs = kb.table("allele_definitions", gene)
    here = defs[defs["pos"] == pos]
    out = []
    for alt in alts:
        names = [a for a, b in zip(here["allele"], here["bases"]) if b != ref and definition_matches(b, alt)]
        out.append(sorted(set(names)))
    return out


def _gt(pair: np.ndarray, phased: bool, remap: dict[int, int]) -> str:
    if pair[1] == HAPLOID:
        return "." if pair[0] == MISSING else str(remap[int(pair[0])])
    parts = ["." if c == MISSING else str(remap[int(c)]) for c in pair]
    return ("|" if phased else "/").join(parts)


def annotated_vcf_text(gm: GenotypeMatrix, kb: KnowledgeBase) -> str:
    """The annotated VCF as text (header + records sorted by contig and position)."""
    functions = {
        (g, a): f
        for g, a, f in zip(kb.tables["alleles"]["gene"], kb.tables["alleles"]["allele"], kb.tables["alleles"]["function"])
    }
    lines = ["##fileformat=VCFv4.2", f"##source=pgx {__version__} annotate", f"##pgx_kb_version={kb.version}"]
    chroms = list(dict.fromkeys(gm.loci["chrom"]))
    lines += [f"##contig=<ID={c},length={LENGTHS['GRCh38'][c]}>" for c in chroms if c in LENGTHS["GRCh38"]]
    lines += HEADER_INFO
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *gm.samples]))
    order = np.lexsort((gm.loci["pos"].to_numpy(), [chroms.index(c) for c in gm.loci["chrom"]]))
    for j in order:
        col = gm.codes[:, j, :]
        observed = sorted({int(c) for c in np.unique(col) if c > 0})
        if not observed:
            continue
        row = gm.loci.iloc[j]
        alts = [gm.allele_sequence(int(j), c) for c in observed]
        remap = {MISSING: MISSING, 0: 0, **{c: i + 1 for i, c in enumerate(observed)}}
        per_alt = alleles_by_alt(kb, row["gene"], int(row["pos"]), row["ref"], alts)
        alleles = ",".join("|".join(encode(a) for a in names) or "." for names in per_alt)
        funcs = ",".join(
            "|".join(encode(functions.get((row["gene"], a)) or "unknown") for a in names) or "." for names in per_alt
        )
        info = (
            f"PGX_GENE={row['gene']};PGX_RSID={row['rsid'] or '.'};PGX_ALLELES={alleles};PGX_FUNCTION={funcs};PGX_KB={kb.version}"
        )
        gts = [_gt(col[s], bool(gm.phased[s, j]), remap) for s in range(len(gm.samples))]
        lines.append(
            "\t".join(
                [
                    row["chrom"],
                    str(int(row["pos"])),
                    row["rsid"] or ".",
                    row["ref"],
                    ",".join(alts),
                    ".",
                    "PASS",
                    info,
                    "GT",
                    *gts,
                ]
            )
        )
    return "\n".join(lines) + "\n"


def write_annotated_vcf(gm: GenotypeMatrix, kb: KnowledgeBase, out: Path | str) -> Path:
    """Write the annotated VCF bgzipped and tabix-indexed to ``out`` (``.vcf.gz``).

    Built in a temporary directory beside ``out`` and moved into place (VCF first, then
    its newer index), so a killed run leaves no half-written file.
    """
    from pgx.vcf import bgzip_vcf

    out = Path(out)
    with atomic_indexed(out) as staged:
        plain = staged.with_name("annotated.vcf")
        plain.write_text(annotated_vcf_text(gm, kb))
        bgzip_vcf(plain, staged, index="tbi")
    return out
