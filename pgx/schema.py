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

# 2: recommendations.verbatim_text, implications (CPIC overlay)
# 3: genotypes.source_file is the file the row's genotype was read from, not every file of the sample
SCHEMA_VERSION = "3"

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
        pa.field("verbatim_text", pa.string()),  # CPIC's own wording, only from a user's overlay
        pa.field("implications", _str_list),
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

# --- what every output column means ----------------------------------------------------
# One entry per table and per column of the schemas above (a test fails when a column is
# added without its meaning, or a meaning outlives its column). README's "Output columns"
# is generated from these (python -m pgx.docs_schema --write README.md).


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


#: what one row of each output table is
TABLE_DOCS: dict[str, str] = {
    "genotypes": "one row per sample and knowledge-base position: the genotype pgx read",
    "calls": "one row per sample and gene: the diplotype call, its phenotype and why a call is incomplete",
    "recommendations": (
        "one row per sample, drug, guideline source and population: the recommendation that applies "
        "to the sample's result (or `no_guideline_match`)"
    ),
    "provenance": "key/value rows: what produced the batch",
}

#: Parquet key-value metadata of every output file
METADATA_DOCS: dict[str, str] = {
    "pgx_table": "the table's name (`genotypes`, `calls`, `recommendations`, `provenance`)",
    "pgx_schema_version": (
        f"the version of these schemas (now `{SCHEMA_VERSION}`); it changes whenever a column is "
        "added, removed, renamed or retyped"
    ),
    "pgx_version": "the pgx version that wrote the file",
}

COLUMN_DOCS: dict[str, dict[str, str]] = {
    "genotypes": {
        "sample_id": "sample ID, as in the VCF's #CHROM line",
        "gene": "gene the position belongs to",
        "chrom": "chromosome, `chr`-prefixed GRCh38 name (whatever the VCF calls it)",
        "pos": "GRCh38 position, 1-based as in a VCF; for an indel, its padding base (GRCh37 input is reported at GRCh38 positions)",
        "rsid": "dbSNP rsID of the position; null when it has none",
        "ref": "reference allele at the position, as in the VCF",
        "alleles": (
            "the genotype as VCF allele sequences, one per haplotype (one for a haploid call); a missing "
            "allele is a null element; null when both are missing"
        ),
        "phased": "true when the genotype is phased (`|` in the VCF) or haploid",
        "phase_set": "FORMAT/PS phase set; null when the VCF gives none",
        "status": (
            f"one of {_one_of(GENOTYPE_STATUSES)}: read from the VCF; absent from every file or `./.`; "
            "absent and taken as reference because of `--assume-reference`; one allele called, the other missing"
        ),
        "source_file": (
            "the VCF file (as given) whose record gave this genotype; when several files have the position "
            "for the sample, the one whose genotype was kept (the first, unless a later one is more complete); "
            "null when no file had a record for the sample there (absent: `missing` or `assumed_reference`; "
            "a `./.` record names its file)"
        ),
        "kb_version": "version of the knowledge base used (see `pgx kb info`)",
    },
    "calls": {
        "sample_id": "sample ID, as in the VCF",
        "gene": "gene",
        "diplotype": (
            "the call, lower allele first (`*1/*17`); a haploid call is one allele; for an ambiguous call, "
            "the first of `alternatives`; null for a no-call"
        ),
        "allele_1": "first allele of `diplotype`",
        "allele_2": "second allele of `diplotype`; null for a haploid call",
        "function_1": "clinical function of `allele_1` (CPIC wording, e.g. `No function`); null when unknown",
        "function_2": "clinical function of `allele_2`",
        "score": "number of allele-defining positions the diplotype matches (the most specific diplotype wins); null for no-calls and outside calls",
        "alternatives": "every diplotype tied with the best one, sorted; empty unless `call_status` is `ambiguous`",
        "activity_score": "sum of the two alleles' activity values, for activity-score genes (CYP2C9, DPYD, ...); null otherwise or when an allele has none",
        "phenotype": "phenotype (e.g. `Intermediate Metabolizer`); `Indeterminate` when tied diplotypes disagree; null for a no-call",
        "lookup_key": (
            "what guideline recommendations are looked up by: the phenotype, or the activity score in CPIC's "
            "spelling (`1.5`); `No Result` for a no-call"
        ),
        "call_status": (
            f"one of {_one_of(CALL_STATUSES)}: one best diplotype; several tie (see `alternatives`); "
            "nothing could be called (see `warnings`); taken from the outside-call file"
        ),
        "phased": "true when the sample's genotypes for the gene were matched haplotype by haplotype",
        "missing_positions": "GRCh38 positions of the gene with no genotype; alleles defined there were scored without them",
        "assumed_reference_positions": "positions absent from the VCFs and taken as reference (`--assume-reference`)",
        "novel_variants": "non-reference alleles at KB positions that no known allele explains, as `chrom:pos:ref>alt`",
        "warnings": "why a call is incomplete or uncertain (missing positions, uncallable alleles, copy number not assessed, a structural variant over the gene, input records that could not be used, outside-call notes)",
        "kb_version": "version of the knowledge base used",
    },
    "recommendations": {
        "sample_id": "sample ID",
        "drug": "drug name (lower case)",
        "genes": "the genes the recommendation rests on",
        "lookup_key": "the sample's result the row matched, `GENE=key` joined by `;`, genes sorted (`CYP2C19=Poor Metabolizer`)",
        "phenotypes": "the sample's result per gene, readable (`CYP2C19: Poor Metabolizer`; `No Result` for a gene without a call)",
        "population": "the population or context the guideline row is for (e.g. `general`); null when the guideline does not say",
        "action": (
            f"what to do, one of {_one_of(ACTIONS)}; `no_guideline_match`: the guideline has no row for "
            "the sample's result"
        ),
        "dose_factor": "multiply the standard dose by this (e.g. `0.5`) when the guideline gives a number; else null",
        "alternatives": "alternative drugs the guideline names",
        "strength": "classification of the recommendation as the guideline gives it (`Strong`, `Moderate`, `Optional`, ...)",
        "text": "the recommendation in pgx's own words, from the structured facts (the guideline is cited, not quoted)",
        "source": "guideline source: `CPIC` or `DPWG`",
        "guideline": "guideline title",
        "cpic_level": "CPIC level of the drug-gene pair (`A`, `B`, ...); null for DPWG rows",
        "url": "guideline web page",
        "pmid": "PubMed IDs of the guideline publications, `;`-separated",
        "recommendation_id": "ID of the knowledge-base recommendation row (`CPIC:8479701`); null for `no_guideline_match`",
        "verbatim_text": (
            "CPIC's own recommendation text, only when the user imported their CPIC export with "
            "`pgx kb import-cpic` (never shipped with pgx); else null"
        ),
        "implications": "CPIC's implication text per gene (`GENE: text`) from the same imported export; else null",
        "kb_version": "version of the knowledge base used",
    },
    "provenance": {
        "key": (
            "what is recorded: `batch`, `pipeline_version`, `kb_version`, `genome_build`, `genome_build_reason` (why that build: the headers, the REF bases, or `--build`), `n_samples`, "
            "`kb_source:<file>` (one per source of the knowledge base), `input_sha256:<file>` (one per input "
            "file), `option:<name>` (one per option used, e.g. `option:assume_reference`)"
        ),
        "value": "its value (a checksum is the file's sha256 in hex; a KB source is `<data version> sha256:<checksum>`)",
    },
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
        # indels: reference bases from pos over the span the indel can slide in (from the
        # HGVS name); empty when that adds nothing to ref
        "ref_context": "string",
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
    #   mitochondrial       value=chrM: mtDNA gene (MT-RNR1): one haplotype, each variant
    #                       allele looked for on its own, the highest-risk one gives the
    #                       phenotype, heteroplasmy flagged (pgx.mito)
    #   outside_only_allele value=allele name: the KB cannot place this allele on the
    #                       genome (MT-RNR1 m.961T>del+Cn); only an outside call gives it
    "gene_rules": {
        "gene": "string",
        "rule": "string",
        "value": "string",
        "note": "string",
    },
    # Results the tables above cannot express, so that outside calls and guideline lookup
    # keys can be checked against the KB. One row per result; kind:
    #   allele_status    result="*57:01 positive": an allele-status result (HLA-A, HLA-B);
    #                    lookup_key = result; phenotype empty
    #   activity_score   result="≥4.0": a score CPIC writes for the gene (incl. the "≥" scores
    #                    only copy-number calls reach); phenotype from phenotype_rules;
    #                    lookup_key = result
    #   allele_activity  result="*1x≥3": an allele whose activity is a lower bound, so
    #                    alleles.activity_value is empty; lookup_key = the activity text
    #                    ("≥3.0"); a diplotype's score adds the other allele and keeps the ≥
    "outside_results": {
        "gene": "string",
        "kind": "string",
        "result": "string",
        "phenotype": "string",
        "lookup_key": "string",
        "note": "string",  # source
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
