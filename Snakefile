# pgx: VCF -> star-allele diplotypes -> phenotypes -> CPIC recommendations.
# Run from the repository root (or pass --directory); see README.md.
from snakemake.utils import min_version, validate

min_version("8.20")


configfile: "config/config.yaml"


validate(config, schema="workflow/schemas/config.schema.yaml")

try:  # on SLURM, a job the status command cannot track is an error, not a wait without end
    from pgx.cluster import guard_slurm_status

    guard_slurm_status()
except ImportError:  # pgx is not installed in this environment (--use-conda jobs)
    pass


include: "workflow/rules/common.smk"
include: "workflow/rules/check.smk"
include: "workflow/rules/call.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/exports.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/qc.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
        rules.cohort.output.manifest,
        expand("results/{batch}/qc_report.html", batch=get_batches()),
