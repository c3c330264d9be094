"""Rule `report_chunk`: the PDFs of one chunk of a batch's samples.

Thin shim over `pgx.scatter.render_report_chunk`.
"""

import sys
from pathlib import Path

try:
    from pgx.workflow_script import log_to_rule_log
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))
    from pgx.workflow_script import log_to_rule_log

log_to_rule_log(snakemake)  # stderr and logging to the rule's log, before pgx's stages import

from pgx.scatter import render_report_chunk

# one PDF worker per thread Snakemake gave this rule, so it stays within --cores
render_report_chunk(
    Path(snakemake.params.results_dir),
    int(snakemake.wildcards.chunk),
    snakemake.params.chunk_size,
    Path(snakemake.output.pdfs),
    workers=snakemake.threads,
    paper=snakemake.params.paper,
    appendix=snakemake.params.appendix,
)
