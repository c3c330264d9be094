"""Rule `reports`: gather the chunks' PDFs into results/<batch>/reports/ with index.tsv.

Thin shim over `pgx.scatter.gather_reports`.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.scatter import gather_reports

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

gather_reports(Path(snakemake.params.results_dir), [Path(p) for p in snakemake.input.chunks], Path(snakemake.output.reports))
