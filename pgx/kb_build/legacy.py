"""The ``legacy_alleles`` table: older allele names and what they mean in current names.

Truth sets and older reports name alleles as the nomenclature of their day did (SLCO1B1
``*1B``, UGT1A1 ``*60``, CYP3A4 ``*1B``). No upstream data file lists these names with
their current meaning (PharmCAT's ``messages.json`` mentions two), so the rows are curated
here, each with its citation, in :data:`LEGACY_NAMES`. ``pgx validate`` uses the table to
score truth rows written in older names (see :mod:`pgx.validate`); nothing in calling uses
it.

Relations (declared with the table in ``pgx.schema.KB_TABLES["legacy_alleles"]``):

* ``renamed``: the same haplotype under a new name;
* ``suballele``: the legacy name is a sub-allele of the current core allele, told apart
  by a variant that current definitions leave out;
* ``outside_definitions``: the legacy allele carries a variant that current definitions
  leave out; over the positions they do use it is the ``current`` allele;
* ``split``: the legacy name covered several current alleles that ``decided_by`` tells
  apart (an old assay did not test it), so it means any of them;
* ``unmapped``: no current meaning is established; the name is not translated.

The build checks every row against the tables it just built, so a row cannot claim more
than the definitions say: names in ``current`` are alleles of the gene; for the one-to-one
relations, the legacy variants at the gene's core loci are exactly the current allele's
defining variants, and no legacy variant of ``outside_definitions`` / ``suballele`` rows
is a locus of the gene; a ``split`` row's options differ only at its ``decided_by`` loci;
a row citing ``messages.json`` names a message that states its renaming.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.kb import LEGACY_RELATIONS as RELATIONS
from pgx.kb_build.sources import SourceReader
from pgx.naming import definition_matches

PHARMCAT_MESSAGES = "pharmcat/reporter/messages.json"

_GENEFOCUS_SLCO1B1 = "PharmVar GeneFocus: SLCO1B1 (Ramsey et al. 2023, PMID 35797228)"
_CPIC_STATINS = "CPIC statin guideline 2022 (PMID 35152405)"
_CYP2C19_MESSAGE = f"PharmCAT reporter message 'CYP2C19 *1 missing' ({PHARMCAT_MESSAGES})"


@dataclass(frozen=True)
class LegacyName:
    """One legacy allele name and its current meaning (see the module doc)."""

    gene: str
    legacy_name: str
    current: tuple[str, ...]
    relation: str
    legacy_variants: str  # the legacy allele's defining variants, with rsIDs; "" = none
    decided_by: tuple[str, ...]  # split: rsIDs of the loci that tell the options apart
    note: str
    source: str
    quote: str = ""  # a phrase the cited messages.json must contain (checked by the build)


LEGACY_NAMES: tuple[LegacyName, ...] = (
    LegacyName(
        "CYP2C19", "*1", ("*1", "*38"), "split", "", ("rs3758581",),
        "before *38 was defined, *1 covered both haplotypes that c.991A>G (rs3758581) now tells "
        "apart: *1 (G) and *38 (A, the reference genome); both are normal function",
        f"{_CYP2C19_MESSAGE}; PharmVar CYP2C19",
        "CYP2C19*38 (formerly *1A)",
    ),
    LegacyName(
        "CYP2C19", "*1A", ("*38",), "renamed", "", (),
        "the haplotype without c.991A>G (rs3758581), named *38 since PharmVar defined it",
        f"{_CYP2C19_MESSAGE}; PharmVar CYP2C19",
        "CYP2C19*38 (formerly *1A)",
    ),
    LegacyName(
        "CYP2C19", "*1B", ("*1",), "renamed", "c.991A>G (rs3758581)", (),
        "the haplotype with c.991A>G (rs3758581) alone, now *1",
        f"{_CYP2C19_MESSAGE}; PharmVar CYP2C19",
        "CYP2C19*1 (formerly *1B)",
    ),
    LegacyName(
        "CYP2D6", "*2A", ("*2",), "suballele", "-1584C>G (rs1080985); 2850C>T (rs16947); 4180G>C (rs1135840)", (),
        "*2 with the upstream variant -1584C>G, which current definitions leave out (PharmVar *2.001)",
        "PharmVar CYP2D6 (*2 sub-alleles)",
    ),
    LegacyName(
        "CYP3A4", "*1B", ("*1",), "suballele", "-392A>G (rs2740574)", (),
        "*1 with the promoter variant -392A>G, which current definitions leave out (PharmVar *1.002)",
        "PharmVar CYP3A4 (*1 sub-alleles); the current CYP3A4 definitions have no locus at rs2740574",
    ),
    LegacyName(
        "SLCO1B1", "*1A", ("*1",), "renamed", "", (),
        "the reference haplotype; PharmVar's SLCO1B1 nomenclature calls it *1",
        f"{_GENEFOCUS_SLCO1B1}; {_CPIC_STATINS}",
    ),
    LegacyName(
        "SLCO1B1", "*1B", ("*37",), "renamed", "c.388A>G (rs2306283)", (),
        "c.388A>G alone (normal function); PharmVar's SLCO1B1 nomenclature calls it *37",
        f"{_GENEFOCUS_SLCO1B1}; {_CPIC_STATINS}",
    ),
    LegacyName(
        "SLCO1B1", "*17", ("*15",), "outside_definitions",
        "g.-11187G>A (rs4149015); c.388A>G (rs2306283); c.521T>C (rs4149056)", (),
        "*15's two coding variants plus the promoter variant g.-11187G>A, which current definitions "
        "leave out; over the positions they use it is *15 (no function)",
        f"Pasanen et al. 2006, Eur J Clin Pharmacol (PMID 16758257), haplotype *17; {_GENEFOCUS_SLCO1B1}",
    ),
    LegacyName(
        "SLCO1B1", "*21", (), "unmapped", "", (),
        "an older haplotype name that PharmVar's SLCO1B1 nomenclature did not carry forward; we "
        "hold no citable definition of it in current terms, so it is not translated",
        _GENEFOCUS_SLCO1B1,
    ),
    LegacyName(
        "UGT1A1", "*60", ("*1",), "outside_definitions", "c.-3279T>G (rs4124874)", (),
        "the enhancer (PBREM) variant c.-3279T>G alone, which current definitions leave out; "
        "over the positions they use it is *1",
        "UGT Nomenclature Committee, UGT1A1 alleles (the naming source cpic/gene.json cites); "
        "the current UGT1A1 definitions have no locus at rs4124874",
    ),
)  # fmt: skip

_RSID = re.compile(r"\brs\d+\b")


def legacy_rsids(text: str) -> set[str]:
    """The rsIDs named in a ``legacy_variants`` cell."""
    return set(_RSID.findall(text))


def legacy_allele_rows(
    reader: SourceReader, tables: dict[str, pd.DataFrame], genes: tuple[str, ...], names: tuple[LegacyName, ...] = LEGACY_NAMES
) -> list[dict]:
    """``legacy_alleles`` rows of ``genes``, each checked against the built ``tables``."""
    mine = [n for n in names if n.gene in genes]
    messages = _message_texts(reader) if any(n.quote for n in mine) else []
    rows = []
    for name in mine:
        check_legacy_name(name, tables, messages)
        rows.append(
            {
                "gene": name.gene,
                "legacy_name": name.legacy_name,
                "current": "|".join(name.current),
                "relation": name.relation,
                "legacy_variants": name.legacy_variants,
                "decided_by": ";".join(name.decided_by),
                "note": name.note,
                "source": name.source,
            }
        )
    return rows


def _message_texts(reader: SourceReader) -> list[str]:
    return [str(m.get("message", "")) for m in reader.json(PHARMCAT_MESSAGES) or []]


def check_legacy_name(name: LegacyName, tables: dict[str, pd.DataFrame], messages: list[str]) -> None:
    """Raise KnowledgeBaseError when ``name`` claims what the built tables contradict."""
    where = f"legacy name {name.gene} {name.legacy_name}"
    if name.relation not in RELATIONS:
        raise KnowledgeBaseError(f"{where}: relation {name.relation!r} is not one of {', '.join(RELATIONS)}")
    alleles = set(tables["alleles"].loc[tables["alleles"]["gene"] == name.gene, "allele"])
    unknown = [a for a in name.current if a not in alleles]
    if unknown:
        raise KnowledgeBaseError(f"{where}: {', '.join(unknown)} is not an allele of {name.gene} in the built tables")
    if (name.relation == "unmapped") != (not name.current):
        raise KnowledgeBaseError(f"{where}: only an unmapped name has no current allele")
    if name.relation != "split" and name.legacy_name in alleles:
        raise KnowledgeBaseError(f"{where}: the name is a current allele; only a 'split' row may reuse one")
    if name.quote and not any(name.quote in m for m in messages):
        raise KnowledgeBaseError(f"{where}: no message in {PHARMCAT_MESSAGES} says {name.quote!r}")
    if name.relation == "unmapped":
        return
    variants = {a: allele_variant_rsids(tables, name.gene, a) for a in name.current}
    core = core_rsids(tables, name.gene)
    legacy = legacy_rsids(name.legacy_variants)
    if name.relation == "split":
        _check_split(where, name, variants, legacy, core)
        return
    expected = variants[name.current[0]]
    if legacy & core != expected or len(name.current) != 1:
        raise KnowledgeBaseError(
            f"{where}: its variants at {name.gene} loci ({sorted(legacy & core)}) are not "
            f"{name.current[0]}'s ({sorted(expected)})"
        )
    if name.relation in ("suballele", "outside_definitions") and not legacy - core:
        raise KnowledgeBaseError(f"{where}: every legacy variant is a locus of {name.gene}, so none is outside the definitions")


def _check_split(where: str, name: LegacyName, variants: dict[str, set[str]], legacy: set[str], core: set[str]) -> None:
    decided = set(name.decided_by)
    if len(name.current) < 2 or not decided or not decided <= core:
        raise KnowledgeBaseError(f"{where}: a split names two or more alleles and core loci that tell them apart")
    for allele, rsids in variants.items():
        if not rsids - decided <= legacy:
            raise KnowledgeBaseError(f"{where}: {allele} differs from the legacy allele outside {sorted(decided)}")


def core_rsids(tables: dict[str, pd.DataFrame], gene: str) -> set[str]:
    """rsIDs of the gene's core loci."""
    loci = tables["loci"]
    mine = loci[(loci["gene"] == gene) & (loci["role"] == "core")]
    return {r for r in mine["rsid"] if r}


def allele_variant_rsids(tables: dict[str, pd.DataFrame], gene: str, allele: str) -> set[str]:
    """rsIDs of the loci where ``allele``'s definition excludes the reference base."""
    loci = tables["loci"]
    loci = loci[loci["gene"] == gene]
    ref = dict(zip(loci["pos"].astype(int), loci["ref"]))
    rsid = dict(zip(loci["pos"].astype(int), loci["rsid"]))
    defs = tables["allele_definitions"]
    defs = defs[(defs["gene"] == gene) & (defs["allele"] == allele)]
    return {rsid[int(p)] or f"pos {p}" for p, b in zip(defs["pos"], defs["bases"]) if not definition_matches(b, ref.get(int(p)))}
