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
    value: str = ""  # for other valued rules (an allele name, a function), checked by the build


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
        "DPYD",
        "inferred_allele",
        "",
        "29152729",
        "CPIC DPYD guideline: c.1236G>A is in (near) complete linkage with the causal deep-intronic "
        "c.1129-5923C>G of haplotype B3 and is the variant most assays test for it; when c.1129-5923C>G "
        "is not in the input, HapB3 is inferred from c.1236G>A and the call says so (PharmCAT does the "
        "same). When c.1129-5923C>G is present, it alone decides: c.1236G>A without it is not HapB3 "
        "(Turner et al. 2023, Clin Transl Sci, PMID 37140942)",
        value="c.1129-5923C>G, c.1236G>A (HapB3)",
    ),
    *(
        PracticeRule(
            gene,
            "undocumented_as_reference",
            "",
            pmid,
            "an allele at a defining position that no definition names is counted as reference there, so "
            "that the documented actionable variants of this toxicity gene still give a recommendation; it "
            "is reported as a novel variant (PharmCAT does this for CACNA1S, DPYD, G6PD, NUDT15, RYR1 and "
            "TPMT; for other genes such an allele makes a no-call)",
        )
        for gene, pmid in (
            ("CACNA1S", "30499100"),
            ("DPYD", "29152729"),
            ("G6PD", "36049896"),
            ("NUDT15", "30447069"),
            ("RYR1", "30499100"),
            ("TPMT", "30447069"),
        )
    ),
    *(
        PracticeRule(
            gene,
            "unassigned_function",
            "",
            "30499100",
            "CPIC RYR1/CACNA1S guideline: only a Malignant Hyperthermia associated variant establishes "
            "susceptibility; a variant the sources give no function (PharmCAT's newer definitions list more "
            "variants than the mirrored phenotype file classifies) is phenotyped as of uncertain function, "
            "which gives Uncertain Susceptibility, and the call names it so it can be looked up",
            value="Uncertain function",
        )
        for gene in ("RYR1", "CACNA1S")
    ),
    PracticeRule(
        "CFTR",
        "reference_name",
        "",
        "24598717",
        "CPIC CFTR/ivacaftor: the reference sequence is reported as Reference (PharmCAT's definition file "
        "names it 'ivacaftor non-responsive CFTR sequence')",
        value="Reference",
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


def reference_name(src: GeneSources) -> str | None:
    """The ``reference_name`` practice rule's value for ``src.gene`` (None when it has none)."""
    return next((r.value for r in PRACTICE_RULES if r.gene == src.gene and r.rule == "reference_name"), None)


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
        value = rule.value
        if rule.rule == "inferred_allele" and value not in {a["name"] for a in (src.translation or {}).get("namedAlleles", [])}:
            raise KnowledgeBaseError(f"{src.gene}: inferred_allele names {value!r}, which the definitions do not define")
        if rule.rsid:
            hits = [r["pos"] for r in loci if r["gene"] == src.gene and r["rsid"] == rule.rsid and r["role"] == "core"]
            if len(hits) != 1:
                raise KnowledgeBaseError(f"{src.gene}: {rule.rule} needs core locus {rule.rsid}, found {len(hits)}")
            value = str(hits[0])
        rows.append({"gene": src.gene, "rule": rule.rule, "value": value, "note": f"{rule.note} (PMID {rule.pmid})"})
    return rows
