"""The gene-level KB tables: genes, loci, allele definitions, alleles, phenotype lookups.

Assembles the rows made by :mod:`pgx.kb_build.alleles` and
:mod:`pgx.kb_build.phenotypes` into one DataFrame per table, for a list of genes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.kb_build import alleles as al
from pgx.kb_build import phenotypes as ph
from pgx.kb_build import rules as ru
from pgx.kb_build.sources import SourceReader
from pgx.schema import KB_TABLES

#: the tables this module builds (drugs and recommendations come from kb_build.recommendations)
GENE_TABLES = (
    "genes",
    "loci",
    "allele_definitions",
    "alleles",
    "function_phenotypes",
    "phenotype_rules",
    "gene_rules",
)


def frame(name: str, rows: list[dict]) -> pd.DataFrame:
    """``rows`` as a DataFrame with exactly the declared columns of KB table ``name``."""
    return pd.DataFrame(rows, columns=list(KB_TABLES[name]))


def phenotype_lookup_rows(src: al.GeneSources, equations: list[dict[str, str]]) -> tuple[list[dict], list[dict]]:
    """(function_phenotypes rows, phenotype_rules rows) of one gene.

    Activity-score genes get score rules (checked against the phenotype file); the
    others get function pairs. A gene without a phenotype file gets neither.
    """
    if src.phenotype is None:
        return [], []
    facts = al.allele_facts(src.gene, src.phenotype)
    if al.lookup_method(src) == "activity_score":
        values = [activity for _, activity in facts.values() if activity is not None]
        rules = ph.phenotype_rule_rows(src.gene, [e for e in equations if e["Gene"] == src.gene], values)
        ph.check_rules_against_diplotypes(src.gene, rules, src.phenotype)
        return [], rules
    functions = {name: function for name, (function, _) in facts.items() if function}
    return ph.function_phenotype_rows(src.gene, src.phenotype, functions), []


def build_gene_tables(reader: SourceReader, genes: Sequence[str]) -> tuple[dict[str, pd.DataFrame], list[al.GeneSources]]:
    """The gene-level tables for ``genes``, plus the parsed sources (for the manifest)."""
    if not genes:
        raise KnowledgeBaseError("no genes given to build the knowledge base for")
    if len(set(genes)) != len(genes):
        raise KnowledgeBaseError(f"a gene is listed twice: {list(genes)}")
    sources = al.read_gene_sources(reader, genes)
    index = al.grch37_index(reader.csv_rows(al.PYPGX_VARIANTS))
    needs_rules = any(al.lookup_method(s) == "activity_score" and s.phenotype is not None for s in sources)
    equations = reader.csv_rows(ph.PYPGX_EQUATIONS) if needs_rules else []
    rows: dict[str, list[dict]] = {name: [] for name in GENE_TABLES}
    for src in sources:
        rows["genes"].append(al.gene_row(src))
        rows["loci"] += al.locus_rows(src, index)
        rows["allele_definitions"] += al.definition_rows(src)
        rows["alleles"] += al.allele_rows(src)
        pairs, rules = phenotype_lookup_rows(src, equations)
        rows["function_phenotypes"] += pairs
        rows["phenotype_rules"] += rules
        rows["gene_rules"] += ru.exemption_rule_rows(src)
    return {name: frame(name, rows[name]) for name in GENE_TABLES}, sources
