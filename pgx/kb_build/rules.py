"""The ``gene_rules`` table: gene-specific calling rules, from PharmCAT's exemptions.

The vocabulary is declared with the table in ``pgx.schema.KB_TABLES["gene_rules"]``.
This module turns what ``pharmcat/alleles/exemptions.json`` states for a gene into
rows (required positions, unphased diplotype priorities, ignored alleles). Rules that
come from CPIC practice rather than from that file (lowest-function genes, hemizygous
chrX, the SLCO1B1 fallback, CYP2D6 copy number) are added by the knowledge-base issue
that brings those genes in, each with a note saying where it comes from.
"""

from __future__ import annotations

from pgx.kb_build.alleles import GeneSources

EXEMPTIONS_NOTE = "PharmCAT exemptions.json"


def exemption_rule_rows(src: GeneSources) -> list[dict]:
    """gene_rules rows stated by the gene's entry of exemptions.json."""
    ex = src.exemptions or {}
    rows = [
        {"gene": src.gene, "rule": "required_position", "value": str(int(p)), "note": EXEMPTIONS_NOTE}
        for p in ex.get("requiredPositions", [])
    ]
    for prio in ex.get("unphasedDiplotypePriorities", []) or []:
        value = "|".join(prio["list"]) + ">" + prio["pick"]
        rows.append({"gene": src.gene, "rule": "unphased_priority", "value": value, "note": EXEMPTIONS_NOTE})
    rows += [
        {"gene": src.gene, "rule": "ignored_allele", "value": name, "note": EXEMPTIONS_NOTE}
        for name in ex.get("ignoredAlleles", []) or []
    ]
    return rows
