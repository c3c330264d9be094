"""Rule `fhir`: Parquet tables of one batch -> one FHIR bundle per sample in fhir/.

Thin shim over `pgx.fhir.write_fhir_bundles`.
"""

import sys
from pathlib import Path

try:
    from pgx.workflow_script import log_to_rule_log
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))
    from pgx.workflow_script import log_to_rule_log

log_to_rule_log(snakemake)  # stderr and logging to the rule's log, before pgx's stages import

from pgx.fhir import write_fhir_bundles
from pgx.kb import load_kb

# one worker per thread Snakemake gave this rule, so it stays within --cores
write_fhir_bundles(
    Path(snakemake.params.results_dir),
    Path(snakemake.output.bundles),
    kb=load_kb(snakemake.params.kb),
    workers=snakemake.threads,
)
