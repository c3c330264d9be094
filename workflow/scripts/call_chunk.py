"""Rule `call_chunk`: call one sample chunk of a prepared batch; write its table parts.

Thin shim over `pgx.scatter.call_chunk_job`.
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
from pgx.scatter import call_chunk_job

params = snakemake.params
call_chunk_job(
    Path(snakemake.input.work),
    int(snakemake.wildcards.chunk),
    Path(snakemake.output.part),
    kb=load_kb(params.kb),
)
