"""Every table schema of the project, declared once.

Output tables (Parquet) are Arrow schemas; knowledge-base tables (TSV under
``resources/kb``) are column lists with their types. Writers pass these schemas
explicitly and tests read every output back and compare it with them. Column names are
snake_case and the same in TSVs, dataclasses and Arrow schemas.

Bump ``SCHEMA_VERSION`` whenever a column is added, removed, renamed or retyped; it is
stored in the Parquet key-value metadata so readers can check what they got.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"

# --- enumerations -------------------------------------------------------------------

#: genotype status at one KB position for one sample
GENOTYPE_STATUSES = (
    "called",  # GT read from the VCF
    "missing",  # position absent from the VCF, or GT is ./.
    "assumed_reference",  # absent from the VCF, filled as reference by --assume-reference
    "partial",  # one allele called, the other missing (0/.)
)

#: call_status of one sample x gene
CALL_STATUSES = (
    "called",  # one best diplotype
    "ambiguous",  # several diplotypes tie; all are listed in `alternatives`
    "no_call",  # nothing could be called; `warnings` says why
    "outside_call",  # taken from an outside-call file, not from the VCF
)

#: structured recommendation actions
ACTIONS = (
    "standard_dose",
    "reduce_dose",
    "increase_dose",
    "use_alternative",
    "avoid",
    "monitor",
    "consider_alternative",
    "no_recommendation",
    "no_guideline_match",  # the patient's result has no row in the guideline
)

_str_list = pa.list_(pa.string())

# --- Parquet outputs ----------------------------------------------------------------

GENOTYPES = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("gene", pa.string(), nullable=False),
        pa.field("chrom", pa.string(), nullable=False),
        pa.field("pos", pa.int64(), nullable=False),
        pa.field("rsid", pa.string()),
        pa.field("ref", pa.string(), nullable=False),
        pa.field("alleles", _str_list),  # VCF allele sequences, one per haplotype; null when missing
        pa.field("phased", pa.bool_(), nullable=False),
        pa.field("phase_set", pa.int64()),
        pa.field("status", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("source_file", pa.string()),
        pa.field("kb_version", pa.string(), nullable=False),
    ]
)

CALLS = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("gene", pa.string(), nullable=False),
        pa.field("diplotype", pa.string()),  # "*1/*17"; null for no_call
        pa.field("allele_1", pa.string()),
        pa.field("allele_2", pa.string()),
        pa.field("function_1", pa.string()),
        pa.field("function_2", pa.string()),
        pa.field("score", pa.int32()),  # defining positions matched by the diplotype
        pa.field("alternatives", _str_list),  # every tied diplotype when ambiguous
        pa.field("activity_score", pa.float64()),
        pa.field("phenotype", pa.string()),
        pa.field("lookup_key", pa.string()),  # what recommendations are looked up by
        pa.field("call_status", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("phased", pa.bool_()),
        pa.field("missing_positions", pa.list_(pa.int64())),
        pa.field("assumed_reference_positions", pa.list_(pa.int64())),
        pa.field("novel_variants", _str_list),  # "chr10:94761900:C>G"
        pa.field("warnings", _str_list),
        pa.field("kb_version", pa.string(), nullable=False),
    ]
)

RECOMMENDATIONS = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("drug", pa.string(), nullable=False),
        pa.field("genes", _str_list, nullable=False),
        pa.field("lookup_key", pa.string(), nullable=False),  # "CYP2C19=Poor Metabolizer"
        pa.field("phenotypes", _str_list),  # "CYP2C19: Poor Metabolizer", one per gene
        pa.field("population", pa.string()),
        pa.field("action", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("dose_factor", pa.float64()),
        pa.field("alternatives", _str_list),
        pa.field("strength", pa.string()),
        pa.field("text", pa.string()),
        pa.field("source", pa.string(), nullable=False),  # CPIC, DPWG
        pa.field("guideline", pa.string()),
        pa.field("cpic_level", pa.string()),
        pa.field("url", pa.string()),
        pa.field("pmid", pa.string()),
        pa.field("recommendation_id", pa.string()),
        pa.field("kb_version", pa.string(), nullable=False),
    ]
)

PROVENANCE = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("value", pa.string()),
    ]
)

OUTPUT_SCHEMAS: dict[str, pa.Schema] = {
    "genotypes": GENOTYPES,
    "calls": CALLS,
    "recommendations": RECOMMENDATIONS,
    "provenance": PROVENANCE,
}

# --- knowledge-base tables (TSV) ------------------------------------------------------
# name -> {column: dtype}; dtypes are pandas dtypes used when reading the TSV.

KB_TABLES: dict[str, dict[str, str]] = {
    "genes": {
        "gene": "string",
        "chrom": "string",  # chr-prefixed GRCh38 contig
        "lookup_method": "string",  # activity_score | phenotype | allele_status
        "reference_allele": "string",  # the named allele matching the reference genome
        "called_from": "string",  # vcf | outside
        "source_version": "string",
    },
    "loci": {
        "gene": "string",
        "chrom": "string",
        "pos": "int64",  # GRCh38, 1-based, as in the VCF (indels: the padding base)
        "ref": "string",
        "alts": "string",  # comma-separated VCF ALT alleles
        "rsid": "string",
        "hgvs": "string",
        "role": "string",  # core (used in calls) | extra (reported only) | ignored
        "grch37_pos": "Int64",
    },
    "allele_definitions": {
        "gene": "string",
        "allele": "string",
        "pos": "int64",
        "bases": "string",  # VCF allele sequence or an IUPAC code for SNVs
    },
    "alleles": {
        "gene": "string",
        "allele": "string",
        "is_reference": "boolean",
        "is_structural": "boolean",
        "function": "string",  # clinical function; empty = unknown in every source
        "activity_value": "Float64",
    },
    "function_phenotypes": {
        "gene": "string",
        "function_1": "string",  # the two functions in sorted order
        "function_2": "string",
        "phenotype": "string",
    },
    "phenotype_rules": {
        "gene": "string",
        "phenotype": "string",
        "min_score": "float64",  # inclusive
        "max_score": "float64",  # exclusive; inf for open-ended; == min_score for "score == x"
    },
    # Gene-specific calling rules ("exemptions"), one row per rule. Vocabulary:
    #   required_position   value=pos: no call unless this position is present (NAT2)
    #   unphased_priority   value="*1/*6|*4/*34>*1/*6": among these tied unphased
    #                       diplotypes, pick the one after '>' (NAT2)
    #   lowest_function     value="": the phenotype rests on the lowest-function variant
    #                       alleles found, each variant matched on its own (DPYD, RYR1, CACNA1S)
    #   hemizygous          value=chrom: haploid genotypes are expected in males (G6PD, chrX)
    #   fallback_position   value=pos: when no star call fits, call from this one
    #                       position's genotype (SLCO1B1 rs4149056)
    #   copy_number_not_assessed  value="": SNV/indel VCFs cannot see deletions and
    #                       duplications; every call carries a warning (CYP2D6)
    #   ignored_allele      value=allele name: never called (G6PD Mediterranean Haplotype)
    "gene_rules": {
        "gene": "string",
        "rule": "string",
        "value": "string",
        "note": "string",
    },
    "drugs": {
        "source": "string",  # CPIC | DPWG
        "drug": "string",
        "drug_id": "string",
        "gene": "string",
        "cpic_level": "string",
        "guideline": "string",
        "url": "string",
        "pmid": "string",
    },
    "recommendations": {
        "recommendation_id": "string",  # "CPIC:8479701"
        "source": "string",
        "drug": "string",
        "genes": "string",  # ;-separated, sorted
        "lookup_key": "string",  # "GENE=key;GENE=key", genes sorted
        "population": "string",
        "action": "string",  # one of schema.ACTIONS
        "dose_factor": "Float64",
        "alternatives": "string",  # ;-separated drug names
        "strength": "string",
        "text": "string",  # our own words, from the structured facts
        "guideline": "string",
        "url": "string",
        "pmid": "string",
    },
}
