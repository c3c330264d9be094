"""Rule `call`: VCFs of one batch -> genotypes/calls/recommendations/provenance.parquet.

Thin shim over `pgx.pipeline.run_batch` (the same function as `pgx run --no-reports`).
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.kb import load_kb
from pgx.pipeline import run_batch

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

params = snakemake.params
run_batch(
    [Path(p) for p in snakemake.input.vcfs],
    Path(params.out_dir),
    batch=snakemake.wildcards.batch,
    assume_reference=params.assume_reference,
    reports=False,
    kb=load_kb(params.kb) if params.kb else None,
    genes=params.genes or None,
    outside_calls=snakemake.input.outside_calls[0] if snakemake.input.outside_calls else None,
    outside_sample=params.outside_calls_sample or None,
    build=params.build,
    combinations=params.find_combinations,
)
