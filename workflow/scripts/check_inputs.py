"""Rule `check_inputs`: check every VCF of a batch before anything is called.

Thin shim over `pgx.input_check.check_batch` (the same checks `pgx batch` runs first). It
writes results/<batch>/checks.txt (files, problems, notes, missing genotypes per gene)
and fails listing every problem at once, one per line, at the end of the log.
"""

import sys
from pathlib import Path

try:
    from pgx.workflow_script import log_to_rule_log
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))
    from pgx.workflow_script import log_to_rule_log

log_to_rule_log(snakemake)  # stderr and logging to the rule's log, before pgx's stages import

from pgx.kb import load_kb
from pgx.input_check import check_batch

params = snakemake.params
problems = check_batch(
    snakemake.input.vcfs,
    snakemake.output.checks,
    assume_reference=params.assume_reference,
    kb=load_kb(params.kb) if params.kb else None,
    genes=params.genes or None,
    build=params.build,
    batch=snakemake.wildcards.batch,
)
if problems:
    sys.exit(f"{len(problems)} problem(s) with the input files of batch {snakemake.wildcards.batch}:\n" + "\n".join(problems))
