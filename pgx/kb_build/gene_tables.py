"""The gene-level KB tables: genes, loci, allele definitions, alleles, phenotype lookups,
gene rules and outside results.

Assembles the rows made by :mod:`pgx.kb_build.alleles`, :mod:`pgx.kb_build.phenotypes`,
:mod:`pgx.kb_build.rules` and :mod:`pgx.kb_build.outside_results` into one DataFrame
per table, for a list of genes, plus an audit record (what came from a fallback source,
what a source names that the KB leaves out) that goes into the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.kb_build import alleles as al
from pgx.kb_build import mito
from pgx.kb_build import outside_results as ou
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
    "outside_results",
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


def audit_entry(src: al.GeneSources, pypgx: al.PyPGxGene | None, allele_rows: list[dict]) -> dict:
    """What the manifest records about one gene's alleles beyond the tables themselves."""
    listed = {r["allele"] for r in allele_rows} | {r["guideline_name"] for r in allele_rows}
    fills = al.pypgx_function_fills(src, pypgx)
    entry: dict = {
        "called_from": src.called_from,
        "phenotype_source": src.phenotype_path or "",
        "function_from_pypgx": {a: f"{f} (PyPGx: {t})" for a, (f, t) in sorted(fills.items())},
        "phenotype_file_alleles_not_listed": sorted(a for a in al.allele_facts(src.gene, src.phenotype) if a not in listed),
        "ignored_variants_without_locus_row": al.shadowed_ignored_variants(src),
    }
    return {k: v for k, v in entry.items() if v or k in ("called_from", "phenotype_source")}


def build_gene_tables(
    reader: SourceReader, genes: Sequence[str]
) -> tuple[dict[str, pd.DataFrame], list[al.GeneSources], dict[str, dict]]:
    """The gene-level tables for ``genes``, the parsed sources, and the per-gene audit."""
    if not genes:
        raise KnowledgeBaseError("no genes given to build the knowledge base for")
    if len(set(genes)) != len(genes):
        raise KnowledgeBaseError(f"a gene is listed twice: {list(genes)}")
    sources = al.read_gene_sources(reader, genes)
    index = al.grch37_index(reader.csv_rows(al.PYPGX_VARIANTS))
    allele_table = reader.csv_rows(al.PYPGX_ALLELES)
    pypgx = al.pypgx_alleles(allele_table)
    methods = {s.gene: al.lookup_method(s) for s in sources}
    needs_rules = any(methods[s.gene] == "activity_score" and s.phenotype is not None for s in sources)
    equations = reader.csv_rows(ph.PYPGX_EQUATIONS) if needs_rules else []
    pmids = ru.guideline_pmids(reader.json(ru.CPIC_GUIDELINES))
    rows: dict[str, list[dict]] = {name: [] for name in GENE_TABLES}
    audit: dict[str, dict] = {}
    for src in sources:
        gene_row = al.gene_row(src)
        loci = al.locus_rows(src, index)
        definitions = al.definition_rows(src)
        allele_rows = al.allele_rows(src, pypgx.get(src.gene), ru.reference_name(src))
        gene_rules = ru.exemption_rule_rows(src) + ru.practice_rule_rows(src, loci, pmids)
        audit[src.gene] = audit_entry(src, pypgx.get(src.gene), allele_rows)
        if src.translation is None and gene_row["chrom"] == mito.MITO_CHROM:
            # variant-named mitochondrial alleles (MT-RNR1): placed on chrM, see kb_build.mito
            placed = mito.mito_tables(
                src.gene, gene_row["reference_allele"], [r["allele"] for r in allele_rows],
                allele_table, reader.csv_rows(mito.PYPGX_VARIANTS),
            )  # fmt: skip
            loci, definitions, gene_rules = placed.loci, placed.definitions, gene_rules + placed.rules
            if loci:
                if mito.MITO_GUIDELINE_PMID not in pmids.get(src.gene, set()):
                    raise KnowledgeBaseError(
                        f"{ru.CPIC_GUIDELINES} has no guideline of {src.gene} published as PMID {mito.MITO_GUIDELINE_PMID}"
                    )
                gene_row["called_from"] = "vcf"
                audit[src.gene]["called_from"] = "vcf"
            audit[src.gene]["mitochondrial_placement"] = placed.audit
        rows["genes"].append(gene_row)
        rows["loci"] += loci
        rows["allele_definitions"] += definitions
        rows["alleles"] += allele_rows
        pairs, rules = phenotype_lookup_rows(src, equations)
        rows["function_phenotypes"] += pairs
        rows["phenotype_rules"] += rules
        rows["gene_rules"] += gene_rules
    rows["outside_results"] = ou.build_outside_rows(reader, sources, methods, rows["phenotype_rules"], rows["alleles"])
    return {name: frame(name, rows[name]) for name in GENE_TABLES}, sources, audit
