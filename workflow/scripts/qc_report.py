"""Rule `qc`: Parquet tables of one batch -> results/<batch>/qc_report.html.

Thin shim over `pgx.qc.render_qc_report`; the sample -> population mapping comes from the
sample sheet's `population` column (one label per VCF, given as {vcf: population}).
"""

import sys
from pathlib import Path

try:
    from pgx.workflow_script import log_to_rule_log
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))
    from pgx.workflow_script import log_to_rule_log

log_to_rule_log(snakemake)  # stderr and logging to the rule's log, before pgx's stages import

import pandas as pd

from pgx.outputs import verify_run
from pgx.qc import render_qc_report
from pgx.qc_summary import populations_from_sheet

verify_run(Path(snakemake.params.results_dir))  # the tables are one committed run
sheet = pd.DataFrame(list(snakemake.params.populations.items()), columns=["vcf", "population"])
populations = populations_from_sheet(sheet, snakemake.input.genotypes)
render_qc_report(Path(snakemake.params.results_dir), Path(snakemake.output.report), populations=populations)
