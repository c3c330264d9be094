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
# 4: recommendations as the guidelines give them: branch, conditions (indication, age, risk_factors,
#    other_conditions), other_actions, dose_applies_to/reference, dose_factor_min/max (replace
#    dose_factor), dose_amount/schedule/unchanged/caps, followup, not_alternatives, clauses_not_represented
# 5: calls.alleles_found, suballeles, reason_codes; an ambiguous call's diplotype lists every tie
#    and its allele_1/allele_2 are null
SCHEMA_VERSION = "5"

# --- enumerations -------------------------------------------------------------------

#: genotype status at one KB position for one sample
GENOTYPE_STATUSES = (
    "called",  # GT read from the VCF
    "missing",  # position absent from the VCF, or GT is ./.
    "assumed_reference",  # absent from the VCF, filled as reference by --assume-reference
    "partial",  # one allele called, the other missing (0/.)
)

#: call_status of one sample x gene
CALLED = "called"  # one best diplotype
AMBIGUOUS = "ambiguous"  # several diplotypes tie; all are listed in `alternatives`
NO_CALL = "no_call"  # nothing could be called; `warnings` says why
OUTSIDE_CALL = "outside_call"  # taken from an outside-call file, not from the VCF
CALL_STATUSES = (CALLED, AMBIGUOUS, NO_CALL, OUTSIDE_CALL)

#: the lookup key of a gene without a usable call, as CPIC writes it
NO_RESULT = "No Result"

#: machine-readable reasons on a call (``calls.reason_codes``); the prose is in ``warnings``
CALL_REASONS: dict[str, str] = {
    "gene_not_covered": "no position of the gene is in the input",
    "missing_required_position": "a position the gene cannot be called without is missing (NAT2)",
    "haploid_autosome": "haploid genotypes on an autosome; the gene needs two alleles",
    "no_matching_pair": "no pair of defined alleles explains the genotypes",
    "combination": "a haplotype carries several defined alleles together, a combination no guideline defines",
    "tie": "several diplotypes fit equally well; all are listed",
    "priority_pick": "an unphased tie resolved by the gene's documented priority (NAT2)",
    "partial_genotype": "a genotype with one allele called and one missing (`./1`): every completion was tried",
    "novel_variant": "an allele at a defining position that no definition names",
    "unexplained_variant": "a defined variant found without the rest of the only allele(s) it belongs to",
    "partial_allele": "variants of an allele found while another of its defining positions is missing",
    "inferred_allele": "an allele called from part of its variants, by a linkage the guideline documents",
    "unassessed_alleles": "alleles that could not be assessed because a defining position is missing",
    "missing_positions": "positions of the gene with no genotype",
    "assumed_reference": "positions absent from the input taken as reference (`--assume-reference`)",
    "assumed_trans": "unphased variants of a lowest-function gene: the two lowest are assumed on different copies",
    "fallback_position": "called from the gene's single fallback position (SLCO1B1 rs4149056)",
    "copy_number_not_assessed": "gene deletions and duplications are invisible in the input",
    "unassigned_function": "an allele found has no function in the knowledge base's sources",
    "phenotype_not_defined": "the guideline sources define no phenotype for the gene",
    "phenotypes_differ": "tied or possible diplotypes give different phenotypes",
    "heteroplasmy": "a mitochondrial variant in only part of the mtDNA copies",
    "outside_call": "the result comes from the outside-call file",
    "outside_call_error": "the outside-call row for this gene could not be used",
    "structural_variant": (
        "a structural variant over the gene in this sample (a deletion, duplication, inversion or copy-number "
        "change): the gene may not have two copies, so its SNVs and indels cannot give the diplotype (a no-call)"
    ),
    "structural_variant_unknown": "a structural variant over the gene is in the input, but this sample has no genotype for it",
    "unusable_record": (
        "an input record at a position of the gene could not be used (no GT, a REF that disagrees with the "
        "knowledge base, records that contradict each other)"
    ),
}

#: structured recommendation actions
ACTIONS = (
    "standard_dose",
    "reduce_dose",
    "increase_dose",
    "use_alternative",
    "avoid",
    "monitor",
    "consider_alternative",
    "assess_further",  # decide after more information: enzyme activity, clinical findings, further testing
    "no_recommendation",
    "no_guideline_match",  # the patient's result has no row in the guideline
)

#: recommendations.followup: titration, monitoring and level checks the guideline asks for
FOLLOWUP = (
    "drug_levels", "titrate_by_toxicity", "titrate_by_response", "slower_titration", "monitor_closely", "ecg",
    "blood_counts", "inr", "liver_function", "hearing", "patient_reports", "stop_if_adverse", "weigh_risks",
    "avoid_interacting_drugs", "further_testing",
)  # fmt: skip

#: recommendations.dose_applies_to: which dose a dose change is for ("" = the dose in general)
DOSE_APPLIES_TO = ("starting", "maintenance", "subsequent", "loading")

#: why a clause of a source recommendation is not represented (KB ``clauses``)
NOT_REPRESENTED = ("evidence", "reference_values", "background", "no_advice", "other")

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
        pa.field("alleles_found", _str_list),  # lowest-function genes: every variant allele found
        pa.field("suballeles", _str_list),  # "*45.001": definitions reported under their parent
        pa.field("reason_codes", _str_list),  # keys of CALL_REASONS
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
        pa.field("indication", pa.string()),
        pa.field("age", pa.string()),
        pa.field("risk_factors", pa.string()),
        pa.field("other_conditions", pa.string()),
        pa.field("action", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("other_actions", _str_list),
        pa.field("dose_applies_to", pa.string()),
        pa.field("dose_reference", pa.string()),
        pa.field("dose_factor_min", pa.float64()),
        pa.field("dose_factor_max", pa.float64()),
        pa.field("dose_amount", pa.string()),
        pa.field("dose_schedule", pa.string()),
        pa.field("dose_unchanged", pa.string()),
        pa.field("dose_caps", _str_list),
        pa.field("followup", _str_list),
        pa.field("alternatives", _str_list),
        pa.field("not_alternatives", _str_list),
        pa.field("strength", pa.string()),
        pa.field("text", pa.string()),
        pa.field("source", pa.string(), nullable=False),  # CPIC, DPWG
        pa.field("guideline", pa.string()),
        pa.field("cpic_level", pa.string()),
        pa.field("url", pa.string()),
        pa.field("pmid", pa.string()),
        pa.field("recommendation_id", pa.string()),
        pa.field("branch", pa.int32()),
        pa.field("clauses_not_represented", pa.int32()),
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
        "one row per sample, drug, guideline source, population and branch: the recommendation that "
        "applies to the sample's result (or `no_guideline_match`); a recommendation whose advice depends on "
        "a condition (an indication, age, risk factors, co-medication) has one row per condition (`branch`)"
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
            "the call, lower allele first (`*1/*17`), in the names guidelines use (a PharmVar suballele such "
            "as `*45.001` is reported as `*45`); a haploid call is one allele; for genes called variant by "
            "variant (DPYD, RYR1, CACNA1S) with known phase, each haplotype with all its variants "
            "(`c.61C>T/[c.61C>T + c.313G>A]`); for an ambiguous call, every tied diplotype joined by ` or `; "
            "null for a no-call"
        ),
        "allele_1": (
            "first allele the phenotype rests on; for DPYD, RYR1 and CACNA1S the lowest-function variant "
            "allele of a haplotype (or, unphased, the lowest of those found); null for ambiguous and no-calls"
        ),
        "allele_2": "second allele the phenotype rests on; null for a haploid call, ambiguous calls and no-calls",
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
        "alleles_found": (
            "for genes called variant by variant (DPYD, RYR1, CACNA1S): every variant allele found, "
            "`(homozygous)` when on both copies, as clinical reports list them; empty for other genes"
        ),
        "suballeles": "allele definitions matched that are reported under another name (`*45.001` reported as `*45`)",
        "reason_codes": (
            "machine-readable reasons behind the call's status and warnings, one of: "
            + _one_of(tuple(CALL_REASONS))
            + ' (meanings under "Reason codes" below, from `pgx.schema.CALL_REASONS`)'
        ),
        "warnings": "why a call is incomplete or uncertain, in words (the same reasons as `reason_codes`, with details)",
        "kb_version": "version of the knowledge base used",
    },
    "recommendations": {
        "sample_id": "sample ID",
        "drug": "drug name (lower case)",
        "genes": "the genes the recommendation rests on",
        "lookup_key": "the sample's result the row matched, `GENE=key` joined by `;`, genes sorted (`CYP2C19=Poor Metabolizer`)",
        "phenotypes": "the sample's result per gene, readable (`CYP2C19: Poor Metabolizer`; `No Result` for a gene without a call)",
        "population": "the population or context the guideline row is for (e.g. `general`); null when the guideline does not say",
        "indication": "the indication this advice holds for (`malignancy`, `depression`, CPIC's `CVI ACS PCI`); null when it holds for all",
        "age": "the age or weight group this advice holds for (`adults`, `pediatrics`); null when it holds for all",
        "risk_factors": "the risk factors this advice holds under (`additional significant risk factors ...`); null when none",
        "other_conditions": "any other condition of this advice (co-medication, route, prior use such as `CBZ naive`); null when none",
        "action": (
            f"the primary advice, one of {_one_of(ACTIONS)}; `assess_further`: decide after more information "
            "(enzyme activity, clinical findings, further testing); `no_guideline_match`: the guideline has no row "
            "for the sample's result"
        ),
        "other_actions": (
            "other actions the guideline allows or names as a next step (`50 % or avoid`: `avoid`; what to do if "
            "the primary advice cannot be followed or does not work), same vocabulary as `action`"
        ),
        "dose_applies_to": f"which dose the dose change is for: {_one_of(DOSE_APPLIES_TO)}; null: the dose in general",
        "dose_reference": "what the dose factor multiplies: `standard`, `lowest` (the lowest usual starting dose) or `maximum`",
        "dose_factor_min": "lower end of the stated dose change as a multiple of the reference dose (`0.3` of `30-80 %`); equals `dose_factor_max` for a single number; null when none is stated",
        "dose_factor_max": "upper end of the stated dose change (`0.8` of `30-80 %`); ranges stay ranges",
        "dose_amount": "an absolute dose the guideline gives (`400 mg/day`, `at least 75 mg`); null when none",
        "dose_schedule": "a dosing frequency the guideline sets (`3 times a week instead of daily`); null when none",
        "dose_unchanged": "a dose the guideline leaves as usual (`loading`); null when none",
        "dose_caps": "safety caps: upper dose limits (`<20 mg/day`, `starting dose ≤40 mg`, `≤50% of the usual maximum dose`), with the group they are for in parentheses",
        "followup": f"titration, monitoring and level checks the guideline asks for, of {_one_of(FOLLOWUP)}",
        "alternatives": "alternative drugs the guideline names, including drugs outside CPIC's drug list",
        "not_alternatives": "drugs the guideline names as not suitable instead (`tegafur` for capecitabine)",
        "strength": "classification of the recommendation as the guideline gives it (`Strong`, `Moderate`, `Optional`, ...)",
        "text": "the recommendation in pgx's own words, from the structured facts (the guideline is cited, not quoted)",
        "source": "guideline source: `CPIC` or `DPWG`",
        "guideline": "guideline title",
        "cpic_level": "CPIC level of the drug-gene pair (`A`, `B`, ...); null for DPWG rows",
        "url": "guideline web page",
        "pmid": "PubMed IDs of the guideline publications, `;`-separated",
        "recommendation_id": "ID of the source recommendation (`CPIC:8479701`); null for `no_guideline_match`",
        "branch": "which branch of the source recommendation this row is (1, 2, ...: one per condition); null for `no_guideline_match`",
        "clauses_not_represented": (
            "how many clauses of the source recommendation no structured field represents (evidence, "
            "reference values, background); `pgx kb info` lists them by reason; null for `no_guideline_match`"
        ),
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
        "hgnc_id": "string",  # HGNC:2621, from CPIC's gene.json; empty when unknown
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
        # the name guidelines and reports use: the parent of a PharmVar suballele (*45.001 ->
        # *45), `Reference` where the guideline names the reference sequence so; else = allele
        "guideline_name": "string",
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
    #   inferred_allele     value=allele name: a multi-variant allele the guideline lets a
    #                       caller infer from its present variants when its other defining
    #                       positions are missing (DPYD HapB3 from c.1236G>A); flagged
    #   undocumented_as_reference  value="": an allele at a defining position that no
    #                       definition names counts as reference there (toxicity genes, so
    #                       that documented actionable variants still give a result)
    #   unassigned_function value=function: the function an allele the sources give none
    #                       is phenotyped as, with a warning (RYR1/CACNA1S: Uncertain function)
    #   reference_name      value=name: the name guidelines give the reference allele (CFTR)
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
    # Older allele names (truth sets, older reports) and their current meaning, for scoring
    # truth written in them (``pgx validate``); curated with a citation per row in
    # pgx/kb_build/legacy.py. relation:
    #   renamed              the same haplotype under a new name (SLCO1B1 *1B -> *37)
    #   suballele            a sub-allele of `current` told apart by a variant current
    #                        definitions leave out (CYP3A4 *1B -> *1)
    #   outside_definitions  carries a variant current definitions leave out; over their
    #                        positions it is `current` (UGT1A1 *60 -> *1)
    #   split                covered several current alleles, told apart by the loci in
    #                        `decided_by` (CYP2C19 *1 -> *1|*38); the only relation whose
    #                        legacy_name may also be a current name
    #   unmapped             no established current meaning; not translated (`current` empty)
    "legacy_alleles": {
        "gene": "string",
        "legacy_name": "string",
        "current": "string",  # current allele name(s), '|'-separated (split: any of them)
        "relation": "string",
        "legacy_variants": "string",  # the legacy allele's defining variants, with rsIDs
        "decided_by": "string",  # split: ';'-separated rsIDs of the loci telling the options apart
        "note": "string",  # our own words
        "source": "string",  # citation(s)
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
        "branch": "int64",  # 1, 2, ...: one row per condition of the source text
        "source": "string",
        "drug": "string",
        "genes": "string",  # ;-separated, sorted
        "lookup_key": "string",  # "GENE=key;GENE=key", genes sorted
        "population": "string",
        "indication": "string",
        "age": "string",
        "risk_factors": "string",
        "other_conditions": "string",
        "action": "string",  # one of schema.ACTIONS
        "other_actions": "string",  # ;-separated ACTIONS
        "dose_applies_to": "string",  # one of DOSE_APPLIES_TO or empty
        "dose_reference": "string",  # standard | lowest | maximum
        "dose_factor_min": "Float64",
        "dose_factor_max": "Float64",
        "dose_amount": "string",
        "dose_schedule": "string",
        "dose_unchanged": "string",
        "dose_caps": "string",  # ;-separated
        "followup": "string",  # ;-separated FOLLOWUP
        "alternatives": "string",  # ;-separated drug names
        "not_alternatives": "string",  # ;-separated drug names
        "strength": "string",
        "text": "string",  # our own words, from the structured facts
        # per clause of the source text (1-based): the fields it fed, or -reason (NOT_REPRESENTED)
        "clauses": "string",
        "guideline": "string",
        "url": "string",
        "pmid": "string",
    },
}
