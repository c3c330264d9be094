"""The ``gene_rules`` table: gene-specific calling rules.

The vocabulary is declared with the table in ``pgx.schema.KB_TABLES["gene_rules"]``.
Two sources of rows, each row's ``note`` saying which:

* :func:`exemption_rule_rows`: what ``pharmcat/alleles/exemptions.json`` states for a
  gene (required positions, unphased diplotype priorities, ignored alleles). Ignored
  and extra positions are ``loci.role`` (``ignored`` / ``extra``), not rules.
* :func:`practice_rule_rows`: rules from CPIC guidelines and PharmCAT practice that no
  data file states as a rule. They are listed in :data:`PRACTICE_RULES` with the PMID
  of the CPIC guideline that sets them; the build checks that PMID is one of
  ``cpic/guideline.json``'s publications for a guideline of that gene, and that a
  position-valued rule names a locus of the gene. ``hemizygous`` is derived: every VCF
  gene on chrX gets it (its value is the chromosome).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pgx.errors import KnowledgeBaseError
from pgx.kb_build.alleles import GeneSources

EXEMPTIONS_NOTE = "PharmCAT exemptions.json"
CPIC_GUIDELINES = "cpic/guideline.json"

#: chromosomes on which males carry one copy
HEMIZYGOUS_CHROMS = ("chrX",)


@dataclass(frozen=True)
class PracticeRule:
    """A rule no data file states: gene, rule, how to find its value, citation."""

    gene: str
    rule: str
    rsid: str  # for position rules: the locus, found by rsID in the gene's loci ("" otherwise)
    pmid: str  # the CPIC guideline publication that sets the rule
    note: str


#: the cited reason shared by the two malignant-hyperthermia genes
_MHS_NOTE = (
    "CPIC RYR1/CACNA1S guideline: one Malignant Hyperthermia associated variant gives "
    "Malignant Hyperthermia Susceptibility (the phenotype file's function pairs agree); "
    "PharmCAT reports these genes by the variants found"
)


PRACTICE_RULES: tuple[PracticeRule, ...] = (
    PracticeRule(
        "DPYD",
        "lowest_function",
        "",
        "29152729",
        "CPIC DPYD guideline: the activity score is the sum of the two lowest-activity variant "
        "alleles found (cpic/gene.json notesondiplotype says so too); PharmCAT calls DPYD this way",
    ),
    PracticeRule(
        "RYR1",
        "lowest_function",
        "",
        "30499100",
        _MHS_NOTE,
    ),
    PracticeRule(
        "CACNA1S",
        "lowest_function",
        "",
        "30499100",
        _MHS_NOTE,
    ),
    PracticeRule(
        "SLCO1B1",
        "fallback_position",
        "rs4149056",
        "35152405",
        "CPIC statin guideline (2022): when no star-allele diplotype can be assigned, the "
        "rs4149056 (c.521T>C) genotype alone gives SLCO1B1 function; PharmCAT does the same",
    ),
    PracticeRule(
        "CYP2D6",
        "copy_number_not_assessed",
        "",
        "33387367",
        "CYP2D6 deletions, duplications and hybrids (*5, *1x2, *13, ...) change the activity "
        "score (CPIC opioid guideline) but a VCF of SNVs and indels cannot see them; PharmCAT "
        "takes CYP2D6 as an outside call for this reason",
    ),
)


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


def guideline_pmids(guidelines: Iterable[dict]) -> dict[str, set[str]]:
    """gene -> PMIDs of every CPIC guideline publication naming the gene."""
    out: dict[str, set[str]] = {}
    for g in guidelines:
        pmids = {str(p.get("pmid")) for p in g.get("publication") or [] if p.get("pmid")}
        for gene in g.get("genes") or []:
            out.setdefault(gene, set()).update(pmids)
    return out


def practice_rule_rows(src: GeneSources, loci: list[dict], pmids: dict[str, set[str]]) -> list[dict]:
    """The practice rules of ``src.gene`` (plus ``hemizygous`` for a VCF gene on chrX)."""
    rows = []
    if src.translation is not None and src.translation["chromosome"] in HEMIZYGOUS_CHROMS:
        chrom = src.translation["chromosome"]
        rows.append(
            {
                "gene": src.gene,
                "rule": "hemizygous",
                "value": chrom,
                "note": f"{src.gene}_translation.json places the gene on {chrom}: males carry one allele; "
                f"{src.phenotype_path or 'the phenotype file'} gives single-allele phenotypes",
            }
        )
    for rule in PRACTICE_RULES:
        if rule.gene != src.gene:
            continue
        if rule.pmid not in pmids.get(src.gene, set()):
            raise KnowledgeBaseError(f"{CPIC_GUIDELINES} has no guideline of {src.gene} published as PMID {rule.pmid}")
        value = ""
        if rule.rsid:
            hits = [r["pos"] for r in loci if r["gene"] == src.gene and r["rsid"] == rule.rsid and r["role"] == "core"]
            if len(hits) != 1:
                raise KnowledgeBaseError(f"{src.gene}: {rule.rule} needs core locus {rule.rsid}, found {len(hits)}")
            value = str(hits[0])
        rows.append({"gene": src.gene, "rule": rule.rule, "value": value, "note": f"{rule.note} (PMID {rule.pmid})"})
    return rows
