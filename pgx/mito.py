"""Mitochondrial genes (MT-RNR1): calls from chrM genotypes (which chrM a VCF holds: :mod:`pgx.builds`).

mtDNA is one haplotype per cell lineage, and CPIC's MT-RNR1 guideline (McDermott et al.
2022, PMID 34032273) gives recommendations per single variant, not per allele pair. A
gene with the ``mitochondrial`` gene rule is therefore not matched as a diplotype:

* **Genotypes.** Only GT is read (FORMAT AF/HL never change a call). A haploid ``1``
  and a diploid ``1/1`` (homoplasmic, as most callers write it) are the same result.
  A diploid genotype with two different alleles (``0/1``, ``1/2``) is **heteroplasmic**:
  the variant is in some mtDNA copies only. The guideline's phenotype tables are keyed by
  the variant alone, with no heteroplasmy level below which the risk is absent, so (the
  cautious reading) a heteroplasmic variant counts as present, and
  the call carries a warning that says so and asks for the level to be confirmed.
* **Result.** Every variant allele found is looked for on its own. The call is one
  haplotype: ``diplotype`` = ``allele_1`` = the highest-risk variant found (increased >
  uncertain > normal risk, :data:`RISK_ORDER`), ``allele_2`` null, as for a hemizygous
  G6PD call; none found gives the reference allele (``Reference``). When several are
  found, all are named in a warning and the phenotype rests on the highest-risk one.
* **Missing data.** A position without a genotype (absent, ``.``, or partial ``0/.``) is
  never taken as reference. The call stands only when no missing position defines an
  allele of higher risk than the one called; otherwise it is a no-call whose warning
  names those positions (a missing m.1555 must not become "normal risk"). No MT-RNR1
  position at all (no chrM records): no-call. ``--assume-reference`` fills chrM only
  when the file has a chrM record (the 20 kb gene window spans all 16.6 kb of chrM, and
  practically every human mtDNA differs from rCRS somewhere, so a variant-only file whose
  caller covered chrM has records there).
* **Which chrM.** The KB's chrM positions are rCRS (NC_012920.1, 16,569 bp): GRCh38's
  ``chrM`` and GRCh37/b37's ``MT``. hg19's ``chrM`` is the Yoruba sequence (NC_001807,
  16,571 bp) whose positions differ; :func:`pgx.builds.mito_contig_refusal` refuses it (declared
  length 16,571 or any length but 16,569, or a GRCh37 file naming it ``chrM`` without
  declaring 16,569 bp) and the reader skips that contig with a warning, so MT-RNR1 is a
  no-call that says why, never a guess at shifted positions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgx.builds import REFUSAL_MARK
from pgx.calls import CallNotes, call_row
from pgx.genotypes import (
    HAPLOID,
    MISSING,
    STATUS_ASSUMED_REFERENCE,
    STATUS_PARTIAL,
    GenotypeMatrix,
    input_warnings,
    unique_rows,
)
from pgx.kb import KnowledgeBase
from pgx.schema import CALLED

#: function text prefix -> risk rank, highest risk first (CPIC MT-RNR1 phenotypes)
RISK_ORDER = ("increased risk", "uncertain risk", "normal risk")
#: a function no entry of RISK_ORDER starts (or none at all) ranks as uncertain
_UNLISTED_RANK = RISK_ORDER.index("uncertain risk")


def risk_rank(function: str | None) -> int:
    """0 for the highest risk (``Increased risk ...``), larger for lower risk."""
    text = (function or "").strip().lower()
    for rank, prefix in enumerate(RISK_ORDER):
        if text.startswith(prefix):
            return rank
    return _UNLISTED_RANK


# --- calling ------------------------------------------------------------------------------


def _variant_alleles(kb: KnowledgeBase, gene: str, loci: pd.DataFrame) -> dict[tuple[int, int], str]:
    """(column in ``loci``, allele code) -> allele name, for every non-reference definition."""
    reference = kb.table("genes", gene)["reference_allele"].item()
    defs = kb.table("allele_definitions", gene)
    col = {int(p): j for j, p in zip(loci.index, loci["pos"])}
    out = {}
    for allele, pos, bases in zip(defs["allele"], defs["pos"], defs["bases"]):
        if allele == reference or int(pos) not in col:
            continue
        j = col[int(pos)]
        seqs = [str(loci.at[j, "ref"]), *[a for a in str(loci.at[j, "alts"]).split(",") if a]]
        if bases in seqs and bases != seqs[0]:
            out[(j, seqs.index(bases))] = allele
    return out


def call_mito_gene(gm: GenotypeMatrix, kb: KnowledgeBase, gene: str) -> pd.DataFrame:
    """Calls of every sample for mitochondrial ``gene`` (columns as :func:`pgx.match.call_gene`)."""
    ctx = _Context(gm, kb, gene)
    codes = gm.codes[:, ctx.cols, :].astype(np.int16)
    status = gm.status[:, ctx.cols]
    key = np.concatenate([codes.reshape(len(codes), -1), status.astype(np.int16)], axis=1)
    first, inverse = unique_rows(key)
    rows = [_call_one(ctx, codes[int(s)], status[int(s)]) for s in first]
    out = [{"sample_id": sample, **rows[u]} for sample, u in zip(gm.samples, inverse.tolist())]
    return pd.DataFrame(out)


class _Context:
    """What every sample's call of one gene shares: the gene's columns of ``gm``, its
    variant alleles and their functions, its reference allele and the reader's refusals."""

    def __init__(self, gm: GenotypeMatrix, kb: KnowledgeBase, gene: str):
        is_gene = (gm.loci["gene"] == gene) & (gm.loci["role"] == "core")
        self.gm, self.gene = gm, gene
        self.cols = np.flatnonzero(is_gene.to_numpy())
        self.loci = gm.loci.iloc[self.cols].reset_index(drop=True)
        self.names = _variant_alleles(kb, gene, self.loci)
        alleles = kb.table("alleles", gene)
        self.functions = dict(zip(alleles["allele"], alleles["function"]))
        self.reference = kb.table("genes", gene)["reference_allele"].item()
        self.refusals = [w for w in gm.warnings if REFUSAL_MARK in w]
        self.positions = self.loci["pos"].astype("int64").tolist()
        self.rank = {a: risk_rank(f) for a, f in self.functions.items()}
        # per column: the highest risk (lowest rank) any allele defined there has
        self.worst_at = {j: min(self.rank[a] for (jj, _), a in self.names.items() if jj == j) for (j, _) in self.names}


def _call_one(ctx: _Context, codes: np.ndarray, status: np.ndarray) -> dict:
    """One sample's call from its codes [L, 2] and statuses [L] at the gene's positions."""
    positions = ctx.positions
    missing = (codes == MISSING).any(axis=1)
    haploid = codes[:, 1] == HAPLOID
    found: list[tuple[int, int, str]] = []  # (rank, position, allele)
    novel: list[str] = []
    heteroplasmic: list[str] = []
    for j in np.flatnonzero(~missing):
        carried = sorted({int(c) for c in codes[j] if c > 0})
        for c in carried:
            allele = ctx.names.get((int(j), c))
            if allele is None:
                novel.append(ctx.gm.describe_variant(int(ctx.cols[j]), [c]))
            else:
                found.append((ctx.rank[allele], positions[j], allele))
        if carried and not haploid[j] and codes[j, 0] != codes[j, 1]:
            gt = "/".join(str(int(c)) for c in codes[j])
            what = ", ".join(ctx.names.get((int(j), c), ctx.gm.describe_variant(int(ctx.cols[j]), [c])) for c in carried)
            heteroplasmic.append(f"{what} (GT {gt} at {ctx.loci.at[int(j), 'chrom']}:{positions[j]})")
    found.sort()
    miss = [positions[j] for j in np.flatnonzero(missing)]
    assumed = [positions[j] for j in np.flatnonzero(status == STATUS_ASSUMED_REFERENCE)]
    partial = [positions[j] for j in np.flatnonzero(status == STATUS_PARTIAL)]
    notes = CallNotes()
    facts = dict(missing_positions=miss, assumed_reference_positions=assumed, novel_variants=novel)
    if len(miss) == len(positions):
        notes.add(
            "gene_not_covered",
            f"no {ctx.gene} position present in the input (no usable chrM/MT records; --assume-reference "
            "only fills chrM when the input has chrM records)",
        )
        for refusal in ctx.refusals:
            notes.add("gene_not_covered", refusal)
        return call_row(ctx.gene, notes, **facts)
    best = found[0][2] if found else ctx.reference
    best_rank = found[0][0] if found else ctx.rank.get(ctx.reference, len(RISK_ORDER) - 1)
    for text in input_warnings(len(positions), assumed, [], []):
        notes.add("assumed_reference", text)
    if partial:
        notes.add("partial_genotype", f"partial genotypes treated as missing at {', '.join(map(str, partial))}")
    if novel:
        notes.add("novel_variant", "variant(s) that no known allele contains: " + ", ".join(novel))
    if len(found) > 1:
        notes.say(_found_note(ctx, found))
    if heteroplasmic:
        notes.add(
            "heteroplasmy",
            "heteroplasmic: " + "; ".join(heteroplasmic) + ". The variant is in only part of the mtDNA copies; "
            "CPIC's MT-RNR1 tables are keyed by the variant alone, with no heteroplasmy level below which the risk "
            "is absent, so it is taken as present. pgx reads GT only (not AF/HL): confirm the heteroplasmy level if it matters",
        )
    if miss:
        notes.add("missing_positions")
    risky = [j for j in np.flatnonzero(missing) if ctx.worst_at.get(int(j), len(RISK_ORDER)) < best_rank]
    if risky:
        hidden = sorted(a for (j, _), a in ctx.names.items() if j in set(map(int, risky)) and ctx.rank[a] < best_rank)
        notes.add(
            "unassessed_alleles",
            "position(s) missing where a higher-risk variant than "
            f"{best} could be: {', '.join(str(positions[j]) for j in risky)} ({', '.join(hidden)}); "
            "no call is made without them",
        )
        return call_row(ctx.gene, notes, **facts)
    if miss:
        hidden = sorted(a for (j, _), a in ctx.names.items() if positions[j] in set(miss))
        notes.add(
            "unassessed_alleles",
            f"could not be assessed (position missing): {', '.join(hidden)}; none of them is of higher risk than {best}",
        )
    return call_row(
        ctx.gene,
        notes,
        diplotype=best,
        allele_1=best,
        score=len(positions) - len(miss),
        call_status=CALLED,
        phased=not heteroplasmic,
        alleles_found=[a for _, _, a in found],
        **facts,
    )


def _found_note(ctx: _Context, found: list[tuple[int, int, str]]) -> str:
    listed = ", ".join(f"{a} ({ctx.functions.get(a) or 'function unknown'})" for _, _, a in found)
    return f"{len(found)} {ctx.gene} variants found: {listed}; the phenotype rests on the highest-risk one, {found[0][2]}"
