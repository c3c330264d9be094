"""Rule `reports`: Parquet tables of one batch -> one PDF per sample in reports/.

Thin shim over `pgx.pipeline.render_batch_reports`.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.pipeline import render_batch_reports

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# one PDF worker per thread Snakemake gave this rule, so it stays within --cores
render_batch_reports(
    Path(snakemake.params.results_dir),
    Path(snakemake.output.reports),
    workers=snakemake.threads,
    paper=snakemake.params.paper,
    appendix=snakemake.params.appendix,
)
