"""Loci and definitions for mitochondrial genes named by single variants (MT-RNR1).

PharmCAT has no definition file for MT-RNR1: its phenotype file names each allele by
the variant itself (``m.1555A>G``), one haplotype per result. This module places those
alleles on chrM so the gene can be called from a VCF, from facts the upstream data
states, and leaves every allele it cannot place to outside calls.

Where a position comes from, in order:

1. **PyPGx's tables.** ``pypgx/allele-table.csv`` links the allele name to one GRCh38
   core variant (``M-1555-A-G``), and ``pypgx/variant-table.csv`` lists that variant
   (position, REF, ALT, rsID). The name must agree with the variant: an SNV name's
   position and bases equal the variant's; a deletion name (``m.960C>del``) names the
   base the VCF record deletes, at or after the record's first deleted base (HGVS
   writes a deletion in a run at its 3' end, a VCF at its 5' end, so ``m.960C>del`` in
   the C run is ``955 AC>A``).
2. **The name itself.** An SNV name ``m.<pos><ref>><alt>`` that no table lists is
   unambiguous: it is placed at ``pos`` with that REF and ALT.
3. Otherwise (a complex name such as ``m.961T>del+Cn``, whose inserted length is not
   given) the allele is **not placed**: it keeps its function for outside calls, gets a
   ``outside_only_allele`` gene rule saying why, and ``pgx kb info`` lists it.

Coordinates are the revised Cambridge Reference Sequence (rCRS, NC_012920.1), which
GRCh38's ``chrM`` and GRCh37/b37's ``MT`` both are; so ``grch37_pos`` equals ``pos``.
(hg19's ``chrM`` is another sequence; the VCF reader refuses it, see :mod:`pgx.mito`.)

The reference allele (``Reference``) is defined with the REF base at every placed
position, as PharmCAT's definition files define their reference alleles in full.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pgx.errors import KnowledgeBaseError

PYPGX_VARIANTS = "pypgx/variant-table.csv"
PYPGX_ALLELES = "pypgx/allele-table.csv"

#: the mitochondrial chromosome as the KB names it (GRCh38, rCRS)
MITO_CHROM = "chrM"
#: the CPIC MT-RNR1 guideline: mtDNA is haploid, results are single variants
MITO_GUIDELINE_PMID = "34032273"

_SNV_NAME = re.compile(r"^m\.(?P<pos>\d+)(?P<ref>[ACGT])>(?P<alt>[ACGT])$")
_DEL_NAME = re.compile(r"^m\.(?P<pos>\d+)(?P<ref>[ACGT]+)>del$")
_PYPGX_VARIANT = re.compile(r"^(?P<chrom>M|MT)-(?P<pos>\d+)-(?P<ref>[ACGT]+)-(?P<alt>[ACGT]+)$")


@dataclass(frozen=True)
class Placement:
    """One allele placed on chrM as a VCF variant."""

    allele: str
    pos: int
    ref: str
    alt: str
    rsid: str
    source: str  # "pypgx" | "name"


def pypgx_variants(rows: Iterable[dict[str, str]], gene: str) -> dict[str, dict[str, str]]:
    """PyPGx variant name (``M-1555-A-G``) -> its variant-table row, for ``gene``."""
    return {r["GRCh38Name"]: r for r in rows if r["Gene"] == gene}


def pypgx_cores(rows: Iterable[dict[str, str]], gene: str) -> dict[str, list[str]]:
    """allele -> its GRCh38 core variants in PyPGx's allele table, for ``gene``."""
    out = {}
    for r in rows:
        if r["Gene"] == gene:
            core = (r.get("GRCh38Core") or "").strip()
            out[r["StarAllele"]] = [] if core in ("", "N/A") else [c.strip() for c in core.split(",") if c.strip()]
    return out


def _rsid(value: str | None) -> str:
    return value if value and value.startswith("rs") else ""


def name_agrees(name: str, pos: int, ref: str, alt: str) -> bool:
    """Does the allele name describe the VCF variant ``pos ref>alt``?"""
    snv = _SNV_NAME.match(name)
    if snv:
        return (int(snv["pos"]), snv["ref"], snv["alt"]) == (pos, ref, alt)
    deletion = _DEL_NAME.match(name)
    if deletion and len(ref) > len(alt) and ref.startswith(alt):
        deleted = ref[len(alt) :]
        return deletion["ref"] == deleted and int(deletion["pos"]) >= pos + len(alt)
    return False


def place_from_pypgx(name: str, cores: list[str], variants: dict[str, dict[str, str]]) -> Placement | None:
    """The allele's one PyPGx core variant, when it exists and agrees with the name."""
    if len(cores) != 1 or cores[0] not in variants:
        return None
    row = variants[cores[0]]
    m = _PYPGX_VARIANT.match(cores[0])
    if m is None or not row["GRCh38Position"].isdigit():
        return None
    pos, ref, alt = int(row["GRCh38Position"]), row["GRCh38Allele"], row["Variant"]
    if (int(m["pos"]), m["ref"], m["alt"]) != (pos, ref, alt) or not name_agrees(name, pos, ref, alt):
        return None
    return Placement(name, pos, ref, alt, _rsid(row.get("rsID")), "pypgx")


def place_from_name(name: str) -> Placement | None:
    """An SNV name ``m.<pos><ref>><alt>`` placed as written."""
    m = _SNV_NAME.match(name)
    return Placement(name, int(m["pos"]), m["ref"], m["alt"], "", "name") if m else None


def place_alleles(
    names: Iterable[str], reference: str, cores: dict[str, list[str]], variants: dict[str, dict[str, str]]
) -> tuple[list[Placement], dict[str, str]]:
    """(placed alleles, {unplaced allele: why}) for every name but the reference."""
    placed, unplaced = [], {}
    for name in names:
        if name == reference:
            continue
        found = place_from_pypgx(name, cores.get(name, []), variants) or place_from_name(name)
        if found is None:
            unplaced[name] = (
                "the name is not a single-nucleotide or single-run deletion variant and no PyPGx variant "
                "placing it agrees with it; give it as an outside call"
            )
        else:
            placed.append(found)
    refs: dict[int, str] = {}
    for p in placed:
        if refs.setdefault(p.pos, p.ref) != p.ref:
            raise KnowledgeBaseError(f"MT alleles disagree on the reference base at {p.pos}: {refs[p.pos]} vs {p.ref}")
    return placed, unplaced


def locus_rows(gene: str, placed: list[Placement]) -> list[dict]:
    """One ``loci`` row per position (ALTs in the order of the alleles' positions and names)."""
    by_pos: dict[int, list[Placement]] = {}
    for p in placed:
        by_pos.setdefault(p.pos, []).append(p)
    rows = []
    for pos in sorted(by_pos):
        here = sorted(by_pos[pos], key=lambda p: p.alt)
        rows.append(
            {
                "gene": gene,
                "chrom": MITO_CHROM,
                "pos": pos,
                "ref": here[0].ref,
                "alts": ",".join(dict.fromkeys(p.alt for p in here)),
                "rsid": ";".join(sorted({p.rsid for p in here if p.rsid})),
                "hgvs": ";".join(p.allele for p in here),
                "role": "core",
                "grch37_pos": pos,  # rCRS: GRCh38 chrM and b37 MT are the same sequence
            }
        )
    return rows


def definition_rows(gene: str, reference: str, placed: list[Placement]) -> list[dict]:
    """Each placed allele's ALT at its position; the reference allele's REF at every position."""
    rows = [{"gene": gene, "allele": p.allele, "pos": p.pos, "bases": p.alt} for p in placed]
    refs = {p.pos: p.ref for p in placed}
    rows += [{"gene": gene, "allele": reference, "pos": pos, "bases": ref} for pos, ref in sorted(refs.items())]
    return sorted(rows, key=lambda r: (r["allele"] != reference, r["pos"], r["allele"]))


def rule_rows(gene: str, unplaced: dict[str, str]) -> list[dict]:
    """``mitochondrial`` (how the gene is called) and one ``outside_only_allele`` per unplaced allele."""
    rows = [
        {
            "gene": gene,
            "rule": "mitochondrial",
            "value": MITO_CHROM,
            "note": "CPIC MT-RNR1 guideline: mtDNA is haploid and results are single variants; each variant is "
            f"looked for on its own and the highest-risk one found gives the phenotype (PMID {MITO_GUIDELINE_PMID})",
        }
    ]
    rows += [{"gene": gene, "rule": "outside_only_allele", "value": name, "note": why} for name, why in sorted(unplaced.items())]
    return rows


@dataclass(frozen=True)
class MitoTables:
    """What this module adds for one chrM gene."""

    loci: list[dict]
    definitions: list[dict]
    rules: list[dict]
    audit: dict


def mito_tables(gene: str, reference: str, names: Iterable[str], pypgx_allele_rows, pypgx_variant_rows) -> MitoTables:
    """Loci, definitions, gene rules and the audit entry of chrM gene ``gene``."""
    names = list(names)
    placed, unplaced = place_alleles(
        names, reference, pypgx_cores(pypgx_allele_rows, gene), pypgx_variants(pypgx_variant_rows, gene)
    )
    audit = {
        "placed_from_pypgx": sorted(p.allele for p in placed if p.source == "pypgx"),
        "placed_from_name": sorted(p.allele for p in placed if p.source == "name"),
        "not_placed": sorted(unplaced),
    }
    if not placed:
        return MitoTables([], [], [], audit)
    return MitoTables(locus_rows(gene, placed), definition_rows(gene, reference, placed), rule_rows(gene, unplaced), audit)
