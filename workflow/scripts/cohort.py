"""Rule `cohort`: every batch's tables -> results/_cohort/<table>/batch=<batch>/part-0.parquet.

Thin shim over `pgx.cohort.build_cohort`.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.cohort import build_cohort

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

build_cohort(Path(snakemake.params.results_root), Path(snakemake.params.out))
