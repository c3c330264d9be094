"""Rule `call`: gather a batch's chunk parts into its four Parquet tables, committed as
one unit (run.json last); byte-identical to `pgx run` with the same chunk size.

Thin shim over `pgx.scatter.gather`.
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
from pgx.scatter import gather

params = snakemake.params
gather(
    Path(snakemake.input.work),
    [Path(p) for p in snakemake.input.parts],
    Path(params.out_dir),
    kb=load_kb(params.kb),
)
