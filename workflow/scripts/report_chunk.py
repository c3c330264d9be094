"""Rule `report_chunk`: the PDFs of one chunk of a batch's samples.

Thin shim over `pgx.scatter.render_report_chunk`.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.scatter import render_report_chunk

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

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
