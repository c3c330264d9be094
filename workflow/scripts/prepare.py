"""Rule `prepare`: read a batch's VCFs once; one genotype matrix per sample chunk.

Thin shim over `pgx.scatter.prepare` (the plan of `pgx.pipeline.run_batch`).
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
from pgx.scatter import prepare

params = snakemake.params
prepare(
    [Path(p) for p in snakemake.input.vcfs],
    Path(snakemake.output.work),
    kb=load_kb(params.kb),
    expected_chunks=params.expected_chunks,
    batch=snakemake.wildcards.batch,
    assume_reference=params.assume_reference,
    genes=params.genes or None,
    chunk_size=params.chunk_size,
    outside_calls=snakemake.input.outside_calls[0] if snakemake.input.outside_calls else None,
    build=params.build,
    overlay="auto",
    combinations=params.find_combinations,
    outside_sample=params.outside_calls_sample or None,
)
