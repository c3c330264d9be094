"""Rule `reports`: gather the chunks' PDFs into results/<batch>/reports/ with index.tsv.

Thin shim over `pgx.scatter.gather_reports`.
"""

import sys
from pathlib import Path

try:
    from pgx.workflow_script import log_to_rule_log
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))
    from pgx.workflow_script import log_to_rule_log

log_to_rule_log(snakemake)  # stderr and logging to the rule's log, before pgx's stages import

from pgx.scatter import gather_reports

gather_reports(Path(snakemake.params.results_dir), [Path(p) for p in snakemake.input.chunks], Path(snakemake.output.reports))
