"""Genes called variant by variant: DPYD, RYR1, CACNA1S (gene rule ``lowest_function``).

CPIC phenotypes these genes by the variant alleles found, not by star-allele haplotypes:
DPYD's activity score is the sum of the two lowest variant activity values, and one
Malignant Hyperthermia associated RYR1/CACNA1S variant gives susceptibility. What that
means for one genotype pattern (see docs/accuracy.md, "Rules and their sources"):

* **Phase known** (every heterozygous position phased in one set, haploid, or at most one
  heterozygous position, which needs no phase): each haplotype is built from its own
  variants (``[c.498G>A + c.2582A>G]`` when several sit on one) and scored by its
  lowest-function variant, so two variants in *cis* leave the other copy intact.
* **Phase unknown** (two or more unphased heterozygous positions): every variant allele
  found is listed (``alleles_found``), and the two lowest-function copies are assumed to
  sit on different gene copies (CPIC's rule), which the call says.
* An allele is found when every one of its defining variants is carried (on the
  haplotype, or in dosage when unphased). Its variants that are also part of a larger
  allele found on the same copy are not counted twice.
* A variant carried that no allele found explains (DPYD c.1236G>A without c.1129-5923C>G)
  is reported; when nothing else was found the result is a no-call, never ``Reference``.
* An allele whose defining position is missing is looked for on its remaining variants.
  When they are all carried, the allele is called only if a gene rule
  (``inferred_allele``) documents that inference (DPYD HapB3 from c.1236G>A), and the
  call says so; otherwise it is a no-call naming the possible allele.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pgx.calls import Solution
from pgx.naming import allele_sort_key

if TYPE_CHECKING:  # pgx.match imports this module
    from pgx.match import GeneModel

MODE_UNPHASED, MODE_PHASED, MODE_HAPLOID = 0, 1, 2
#: function ranks below this (decreased, no function, disease-associated; pgx.match.FUNCTION_RANK) change the phenotype
ACTIONABLE_RANK = 2.0


def combination_name(alleles: list[str]) -> str:
    """``[*6 + *18]``: several named alleles found together on one haplotype."""
    return "[" + " + ".join(sorted(alleles, key=allele_sort_key)) + "]"


@dataclass(frozen=True)
class LowestFunctionGene:
    """A lowest-function gene as its solver reads it."""

    model: GeneModel
    mask: np.ndarray  # uint64 [A, L]: code bits each allele accepts per position
    ranks: list[tuple]  # sort key per allele, lowest function first
    reference_mask: np.ndarray  # uint64 [L]: code bits the reference allele accepts per position
    inferable: frozenset[int]  # alleles a gene rule lets us call from part of their variants
    nonref: np.ndarray = field(init=False)  # bool [A, L]: each allele's non-reference defining positions
    alleles: np.ndarray = field(init=False)  # int [V]: the alleles with a variant

    def __post_init__(self) -> None:
        nonref = self.model.defined & ((self.mask & self.reference_mask[None, :]) == 0)
        object.__setattr__(self, "nonref", nonref)
        object.__setattr__(self, "alleles", np.flatnonzero(nonref.any(axis=1)))


def solve_lowest_function(gene: LowestFunctionGene, ub: np.ndarray, ignored: np.ndarray, modes: np.ndarray) -> list[Solution]:
    """One :class:`~pgx.calls.Solution` per distinct pattern (rows of ``ub``: code bits per
    pattern, position and haplotype, all bits where ``ignored``; ``modes``: each pattern's
    phase mode)."""
    reference_mask = gene.reference_mask
    out = []
    for u in range(len(ub)):
        hb, ign, mode = ub[u], ignored[u], int(modes[u])
        carried = ((hb & reference_mask[:, None]) == 0) & ~ign[:, None]  # [L, 2] non-reference, called
        het = carried[:, 0] != carried[:, 1]
        if mode == MODE_HAPLOID:
            haps = (0,)
        elif mode == MODE_PHASED or het.sum() <= 1:
            haps = (0, 1)
        else:
            out.append(_unphased(gene, hb, ign, carried))
            continue
        out.append(_phased(gene, hb, ign, carried, haps))
    return out


def _on_copy(mask, nonref, alleles, bits, ign) -> tuple[list[int], list[int]]:
    """(alleles carried on a copy with code bits ``bits``, those carried only in part:
    every present variant carried but a defining position missing)."""
    full, part = [], []
    for a in alleles:
        where = nonref[a]
        present = where & ~ign
        if not present.any():
            continue
        if ((mask[a, present] & bits[present]) != 0).all():
            (part if (where & ign).any() else full).append(int(a))
    return full, part


def _drop_nested(nonref, found: list[int]) -> list[int]:
    """``found`` without alleles whose variants all belong to a larger allele found too."""
    keep = []
    for a in found:
        size = nonref[a].sum()
        inside = any(b != a and nonref[b].sum() > size and not (nonref[a] & ~nonref[b]).any() for b in found)
        if not inside:
            keep.append(a)
    return keep


def _resolve_partials(model, part, inferable, notes) -> tuple[list[int], bool]:
    """(partial alleles counted as found, whether a possible allele blocks the call)."""
    counted, blocked = [], False
    for a in part:
        name = model.alleles[a]
        if a in inferable:
            counted.append(a)
            notes.append(
                (
                    "inferred_allele",
                    f"{name} inferred from the variant(s) present: a defining position is missing "
                    "and the guideline documents the linkage (see gene rule inferred_allele)",
                )
            )
        else:
            blocked = True
            notes.append(
                (
                    "partial_allele",
                    f"possible {name}: its variant(s) present are carried but a defining position "
                    "is missing; no call is made without it",
                )
            )
    return counted, blocked


def _unexplained(model, nonref, found: list[int], carried_copy) -> list[int]:
    """Positions carried on a copy (or in dosage) that no allele found covers."""
    covered = nonref[found].any(axis=0) if found else np.zeros(len(model.positions), dtype=bool)
    return np.flatnonzero(carried_copy & ~covered).tolist()


def _unexplained_note(model, positions: list[int], nothing_else: bool) -> tuple[str, str]:
    where = ", ".join(str(int(model.positions[j])) for j in positions)
    if nothing_else:
        return (
            "unexplained_variant",
            f"variant(s) at {where} belong only to alleles whose other defining variants "
            "are absent; no defined allele explains them, so no call is made (not Reference)",
        )
    return (
        "unexplained_variant",
        f"variant(s) at {where} belong only to alleles whose other defining variants are absent; they are not counted",
    )


def _phased(gene: LowestFunctionGene, hb: np.ndarray, ign: np.ndarray, carried: np.ndarray, haps: tuple[int, ...]) -> Solution:
    """Phase known: each haplotype from its own variants, scored by its lowest-function allele."""
    model, mask, nonref, alleles, ranks, inferable = gene.model, gene.mask, gene.nonref, gene.alleles, gene.ranks, gene.inferable
    notes: list[tuple[str, str]] = []
    per_copy: list[list[int]] = []
    blocked = False
    unexplained: set[int] = set()
    for h in haps:
        full, part = _on_copy(mask, nonref, alleles, hb[:, h], ign)
        counted, stop = _resolve_partials(model, part, inferable, notes)
        blocked |= stop
        found = _drop_nested(nonref, full + counted)
        per_copy.append(found)
        unexplained.update(_unexplained(model, nonref, found, carried[:, h]))
    notes = list(dict.fromkeys(notes))
    score = int((~ign).sum())
    anything = any(per_copy)
    if unexplained:
        notes.append(_unexplained_note(model, sorted(unexplained), not anything))
    if blocked or (unexplained and not anything):
        return Solution((), score, tuple(notes))
    names = [_copy_name(model, found) for found in per_copy]
    lowest = [_lowest(model, found, ranks) for found in per_copy]
    if len(haps) == 1:
        return Solution(((lowest[0], None),), score, tuple(notes), display=names[0], found=_listed(model, _copy_counts(per_copy)))
    pair = tuple(sorted(lowest, key=allele_sort_key))
    display = "/".join(sorted(names, key=allele_sort_key))
    return Solution((pair,), score, tuple(notes), display=display, found=_listed(model, _copy_counts(per_copy)))


def _copy_name(model, found: list[int]) -> str:
    if not found:
        return model.reference
    if len(found) == 1:
        return model.alleles[found[0]]
    return combination_name([model.alleles[a] for a in found])


def _lowest(model, found: list[int], ranks) -> str:
    return model.alleles[min(found, key=lambda a: ranks[a])] if found else model.reference


def _listed(model, counts: dict[int, int]) -> tuple[str, ...]:
    """Every variant allele found (allele -> copies), ``(homozygous)`` when on both copies."""
    return tuple(
        model.alleles[a] + (" (homozygous)" if n > 1 else "")
        for a, n in sorted(counts.items(), key=lambda kv: allele_sort_key(model.alleles[kv[0]]))
    )


def _copy_counts(per_copy: list[list[int]]) -> dict[int, int]:
    """allele -> how many of the copies carry it."""
    counts: dict[int, int] = {}
    for found in per_copy:
        for a in found:
            counts[a] = counts.get(a, 0) + 1
    return counts


def _dosage_copies(mask, nonref, alleles: list[int], hb, ign) -> dict[int, int]:
    """allele -> copies carried, by dosage (the fewest copies over its present variants).
    An allele whose variants all belong to a larger allele found too counts only the
    copies the larger one does not explain (HapB3 once and c.1129-5923C>G homozygous:
    HapB3 plus one c.1129-5923C>G), larger alleles first."""
    copies = {}
    for a in alleles:
        where = nonref[a] & ~ign
        copies[a] = int(((mask[a, where][:, None] & hb[where]) != 0).sum(axis=1).min())
    for a in sorted(copies, key=lambda x: -int(nonref[x].sum())):
        for b in copies:
            if b != a and nonref[b].sum() > nonref[a].sum() and not (nonref[a] & ~nonref[b]).any():
                copies[a] -= copies[b]
    return {a: n for a, n in copies.items() if n > 0}


def _unphased(gene: LowestFunctionGene, hb: np.ndarray, ign: np.ndarray, carried: np.ndarray) -> Solution:
    """Phase unknown: alleles by dosage, the two lowest-function copies form the pair."""
    model, mask, nonref, alleles, ranks, inferable = gene.model, gene.mask, gene.nonref, gene.alleles, gene.ranks, gene.inferable
    notes: list[tuple[str, str]] = []
    either = hb[:, 0] | hb[:, 1]
    full, part = _on_copy(mask, nonref, alleles, either, ign)
    counted, blocked = _resolve_partials(model, part, inferable, notes)
    copies = _dosage_copies(mask, nonref, full + counted, hb, ign)
    found = list(copies)
    dosage = carried.sum(axis=1)
    covered = np.zeros(len(model.positions), dtype=np.int64)
    for a, n in copies.items():
        covered[nonref[a]] += n
    unexplained = np.flatnonzero(dosage > covered).tolist()
    score = int((~ign).sum())
    if unexplained:
        notes.append(_unexplained_note(model, unexplained, not found))
    if blocked or (unexplained and not found):
        return Solution((), score, tuple(notes))
    expanded = sorted((a for a, n in copies.items() for _ in range(n)), key=lambda a: ranks[a])
    listed = _listed(model, copies)
    chosen = [model.alleles[a] for a in expanded[:2]] + [model.reference] * max(0, 2 - len(expanded))
    if len(expanded) > 2:
        notes.append(
            (
                "assumed_trans",
                f"{len(expanded)} variant allele copies found with phase unknown ("
                + "; ".join(listed)
                + "); the two lowest-function ones give the phenotype (CPIC)",
            )
        )
    elif len(copies) == 2 and all(ranks[a][0] < ACTIONABLE_RANK for a in copies) and max(copies.values()) == 1:
        notes.append(
            (
                "assumed_trans",
                "phase unknown: the two variant alleles are assumed to be on different gene "
                "copies (CPIC's rule); phased data could show they share one",
            )
        )
    pair = tuple(sorted(chosen, key=allele_sort_key))
    return Solution((pair,), score, tuple(notes), found=listed)
