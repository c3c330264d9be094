"""Rule `cohort`: every batch's tables -> results/_cohort/<table>/batch=<batch>/part-0.parquet.

Thin shim over `pgx.cohort.build_cohort`.
"""

import sys
from pathlib import Path

try:
    from pgx.workflow_script import log_to_rule_log
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))
    from pgx.workflow_script import log_to_rule_log

log_to_rule_log(snakemake)  # stderr and logging to the rule's log, before pgx's stages import

from pgx.cohort import build_cohort

build_cohort(Path(snakemake.params.results_root), Path(snakemake.params.out))
