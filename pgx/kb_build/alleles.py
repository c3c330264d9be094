"""Genes, loci, allele definitions and allele functions from PharmCAT's definition files.

Everything here is generic over ``pharmcat/alleles/<GENE>_translation.json`` (positions
and named-allele definitions), ``pharmcat/alleles/exemptions.json`` (extra and ignored
positions), ``pharmcat/phenotype/<GENE>.json`` or, for genes whose current file is not
mirrored, ``pharmcat/phenotype-older/<GENE>.json`` (allele function and activity value),
``cpic/gene.json`` (lookup method) and ``pypgx/variant-table.csv`` (GRCh37 positions).
No gene is named in this module: adding a gene means adding it to the list given to
:func:`pgx.kb_build.build_kb`.

Decisions (each keeps a fact exactly as the source states it):

* Definitions are the translation file's ``alleles`` cells, which are already VCF
  alleles (``cpicToVcfAlleleMap`` applied, indels with their padding base), or IUPAC
  codes for SNVs. A null cell is not written: it means "the reference allele's base".
  The reference allele is whatever the file flags ``reference`` (CYP2C19 ``*38``), and
  an allele the file fully specifies (CYP2C19 ``*1``) stays fully specified.
* A position listed in ``ignoredPositions`` keeps its locus row with role ``ignored``
  and its definition cells are dropped, because PharmCAT does not match on it.
* ``alleles`` lists the alleles the translation file defines, no more: the matcher
  treats every non-structural row there as callable. Alleles only the phenotype file
  knows (e.g. CYP2C19 ``*36``, a gene deletion) are left out; their functions still
  count when function pairs are derived from the phenotype file's diplotypes.
* ``function`` is the phenotype file's ``functionValue`` (or its ``haplotypes`` value
  when the file has no ``namedAlleles`` and is not an activity-score file); an allele no
  source gives a function to keeps an empty function, never a guessed one.
* ``grch37_pos`` is joined from PyPGx's variant table on (chromosome, GRCh38 position),
  only when both sources agree on the reference base there. An indel PyPGx writes at
  another (not left-aligned) position stays empty rather than being shifted by hand.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pgx.errors import KnowledgeBaseError
from pgx.kb_build.sources import SourceReader

EXEMPTIONS = "pharmcat/alleles/exemptions.json"
CPIC_GENES = "cpic/gene.json"
PYPGX_VARIANTS = "pypgx/variant-table.csv"

#: IUPAC ambiguity codes for SNVs and the bases each stands for
IUPAC = {
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}

_CPIC_LOOKUP = {"ACTIVITY_SCORE": "activity_score", "PHENOTYPE": "phenotype", "ALLELE_STATUS": "allele_status"}


def translation_path(gene: str) -> str:
    """Path (relative to the sources) of ``gene``'s PharmCAT definition file."""
    return f"pharmcat/alleles/{gene}_translation.json"


def phenotype_path(reader: SourceReader, gene: str) -> str | None:
    """The phenotype file for ``gene``: current if mirrored, else the older copy, else None."""
    for folder in ("phenotype", "phenotype-older"):
        rel = f"pharmcat/{folder}/{gene}.json"
        if reader.exists(rel):
            return rel
    return None


@dataclass(frozen=True)
class GeneSources:
    """The parsed upstream files that describe one gene."""

    gene: str
    translation: dict
    phenotype: dict | None  # None when no phenotype file exists for the gene
    exemptions: dict  # this gene's entry of exemptions.json ({} when absent)
    cpic_gene: dict | None  # this gene's row of cpic/gene.json


def read_gene_sources(reader: SourceReader, genes: Iterable[str]) -> list[GeneSources]:
    """Read and sanity-check every source file for ``genes``."""
    exemptions = reader.json(EXEMPTIONS)
    cpic = {row["symbol"]: row for row in reader.json(CPIC_GENES)}
    out = []
    for gene in genes:
        translation = reader.json(translation_path(gene))
        check_translation(gene, translation)
        pheno_rel = phenotype_path(reader, gene)
        phenotype = reader.json(pheno_rel) if pheno_rel else None
        out.append(GeneSources(gene, translation, phenotype, exemptions.get(gene, {}), cpic.get(gene)))
    return out


def check_translation(gene: str, translation: dict) -> None:
    """Fail on a definition file the builder cannot read faithfully."""
    where = f"{translation_path(gene)}"
    if translation.get("gene") != gene:
        raise KnowledgeBaseError(f"{where} is for gene {translation.get('gene')!r}, expected {gene}")
    positions = [v["position"] for v in translation["variants"]]
    if len(set(positions)) != len(positions):
        raise KnowledgeBaseError(f"{where} lists a position twice")
    names = [a["name"] for a in translation["namedAlleles"]]
    if len(set(names)) != len(names):
        raise KnowledgeBaseError(f"{where} names an allele twice")
    refs = [a["name"] for a in translation["namedAlleles"] if a.get("reference")]
    if len(refs) != 1:
        raise KnowledgeBaseError(f"{where} flags {len(refs)} reference alleles ({refs}); expected exactly one")
    for allele in translation["namedAlleles"]:
        if len(allele["alleles"]) != len(positions):
            raise KnowledgeBaseError(f"{where}: {allele['name']} has {len(allele['alleles'])} cells for {len(positions)} positions")


# --- genes ----------------------------------------------------------------------------


def has_activity_values(phenotype: dict | None) -> bool:
    """True when the phenotype file gives alleles activity values (activity-score gene)."""
    return bool(phenotype and phenotype.get("activityValues"))


def lookup_method(src: GeneSources) -> str:
    """``activity_score`` / ``phenotype`` / ``allele_status``, CPIC's and PharmCAT's agreeing.

    CPIC's ``gene.json`` names the method; the phenotype file independently shows it
    (activity values present or not). A disagreement is an error, not a choice.
    """
    from_file = "activity_score" if has_activity_values(src.phenotype) else "phenotype"
    if src.cpic_gene is None or not src.cpic_gene.get("lookupmethod"):
        return from_file
    from_cpic = _CPIC_LOOKUP.get(src.cpic_gene["lookupmethod"])
    if from_cpic is None:
        raise KnowledgeBaseError(f"{CPIC_GENES}: unknown lookupmethod {src.cpic_gene['lookupmethod']!r} for {src.gene}")
    if src.phenotype is not None and (from_cpic == "activity_score") != (from_file == "activity_score"):
        raise KnowledgeBaseError(
            f"{src.gene}: CPIC lookup method is {from_cpic} but the PharmCAT phenotype file "
            f"{'has' if from_file == 'activity_score' else 'has no'} activity values"
        )
    return from_cpic


def reference_allele(translation: dict) -> str:
    """Name of the allele flagged ``reference`` (matches the reference genome)."""
    return next(a["name"] for a in translation["namedAlleles"] if a.get("reference"))


def gene_row(src: GeneSources) -> dict:
    """One ``genes`` row."""
    chrom = src.translation["chromosome"]
    if src.cpic_gene and src.cpic_gene.get("chr") and src.cpic_gene["chr"] != chrom:
        raise KnowledgeBaseError(f"{src.gene}: PharmCAT says {chrom}, CPIC gene.json says {src.cpic_gene['chr']}")
    return {
        "gene": src.gene,
        "chrom": chrom,
        "lookup_method": lookup_method(src),
        "reference_allele": reference_allele(src.translation),
        "called_from": "vcf",
        "source_version": src.translation["version"],
    }


# --- loci -----------------------------------------------------------------------------

Grch37Index = dict[tuple[str, int], set[tuple[int, str]]]


def grch37_index(rows: Iterable[dict[str, str]]) -> Grch37Index:
    """(chromosome without ``chr``, GRCh38 pos) -> {(GRCh37 pos, GRCh38 reference allele)}."""
    index: Grch37Index = defaultdict(set)
    for row in rows:
        if row["GRCh38Position"].isdigit() and row["GRCh37Position"].isdigit():
            key = (row["Chromosome"], int(row["GRCh38Position"]))
            index[key].add((int(row["GRCh37Position"]), row["GRCh38Allele"]))
    return index


def grch37_position(index: Grch37Index, chrom: str, pos: int, ref: str) -> int | None:
    """GRCh37 position of a GRCh38 locus, when PyPGx lists that base with the same reference.

    Only rows whose reference allele starts with the same base count: both sources
    then describe the same genomic base, whatever the variant (an indel's padding base
    has the same GRCh37 offset as an SNV there).
    """
    hits = {p37 for p37, ref38 in index.get((chrom.removeprefix("chr"), pos), ()) if ref38[:1] == ref[:1]}
    if len(hits) > 1:
        raise KnowledgeBaseError(f"{PYPGX_VARIANTS} maps {chrom}:{pos} to several GRCh37 positions {sorted(hits)}")
    return hits.pop() if hits else None


def locus_row(gene: str, variant: dict, role: str, index: Grch37Index) -> dict:
    """One ``loci`` row from a PharmCAT VariantLocus object."""
    return {
        "gene": gene,
        "chrom": variant["chromosome"],
        "pos": int(variant["position"]),
        "ref": variant["ref"],
        "alts": ",".join(variant["alts"]),
        "rsid": variant.get("rsid") or "",
        "hgvs": variant.get("chromosomeHgvsName") or "",
        "role": role,
        "grch37_pos": grch37_position(index, variant["chromosome"], int(variant["position"]), variant["ref"]),
    }


def ignored_positions(src: GeneSources) -> set[int]:
    """Positions PharmCAT's exemptions tell the matcher to ignore."""
    return {int(v["position"]) for v in src.exemptions.get("ignoredPositions", [])}


def locus_rows(src: GeneSources, index: Grch37Index) -> list[dict]:
    """Core loci (every definition position), extra (reported only) and ignored loci."""
    ignored = ignored_positions(src)
    rows = {}
    for variant in src.translation["variants"]:
        role = "ignored" if int(variant["position"]) in ignored else "core"
        rows[int(variant["position"])] = locus_row(src.gene, variant, role, index)
    for role, key in (("extra", "extraPositions"), ("ignored", "ignoredPositions")):
        for variant in src.exemptions.get(key, []):
            pos = int(variant["position"])
            if role == "extra" and pos in rows:
                raise KnowledgeBaseError(f"{EXEMPTIONS}: extra position {pos} of {src.gene} is also a definition position")
            rows.setdefault(pos, locus_row(src.gene, variant, role, index))
    return [rows[p] for p in sorted(rows)]


# --- allele definitions ---------------------------------------------------------------


def check_bases(gene: str, allele: str, variant: dict, bases: str) -> None:
    """A definition cell must be the locus REF, one of its ALTs, or an IUPAC code over them."""
    known = [variant["ref"], *variant["alts"]]
    if bases in known:
        return
    if bases in IUPAC and all(b in known for b in IUPAC[bases]):
        return
    raise KnowledgeBaseError(
        f"{translation_path(gene)}: {allele} at {variant['position']} is {bases!r}, "
        f"which is neither REF/ALT ({','.join(known)}) nor an IUPAC code over them"
    )


def definition_rows(src: GeneSources) -> list[dict]:
    """One row per non-null cell of every named allele, minus ignored positions."""
    ignored = ignored_positions(src)
    rows = []
    variants = src.translation["variants"]
    for allele in src.translation["namedAlleles"]:
        for variant, bases in zip(variants, allele["alleles"]):
            if bases is None or int(variant["position"]) in ignored:
                continue
            check_bases(src.gene, allele["name"], variant, bases)
            rows.append({"gene": src.gene, "allele": allele["name"], "pos": int(variant["position"]), "bases": bases})
    return rows


# --- alleles (function, activity) -----------------------------------------------------


def parse_activity(value: object, where: str) -> float | None:
    """An activity value as a number; ``n/a``/empty/None mean "none given"."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "n/a")):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise KnowledgeBaseError(f"{where}: activity value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise KnowledgeBaseError(f"{where}: activity value {value!r} is not finite")
    return number


def allele_facts(gene: str, phenotype: dict | None) -> dict[str, tuple[str | None, float | None]]:
    """allele -> (function, activity value) as the phenotype file states them.

    ``namedAlleles`` is the primary record; ``haplotypes`` and ``activityValues`` must
    agree with it (a disagreement raises). Files without ``namedAlleles`` (older
    format) give the function through ``haplotypes`` unless they are activity files.
    """
    if phenotype is None:
        return {}
    where = f"phenotype file of {gene}"
    activity_file = has_activity_values(phenotype)
    activities = phenotype.get("activityValues") or {}
    facts: dict[str, tuple[str | None, float | None]] = {}
    for entry in phenotype.get("namedAlleles") or []:
        name = entry["name"]
        facts[name] = (entry.get("functionValue") or None, parse_activity(entry.get("activityValue"), f"{where}, {name}"))
    for name, value in (phenotype.get("haplotypes") or {}).items():
        if name in facts:
            _check_haplotype_agrees(where, name, value, facts[name], activity_file)
        else:
            function = None if activity_file else (value or None)
            facts[name] = (function, parse_activity(activities.get(name), f"{where}, {name}"))
    for name, value in activities.items():
        if parse_activity(value, f"{where}, {name}") != facts.get(name, (None, None))[1]:
            raise KnowledgeBaseError(f"{where}: activityValues[{name!r}]={value!r} disagrees with namedAlleles")
    return facts


def _check_haplotype_agrees(where: str, name: str, value: str, fact: tuple, activity_file: bool) -> None:
    function, activity = fact
    same = parse_activity(value, f"{where}, {name}") == activity if activity_file else value == function
    if not same:
        raise KnowledgeBaseError(f"{where}: haplotypes[{name!r}]={value!r} disagrees with namedAlleles {fact}")


def allele_rows(src: GeneSources) -> list[dict]:
    """One row per allele the translation file defines, with its function and activity."""
    facts = allele_facts(src.gene, src.phenotype)
    rows = []
    for allele in src.translation["namedAlleles"]:
        function, activity = facts.get(allele["name"], (None, None))
        rows.append(
            {
                "gene": src.gene,
                "allele": allele["name"],
                "is_reference": bool(allele.get("reference", False)),
                "is_structural": bool(allele.get("structuralVariant", False)),
                "function": function or "",
                "activity_value": activity,
            }
        )
    return rows


def undefined_alleles(src: GeneSources) -> list[str]:
    """Alleles the phenotype file names that the translation file does not define."""
    defined = {a["name"] for a in src.translation["namedAlleles"]}
    return [name for name in allele_facts(src.gene, src.phenotype) if name not in defined]
