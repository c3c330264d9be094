"""Allele and diplotype naming: one fixed, numeric-aware order for star alleles.

Diplotypes are written lower allele first (``*1/*17``, ``*2/*10``, ``*3A/*3C``) so the
same pair always gives the same string. Star names sort by their number, then by any
suffix letters; other names (``rs4149056T``, ``c.1905+1G>A``) sort after star names,
alphabetically, except ``Reference`` (PharmCAT's name for the reference allele of
variant-named genes such as DPYD), which comes first among them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_STAR = re.compile(r"^\*(\d+)(.*)$")


#: IUPAC nucleotide codes an allele definition may use for an SNV, and the bases each allows
IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip


def definition_matches(definition: str, sequence: str | None) -> bool:
    """Does a VCF allele ``sequence`` satisfy a definition cell (exact, or an IUPAC code)?"""
    if sequence is None:
        return False
    if definition == sequence:
        return True
    return len(definition) == 1 and len(sequence) == 1 and sequence in IUPAC.get(definition, "")


def allele_sort_key(name: str) -> tuple:
    """Sort key: star alleles by number then suffix, then every other name by text."""
    m = _STAR.match(name)
    if m:
        return (0, int(m.group(1)), m.group(2), name)
    return (1, 0 if name == "Reference" else 1, name.lower(), name)


def sort_alleles(names: Iterable[str]) -> list[str]:
    """``names`` in the canonical allele order."""
    return sorted(names, key=allele_sort_key)


def format_diplotype(allele_1: str, allele_2: str | None) -> str:
    """``*1/*17`` with the lower allele first; a haploid call is just the allele."""
    if allele_2 is None:
        return allele_1
    a, b = sort_alleles([allele_1, allele_2])
    return f"{a}/{b}"
