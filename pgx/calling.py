"""Calling: genotypes -> one call per sample and gene, the gene's caller chosen by its rule.

Star-allele genes go to :mod:`pgx.match`, genes with the ``mitochondrial`` gene rule
(one haplotype, variant by variant) to :mod:`pgx.mito`; the two sit side by side under
this dispatch and do not import each other. The reader's per-sample findings (a
structural variant over a gene) are put on the calls here, after either caller.
"""

from __future__ import annotations

import pandas as pd

from pgx.genotypes import GenotypeMatrix
from pgx.kb import KnowledgeBase
from pgx.match import call_gene
from pgx.mito import call_mito_gene
from pgx.schema import NO_CALL


def call_diplotypes(
    gm: GenotypeMatrix, kb: KnowledgeBase, genes: list[str] | None = None, *, combinations: bool = False
) -> pd.DataFrame:
    """Calls for every sample and every gene of ``gm`` (or ``genes``), sorted by sample, gene.

    ``combinations``: report phased haplotypes that only a combination of defined alleles
    explains (``[*6 + *18]``, phenotype Indeterminate) instead of a no-call."""
    genes = genes or sorted(set(gm.loci.loc[gm.loci["role"] == "core", "gene"]))
    mito = set(kb.mito_genes)  # one haplotype, variant by variant: see pgx.mito
    frames = [call_mito_gene(gm, kb, g) if g in mito else call_gene(gm, kb, g, combinations=combinations) for g in genes]
    calls = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if calls.empty:
        return calls
    _apply_read_findings(calls, gm)
    order = {s: i for i, s in enumerate(gm.samples)}
    calls["_o"] = calls["sample_id"].map(order)
    return calls.sort_values(["_o", "gene"], kind="stable").drop(columns="_o").reset_index(drop=True)


def _apply_read_findings(calls: pd.DataFrame, gm: GenotypeMatrix) -> None:
    """Put the reader's findings (``gm.findings``) on the calls of the samples they concern,
    in place. A finding that the VCF cannot call the gene for a sample (a structural variant
    over it: the gene may have one copy, or more) makes the call a no-call, never a
    "normal" result; its warning keeps what the SNVs and indels alone gave."""
    row = {key: i for i, key in enumerate(zip(calls["sample_id"], calls["gene"]))}
    for sample, gene, text, no_call, reason in gm.read_findings():
        i = row.get((sample, gene))
        if i is None:
            continue
        if no_call and calls.at[i, "call_status"] != NO_CALL:
            alone = calls.at[i, "diplotype"] or " or ".join(calls.at[i, "alternatives"])
            text = f"{text}. The SNVs and indels alone give {alone}" if alone else text
            for column in ("diplotype", "allele_1", "allele_2", "score"):
                calls.at[i, column] = None
            calls.at[i, "alternatives"] = []
            calls.at[i, "suballeles"] = []
            calls.at[i, "call_status"] = NO_CALL
        codes = [*calls.at[i, "reason_codes"]]
        calls.at[i, "reason_codes"] = codes if reason in codes else [*codes, reason]
        calls.at[i, "warnings"] = [*calls.at[i, "warnings"], text]
