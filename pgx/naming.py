"""Allele and diplotype naming: one fixed, numeric-aware order for star alleles.

Diplotypes are written lower allele first (``*1/*17``, ``*2/*10``, ``*3A/*3C``) so the
same pair always gives the same string. Star names sort by their number, then by any
suffix letters; other names (``rs4149056T``, ``c.1905+1G>A``) sort after star names in
natural order (numbers by value: ``c.61C>T`` before ``c.313G>A``), except ``Reference``
(the reference allele of variant-named genes such as DPYD), which comes first among
them. A combination (``[c.61C>T + c.313G>A]``) sorts by its contents, after the single
allele it starts with.
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


_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> tuple:
    """``c.313G>A`` -> ('c.', 313, 'g>a'): numbers compare by value."""
    return tuple(int(t) if t.isdigit() else t for t in _DIGITS.split(text.lower()) if t != "")


def allele_sort_key(name: str) -> tuple:
    """Sort key: star alleles by number then suffix, then every other name in natural order."""
    m = _STAR.match(name)
    if m:
        return (0, int(m.group(1)), m.group(2), name)
    text = name[1:] if name.startswith("[") else name
    return (1, 0 if name == "Reference" else 1, tuple((isinstance(t, int), t) for t in _natural(text)), name)


def sort_alleles(names: Iterable[str]) -> list[str]:
    """``names`` in the canonical allele order."""
    return sorted(names, key=allele_sort_key)


def format_diplotype(allele_1: str, allele_2: str | None) -> str:
    """``*1/*17`` with the lower allele first; a haploid call is just the allele."""
    if allele_2 is None:
        return allele_1
    a, b = sort_alleles([allele_1, allele_2])
    return f"{a}/{b}"
